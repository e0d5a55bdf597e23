// Package infer is the deployable integer runtime: it loads an integer model
// file (written by package export) and runs it with integer arithmetic only.
// It imports nothing of the training stack (TestInferDependencies).
//
// # Integer layers
//
// A Linear or Conv2D layer with input integers q_x (zero point Z_x, scale
// S_x), int8 weights q_w (symmetric, per output channel c, scale S_w[c]) and
// int32 bias q_b[c] (scale S_x·S_w[c], zero point 0) accumulates
//
//	acc[c] = q_b[c] + Σ_k (q_x[k] − Z_x) · q_w[c, k]        (int32)
//
// and requantizes to the output grid (scale S_y, zero point Z_y), rounding
// once, half to even (package quant):
//
//	M[c] = float32(float32(S_x·S_w[c]) / S_y) = M0[c] · 2^−n[c],   M0 ∈ [2^23, 2^24)
//	q_y  = clamp(round(acc · M0[c] / 2^n[c]) + Z_y, lo, hi)
//
// M is the float32 multiplier ONNX Runtime computes, held exactly as its
// mantissa and exponent; acc·M0 is one exact 64-bit product and the shift
// rounds it once (quant.Requantize). The simulation's requantizing nodes
// call quant.Requantize too, and an independent oracle in package export's
// tests recomputes every layer from this definition. A following ReLU is
// fused: lo = max(q_min, Z_y). Max-pooling compares integers (quantization is
// monotonic, so it commutes with max). Flatten only renames the shape.
//
// # Kernels
//
// The accumulation is a GEMM of int8 (or int16) activations with int8 weight
// rows. On amd64 with AVX2, kernels_amd64.s sign-extends 16 values at a time
// to int16 and multiplies pairs into int32 (VPMADDWD), four weight rows per
// pass; gemmGo and gemmRef are its portable and reference twins, compared
// bit for bit in tests, and the purego build tag forces gemmGo. Weight rows
// are padded with zeros to multiples of 16 and 4 once per model, so the
// SIMD loop has no scalar tail. requantRows is the hoisted twin of
// quant.Requantize. Samples of a batch are split across GOMAXPROCS
// goroutines; integer sums are exact in any order, so the split cannot
// change a result.
//
// # Modes
//
//	w8a8       int8 activations, Z_x = 0: the accumulation is Σ q_x·q_w
//	w8a8-asym  uint8 activations with a zero point: each input is widened and
//	           its zero point subtracted online, (q_x − Z_x) as int16, before
//	           the int16×int8 accumulation — the cost this mode shows
//	w8-only    int8 weights dequantized in blocks as they are used, float32
//	           activations and gonum SGEMM: the memory saving without the
//	           compute saving
//
// Between the input quantization and the output, w8a8 and w8a8-asym use no
// floating point: the kernels live in kernels*.go (and quant's
// requant.go), and a test fails if those files mention a float type or
// the assembly a float instruction. The input quantization (runtime.go) is
// the one float step, at the boundary; the w8-only path lives in
// weightonly.go.
//
// # Files
//
// A model is a safetensors file (int8 weights, int32 biases, multipliers and
// shifts as tensors; the architecture and every scale and zero point as JSON
// metadata) with a SHA-256 checksum of the metadata and all tensors,
// written atomically (a stale temporary file of a killed write is removed
// by the next write of the same file). The header records where the model
// came from: architecture, input shape, classes, and in Source the run
// folder and the real bit-widths.
//
// Loading reads with bounded memory: only a regular file, the header first
// (at most 16 MiB), and the tensors only when the file is exactly as long
// as the header says. It then validates the checksum, the version and every
// shape and range, so a damaged file is an error, never a panic or a
// half-loaded model.
package infer
