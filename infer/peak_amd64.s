//go:build amd64 && !purego

#include "textflag.h"

// The int8 dot-product peak loops of peak.go: independent accumulators,
// no loads, so the loop runs at the dot-product units' throughput. Each
// returns lane 0 of its first accumulator (the tests check that the loop
// ran the instruction iters times).

// func peakVNNI(u, w *uint8, iters int) int32
// 16 chains of VPDPBUSD zmm: 16·64 = 1024 MACs per iteration.
TEXT ·peakVNNI(SB), NOSPLIT, $0-28
	MOVQ u+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ iters+16(FP), CX
	VMOVDQU32 (SI), Z16
	VMOVDQU32 (DI), Z17
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	TESTQ CX, CX
	JLE vnnidone
vnniloop:
	VPDPBUSD Z17, Z16, Z0
	VPDPBUSD Z17, Z16, Z1
	VPDPBUSD Z17, Z16, Z2
	VPDPBUSD Z17, Z16, Z3
	VPDPBUSD Z17, Z16, Z4
	VPDPBUSD Z17, Z16, Z5
	VPDPBUSD Z17, Z16, Z6
	VPDPBUSD Z17, Z16, Z7
	VPDPBUSD Z17, Z16, Z8
	VPDPBUSD Z17, Z16, Z9
	VPDPBUSD Z17, Z16, Z10
	VPDPBUSD Z17, Z16, Z11
	VPDPBUSD Z17, Z16, Z12
	VPDPBUSD Z17, Z16, Z13
	VPDPBUSD Z17, Z16, Z14
	VPDPBUSD Z17, Z16, Z15
	DECQ CX
	JNZ vnniloop
vnnidone:
	VMOVD X0, AX
	MOVL AX, ret+24(FP)
	VZEROUPPER
	RET

// func peakAVX2(u, w *uint8, iters int) int32
// 6 chains of VPMADDUBSW (u8×s8 pairs to s16, saturating) + VPMADDWD
// with ones (pairs to s32) + VPADDD, on ymm: 6·32 = 192 MACs per
// iteration, the AVX2 kernels' sequence.
TEXT ·peakAVX2(SB), NOSPLIT, $0-28
	MOVQ u+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ iters+16(FP), CX
	VMOVDQU (SI), Y12
	VMOVDQU (DI), Y13
	VPCMPEQW Y14, Y14, Y14
	VPSRLW $15, Y14, Y14 // 1 in every word
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	TESTQ CX, CX
	JLE avx2done
avx2loop:
	VPMADDUBSW Y13, Y12, Y6
	VPMADDUBSW Y13, Y12, Y7
	VPMADDUBSW Y13, Y12, Y8
	VPMADDUBSW Y13, Y12, Y9
	VPMADDUBSW Y13, Y12, Y10
	VPMADDUBSW Y13, Y12, Y11
	VPMADDWD Y14, Y6, Y6
	VPMADDWD Y14, Y7, Y7
	VPMADDWD Y14, Y8, Y8
	VPMADDWD Y14, Y9, Y9
	VPMADDWD Y14, Y10, Y10
	VPMADDWD Y14, Y11, Y11
	VPADDD Y6, Y0, Y0
	VPADDD Y7, Y1, Y1
	VPADDD Y8, Y2, Y2
	VPADDD Y9, Y3, Y3
	VPADDD Y10, Y4, Y4
	VPADDD Y11, Y5, Y5
	DECQ CX
	JNZ avx2loop
avx2done:
	VMOVD X0, AX
	MOVL AX, ret+24(FP)
	VZEROUPPER
	RET
