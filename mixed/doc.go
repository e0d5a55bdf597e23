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
// Hutchinson's method estimates the trace without forming H: for a random
// vector v with independent ±1 entries (Rademacher), E[vᵀ H v] = Tr(H).
// One Hessian-vector product H v over all layers at once gives every
// layer's estimate, because E[v_sᵀ H_{sk} v_k] = 0 for k ≠ s:
//
//	Tr(H_s) ≈ (1/K) Σ_k v_{k,s}ᵀ (H v_k)_s.
//
// Hessian-vector products. Gorgonia (v0.9.18) differentiates a graph
// once: the gradient ops of tinyqat's fused layers (linear, convolution,
// pooling, the fused cross-entropy) have no symbolic derivative of their
// own, so G.Grad of a gradient (double backprop, Pearlmutter's exact H v)
// returns "Non Differentiable WRTs", and with Gorgonia's own convolution
// and pooling (nn.Model.GorgoniaOps) it panics inside Gorgonia
// (TestNoDoubleBackprop shows both). H v is therefore a central finite
// difference of gradients, which costs two backward passes and is exact
// to O(ε²) where the network is twice differentiable (ReLU's kinks make
// it an average of the Hessian over the ±ε·D·v segment):
//
//	H v ≈ (∇L(W + ε D v) − ∇L(W − ε D v)) / 2ε,   (H D v)_s / D_s,
//
// with a per-slot step D_s = the root mean square of W_s (or of the
// activation), so that ε is a relative perturbation (Options.Epsilon,
// 1e-2). Scaling v by a diagonal D keeps the estimator unbiased:
// E[v_sᵀ (H D v)_s] / D_s = Tr(H_s). Activations are perturbed through an
// added leaf tensor at each activation slot (y = x + p, p = 0 for the
// gradient itself), so ∂L/∂p is the gradient with respect to the
// activation.
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
// The sensitivity pass runs one forward pass of the calibration batches
// per (slot, candidate) pair and 2·Probes gradient passes of the Hessian
// batches; Sensitivity.Seconds reports what it took.
package mixed
