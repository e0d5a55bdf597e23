// Package nn builds float32 neural networks as Gorgonia expression graphs:
// layers (Linear, Conv2D with stride, padding and groups, BatchNorm2D,
// MaxPool2D, GlobalAvgPool, ReLU, ReLU6, Flatten, Residual), a sequential
// Model with named parameters and seeded initialisation, the
// architectures of the project (lenet300, lenet5, resnet8,
// mobilenet-tiny; for CIFAR-10, resnet8-mlperf and resnet20), sized by New
// from the input shape (C, H, W) and class count, and a JSON spec of any model built from these layers
// (Model.Spec, FromSpec) that checkpoints store, and the lowering of a
// model to a flat list of fused units (Model.Lower) that every backend
// reads.
//
// Conventions:
//
//	activations   NCHW; a Linear layer sees (N, features)
//	Linear        y = x·W + b,    W: (in, out),   b: (out)        output channel axis of W = 1
//	Conv2D        y = W ⋆ x + b,  W: (out, in, k, k), b: (out)    output channel axis of W = 0
//	He init       W ~ N(0, 2/fan_in) for layers followed by ReLU, ReLU6 or BatchNorm2D,
//	Glorot init   W ~ U(±sqrt(6/(fan_in+fan_out))) otherwise; biases start at 0;
//	BatchNorm2D   γ = 1, β = 0, running mean 0, running variance 1
//
// # Quantizer slots
//
// Every tensor that the int8 runtime quantizes has a Slot: the network input,
// each weight, each bias and each layer output (taken after a following ReLU,
// which the integer runtime fuses into the requantization clamp). When a
// graph is built, each slot's node is passed through a Quantizer, which may
// return it unchanged (the float model) or wrap it in a fake-quant node.
// Layers never change for quantization: the Quantizer decides.
//
// # Fast float ops
//
// Linear (with the ReLU that follows it fused in), Conv2D and MaxPool2D are
// single Gorgonia nodes whose forward and gradient nodes call the packed
// SGEMM of internal/f32 (AVX-512 or AVX2/FMA, chosen at run time; purego
// forces the Go kernel). Conv2D packs its im2col patches straight from the
// input, so no patch matrix is stored; its input gradient is a GEMM into
// patch gradients followed by col2im. The first weighted layer computes no
// input gradient. Work is split over cores by output blocks, never inside a
// sum, so a result does not depend on GOMAXPROCS. A test-only switch
// (internal/nnref) builds the previous graph of Gorgonia's generic ops instead (the reference for
// tests and before/after benchmarks); the two agree to float32 rounding
// (summation order differs), not bit for bit.
//
// # Batch normalization, folded
//
// A BatchNorm2D follows a Conv2D (which then has no bias) and is folded
// into it as the integer runtime runs it (Jacob et al. 2018 §3.2,
// Krishnamoorthi 2018 §3.2). With γ, β trained and the running mean μ and
// variance σ² (Model.Buffers):
//
//	s[c]  = γ[c] / sqrt(σ²[c] + ε)
//	W'[c] = s[c]·W[c]                 (the weight slot quantizes W')
//	b'[c] = β[c] − s[c]·μ[c]          (the bias slot quantizes b')
//	y     = conv(x, Q_w(W')) + Q_b(b')
//
// Eval graphs (Build) are exactly this; Unit.Fold (and FoldBN) computes
// W' and b' with the same float32 operations (bit for bit), so export
// quantizes what the simulation quantized. Training graphs (BuildTrain) add a batch
// normalization node after it that, unless BN is frozen (SetBNFrozen),
// undoes the fold and normalizes with the batch's statistics:
//
//	z   = (y − Q_b(b'))/s = conv(x, Q_w(W'))/s
//	out = γ·(z − μ_B)/sqrt(σ²_B + ε) + β         μ_B, σ²_B over N·H·W
//	μ  ← (1−m)·μ + m·μ_B,  σ² ← (1−m)·σ² + m·σ²_B·M/(M−1)   (M = N·H·W)
//
// so the weight quantizer sees the folded weights throughout training.
// Its backward pass is batch normalization's: with ẑ = (z − μ_B)/σ_B,
// ∂β = Σ g, ∂γ = Σ g·ẑ, ∂z = γ/(σ_B·M)·(M·g − ∂β − ẑ·∂γ), then through
// z = y/s to y and s. Frozen, the node is the identity and the training
// graph is the eval graph (the folded form, running statistics fixed).
// The frozen flag is read when the graph runs, so graphs already built
// follow SetBNFrozen.
//
// # Residual blocks, global average pooling, ReLU6, groups
//
// Residual: y = Body(x) + Shortcut(x) (Shortcut nil: x itself), then a
// ReLU if set; both branches start at the block's input. The output slot
// (Name.out) has Add naming the two summands' slots. Global average
// pooling: y[n][c] = Σ_{h,w} x[n][c][h][w] / (H·W), summed in float64;
// its slot (Name.out) has MeanOf naming the input's slot, whose
// quantization parameters it keeps in the integer runtime. A quantizer
// that implements OpQuantizer builds these two nodes itself (to simulate
// the runtime's integer addition and rounded mean); otherwise the float
// node goes through Quantize. ReLU6 is min(max(x, 0), 6), fused into the
// preceding weighted layer's output slot (Slot.ReLU, Slot.Max = 6).
// Conv2D with Groups = G convolves each of G channel groups separately:
// W is (Out, In/G, K, K) and output channel o sees input channels
// [g·In/G, (g+1)·In/G) with g = o/(Out/G); G = In = Out is depthwise.
//
// # The lowered form
//
// Model.Lower turns the nested layers into a Lowered network: a flat list
// of Units, each one value of the integer runtime (one integer layer):
//
//	UnitLinear, UnitConv2D   the weighted op (Conv2D: K, Stride, Pad, Groups;
//	                         depthwise when Groups = In[0] = Out[0]) with its
//	                         batch norm (FoldedBN, Conv2D only) and its
//	                         activation clamp Act (ActNone, ActReLU, ActReLU6)
//	UnitAdd                  a residual addition of two units, then Act
//	UnitMaxPool, UnitGlobalAvgPool, UnitFlatten
//
// Each unit names the units it reads (Inputs, −1 the network input; a
// unit comes after its inputs), its per-sample shapes (In, Out), the
// layer it starts at (Path for errors, Layer a pre-order number for node
// names) and the quantizer slots it owns (WeightSlot, BiasSlot,
// OutSlot; a max pool or flatten owns none and passes its input's slot
// on as OutSlot). Unit i is layer i of the exported integer model.
//
// Batch norm in the lowered form is folded, not yet applied: the unit
// keeps the convolution's own weight W (B is nil) and the batch norm's
// parameters and running statistics with its defaults applied (FoldedBN:
// ε = 1e-5, momentum 0.1 when the layer says 0 — the one place those
// defaults live). Each backend applies it as it runs: the eval graph
// computes the fold with graph nodes (s, W', b' above) and quantizes W'
// and b'; the training graph adds the batch-statistics normalization
// after the convolution unless BN is frozen; export takes the folded
// float values from Unit.Fold; the float ONNX graph writes a
// BatchNormalization node. Fold reads the parameters when called, so a
// Lowered stays valid while training changes them; it describes the
// layers as they were when Lower ran (lower again after changing the
// layer list).
//
// One fusion rule (fuse) groups a weighted layer with a directly
// following BatchNorm2D (Conv2D only) and then a ReLU or ReLU6; the
// wiring (NewSequential: parameters and slots), the rules of the integer
// runtime (CheckLowering) and Lower all use it. Only the lowering (its
// view function, nn/lower.go) and the spec codec (nn/spec.go) look at
// layer types; the graph builder (nn/graph.go), export's integer model
// and its ONNX writer switch on UnitKind. A test counts the type
// switches and assertions on nn layer types in every non-test file of
// the module (TestLayerTypesSwitchedOnInTwoPlaces).
//
// # Adding a layer kind
//
// A layer that lowers into an existing unit (say, an activation that is
// a clamp the runtime has, or a layer with another name for an existing
// op) touches three places in nn:
//
//  1. the layer type (Kind, setup; its parameters through newParam, its
//     settings checked in setup), next to its kin (layers.go, batchnorm.go);
//  2. the lowering, nn/lower.go: a case in view (the one type switch)
//     saying which unit it starts (layerView.op) or what it fuses into
//     (layerView.act, layerView.bn); a layer with parameters also needs
//     its slots in wire and its reset in claim (nn/model.go), both on the
//     view;
//  3. the spec codec, nn/spec.go: a case in specOf and one in the
//     decoder, so checkpoints and --spec carry it.
//
// A layer that is a new operation adds, besides those three:
//
//  4. a UnitKind (with its String) and its case in lowering.layers
//     (shapes, owned slots, the runtime's rules), nn/lower.go;
//  5. its graph nodes: a case in builder.units, nn/graph.go (a float op
//     as in elementwise.go, with its gradient, and a quantizer slot for
//     its output if the runtime requantizes it);
//  6. its integer layer: a case in exporter.units, export/export.go, an
//     infer.Kind with its validation, kernel (integer only, with a
//     reference twin) and file encoding in infer, and the oracle of the
//     export tests;
//  7. its ONNX forms: a case in floatUnits and one in the integer writer
//     (on infer.Kind), export/onnx.go.
//
// That is 3 places (all in nn) for a layer lowering into existing units,
// 7 for a new operation: one per backend, each a case on UnitKind, none
// on the layer type. No test here adds a new operation from a test file:
// the runtime's file format and kernels are fixed per infer.Kind, so a
// new operation is a change of the format (infer.FormatVersion), not a
// plug-in.
//
// Parameters live in the Model as tensors; every graph built from a model
// (one per batch size) binds the same tensors, so an optimiser that updates
// them in place updates every graph.
package nn
