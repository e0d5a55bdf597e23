//go:build amd64 && !purego

#include "textflag.h"

// The batch-normalization row kernels of bnrows.go, bnrelu.go and
// bnrelu_rows.go in AVX2: the AVX-512 kernels' instructions (kernel_amd64.s,
// bnrelu_amd64.s) on two YMM registers, the low one lanes 0–7 and the high
// one lanes 8–15 of the 16-lane sums, so lane r adds the elements
// i ≡ r mod 16 in increasing i as the Go twins do. No fused multiply-adds:
// every product is rounded before its sum, as Go rounds it on amd64. The
// ReLU masks are two ordered compares (NaN passes nothing) ANDed, and a
// masked-off gradient is +0, the Go twins' gv = 0. n is a multiple of 16.

// func zsumAVX2(y *float32, n int, b, rs float32, lanes *float32)
TEXT ·zsumAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS b+16(FP), Y14
	VBROADCASTSS rs+20(FP), Y15
	MOVQ lanes+24(FP), DI
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	TESTQ CX, CX
	JEQ zsum_done
zsum_loop:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VSUBPS Y14, Y2, Y2
	VSUBPS Y14, Y3, Y3
	VMULPS Y15, Y2, Y2
	VMULPS Y15, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zsum_loop
zsum_done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

// func zsqdevAVX2(y *float32, n int, b, rs, mu float32, lanes *float32)
TEXT ·zsqdevAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS b+16(FP), Y13
	VBROADCASTSS rs+20(FP), Y14
	VBROADCASTSS mu+24(FP), Y15
	MOVQ lanes+32(FP), DI
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	TESTQ CX, CX
	JEQ zsq_done
zsq_loop:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VSUBPS Y13, Y2, Y2
	VSUBPS Y13, Y3, Y3
	VMULPS Y14, Y2, Y2
	VMULPS Y14, Y3, Y3
	VSUBPS Y15, Y2, Y2
	VSUBPS Y15, Y3, Y3
	VMULPS Y2, Y2, Y2
	VMULPS Y3, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zsq_loop
zsq_done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

// ZPRE sets r to pre = ((r − b)·rs − mu)·k + off with b, rs, mu, k, off in
// Y11..Y15.
#define ZPRE(r) \
	VSUBPS Y11, r, r \
	VMULPS Y12, r, r \
	VSUBPS Y13, r, r \
	VMULPS Y14, r, r \
	VADDPS Y15, r, r

// func zaffineAVX2(out, y *float32, n int, b, rs, mu, k, off float32)
TEXT ·zaffineAVX2(SB), NOSPLIT, $0-44
	MOVQ out+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Y11
	VBROADCASTSS rs+28(FP), Y12
	VBROADCASTSS mu+32(FP), Y13
	VBROADCASTSS k+36(FP), Y14
	VBROADCASTSS off+40(FP), Y15
	TESTQ CX, CX
	JEQ zaff_done
zaff_loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	ZPRE(Y1)
	ZPRE(Y2)
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ zaff_loop
zaff_done:
	VZEROUPPER
	RET

// func zsumdotAVX2(gr, y *float32, n int, b, rs, mu float32, lanes *float32)
TEXT ·zsumdotAVX2(SB), NOSPLIT, $0-48
	MOVQ gr+0(FP), DX
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Y13
	VBROADCASTSS rs+28(FP), Y14
	VBROADCASTSS mu+32(FP), Y15
	MOVQ lanes+40(FP), DI
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	TESTQ CX, CX
	JEQ zsd_done
zsd_loop:
	VMOVUPS (DX), Y4
	VMOVUPS 32(DX), Y5
	VMOVUPS (SI), Y6
	VMOVUPS 32(SI), Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VSUBPS Y13, Y6, Y6
	VSUBPS Y13, Y7, Y7
	VMULPS Y14, Y6, Y6
	VMULPS Y14, Y7, Y7
	VSUBPS Y15, Y6, Y6
	VSUBPS Y15, Y7, Y7
	VMULPS Y6, Y4, Y6
	VMULPS Y7, Y5, Y7
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zsd_loop
zsd_done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

// ZGRADH is one half (8 lanes, at byte offset o) of zgradAVX2's step:
// z = (y − b)·rs, d = (a·g + b0) + b1·(z − mu), acc += d·z; a, b0, b1, b,
// rs, mu in Y10..Y15.
#define ZGRADH(o, acc) \
	VMOVUPS o(SI), Y4 \
	VSUBPS Y13, Y4, Y4 \
	VMULPS Y14, Y4, Y4 \
	VMOVUPS o(DX), Y5 \
	VMULPS Y10, Y5, Y5 \
	VADDPS Y11, Y5, Y5 \
	VSUBPS Y15, Y4, Y6 \
	VMULPS Y12, Y6, Y6 \
	VADDPS Y6, Y5, Y5 \
	VMOVUPS Y5, o(DI) \
	VMULPS Y4, Y5, Y5 \
	VADDPS Y5, acc, acc

// func zgradAVX2(d, gr, y *float32, n int, a, b0, b1, b, rs, mu float32, lanes *float32)
TEXT ·zgradAVX2(SB), NOSPLIT, $0-64
	MOVQ d+0(FP), DI
	MOVQ gr+8(FP), DX
	MOVQ y+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS a+32(FP), Y10
	VBROADCASTSS b0+36(FP), Y11
	VBROADCASTSS b1+40(FP), Y12
	VBROADCASTSS b+44(FP), Y13
	VBROADCASTSS rs+48(FP), Y14
	VBROADCASTSS mu+52(FP), Y15
	MOVQ lanes+56(FP), R8
	VMOVUPS (R8), Y0
	VMOVUPS 32(R8), Y1
	TESTQ CX, CX
	JEQ zg_done
zg_loop:
	ZGRADH(0, Y0)
	ZGRADH(32, Y1)
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zg_loop
zg_done:
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, 32(R8)
	VZEROUPPER
	RET

// CLAMP sets r = min(max(r, 0), hi) as Go's min and max with Y9 zero and
// Y10 hi: max(0, r) returns its second operand, r, when r is NaN or a
// zero; adding +0 then turns −0 into +0; min(hi, ·) returns its second
// operand when it is NaN.
#define CLAMP(r) \
	VMAXPS r, Y9, r \
	VADDPS Y9, r, r \
	VMINPS r, Y10, r

// func zaffineReLUAVX2(out, y *float32, n int, b, rs, mu, k, off, hi float32)
TEXT ·zaffineReLUAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Y11
	VBROADCASTSS rs+28(FP), Y12
	VBROADCASTSS mu+32(FP), Y13
	VBROADCASTSS k+36(FP), Y14
	VBROADCASTSS off+40(FP), Y15
	VBROADCASTSS hi+44(FP), Y10
	VXORPS Y9, Y9, Y9
	TESTQ CX, CX
	JEQ zafr_done
zafr_loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	ZPRE(Y1)
	ZPRE(Y2)
	CLAMP(Y1)
	CLAMP(Y2)
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ zafr_loop
zafr_done:
	VZEROUPPER
	RET

// func zaffineAddReLUAVX2(out, y, r *float32, n int, b, rs, mu, k, off float32)
// out = max(pre + r, 0) as Go's max (see CLAMP).
TEXT ·zaffineAddReLUAVX2(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ r+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS b+32(FP), Y11
	VBROADCASTSS rs+36(FP), Y12
	VBROADCASTSS mu+40(FP), Y13
	VBROADCASTSS k+44(FP), Y14
	VBROADCASTSS off+48(FP), Y15
	VXORPS Y9, Y9, Y9
	TESTQ CX, CX
	JEQ zaar_done
zaar_loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	ZPRE(Y1)
	ZPRE(Y2)
	VADDPS (DX), Y1, Y1
	VADDPS 32(DX), Y2, Y2
	VMAXPS Y1, Y9, Y1
	VMAXPS Y2, Y9, Y2
	VADDPS Y9, Y1, Y1
	VADDPS Y9, Y2, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ zaar_loop
zaar_done:
	VZEROUPPER
	RET

// ZMGRAD sets zm = (y − b)·rs − mu from y at o(SI) (z in z first: y is
// overwritten) and g' at o(DX) into gv: g where 0 < zm·k + off < hi, else
// +0; b, rs, mu, k, off in Y11..Y15, zero in Y9, hi in Y10; t a scratch.
#define ZMGRAD(o, z, zm, gv, t) \
	VMOVUPS o(SI), z \
	VSUBPS Y11, z, z \
	VMULPS Y12, z, z \
	VSUBPS Y13, z, zm \
	VMULPS Y14, zm, t \
	VADDPS Y15, t, t \
	VCMPPS $0x1e, Y9, t, gv \
	VCMPPS $0x11, Y10, t, t \
	VANDPS t, gv, gv \
	VANDPS o(DX), gv, gv

// func zsumdotReLUAVX2(gr, y *float32, n int, b, rs, mu, k, off, hi float32, lanes *float32)
// lanes Y0, Y1 sum g', Y2, Y3 sum g'·(z − mu).
TEXT ·zsumdotReLUAVX2(SB), NOSPLIT, $0-56
	MOVQ gr+0(FP), DX
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Y11
	VBROADCASTSS rs+28(FP), Y12
	VBROADCASTSS mu+32(FP), Y13
	VBROADCASTSS k+36(FP), Y14
	VBROADCASTSS off+40(FP), Y15
	VBROADCASTSS hi+44(FP), Y10
	MOVQ lanes+48(FP), DI
	VXORPS Y9, Y9, Y9
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	TESTQ CX, CX
	JEQ zsdr_done
zsdr_loop:
	ZMGRAD(0, Y4, Y4, Y5, Y8)
	ZMGRAD(32, Y6, Y6, Y7, Y8)
	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y1, Y1
	VMULPS Y4, Y5, Y4
	VMULPS Y6, Y7, Y6
	VADDPS Y4, Y2, Y2
	VADDPS Y6, Y3, Y3
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zsdr_loop
zsdr_done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

// func zgradReLUAVX2(d, gr, y *float32, n int, a, b0, b1, b, rs, mu, k, off, hi float32, lanes *float32)
// d = (a·g' + b0) + b1·(z − mu), lanes Y0, Y6 sum d·z; a, b0, b1 in Y1,
// Y7, Y8 (all 16 registers in use).
TEXT ·zgradReLUAVX2(SB), NOSPLIT, $0-80
	MOVQ d+0(FP), DI
	MOVQ gr+8(FP), DX
	MOVQ y+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS a+32(FP), Y1
	VBROADCASTSS b0+36(FP), Y7
	VBROADCASTSS b1+40(FP), Y8
	VBROADCASTSS b+44(FP), Y11
	VBROADCASTSS rs+48(FP), Y12
	VBROADCASTSS mu+52(FP), Y13
	VBROADCASTSS k+56(FP), Y14
	VBROADCASTSS off+60(FP), Y15
	VBROADCASTSS hi+64(FP), Y10
	MOVQ lanes+72(FP), R8
	VXORPS Y9, Y9, Y9
	VMOVUPS (R8), Y0
	VMOVUPS 32(R8), Y6
	TESTQ CX, CX
	JEQ zgr_done
zgr_loop:
	ZMGRAD(0, Y2, Y3, Y4, Y5)
	VMULPS Y1, Y4, Y4
	VADDPS Y7, Y4, Y4
	VMULPS Y8, Y3, Y3
	VADDPS Y3, Y4, Y4
	VMOVUPS Y4, (DI)
	VMULPS Y2, Y4, Y4
	VADDPS Y4, Y0, Y0
	ZMGRAD(32, Y2, Y3, Y4, Y5)
	VMULPS Y1, Y4, Y4
	VADDPS Y7, Y4, Y4
	VMULPS Y8, Y3, Y3
	VADDPS Y3, Y4, Y4
	VMOVUPS Y4, 32(DI)
	VMULPS Y2, Y4, Y4
	VADDPS Y4, Y6, Y6
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zgr_loop
zgr_done:
	VMOVUPS Y0, (R8)
	VMOVUPS Y6, 32(R8)
	VZEROUPPER
	RET

// func reluGradAVX2(d, y, gr *float32, n int, hi float32)
// n a positive multiple of 16: d = g where 0 < y < hi (ordered compares:
// NaN fails both), else +0.
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-36
	MOVQ d+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ gr+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS hi+32(FP), Y10
	VXORPS Y9, Y9, Y9
rg_loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VCMPPS $0x1e, Y9, Y1, Y3 // y > 0
	VCMPPS $0x1e, Y9, Y2, Y4
	VCMPPS $0x11, Y10, Y1, Y1 // y < hi
	VCMPPS $0x11, Y10, Y2, Y2
	VANDPS Y1, Y3, Y3
	VANDPS Y2, Y4, Y4
	VANDPS (DX), Y3, Y3
	VANDPS 32(DX), Y4, Y4
	VMOVUPS Y3, (DI)
	VMOVUPS Y4, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ rg_loop
	VZEROUPPER
	RET

// func addReLUAVX2(y, a, b *float32, n int)
// n a positive multiple of 16: y = max(a + b, 0) as Go's max (see CLAMP).
TEXT ·addReLUAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	VXORPS Y9, Y9, Y9
ar_loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VADDPS (DX), Y1, Y1
	VADDPS 32(DX), Y2, Y2
	VMAXPS Y1, Y9, Y1
	VMAXPS Y2, Y9, Y2
	VADDPS Y9, Y1, Y1
	VADDPS Y9, Y2, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ ar_loop
	VZEROUPPER
	RET

// func addBiasRowsAVX2(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int, b float32)
// rows, cols > 0: dst = src + b, 8 floats a step, the row's last cols mod 8
// one at a time (VADDSS: the same single rounding).
TEXT ·addBiasRowsAVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ ldDst+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ ldSrc+24(FP), R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11
	VBROADCASTSS b+48(FP), Y15
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ R11, R12
	ANDQ $-8, R12
abr_row:
	XORQ BX, BX
	TESTQ R12, R12
	JEQ abr_tail
abr_full:
	VADDPS (SI)(BX*4), Y15, Y1
	VMOVUPS Y1, (DI)(BX*4)
	ADDQ $8, BX
	CMPQ BX, R12
	JLT abr_full
abr_tail:
	CMPQ BX, R11
	JGE abr_next
	VMOVSS (SI)(BX*4), X1
	VADDSS X15, X1, X1
	VMOVSS X1, (DI)(BX*4)
	INCQ BX
	JMP abr_tail
abr_next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ abr_row
	VZEROUPPER
	RET

// The channel kernels of bnchan.go in AVX2: rows rows of hw floats at a
// stride of ld floats, each row's sums in 16 lanes starting from +0 (the
// row's first hw &^ 15 elements 16 a step as in the row kernels above,
// then its last hw mod 16 one at a time into lanes 0.. of a copy on the
// stack, with the same scalar operations), reduced as reduce16 does,
// converted to float64 and added (subtracted, zgradRows) to the running
// sum in row order: the loops over rows of bnchan.go, bit for bit.

// RED16 sets Xlo to reduce16 of the lanes in Ylo (0–7) and Yhi (8–15):
// ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), the same of l8..l15, then their
// sum; t is a scratch.
#define RED16(Ylo, Xlo, Yhi, Xhi, Yt, Xt) \
	VPERMILPS $0xb1, Ylo, Yt \
	VADDPS Yt, Ylo, Ylo \
	VPERMILPS $0x4e, Ylo, Yt \
	VADDPS Yt, Ylo, Ylo \
	VEXTRACTF128 $1, Ylo, Xt \
	VADDSS Xt, Xlo, Xlo \
	VPERMILPS $0xb1, Yhi, Yt \
	VADDPS Yt, Yhi, Yhi \
	VPERMILPS $0x4e, Yhi, Yt \
	VADDPS Yt, Yhi, Yhi \
	VEXTRACTF128 $1, Yhi, Xt \
	VADDSS Xt, Xhi, Xhi \
	VADDSS Xhi, Xlo, Xlo

// func zsumRowsAVX2(y *float32, ld, rows, hw int, b, rs float32) float64
TEXT ·zsumRowsAVX2(SB), NOSPLIT, $64-48
	MOVQ y+0(FP), R8
	MOVQ ld+8(FP), R9
	SHLQ $2, R9
	MOVQ rows+16(FP), R10
	MOVQ hw+24(FP), R11
	MOVQ R11, R12
	ANDQ $15, R12
	ANDQ $-16, R11
	VBROADCASTSS b+32(FP), Y14
	VBROADCASTSS rs+36(FP), Y15
	VXORPD X13, X13, X13
	TESTQ R10, R10
	JEQ zsr_done
zsr_row:
	MOVQ R8, SI
	MOVQ R11, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ BX, BX
	JEQ zsr_tail
zsr_loop:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VSUBPS Y14, Y2, Y2
	VSUBPS Y14, Y3, Y3
	VMULPS Y15, Y2, Y2
	VMULPS Y15, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zsr_loop
zsr_tail:
	TESTQ R12, R12
	JEQ zsr_red
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y1, 32(SP)
	XORQ BX, BX
zsr_tloop:
	VMOVSS (SI)(BX*4), X2
	VSUBSS X14, X2, X2
	VMULSS X15, X2, X2
	VMOVSS (SP)(BX*4), X3
	VADDSS X2, X3, X3
	VMOVSS X3, (SP)(BX*4)
	INCQ BX
	CMPQ BX, R12
	JLT zsr_tloop
	VMOVUPS 0(SP), Y0
	VMOVUPS 32(SP), Y1
zsr_red:
	RED16(Y0, X0, Y1, X1, Y2, X2)
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X13, X13
	ADDQ R9, R8
	DECQ R10
	JNZ zsr_row
zsr_done:
	VMOVSD X13, ret+40(FP)
	VZEROUPPER
	RET

// func zsqdevRowsAVX2(y *float32, ld, rows, hw int, b, rs, mu float32) float64
TEXT ·zsqdevRowsAVX2(SB), NOSPLIT, $64-56
	MOVQ y+0(FP), R8
	MOVQ ld+8(FP), R9
	SHLQ $2, R9
	MOVQ rows+16(FP), R10
	MOVQ hw+24(FP), R11
	MOVQ R11, R12
	ANDQ $15, R12
	ANDQ $-16, R11
	VBROADCASTSS b+32(FP), Y13
	VBROADCASTSS rs+36(FP), Y14
	VBROADCASTSS mu+40(FP), Y15
	VXORPD X12, X12, X12
	TESTQ R10, R10
	JEQ zqr_done
zqr_row:
	MOVQ R8, SI
	MOVQ R11, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ BX, BX
	JEQ zqr_tail
zqr_loop:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VSUBPS Y13, Y2, Y2
	VSUBPS Y13, Y3, Y3
	VMULPS Y14, Y2, Y2
	VMULPS Y14, Y3, Y3
	VSUBPS Y15, Y2, Y2
	VSUBPS Y15, Y3, Y3
	VMULPS Y2, Y2, Y2
	VMULPS Y3, Y3, Y3
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zqr_loop
zqr_tail:
	TESTQ R12, R12
	JEQ zqr_red
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y1, 32(SP)
	XORQ BX, BX
zqr_tloop:
	VMOVSS (SI)(BX*4), X2
	VSUBSS X13, X2, X2
	VMULSS X14, X2, X2
	VSUBSS X15, X2, X2
	VMULSS X2, X2, X2
	VMOVSS (SP)(BX*4), X3
	VADDSS X2, X3, X3
	VMOVSS X3, (SP)(BX*4)
	INCQ BX
	CMPQ BX, R12
	JLT zqr_tloop
	VMOVUPS 0(SP), Y0
	VMOVUPS 32(SP), Y1
zqr_red:
	RED16(Y0, X0, Y1, X1, Y2, X2)
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X12, X12
	ADDQ R9, R8
	DECQ R10
	JNZ zqr_row
zqr_done:
	VMOVSD X12, ret+48(FP)
	VZEROUPPER
	RET

// ZMPLAIN is ZMGRAD without the mask: zm = (y − b)·rs − mu from o(SI)
// (z in z first), gv = g from o(DX).
#define ZMPLAIN(o, z, zm, gv) \
	VMOVUPS o(SI), z \
	VSUBPS Y11, z, z \
	VMULPS Y12, z, z \
	VSUBPS Y13, z, zm \
	VMOVUPS o(DX), gv

// SZMGRAD is ZMGRAD on the scalar at (SI)(BX*4) and g at (DX)(BX*4).
#define SZMGRAD(z, zm, gv, t) \
	VMOVSS (SI)(BX*4), z \
	VSUBSS X11, z, z \
	VMULSS X12, z, z \
	VSUBSS X13, z, zm \
	VMULSS X14, zm, t \
	VADDSS X15, t, t \
	VCMPSS $0x1e, X9, t, gv \
	VCMPSS $0x11, X10, t, t \
	VANDPS t, gv, gv \
	VMOVSS (DX)(BX*4), t \
	VANDPS t, gv, gv

// SZMPLAIN is ZMPLAIN on the scalar at (SI)(BX*4) and g at (DX)(BX*4).
#define SZMPLAIN(z, zm, gv) \
	VMOVSS (SI)(BX*4), z \
	VSUBSS X11, z, z \
	VMULSS X12, z, z \
	VSUBSS X13, z, zm \
	VMOVSS (DX)(BX*4), gv

// SLANEADD adds x into the lane at o(SP)(BX*4) (through t).
#define SLANEADD(o, x, t) \
	VMOVSS o(SP)(BX*4), t \
	VADDSS x, t, t \
	VMOVSS t, o(SP)(BX*4)

// func zsumdotRowsAVX2(gr, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, relu bool) (sum, dot float64)
// g' = g where relu is false or 0 < (z − mu)·k + off < hi, else +0: lanes
// Y0, Y1 sum g', Y2, Y3 sum g'·(z − mu) (stack copies at 0 and 64); the
// running float64 sums at 128(SP) and 136(SP).
TEXT ·zsumdotRowsAVX2(SB), NOSPLIT, $144-88
	MOVQ gr+0(FP), R8
	MOVQ y+8(FP), R13
	MOVQ ld+16(FP), R9
	SHLQ $2, R9
	MOVQ rows+24(FP), R10
	MOVQ hw+32(FP), R11
	MOVQ R11, CX
	ANDQ $15, CX
	ANDQ $-16, R11
	VBROADCASTSS b+40(FP), Y11
	VBROADCASTSS rs+44(FP), Y12
	VBROADCASTSS mu+48(FP), Y13
	VBROADCASTSS k+52(FP), Y14
	VBROADCASTSS off+56(FP), Y15
	VBROADCASTSS hi+60(FP), Y10
	MOVBQZX relu+64(FP), R12
	VXORPS Y9, Y9, Y9
	MOVQ $0, 128(SP)
	MOVQ $0, 136(SP)
	TESTQ R10, R10
	JEQ zdr_done
zdr_row:
	MOVQ R8, DX
	MOVQ R13, SI
	MOVQ R11, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ BX, BX
	JEQ zdr_tail
	TESTQ R12, R12
	JEQ zdr_ploop
zdr_loop:
	ZMGRAD(0, Y4, Y4, Y5, Y8)
	ZMGRAD(32, Y6, Y6, Y7, Y8)
	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y1, Y1
	VMULPS Y4, Y5, Y4
	VMULPS Y6, Y7, Y6
	VADDPS Y4, Y2, Y2
	VADDPS Y6, Y3, Y3
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zdr_loop
	JMP zdr_tail
zdr_ploop:
	ZMPLAIN(0, Y4, Y4, Y5)
	ZMPLAIN(32, Y6, Y6, Y7)
	VADDPS Y5, Y0, Y0
	VADDPS Y7, Y1, Y1
	VMULPS Y4, Y5, Y4
	VMULPS Y6, Y7, Y6
	VADDPS Y4, Y2, Y2
	VADDPS Y6, Y3, Y3
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zdr_ploop
zdr_tail:
	TESTQ CX, CX
	JEQ zdr_red
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y1, 32(SP)
	VMOVUPS Y2, 64(SP)
	VMOVUPS Y3, 96(SP)
	XORQ BX, BX
zdr_tloop:
	TESTQ R12, R12
	JEQ zdr_tplain
	SZMGRAD(X4, X4, X5, X8)
	JMP zdr_tadd
zdr_tplain:
	SZMPLAIN(X4, X4, X5)
zdr_tadd:
	SLANEADD(0, X5, X6)
	VMULSS X4, X5, X4
	SLANEADD(64, X4, X6)
	INCQ BX
	CMPQ BX, CX
	JLT zdr_tloop
	VMOVUPS 0(SP), Y0
	VMOVUPS 32(SP), Y1
	VMOVUPS 64(SP), Y2
	VMOVUPS 96(SP), Y3
zdr_red:
	RED16(Y0, X0, Y1, X1, Y4, X4)
	VCVTSS2SD X0, X0, X0
	VMOVSD 128(SP), X4
	VADDSD X0, X4, X4
	VMOVSD X4, 128(SP)
	RED16(Y2, X2, Y3, X3, Y4, X4)
	VCVTSS2SD X2, X2, X2
	VMOVSD 136(SP), X4
	VADDSD X2, X4, X4
	VMOVSD X4, 136(SP)
	ADDQ R9, R8
	ADDQ R9, R13
	DECQ R10
	JNZ zdr_row
zdr_done:
	MOVQ 128(SP), AX
	MOVQ AX, sum+72(FP)
	MOVQ 136(SP), AX
	MOVQ AX, dot+80(FP)
	VZEROUPPER
	RET

// ZGRADD sets d (in gv) = (a·g' + b0) + b1·zm, stores it at o(DI) and adds
// d·z into acc; a, b0, b1 in Y1, Y7, Y8.
#define ZGRADD(o, z, zm, gv, acc) \
	VMULPS Y1, gv, gv \
	VADDPS Y7, gv, gv \
	VMULPS Y8, zm, zm \
	VADDPS zm, gv, gv \
	VMOVUPS gv, o(DI) \
	VMULPS z, gv, gv \
	VADDPS gv, acc, acc

// func zgradRowsAVX2(d, gr, y *float32, ld, rows, hw int, a, b0, b1, b, rs, mu, k, off, hi float32, relu bool) float64
// d = (a·g' + b0) + b1·(z − mu) (g' as in zsumdotRows), lanes Y0, Y6 sum
// d·z (stack copy at 0), the row sums subtracted from the float64 at
// 64(SP).
TEXT ·zgradRowsAVX2(SB), NOSPLIT, $72-96
	MOVQ d+0(FP), R8
	MOVQ gr+8(FP), R13
	MOVQ y+16(FP), AX
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ hw+40(FP), R11
	MOVQ R11, CX
	ANDQ $15, CX
	ANDQ $-16, R11
	VBROADCASTSS a+48(FP), Y1
	VBROADCASTSS b0+52(FP), Y7
	VBROADCASTSS b1+56(FP), Y8
	VBROADCASTSS b+60(FP), Y11
	VBROADCASTSS rs+64(FP), Y12
	VBROADCASTSS mu+68(FP), Y13
	VBROADCASTSS k+72(FP), Y14
	VBROADCASTSS off+76(FP), Y15
	VBROADCASTSS hi+80(FP), Y10
	MOVBQZX relu+84(FP), R12
	VXORPS Y9, Y9, Y9
	MOVQ $0, 64(SP)
	TESTQ R10, R10
	JEQ zgrr_done
zgrr_row:
	MOVQ R8, DI
	MOVQ R13, DX
	MOVQ AX, SI
	MOVQ R11, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y6, Y6, Y6
	TESTQ BX, BX
	JEQ zgrr_tail
	TESTQ R12, R12
	JEQ zgrr_ploop
zgrr_loop:
	ZMGRAD(0, Y2, Y3, Y4, Y5)
	ZGRADD(0, Y2, Y3, Y4, Y0)
	ZMGRAD(32, Y2, Y3, Y4, Y5)
	ZGRADD(32, Y2, Y3, Y4, Y6)
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zgrr_loop
	JMP zgrr_tail
zgrr_ploop:
	ZMPLAIN(0, Y2, Y3, Y4)
	ZGRADD(0, Y2, Y3, Y4, Y0)
	ZMPLAIN(32, Y2, Y3, Y4)
	ZGRADD(32, Y2, Y3, Y4, Y6)
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zgrr_ploop
zgrr_tail:
	TESTQ CX, CX
	JEQ zgrr_red
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y6, 32(SP)
	XORQ BX, BX
zgrr_tloop:
	TESTQ R12, R12
	JEQ zgrr_tplain
	SZMGRAD(X2, X3, X4, X5)
	JMP zgrr_td
zgrr_tplain:
	SZMPLAIN(X2, X3, X4)
zgrr_td:
	VMULSS X1, X4, X4
	VADDSS X7, X4, X4
	VMULSS X8, X3, X3
	VADDSS X3, X4, X4
	VMOVSS X4, (DI)(BX*4)
	VMULSS X2, X4, X4
	SLANEADD(0, X4, X5)
	INCQ BX
	CMPQ BX, CX
	JLT zgrr_tloop
	VMOVUPS 0(SP), Y0
	VMOVUPS 32(SP), Y6
zgrr_red:
	RED16(Y0, X0, Y6, X6, Y2, X2)
	VCVTSS2SD X0, X0, X0
	VMOVSD 64(SP), X2
	VSUBSD X0, X2, X2
	VMOVSD X2, 64(SP)
	ADDQ R9, R8
	ADDQ R9, R13
	ADDQ R9, AX
	DECQ R10
	JNZ zgrr_row
zgrr_done:
	MOVQ 64(SP), DX
	MOVQ DX, ret+88(FP)
	VZEROUPPER
	RET

// SZPRE is ZPRE on a scalar.
#define SZPRE(r) \
	VSUBSS X11, r, r \
	VMULSS X12, r, r \
	VSUBSS X13, r, r \
	VMULSS X14, r, r \
	VADDSS X15, r, r

// SCLAMP is CLAMP on a scalar.
#define SCLAMP(r) \
	VMAXSS r, X9, r \
	VADDSS X9, r, r \
	VMINSS r, X10, r

// func zaffineRowsAVX2(out, y, r *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, mode int)
// out = pre = ((y − b)·rs − mu)·k + off (mode 0), min(max(pre, 0), hi)
// (mode 1) or max(pre + r, 0) (mode 2), as zaffineAVX2, zaffineReLUAVX2
// and zaffineAddReLUAVX2 compute them; the last hw mod 16 of a row one
// at a time.
TEXT ·zaffineRowsAVX2(SB), NOSPLIT, $0-80
	MOVQ out+0(FP), R8
	MOVQ y+8(FP), R13
	MOVQ r+16(FP), AX
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ hw+40(FP), R11
	MOVQ R11, CX
	ANDQ $15, CX
	ANDQ $-16, R11
	VBROADCASTSS b+48(FP), Y11
	VBROADCASTSS rs+52(FP), Y12
	VBROADCASTSS mu+56(FP), Y13
	VBROADCASTSS k+60(FP), Y14
	VBROADCASTSS off+64(FP), Y15
	VBROADCASTSS hi+68(FP), Y10
	MOVQ mode+72(FP), R12
	VXORPS Y9, Y9, Y9
	TESTQ R10, R10
	JEQ zafrw_done
zafrw_row:
	MOVQ R8, DI
	MOVQ R13, SI
	MOVQ AX, DX
	MOVQ R11, BX
	TESTQ BX, BX
	JEQ zafrw_tail
zafrw_loop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	ZPRE(Y1)
	ZPRE(Y2)
	TESTQ R12, R12
	JEQ zafrw_store
	CMPQ R12, $2
	JNE zafrw_clamp
	VADDPS (DX), Y1, Y1
	VADDPS 32(DX), Y2, Y2
	VMAXPS Y1, Y9, Y1
	VMAXPS Y2, Y9, Y2
	VADDPS Y9, Y1, Y1
	VADDPS Y9, Y2, Y2
	JMP zafrw_store
zafrw_clamp:
	CLAMP(Y1)
	CLAMP(Y2)
zafrw_store:
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, BX
	JNZ zafrw_loop
zafrw_tail:
	TESTQ CX, CX
	JEQ zafrw_next
	XORQ BX, BX
zafrw_tloop:
	VMOVSS (SI)(BX*4), X1
	SZPRE(X1)
	TESTQ R12, R12
	JEQ zafrw_tstore
	CMPQ R12, $2
	JNE zafrw_tclamp
	VMOVSS (DX)(BX*4), X2
	VADDSS X2, X1, X1
	VMAXSS X1, X9, X1
	VADDSS X9, X1, X1
	JMP zafrw_tstore
zafrw_tclamp:
	SCLAMP(X1)
zafrw_tstore:
	VMOVSS X1, (DI)(BX*4)
	INCQ BX
	CMPQ BX, CX
	JLT zafrw_tloop
zafrw_next:
	ADDQ R9, R8
	ADDQ R9, R13
	ADDQ R9, AX
	DECQ R10
	JNZ zafrw_row
zafrw_done:
	VZEROUPPER
	RET

// func zaffineReLURowsExtAVX2(out, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16)
//
// zaffineRowsAVX2's mode 1 that also keeps, per lane, the minimum and
// maximum of the values it stores (mn < v ? mn : v and mx > v ? mx : v,
// as zaffineReLURowsExtAVX512: the Go twin's extremes for non-NaN values,
// as no −0 is stored) in Y0, Y1 and Y2, Y3, and the lanes that stored a
// NaN (unordered compares ORed) in Y4, Y5; the last hw mod 16 of a row
// one at a time on the stack copies (minima at 0, maxima at 64), their
// NaN lanes in DX.
TEXT ·zaffineReLURowsExtAVX2(SB), NOSPLIT, $128-72
	MOVQ out+0(FP), R8
	MOVQ y+8(FP), R13
	MOVQ ld+16(FP), R9
	SHLQ $2, R9
	MOVQ rows+24(FP), R10
	MOVQ hw+32(FP), R11
	MOVQ R11, CX
	ANDQ $15, CX
	ANDQ $-16, R11
	VBROADCASTSS b+40(FP), Y11
	VBROADCASTSS rs+44(FP), Y12
	VBROADCASTSS mu+48(FP), Y13
	VBROADCASTSS k+52(FP), Y14
	VBROADCASTSS off+56(FP), Y15
	VBROADCASTSS hi+60(FP), Y10
	MOVQ ext+64(FP), R12
	VMOVUPS 0(R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS 64(R12), Y2
	VMOVUPS 96(R12), Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	XORQ DX, DX
	VXORPS Y9, Y9, Y9
	TESTQ R10, R10
	JEQ zafx_done
zafx_row:
	MOVQ R8, DI
	MOVQ R13, SI
	MOVQ R11, BX
	TESTQ BX, BX
	JEQ zafx_tail
zafx_loop:
	VMOVUPS (SI), Y6
	VMOVUPS 32(SI), Y7
	ZPRE(Y6)
	ZPRE(Y7)
	CLAMP(Y6)
	CLAMP(Y7)
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	VMINPS Y6, Y0, Y0 // mn < v ? mn : v
	VMINPS Y7, Y1, Y1
	VMAXPS Y6, Y2, Y2 // mx > v ? mx : v
	VMAXPS Y7, Y3, Y3
	VCMPPS $3, Y6, Y6, Y6 // NaN
	VCMPPS $3, Y7, Y7, Y7
	VORPS Y6, Y4, Y4
	VORPS Y7, Y5, Y5
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, BX
	JNZ zafx_loop
zafx_tail:
	TESTQ CX, CX
	JEQ zafx_next
	VMOVUPS Y0, 0(SP)
	VMOVUPS Y1, 32(SP)
	VMOVUPS Y2, 64(SP)
	VMOVUPS Y3, 96(SP)
	XORQ BX, BX
zafx_tloop:
	VMOVSS (SI)(BX*4), X6
	SZPRE(X6)
	SCLAMP(X6)
	VMOVSS X6, (DI)(BX*4)
	VMOVSS (SP)(BX*4), X7
	VMINSS X6, X7, X7
	VMOVSS X7, (SP)(BX*4)
	VMOVSS 64(SP)(BX*4), X7
	VMAXSS X6, X7, X7
	VMOVSS X7, 64(SP)(BX*4)
	VUCOMISS X6, X6
	JPC zafx_tnext
	BTSQ BX, DX
zafx_tnext:
	INCQ BX
	CMPQ BX, CX
	JLT zafx_tloop
	VMOVUPS 0(SP), Y0
	VMOVUPS 32(SP), Y1
	VMOVUPS 64(SP), Y2
	VMOVUPS 96(SP), Y3
zafx_next:
	ADDQ R9, R8
	ADDQ R9, R13
	DECQ R10
	JNZ zafx_row
zafx_done:
	VMOVUPS Y0, 0(R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	VMOVMSKPS Y4, AX
	VMOVMSKPS Y5, BX
	SHLQ $8, BX
	ORQ BX, AX
	ORQ DX, AX
	ORW AX, 128(R12)
	VZEROUPPER
	RET
