//go:build amd64 && !purego

#include "textflag.h"

// 2×2 max-pooling with stride 2 on channels-last bytes, AVX-512BW, for
// c ≤ 64 channels: each output position is the byte-wise maximum
// (VPMAXUB) of four c-byte vectors, loaded and stored under the mask of
// the c channels. The vector twin of maxPoolHWC (gemm.go).

// func maxPool2U8AVX512(dst, src *uint8, c, w, oh, ow int)
TEXT ·maxPool2U8AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R8
	MOVQ w+24(FP), R9
	IMULQ R8, R9 // bytes per input row
	MOVQ oh+32(FP), DX
	MOVQ ow+40(FP), BX
	TESTQ DX, DX
	JLE  pooldone
	TESTQ BX, BX
	JLE  pooldone
	MOVQ $-1, AX
	CMPQ R8, $64
	JGE  poolmask
	MOVQ R8, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
poolmask:
	KMOVQ AX, K1
	LEAQ (R8)(R8*1), R10 // input bytes per output position

poolrow:
	MOVQ SI, R11
	LEAQ (SI)(R9*1), R12
	MOVQ BX, R13

poolcol:
	VMOVDQU8.Z (R11), K1, Z0
	VMOVDQU8.Z (R11)(R8*1), K1, Z1
	VMOVDQU8.Z (R12), K1, Z2
	VMOVDQU8.Z (R12)(R8*1), K1, Z3
	VPMAXUB Z1, Z0, Z0
	VPMAXUB Z3, Z2, Z2
	VPMAXUB Z2, Z0, Z0
	VMOVDQU8 Z0, K1, (DI)
	ADDQ R10, R11
	ADDQ R10, R12
	ADDQ R8, DI
	DECQ R13
	JNZ  poolcol

	LEAQ (SI)(R9*2), SI
	DECQ DX
	JNZ  poolrow

pooldone:
	VZEROUPPER
	RET
