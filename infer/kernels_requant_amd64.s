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
// with arithmetic shifts by the per-lane n (VPSRAVQ); odd is bit n of p,
// tested against 2^n (VPTESTMQ) into a mask that adds the 1. The shifted
// value is narrowed to int16 with signed saturation (VPMOVSQW), Z added
// with saturation (VPADDSW) and the result clamped: saturation keeps the
// order, and Z, lo, hi lie well inside int16 (|Z| < 2^9, lo, hi ∈
// [0, 255]), so the clamp gives the exact q, which VPACKUSWB stores as a
// byte.
//
// The loop is bound by the vector pipes (a 512-bit operation takes two of
// Zen 4's four 256-bit pipes; the 128-bit ones run four at a time), so a
// row of 16 channels is one load and the 64-bit work is the least it can
// be: VPMULDQ multiplies the even channels (the low halves of the 64-bit
// lanes) and, after a 32-bit shift, the odd ones; each half is rounded and
// narrowed to 8 words, which VPUNPCKLWD and VPUNPCKHWD interleave back
// into channel order for the clamp on 128-bit registers.
//
// Channels go 16 at a time in the outer loop, so that a group's M0, n and
// rounding constants stay in registers while the inner loop walks the
// rows. A last group of fewer channels runs under the mask K1 (loads that
// do not fault past the end) and stores through VPMOVDB's masked form:
// AVX-512F has no masked byte store of its own.

// REQUANT_ROW rounds and clamps the row at R12 into X10 (16 bytes).
#define REQUANT_ROW \
	VMOVDQU32.Z (R12), K1, Z10 \
	VPSRLQ   $32, Z10, Z11 \
	VPMULDQ  Z0, Z10, Z10 \
	VPMULDQ  Z1, Z11, Z11 \
	VPTESTMQ Z4, Z10, K3 \
	VPTESTMQ Z5, Z11, K4 \
	VPADDQ   Z8, Z10, Z10 \
	VPADDQ   Z9, Z11, Z11 \
	VPADDQ   Z31, Z10, K3, Z10 \
	VPADDQ   Z31, Z11, K4, Z11 \
	VPSRAVQ  Z2, Z10, Z10 \
	VPSRAVQ  Z3, Z11, Z11 \
	VPMOVSQW Z10, X10 \
	VPMOVSQW Z11, X11 \
	VPUNPCKLWD X11, X10, X6 \
	VPUNPCKHWD X11, X10, X7 \
	VPADDSW  X13, X6, X6 \
	VPADDSW  X13, X7, X7 \
	VPMAXSW  X14, X6, X6 \
	VPMAXSW  X14, X7, X7 \
	VPMINSW  X15, X6, X6 \
	VPMINSW  X15, X7, X7 \
	VPACKUSWB X7, X6, X10

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
	// Z, lo and hi in every word of X13, X14, X15; ones in Z31.
	MOVQ z+64(FP), AX
	MOVQ AX, X13
	VPBROADCASTW X13, X13
	MOVQ lo+72(FP), AX
	MOVQ AX, X14
	VPBROADCASTW X14, X14
	MOVQ hi+80(FP), AX
	MOVQ AX, X15
	VPBROADCASTW X15, X15
	MOVQ $1, AX
	VPBROADCASTQ AX, Z31
	TESTQ BX, BX
	JLE done
	TESTQ CX, CX
	JLE done

group:
	// K1 = (1 << min(CX, 16)) − 1: the group's channels.
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

	// The group's constants, even channels (low halves) then odd: M0 in
	// Z0, Z1 (VPMULDQ reads the low 32 bits of a lane); n in Z2, Z3; 2^n
	// in Z4, Z5; the bias 2^(n−1) − 1 in Z8, Z9.
	VMOVDQU32.Z (R10), K1, Z0
	VPSRLQ  $32, Z0, Z1
	VMOVDQU32.Z (R11), K1, Z2
	VPSRLQ  $32, Z2, Z3
	VPSLLQ  $32, Z2, Z2
	VPSRLQ  $32, Z2, Z2
	VPSLLVQ Z2, Z31, Z4
	VPSLLVQ Z3, Z31, Z5
	VPSRLQ  $1, Z4, Z8
	VPSUBQ  Z31, Z8, Z8
	VPSRLQ  $1, Z5, Z9
	VPSUBQ  Z31, Z9, Z9

	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ BX, R14
	CMPQ CX, $16
	JLT  rowpart

row:
	REQUANT_ROW
	VMOVDQU X10, (R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  row
	JMP  nextgroup

rowpart:
	REQUANT_ROW
	VPMOVZXBD X10, Z10
	VPMOVDB   Z10, K1, (R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  rowpart

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
