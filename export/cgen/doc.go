// Package cgen writes an integer model (infer.Model, w8a8 or w8a8-asym) as a
// dependency-free C99 library for microcontrollers: NAME.h (input shape,
// class count and names, arena size, NAME_run and NAME_run_quantized) and
// NAME.c (the weights as const arrays, every layer's multipliers, shifts,
// zero points and clamps as constants, the layers as straight-line calls
// of a few integer kernels). It uses no malloc, no float and nothing of
// libc but memcpy; its logits equal infer.Model.LogitsBytes bit for bit
// (TestHostBitExact, TestCortexM4BitExact).
//
// # Arithmetic
//
// The kernels mirror package quant: acc = bias + Σ (q − Z_in)·w in int32;
// q_out = clamp(round(acc·M0 / 2^n) + Z_out, lo, hi), one exact 64-bit
// product rounded once, half to even; the residual add's two terms rounded
// once over their common shift (exact without 128-bit integers: a shift
// difference d ≤ 29 fits 62 bits, a larger one only breaks ties); global
// average pooling's mean rounded half to even; max pooling compares
// stored values. The input bytes go through a per-channel 256-entry table
// built at export from the runtime's float path (normalization, then
// quantization), as infer's byte input does, so no float runs on the
// device. Activations are stored in CHW order, the model's own, so a
// flatten costs nothing and weights keep their order.
//
// Weights are int8 in flash, except those of a linear layer with weights
// of at most 4 bits or a codebook of at most 16 entries: these stay
// packed, two 4-bit codes a byte, with a 16-entry table per codebook (or
// the two's complement of a nibble), and are unpacked at run time, two
// rows at a time into the arena (each row is read once an inference).
// Convolution weights of any bit-width and codebook are unpacked at
// export into the int8 values the runtime multiplies (their rows are
// read at every output pixel).
//
// Under __ARM_FEATURE_DSP (Cortex-M4, M7, M33; -DTQ_PORTABLE turns it off)
// the dot product takes four activations and four weights per step,
// widened to 16-bit pairs (SXTB16/UXTB16, the zero point subtracted with
// SSUB16) and accumulated with two SMLADs, as CMSIS-NN does; the portable
// loop is its reference twin, and -DTQ_EMULATE_DSP runs the DSP code with
// the instructions written in C, so a host compiler checks it too.
//
// # Memory plan
//
// Every value (the quantized input, each layer's output) is one buffer
// of its size in bytes, live from the layer that writes it, def, to the
// last layer that reads it, last (the input: from −1). A flatten renames
// its input's buffer. An add, a max pool or a global average pool whose
// first input is read by no later layer writes over it (in place: output
// e is written after its own reads, and later outputs read input
// positions beyond e). A convolution whose output only a residual add
// reads adds as it stores (fused), into the add's output, in place over
// the shortcut when the convolution does not read that. A convolution also needs a
// column buffer of InC/Groups·K·K bytes, live during that layer only. The
// last layer writes straight into the caller's logits (a final flatten's
// values are copied there).
//
// Two buffers conflict when their lifetimes [def, last] overlap. The
// bytes that must be live at layer i are
//
//	live(i) = Σ { size(b) : def(b) ≤ i ≤ last(b) },   peak = max_i live(i)
//
// and no arena can be smaller than peak. Buffers are placed largest
// first, each at the lowest offset (a multiple of 4) where it overlaps no
// placed buffer that conflicts with it; the arena is the highest end,
// ArenaBytes ≥ PeakLiveBytes. For a chain this is two buffers
// ping-ponging; a residual block keeps a third for its shortcut.
package cgen
