//go:build amd64 && !purego

#include "textflag.h"

// Requantization on AVX-512F, integer only (TestAssemblyUsesNoFloat): the
// vector twin of requantRows (kernels.go) for the runtime's unsigned
// storage. A row of 16 channels is one load; VPMULDQ multiplies the even
// channels (the low halves of the 64-bit lanes) and, after a 32-bit
// shift, the odd ones, so each lane holds one exact product p = acc·M0
// (signed 32 × 32 → 64 bits, |p| < 2^55), rounded once, half to even, as
// quant.RoundShift:
//
//	v = (p + 2^(n−1) − 1 + odd) >> n,  odd = (p >> n) & 1
//
// with arithmetic shifts by the per-lane n (VPSRAVQ); odd is bit n of p,
// tested against 2^n (VPTESTMQ) into a mask that adds the 1. Then
//
//	q = clamp(v + Z, lo, hi) = clamp(v, lo − Z, hi − Z) + Z
//
// is clamped in the 64-bit lanes (nothing can wrap: |Z| < 2^9, lo and hi
// in [0, 255]), which leaves each value in its lane's low dword (a small
// two's complement number); the odd channels' dwords move up by 32 bits
// and one blend puts all 16 back in channel order for Z (VPADDD) and
// VPMOVDB. The only cross-lane operation is that last narrowing: the
// vector shuffle unit, not the arithmetic, bounded the kernels that
// widened and narrowed in 64-bit lanes.
//
// The odd bit matters only on a tie, p ≡ 2^(n−1) (mod 2^n): then the
// 2-adic valuation of p = acc·M0 is n − 1, and it is v2(acc) + t with
// t = v2(M0), v2(acc) ≤ 31 for a nonzero int32. So a channel can tie only
// if t ≤ n − 1 ≤ t + 31, that is 2^t ≤ 2^(n−1) ≤ 2^(t+31) with 2^t the
// lowest set bit of M0. A group of channels none of which can tie skips
// the test and the masked add (rowfast).
//
// Channels go 16 at a time in the outer loop, so that a group's constants
// stay in registers while the inner loop walks the rows. A last group of
// fewer channels runs under the mask K1 (loads that do not fault past the
// end) and stores through VPMOVDB's masked form.

// REQUANT_MUL loads the row at R12: p for the even channels in Z10, the
// odd ones in Z11.
#define REQUANT_MUL \
	VMOVDQU32.Z (R12), K1, Z10 \
	VPSRLQ   $32, Z10, Z11 \
	VPMULDQ  Z0, Z10, Z10 \
	VPMULDQ  Z1, Z11, Z11

// REQUANT_ODD adds bit n of p.
#define REQUANT_ODD \
	VPTESTMQ Z4, Z10, K3 \
	VPTESTMQ Z5, Z11, K4 \
	VPADDQ   Z31, Z10, K3, Z10 \
	VPADDQ   Z31, Z11, K4, Z11

// REQUANT_END rounds, clamps, adds Z and narrows: 16 bytes in X10.
#define REQUANT_END \
	VPADDQ   Z8, Z10, Z10 \
	VPADDQ   Z9, Z11, Z11 \
	VPSRAVQ  Z2, Z10, Z10 \
	VPSRAVQ  Z3, Z11, Z11 \
	VPMAXSQ  Z14, Z10, Z10 \
	VPMAXSQ  Z14, Z11, Z11 \
	VPMINSQ  Z15, Z10, Z10 \
	VPMINSQ  Z15, Z11, Z11 \
	VPSLLQ   $32, Z11, Z11 \
	VPBLENDMD Z11, Z10, K7, Z10 \
	VPADDD   Z13, Z10, Z10 \
	VPMOVDB  Z10, X10

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
	// Z in every dword of Z13, lo − Z and hi − Z in every qword of Z14,
	// Z15; ones (64-bit) in Z31; K7 the odd dwords.
	MOVQ z+64(FP), DX
	VPBROADCASTD DX, Z13
	MOVQ lo+72(FP), AX
	SUBQ DX, AX
	VPBROADCASTQ AX, Z14
	MOVQ hi+80(FP), AX
	SUBQ DX, AX
	VPBROADCASTQ AX, Z15
	MOVQ $1, AX
	VPBROADCASTQ AX, Z31
	MOVL $0xaaaa, AX
	KMOVW AX, K7
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
	// Z0, Z1 (zero-extended); n in Z2, Z3; 2^n in Z4, Z5; the bias
	// 2^(n−1) − 1 in Z8, Z9. (Channels outside the mask hold M0 = n =
	// 0: their results are not stored.)
	VMOVDQU32.Z (R10), K1, Z0
	VPSRLQ  $32, Z0, Z1
	VPSLLQ  $32, Z0, Z0
	VPSRLQ  $32, Z0, Z0
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

	// Can a channel tie? lsb = M0 & −M0; a tie needs lsb ≤ 2^(n−1) and
	// 2^(n−1) ≤ lsb·2^31 (see above). DX gathers the lanes that can.
	VPXORQ   Z6, Z6, Z6
	VPSUBQ   Z0, Z6, Z6
	VPANDQ   Z0, Z6, Z6
	VPSRLQ   $1, Z4, Z7
	VPCMPUQ  $2, Z7, Z6, K3 // lsb ≤ 2^(n−1)
	VPSLLQ   $31, Z6, Z6
	VPCMPUQ  $2, Z6, Z7, K3, K3 // and 2^(n−1) ≤ lsb·2^31
	VPXORQ   Z6, Z6, Z6
	VPSUBQ   Z1, Z6, Z6
	VPANDQ   Z1, Z6, Z6
	VPSRLQ   $1, Z5, Z7
	VPCMPUQ  $2, Z7, Z6, K4
	VPSLLQ   $31, Z6, Z6
	VPCMPUQ  $2, Z6, Z7, K4, K4
	KORW     K3, K4, K3
	KMOVW    K3, DX

	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ BX, R14
	CMPQ CX, $16
	JLT  rowpart
	TESTL DX, DX
	JZ   rowfast

row:
	REQUANT_MUL
	REQUANT_ODD
	REQUANT_END
	VMOVDQU X10, (R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  row
	JMP  nextgroup

rowfast:
	REQUANT_MUL
	REQUANT_END
	VMOVDQU X10, (R13)
	ADDQ R9, R12
	ADDQ R8, R13
	DECQ R14
	JNZ  rowfast
	JMP  nextgroup

rowpart:
	REQUANT_MUL
	REQUANT_ODD
	REQUANT_END
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
	VMOVQ AX, X12
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
	VMOVQ     X10, (R13)
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

// The residual add on AVX-512F (addVec in kernels_add.go): 8 elements a
// step, each in a 64-bit lane (VPMOVZXBQ widens as it loads),
//
//	p = ua·A + ub·B + K                        (VPMULDQ, exact)
//	q = clamp(((p + h + odd) >> n) + z, lo, hi),  odd = bit n of p
//
// with the layer's constants broadcast to every lane; VPMOVQB narrows
// the clamped values (in [0, 255]) to bytes.

// func addU8AVX512(dst, x, y *uint8, n int, v *addVec)
TEXT ·addU8AVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ v+32(FP), AX
	VPBROADCASTQ 0(AX), Z20  // A
	VPBROADCASTQ 8(AX), Z21  // B
	VPBROADCASTQ 16(AX), Z22 // K
	VPBROADCASTQ 24(AX), Z23 // h
	VPBROADCASTQ 32(AX), Z24 // 2^n
	VPBROADCASTQ 40(AX), Z25 // z
	VPBROADCASTQ 48(AX), Z26 // lo
	VPBROADCASTQ 56(AX), Z27 // hi
	VMOVQ 64(AX), X15        // n, the shift count
	MOVQ $1, BX
	VPBROADCASTQ BX, Z31
	SHRQ $3, CX
	JZ   adddone

addloop:
	VPMOVZXBQ (SI), Z0
	VPMOVZXBQ (DX), Z1
	VPMULDQ   Z20, Z0, Z0
	VPMULDQ   Z21, Z1, Z1
	VPADDQ    Z1, Z0, Z0
	VPADDQ    Z22, Z0, Z0
	VPTESTMQ  Z24, Z0, K1
	VPADDQ    Z23, Z0, Z0
	VPADDQ    Z31, Z0, K1, Z0
	VPSRAQ    X15, Z0, Z0
	VPADDQ    Z25, Z0, Z0
	VPMAXSQ   Z26, Z0, Z0
	VPMINSQ   Z27, Z0, Z0
	VPMOVQB   Z0, X0
	VMOVQ     X0, (DI)
	ADDQ $8, SI
	ADDQ $8, DX
	ADDQ $8, DI
	DECQ CX
	JNZ  addloop

adddone:
	VZEROUPPER
	RET

// The residual add on AVX2 (addVec in kernels_add.go: the same numerator
// and rounding as addU8AVX512, bit for bit), 8 elements a step in two
// groups of four 64-bit lanes (VPMOVZXBQ widens as it loads):
//
//	p = ua·A + ub·B + K                        (VPMULDQ, exact)
//	odd = (p >>> n) & 1                        (bit n of p)
//	q = ((p + h63 + odd) >>> n) + zs           (h63 = h + 2^63, zs = z − 2^(63−n))
//
// AVX2 has no 64-bit arithmetic shift: adding 2^63 (inside h63) makes the
// numerator nonnegative as an unsigned number, and its logical shift is
// the arithmetic one plus 2^(63−n), which zs takes back. The caller runs
// it only where q fits int32 for every operand pair (addVec.dword), so
// from there on 32-bit lanes hold q exactly: the second group's low
// dwords move up into the first's high dwords (dwords e0, e4, e1, e5 |
// e2, e6, e3, e7), zs is added and the clamp to [lo, hi] (in [0, 255]) is
// VPMAXSD/VPMINSD, and VPSHUFB + VEXTRACTI128 + VPOR gather the low bytes
// in order. VEX encoding throughout (TestKernelsUseNoLegacySSE).

DATA addOrder<>+0(SB)/8, $0x80800c0480800800  // lane 0: e0, e1 → bytes 0, 1; e4, e5 → 4, 5
DATA addOrder<>+8(SB)/8, $0x8080808080808080
DATA addOrder<>+16(SB)/8, $0x0c04808008008080 // lane 1: e2, e3 → bytes 2, 3; e6, e7 → 6, 7
DATA addOrder<>+24(SB)/8, $0x8080808080808080
GLOBL addOrder<>(SB), RODATA|NOPTR, $32

// func addU8AVX2(dst, x, y *uint8, n int, v *addVec)
TEXT ·addU8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ v+32(FP), AX
	VPBROADCASTQ 0(AX), Y5   // A
	VPBROADCASTQ 8(AX), Y6   // B
	VPBROADCASTQ 16(AX), Y7  // K
	VPBROADCASTQ 72(AX), Y8  // h63
	VPBROADCASTD 80(AX), Y11 // zs (low dword)
	VPBROADCASTD 48(AX), Y12 // lo
	VPBROADCASTD 56(AX), Y13 // hi
	VMOVQ 64(AX), X15        // n, the shift count
	MOVQ $1, BX
	VMOVQ BX, X9
	VPBROADCASTQ X9, Y9
	VMOVDQU addOrder<>(SB), Y14
	SHRQ $3, CX
	JZ   add2done

add2loop:
	// Elements 0–3 into Y2.
	VPMOVZXBQ (SI), Y0
	VPMOVZXBQ (DX), Y1
	VPMULDQ   Y5, Y0, Y0
	VPMULDQ   Y6, Y1, Y1
	VPADDQ    Y1, Y0, Y0
	VPADDQ    Y7, Y0, Y0
	VPSRLQ    X15, Y0, Y1
	VPAND     Y9, Y1, Y1
	VPADDQ    Y8, Y0, Y0
	VPADDQ    Y1, Y0, Y0
	VPSRLQ    X15, Y0, Y2
	// Elements 4–7 into the high dwords of Y2.
	VPMOVZXBQ 4(SI), Y0
	VPMOVZXBQ 4(DX), Y1
	VPMULDQ   Y5, Y0, Y0
	VPMULDQ   Y6, Y1, Y1
	VPADDQ    Y1, Y0, Y0
	VPADDQ    Y7, Y0, Y0
	VPSRLQ    X15, Y0, Y1
	VPAND     Y9, Y1, Y1
	VPADDQ    Y8, Y0, Y0
	VPADDQ    Y1, Y0, Y0
	VPSRLQ    X15, Y0, Y0
	VPSLLQ    $32, Y0, Y0
	VPBLENDD  $0xaa, Y0, Y2, Y2
	VPADDD    Y11, Y2, Y2
	VPMAXSD   Y12, Y2, Y2
	VPMINSD   Y13, Y2, Y2
	VPSHUFB   Y14, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPOR      X3, X2, X2
	VMOVQ     X2, (DI)
	ADDQ $8, SI
	ADDQ $8, DX
	ADDQ $8, DI
	DECQ CX
	JNZ  add2loop

add2done:
	VZEROUPPER
	RET

// func addU8WordAVX2(dst, x, y *uint8, n int, w *[8]int32)
// addW's arithmetic (gemm_add.go) on n (a multiple of 16) operand pairs,
// sixteen at a time: the operands widened to words and interleaved into
// dwords x | y<<16 (VPUNPCKLWD/HWD: elements 0–3 and 8–11, then 4–7 and
// 12–15), so that one VPMADDWD by Al | Bl<<16 gives L = x·Al + y·Bl and
// one by Ah | Bh<<16 gives x·Ah + y·Bh; then T = that + Kh + ((L + Kl)
// >> 16), q = T >> s + z clamped to [lo, hi] (bytes: the packs are
// exact), packed back into element order (VPACKSSDW undoes the
// interleave lane by lane, VPERMQ joins the lanes).
//
// Registers: Y8 Al|Bl, Y9 Ah|Bh, Y10 Kl, Y11 Kh, X12 s, Y13 z, Y14 lo,
// Y15 hi; Y0–Y4 scratch.
TEXT ·addU8WordAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ w+32(FP), AX
	VPBROADCASTD 0(AX), Y8
	VPBROADCASTD 4(AX), Y9
	VPBROADCASTD 8(AX), Y10
	VPBROADCASTD 12(AX), Y11
	VMOVD        16(AX), X12
	VPBROADCASTD 20(AX), Y13
	VPBROADCASTD 24(AX), Y14
	VPBROADCASTD 28(AX), Y15
	SHRQ $4, CX
	JZ   addw_done

addw_loop:
	VPMOVZXBW  (SI), Y0
	VPMOVZXBW  (DX), Y1
	VPUNPCKLWD Y1, Y0, Y2
	VPUNPCKHWD Y1, Y0, Y3
	VPMADDWD   Y8, Y2, Y4
	VPMADDWD   Y9, Y2, Y2
	VPADDD     Y10, Y4, Y4
	VPSRAD     $16, Y4, Y4
	VPADDD     Y4, Y2, Y2
	VPADDD     Y11, Y2, Y2
	VPSRAD     X12, Y2, Y2
	VPADDD     Y13, Y2, Y2
	VPMAXSD    Y14, Y2, Y2
	VPMINSD    Y15, Y2, Y2
	VPMADDWD   Y8, Y3, Y4
	VPMADDWD   Y9, Y3, Y3
	VPADDD     Y10, Y4, Y4
	VPSRAD     $16, Y4, Y4
	VPADDD     Y4, Y3, Y3
	VPADDD     Y11, Y3, Y3
	VPSRAD     X12, Y3, Y3
	VPADDD     Y13, Y3, Y3
	VPMAXSD    Y14, Y3, Y3
	VPMINSD    Y15, Y3, Y3
	VPACKSSDW  Y3, Y2, Y2
	VPACKUSWB  Y2, Y2, Y2
	VPERMQ     $0x08, Y2, Y2
	VMOVDQU    X2, (DI)
	ADDQ $16, SI
	ADDQ $16, DX
	ADDQ $16, DI
	DECQ CX
	JNZ  addw_loop

addw_done:
	VZEROUPPER
	RET
