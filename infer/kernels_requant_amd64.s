//go:build amd64 && !purego

#include "textflag.h"

// Requantization on AVX-512F, integer only (TestAssemblyUsesNoFloat): the
// vector twin of requantRows (kernels.go) for the runtime's unsigned
// storage. Each 64-bit lane holds one exact product p = acc·M0 (VPMULDQ:
// signed 32 × 32 → 64 bits, |p| < 2^55) and rounds it once, half to even,
// as quant.RoundShift:
//
//	q = clamp(((p + 2^(n−1) − 1 + odd) >> n) + Z, lo, hi),  odd = (p >> n) & 1
//
// with arithmetic shifts by the per-lane n (VPSRAVQ), the clamp on 64-bit
// lanes (VPMAXSQ, VPMINSQ) and the narrowing to bytes by truncation
// (VPMOVQB: lo, hi ∈ [0, 255]).
//
// Channels go 16 at a time (two halves of 8 lanes, masks K1 and K2 for
// the last group; a last group of 8 or fewer runs the low half only, as
// a convolution with 6 channels) in the outer loop, so that a group's M0, n and rounding
// bias stay in registers while the inner loop walks the rows.

// func requantU8AVX512(dst *uint8, rowStride int, acc *int32, accStride int, n, m int, m0, shift *int32, z, lo, hi int64)
TEXT ·requantU8AVX512(SB), NOSPLIT, $0-88
	MOVQ dst+0(FP), DI
	MOVQ rowStride+8(FP), R8
	MOVQ acc+16(FP), SI
	MOVQ accStride+24(FP), R9
	SHLQ $2, R9
	MOVQ n+32(FP), BX
	MOVQ m+40(FP), CX
	MOVQ m0+48(FP), R10
	MOVQ shift+56(FP), R11
	VPBROADCASTQ z+64(FP), Z28
	VPBROADCASTQ lo+72(FP), Z29
	VPBROADCASTQ hi+80(FP), Z30
	MOVQ $1, AX
	VPBROADCASTQ AX, Z31
	TESTQ BX, BX
	JLE done
	TESTQ CX, CX
	JLE done

group:
	// DX = (1 << min(CX, 16)) − 1: the group's 16-lane mask.
	MOVQ CX, AX
	CMPQ CX, $16
	JLE  masked
	MOVQ $16, CX
masked:
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	MOVQ AX, CX
	KMOVW DX, K1
	SHRL $8, DX
	KMOVW DX, K2

	// The group's constants: M0, n, and the bias 2^(n−1) − 1.
	VPMOVSXDQ.Z (R10), K1, Z0
	VPMOVSXDQ.Z 32(R10), K2, Z1
	VPMOVZXDQ.Z (R11), K1, Z2
	VPMOVZXDQ.Z 32(R11), K2, Z3
	VPSLLVQ Z2, Z31, Z4
	VPSRLQ  $1, Z4, Z4
	VPSUBQ  Z31, Z4, Z4
	VPSLLVQ Z3, Z31, Z5
	VPSRLQ  $1, Z5, Z5
	VPSUBQ  Z31, Z5, Z5

	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ BX, R14
	CMPQ CX, $8
	JLE  rowlow // 8 channels or fewer left: the low half only

row:
	VPMOVSXDQ.Z (R12), K1, Z6
	VPMOVSXDQ.Z 32(R12), K2, Z7
	VPMULDQ Z0, Z6, Z6
	VPMULDQ Z1, Z7, Z7
	VPSRAVQ Z2, Z6, Z8
	VPSRAVQ Z3, Z7, Z9
	VPANDQ  Z31, Z8, Z8
	VPANDQ  Z31, Z9, Z9
	VPADDQ  Z4, Z6, Z6
	VPADDQ  Z5, Z7, Z7
	VPADDQ  Z8, Z6, Z6
	VPADDQ  Z9, Z7, Z7
	VPSRAVQ Z2, Z6, Z6
	VPSRAVQ Z3, Z7, Z7
	VPADDQ  Z28, Z6, Z6
	VPADDQ  Z28, Z7, Z7
	VPMAXSQ Z29, Z6, Z6
	VPMAXSQ Z29, Z7, Z7
	VPMINSQ Z30, Z6, Z6
	VPMINSQ Z30, Z7, Z7
	VPMOVQB Z6, K1, (R13)
	VPMOVQB Z7, K2, 8(R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  row

	JMP  nextgroup

rowlow:
	VPMOVSXDQ.Z (R12), K1, Z6
	VPMULDQ Z0, Z6, Z6
	VPSRAVQ Z2, Z6, Z8
	VPANDQ  Z31, Z8, Z8
	VPADDQ  Z4, Z6, Z6
	VPADDQ  Z8, Z6, Z6
	VPSRAVQ Z2, Z6, Z6
	VPADDQ  Z28, Z6, Z6
	VPMAXSQ Z29, Z6, Z6
	VPMINSQ Z30, Z6, Z6
	VPMOVQB Z6, K1, (R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  rowlow

nextgroup:
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, SI
	ADDQ $16, DI
	SUBQ $16, CX
	JG   group

done:
	VZEROUPPER
	RET
