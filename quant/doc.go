// Package quant is tinyqat's quantization arithmetic, shared by the
// fake-quant simulation (package fakequant), the exporter and the integer
// runtime (package infer). It imports the standard library only.
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
// representable. A degenerate range (r_min == r_max, e.g. all zeros) gives
// the tiny positive scale MinScale, never 0, NaN or Inf. Parameters are per
// tensor or per channel along an axis (Layout).
//
// # Rounding rule
//
// round is round half to even, everywhere: on the float32 quotient r / S
// (Round, RoundClamp), and in the integer requantization (RoundShift). It
// is ONNX's rule (QuantizeLinear: "rounding to nearest ties to even"), and
// the one ONNX Runtime applies: MlasQuantizeLinear divides x / S in float32,
// clamps, and converts with CVTPS2DQ in the default rounding mode; its
// requantization (MlasRequantizeOutput) rounds with the same instruction.
// With the same rule here, an input quantized by tinyqat and by ONNX
// Runtime gives the same integers (the same float32 division, the same
// tie rule), and an exported ONNX graph runs the same integers as the
// runtime.
//
// # Requantization rounds once
//
// A layer's int32 accumulator acc (bias included, scale S_x·S_w[c]) is
// requantized to the output grid (S_y, Z_y) as
//
//	M[c] = float32(float32(S_x · S_w[c]) / S_y)          (OutputScale)
//	     = M0[c] · 2^−n[c],  M0 ∈ [2^23, 2^24), n ∈ [1, 63]  (SplitMultiplier: exact)
//	q    = clamp(round(acc · M0 / 2^n) + Z_y, lo, hi)    (Requantize)
//
// acc·M0 is exact in int64 (|acc| < 2^31, M0 < 2^24) and RoundShift rounds
// it once, half to even: q is the exactly rounded value of acc·M with the
// float32 M. M is computed exactly as ONNX Runtime computes it for QGemm,
// QLinearMatMul and QLinearConv (a_scale·b_scale[c] / y_scale, float32
// operations left to right), and since every float32 is M0·2^−n with a
// 24-bit M0, holding M as (M0, n) loses nothing.
//
// Why not gemmlowp's fixed point: a rounding doubling high multiply
// (round(acc·M0/2^31)) followed by a rounding right shift rounds twice, and
// where the first rounding lands exactly on a half step the second rounds
// it again: 0.73% of lenet300's logits were 1 LSB off the exactly rounded
// value (and off ONNX Runtime).
//
// The one residual difference from ONNX Runtime: it computes
// float32(float32(acc)·M) and then rounds, so the product is rounded to
// float32 first. When the exact product lies within half a float32 ulp of
// k + ½ (but not on it), that first rounding lands on (or crosses) the tie
// and the result can differ by 1 from the exact rounding. For |acc·M| < 128
// a float32 ulp is at most 2^−17, so this needs the exact product within
// 2^−18 of a tie: measured, 3 in 10^6 random (acc, M) pairs
// (TestRequantMatchesFloat32Pipeline). float32(acc) is also inexact for
// |acc| ≥ 2^24, which 8-bit MNIST layers do not reach. tinyqat keeps the
// exact rule; where ONNX Runtime differs, it is ONNX Runtime's float
// rounding.
//
// # Residual addition and means
//
// An add of two quantized tensors a, b onto the grid (S_o, Z_o) rounds
// once too (RequantizeAdd):
//
//	M_a = float32(S_a / S_o) = M0_a·2^−n_a,   M_b likewise
//	q   = clamp(Z_o + round((q_a − Z_a)·M_a + (q_b − Z_b)·M_b), lo, hi)
//
// over the common shift max(n_a, n_b), in 128 bits, so it is exact for
// every pair of valid multipliers however far apart (no limit on the
// shift difference). A global average pool keeps its input's grid and
// rounds the mean once: Z + RoundDiv(Σ (q − Z), H·W), half to even.
//
// # Non-finite values
//
// FirstNonFinite finds a NaN or ±Inf in one cheap pass; calibration and the
// runtime's input check reject them.
package quant
