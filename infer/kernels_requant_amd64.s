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
// the last group; a last group of 8 or fewer, as the last 4 of lenet5's
// 20-channel convolution, runs the low half only) in the outer loop, so
// that a group's M0, n and rounding bias stay in registers while the
// inner loop walks the rows.

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

// requantU8AVX2 is the same rule on AVX2, 8 channels a group (m a multiple
// of 8; the caller runs the rest in Go), 4 lanes of 64 bits per register.
// AVX2 has no arithmetic 64-bit shift: with the sign bit flipped, t ^ 2^63
// is t + 2^63 as an unsigned number, so
//
//	t >> n = ((t ^ 2^63) >>> n) − (2^63 >>> n)    (>>> logical, VPSRLVQ)
//
// and odd = ((p >>> n) & 1), bit n of p whatever the fill. The clamp is
// VPCMPGTQ + VPBLENDVB; the two halves' bytes are packed in channel order
// by VPSHUFB.

DATA requantOrder<>+0(SB)/8, $0x0705030106040200
DATA requantOrder<>+8(SB)/8, $0x0f0d0b090e0c0a08
GLOBL requantOrder<>(SB), RODATA|NOPTR, $16

// func requantU8AVX2(dst *uint8, rowStride int, acc *int32, accStride int, n, m int, m0, shift *int32, z, lo, hi int64)
TEXT ·requantU8AVX2(SB), NOSPLIT, $0-88
	MOVQ dst+0(FP), DI
	MOVQ rowStride+8(FP), R8
	MOVQ acc+16(FP), SI
	MOVQ accStride+24(FP), R9
	SHLQ $2, R9
	MOVQ n+32(FP), BX
	MOVQ m+40(FP), CX
	MOVQ m0+48(FP), R10
	MOVQ shift+56(FP), R11
	VPBROADCASTQ z+64(FP), Y14
	VPBROADCASTQ lo+72(FP), Y15
	VPBROADCASTQ hi+80(FP), Y11
	MOVQ $1, AX
	MOVQ AX, X12
	VPBROADCASTQ X12, Y12
	VPSLLQ $63, Y12, Y13
	TESTQ BX, BX
	JLE  done2
	CMPQ CX, $8
	JLT  done2

group2:
	VPMOVSXDQ (R10), Y0
	VPMOVSXDQ 16(R10), Y1
	VPMOVZXDQ (R11), Y2
	VPMOVZXDQ 16(R11), Y3
	VPSLLVQ Y2, Y12, Y4
	VPSRLQ  $1, Y4, Y4
	VPSUBQ  Y12, Y4, Y4
	VPSLLVQ Y3, Y12, Y5
	VPSRLQ  $1, Y5, Y5
	VPSUBQ  Y12, Y5, Y5
	VPSRLVQ Y2, Y13, Y6
	VPSRLVQ Y3, Y13, Y7
	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ BX, R14

row2:
	// Channels 0–3 into Y10.
	VPMOVSXDQ (R12), Y8
	VPMULDQ   Y0, Y8, Y8
	VPSRLVQ   Y2, Y8, Y9
	VPAND     Y12, Y9, Y9
	VPADDQ    Y4, Y8, Y8
	VPADDQ    Y9, Y8, Y8
	VPXOR     Y13, Y8, Y8
	VPSRLVQ   Y2, Y8, Y8
	VPSUBQ    Y6, Y8, Y8
	VPADDQ    Y14, Y8, Y8
	VPCMPGTQ  Y8, Y15, Y9
	VPBLENDVB Y9, Y15, Y8, Y8
	VPCMPGTQ  Y11, Y8, Y9
	VPBLENDVB Y9, Y11, Y8, Y10
	// Channels 4–7 into Y8.
	VPMOVSXDQ 16(R12), Y8
	VPMULDQ   Y1, Y8, Y8
	VPSRLVQ   Y3, Y8, Y9
	VPAND     Y12, Y9, Y9
	VPADDQ    Y5, Y8, Y8
	VPADDQ    Y9, Y8, Y8
	VPXOR     Y13, Y8, Y8
	VPSRLVQ   Y3, Y8, Y8
	VPSUBQ    Y7, Y8, Y8
	VPADDQ    Y14, Y8, Y8
	VPCMPGTQ  Y8, Y15, Y9
	VPBLENDVB Y9, Y15, Y8, Y8
	VPCMPGTQ  Y11, Y8, Y9
	VPBLENDVB Y9, Y11, Y8, Y8
	// Dwords (c0, c4, c1, c5 | c2, c6, c3, c7), bytes in that order, then
	// VPSHUFB into c0…c7.
	VPSLLQ    $32, Y8, Y8
	VPOR      Y8, Y10, Y10
	VEXTRACTI128 $1, Y10, X9
	VPACKUSDW X9, X10, X10
	VPACKUSWB X10, X10, X10
	VPSHUFB   requantOrder<>(SB), X10, X10
	MOVQ      X10, (R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  row2

	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, SI
	ADDQ $8, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE  group2

done2:
	VZEROUPPER
	RET
