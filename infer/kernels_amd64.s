//go:build amd64 && !purego

#include "textflag.h"

// Register names for the dot kernels.
#define X_PTR SI
#define W0 R8
#define W1 R9
#define W2 R10
#define W3 R11
#define K CX
#define OUT DI
#define IDX AX

// Four int32 accumulators of 8 lanes each, and the horizontal sum that
// turns them into out[0..3]:
//   VPHADDD pairs lanes within each 128-bit half, twice, then the halves add.
#define HSUM4 \
	VPHADDD Y1, Y0, Y0 \
	VPHADDD Y3, Y2, Y2 \
	VPHADDD Y2, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X1 \
	VPADDD X1, X0, X0 \
	VMOVDQU X0, (OUT)

// MADD4 multiplies the 16 int16 activations in Y4 with 16 sign-extended
// int8 weights of each of the four rows at IDX and adds the pair sums to
// the accumulators Y0…Y3.
#define MADD4 \
	VPMOVSXBW (W0)(IDX*1), Y5 \
	VPMOVSXBW (W1)(IDX*1), Y6 \
	VPMOVSXBW (W2)(IDX*1), Y7 \
	VPMOVSXBW (W3)(IDX*1), Y8 \
	VPMADDWD Y4, Y5, Y5 \
	VPMADDWD Y4, Y6, Y6 \
	VPMADDWD Y4, Y7, Y7 \
	VPMADDWD Y4, Y8, Y8 \
	VPADDD Y5, Y0, Y0 \
	VPADDD Y6, Y1, Y1 \
	VPADDD Y7, Y2, Y2 \
	VPADDD Y8, Y3, Y3

// LOAD_ARGS_ZERO_ACC loads the arguments (x, w0…w3, k, out, shared by both
// kernels) and clears the accumulators and the index.
#define LOAD_ARGS_ZERO_ACC \
	MOVQ x+0(FP), X_PTR \
	MOVQ w0+8(FP), W0 \
	MOVQ w1+16(FP), W1 \
	MOVQ w2+24(FP), W2 \
	MOVQ w3+32(FP), W3 \
	MOVQ k+40(FP), K \
	MOVQ out+48(FP), OUT \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXOR Y2, Y2, Y2 \
	VPXOR Y3, Y3, Y3 \
	XORQ IDX, IDX

// func dot4I8AVX2(x, w0, w1, w2, w3 *int8, k int, out *[4]int32)
//
// out[j] = Σ_{i<k} x[i]·wj[i] for k a positive multiple of 16: each step
// sign-extends 16 int8 to int16 (VPMOVSXBW) and multiplies pairs into int32
// sums (VPMADDWD); |x·w| ≤ 127·127, so a pair sum cannot overflow.
TEXT ·dot4I8AVX2(SB), NOSPLIT, $0-56
	LOAD_ARGS_ZERO_ACC

loop8:
	VPMOVSXBW (X_PTR)(IDX*1), Y4
	MADD4
	ADDQ $16, IDX
	CMPQ IDX, K
	JLT loop8

	HSUM4
	VZEROUPPER
	RET

// func dot4I16AVX2(x *int16, w0, w1, w2, w3 *int8, k int, out *[4]int32)
//
// As dot4I8AVX2 with int16 activations (uint8 minus a zero point, |x| ≤ 255):
// |x·w| ≤ 255·127 and a pair sum ≤ 64770 fit int32 easily.
TEXT ·dot4I16AVX2(SB), NOSPLIT, $0-56
	LOAD_ARGS_ZERO_ACC

loop16:
	VMOVDQU (X_PTR)(IDX*2), Y4
	MADD4
	ADDQ $16, IDX
	CMPQ IDX, K
	JLT loop16

	HSUM4
	VZEROUPPER
	RET
