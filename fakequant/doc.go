// Package fakequant holds tinyqat's quantization arithmetic and the Gorgonia
// op that simulates it inside a float graph.
//
// Affine (asymmetric) quantization, b bits, unsigned storage:
//
//	S = (r_max − r_min) / (2^b − 1)
//	Z = clip(round(−r_min / S), 0, 2^b − 1)
//	q = clip(round(r / S) + Z, 0, 2^b − 1)
//	r̂ = S · (q − Z)
//
// Symmetric quantization, b bits, signed storage, restricted range (Z = 0):
//
//	S = max(|r_min|, |r_max|) / (2^(b−1) − 1)
//	q = clip(round(r / S), −(2^(b−1) − 1), 2^(b−1) − 1)
//	r̂ = S · q
//
// The range is first widened to include 0, so that zero is exactly
// representable (a zero-padded or ReLU-clipped value costs no error). A
// degenerate range (r_min == r_max, e.g. all zeros) gives the tiny positive
// scale MinScale, never 0, NaN or Inf.
//
// # Rounding rule
//
// round is round half away from zero (Go's math.Round), applied to the
// float32 quotient r / S. The fixed-point requantization (fixedpoint.go:
// a rounding doubling high multiply, then a rounding right shift, as in
// gemmlowp) rounds ties away from zero too, for both signs. The
// simulation and the integer runtime in package infer call the same
// functions, so they cannot round differently.
//
// # Requantizing outputs
//
// A layer output y = Σ x̂·ŵ + b̂ is, in the integer runtime, an int32
// accumulator acc requantized with the fixed-point multiplier
// M = S_x·S_w[c]/S_y. Rounding y/S_y directly would agree with that only up
// to one LSB. A State with AccOf set instead recovers acc = round(y/(S_x·S_w[c]))
// and applies the runtime's integer requantization (RequantFakeQuantize),
// so the simulation reproduces the runtime bit for bit whenever the float32
// accumulation in the graph is within half an accumulator step of the
// exact sum (on MNIST: every value of every layer).
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
package fakequant
