// Package mixed chooses per-layer bit-widths under a budget: mixed
// precision. It measures how sensitive each quantizable slot of a float
// model is to each candidate bit-width, then picks the bit-widths that
// minimize the summed sensitivity within a model size (or average bit)
// budget, exactly, and hands them to qat as qat.Config.SlotBits.
//
// # Sensitivity
//
// Two measures are reported for every slot s (a weight: 2, 3, 4, 6, 8
// bits; an activation: 4, 8 bits) and candidate b:
//
// Loss increase (ablation). The mean cross-entropy on the calibration
// batches with only s quantized to b bits (every other tensor float),
// minus the float model's:
//
//	ΔL_s(b) = L(W; only s quantized at b) − L(W)
//
// Weights are quantized as QAT does (symmetric, per output channel, from
// their current min/max); activations with the ranges the chosen observer
// records on the same batches.
//
// HAWQ-V2 (Dong et al. 2020, "HAWQ-V2: Hessian Aware trace-Weighted
// Quantization"). A second-order expansion of the loss around the float
// weights, with the gradient ≈ 0 at a trained minimum, gives for a
// perturbation ΔW = Q(W) − W
//
//	L(W + ΔW) − L(W) ≈ ½ ΔWᵀ H ΔW.
//
// HAWQ-V2 keeps the block of H that belongs to one layer and replaces
// ΔWᵀ H_s ΔW by its average over directions, the mean eigenvalue times
// the squared norm:
//
//	Ω_s(b) = Tr(H_s)/n_s · ‖Q_b(W_s) − W_s‖²
//
// where n_s is the number of elements of W_s. For an activation slot the
// same formula takes the Hessian of the loss with respect to the
// activation tensor (per batch, all its elements) and the activation's
// quantization error ‖Q_b(a) − a‖², averaged over the calibration
// batches; for a convolution with batch normalization, the error of the
// folded weight is taken back to W's coordinates (divided by the
// channel's scale γ/σ squared).
//
// Hutchinson's method estimates a trace without forming the matrix: for a
// random vector v with independent ±1 entries (Rademacher),
// E[vᵀ A v] = Tr(A).
//
// Hessian-vector products: why not double backprop, why not finite
// differences. Gorgonia (v0.9.18) differentiates a graph once: the
// gradient ops of tinyqat's fused layers (linear, convolution, pooling,
// the fused cross-entropy) have no symbolic derivative of their own, so
// G.Grad of a gradient (Pearlmutter's exact H v) returns "Non
// Differentiable WRTs", and with Gorgonia's own convolution and pooling
// (internal/nnref.SetGorgoniaOps) it panics inside Gorgonia (TestNoDoubleBackprop
// shows both). Central finite differences of gradients,
// (∇L(W + εv) − ∇L(W − εv)) / 2ε, were tried first and fail: a ReLU or a
// max pool that switches between the two points makes the gradient jump,
// so for the layers before lenet5's max pools the estimate grew as 1/ε
// (input: −3, −46, −499 at ε = 1e-2, 1e-3, 1e-4 of the tensor's RMS;
// conv1's output −31, −334, −3353) and was negative, while the layers
// after the last pool were stable.
//
// What is computed instead is exact for these networks: a network of
// linear and convolution layers, ReLU/ReLU6, max and average pools and
// residual additions is piecewise linear in any one layer's weights (or
// in any one activation), so the logits z are linear in that block where
// the Hessian exists, and the block of the Hessian of the cross-entropy
// is exactly its Gauss-Newton term (what double backprop would return
// almost everywhere):
//
//	H_ss = (1/B) Σ_n J_nsᵀ (diag(p_n) − p_n p_nᵀ) J_ns,   J_ns = ∂z_n/∂θ_s,
//
// p_n the softmax of sample n. With L_n = (I − p_n 1ᵀ) diag(√p_n), so that
// L_n L_nᵀ = diag(p_n) − p_n p_nᵀ, Hutchinson's estimator in the logit
// space is
//
//	Tr(H_ss) = (1/B) E_r ‖Σ_n J_nsᵀ L_n r_n‖²,   r_n Rademacher in R^classes,
//
// (the cross terms n ≠ m vanish in expectation), and J_nsᵀ u_n for every
// slot at once is one backward pass of the graph with ∂cost/∂z = u, cost =
// Σ z ⊙ u. Each probe costs one backward pass per Hessian batch, and the
// estimate is never negative. TestHutchinsonTraceOfSoftmaxRegression
// checks it against the closed form of a softmax regression.
//
// # Allocation
//
// Every slot takes one of its candidates; the cost of a weight slot at b
// bits is its packed size, ⌈n·b/8⌉ bytes (infer.PackedLen, what the model
// file stores), or n·b bits for an average-bit budget. Minimizing the
// summed sensitivity under a total-cost budget is a multiple-choice
// knapsack. Solve keeps, layer after layer, the Pareto front of
// (cost, sensitivity) over the layers so far (a partial choice dominated
// by one that costs no more and is no more sensitive cannot be part of a
// better completion), which is exact for any integer costs with no
// discretization; TestSolveMatchesBruteForce checks it against
// enumeration. Activation bit-widths cost nothing in model size: under a
// size budget they stay at the run's activation bits unless an activation
// budget (average activation bits, weighted by each slot's element count)
// is given, which is a second, independent knapsack.
//
// # Cost
//
// The loss increases take two float forward passes over the calibration
// batches and one forward pass per (slot, candidate) pair; the traces
// Probes backward passes of the Hessian batches. Sensitivity.Seconds
// reports what it took, split into LossSeconds and HessianSeconds, and
// LossEngine names what ran the loss probes.
//
// The probes run on the float runtime of package infer (EngineInfer, the
// default), not through Gorgonia, and recompute only what the probed
// tensor changes. The network becomes a float model as
// export.FloatFromNet makes it (one layer per unit of nn.Model.Lower,
// batch normalization folded into the weights as the Gorgonia eval graph
// folds it), run through an infer.FloatProbe, batch by batch:
//
//  1. Pass 1 runs every batch through all layers: the float loss, and
//     each activation slot's observer sees the unit's output of the whole
//     batch, as the fake-quant node of the Gorgonia graph would.
//  2. Then, per batch: one more pass through all layers keeps every
//     layer's output (the recorders measure the candidates' errors on
//     it), and each probe reruns only the layers from its slot on,
//     reading the kept outputs for the rest (a residual block's shortcut
//     included). A weight probe runs its layer with the folded weights
//     fake quantized per output channel as QAT quantizes them (symmetric,
//     the range their min and max); an activation probe fake quantizes
//     the kept output of its unit (quant.FakeQuantize, the range the
//     observer calibrated) and runs the layers after it; the input slot's
//     probe quantizes the input and runs them all. The probe plans every
//     layer on its own, so a convolution the runtime would fuse into the
//     add that reads it (a projection shortcut) has its output to
//     quantize.
//
// The losses add up sample by sample in the order of the Gorgonia path.
// A probe at the k-th of L equally costly layers costs (L−k)/L of a pass,
// half of one on average, and the float runtime's kernels run a pass
// 2.5-3 times as fast as the Gorgonia graph. On ResNet-20 (CIFAR-10, 174
// probes of 2048 images, EMA observer, GOMAXPROCS=1 on a shared machine)
// the loss part took 69-74 s against the Gorgonia path's 472 s, and the
// whole pass (Hessian traces included) about 0.5-0.9 of a training epoch
// measured beside it, against 2.5-4 before.
//
// EngineGorgonia keeps the old path, one whole Gorgonia forward pass per
// probe with a fake-quant node on the probed slot, as the reference
// twin. The two differ by float32 summation order only, plus the few
// activation elements that lie on a rounding boundary of the fake
// quantization within that difference and round to neighbouring grid
// points; TestLossEnginesAgree bounds what that does to a loss increase
// (1e-6; measured ≤ 5e-8) and checks that the allocations chosen from
// either are the same.
package mixed
