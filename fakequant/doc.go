// Package fakequant holds the Gorgonia op that simulates tinyqat's
// quantization inside a float graph, and the quantizer state it carries.
// The arithmetic itself (parameters, scale and zero-point rules, the
// rounding rule, multipliers, requantization) is package quant's, shared
// with the exporter and the integer runtime; callers use quant's names
// directly (quant.Params, quant.Symmetric, quant.FakeQuantize, ...).
//
// # Rounding rule
//
// round is round half to even (quant's doc says why: it is ONNX's rule),
// on the float32 quotient r / S, and the requantization rounds once, half
// to even, like the integer runtime: both call package quant.
//
// # Requantizing outputs
//
// A layer output y = Σ x̂·ŵ + b̂ is, in the integer runtime, an int32
// accumulator acc requantized with the multiplier M = S_x·S_w[c]/S_y
// (a float32 held exactly as an integer mantissa and a shift). Rounding y/S_y directly would agree with that only up
// to one LSB. A State with AccOf set instead recovers acc = round(y/(S_x·S_w[c]))
// and applies the runtime's integer requantization (RequantFakeQuantize,
// quant.Requantize), so the simulation reproduces the runtime bit for bit whenever the float32
// accumulation in the graph is within half an accumulator step of the
// exact sum (on MNIST: every value of every layer).
//
// # Additions, means and ReLU6
//
// The integer runtime's residual addition and global average pool are
// not "compute in float, then fake-quantize": NewAdd recovers the
// integers its fake-quantized summands stand for and calls
// quant.RequantizeAdd (each summand rescaled to the output scale by its
// own fixed-point multiplier, one rounding, a fused ReLU as the clamp's
// low end), and NewMean computes the exactly rounded integer mean
// (quant.RoundDiv) with its input's parameters. A State with Max set (a
// fused ReLU6) clamps at Max when disabled and, enabled, quantizes with
// the runtime's grid top ClampHi(Max, S, Z, q_max). Each is the
// runtime's arithmetic, so the simulation agrees with it bit for bit.
//
// # Granularity
//
// Parameters are per tensor (one S, Z) or per channel along an axis (one
// S, Z per index of that axis). For an element at flat index i of a
// row-major tensor of shape s, its channel along axis a is
//
//	c = (i / Π_{k>a} s_k) mod s_a
//
// # The fake-quant node
//
// New returns a graph node whose forward pass is quantize then dequantize,
// r ↦ r̂, for a tensor of any shape. Its backward pass is delegated to an
// Estimator (package ste), because round has a zero gradient almost
// everywhere. A State shared by the nodes of every graph built from one
// model holds the parameters and two switches: Enabled (fake-quant on; off
// means identity) and Observing (the observer sees each forward batch and
// the parameters follow its range). The QAT schedule flips them
// independently.
//
// NewMasked is New for the output of a training graph's batch
// normalization fused with its ReLU (nn.MaskQuantizer): the node leaves
// its gradient mask (an interval estimator's and ReLU6's top) to the
// normalization's backward passes, and its observer records the extremes
// the normalization measured while writing the output (ExtremesObserver),
// so neither walks the tensor again; the bits are New's.
package fakequant
