//go:build amd64 && !purego

#include "textflag.h"

// The channel kernels of bnchan.go: rows rows of hw floats at a stride of
// ld floats, each row's sums in 16 lanes (the row's first hw &^ 15
// elements 16 a step, then its last hw mod 16 under the mask K2, added to
// the first lanes only), reduced as reduce16 does, converted to float64
// and added (subtracted, zgradRows) to the running sum in row order.

// TAILMASK sets K2 to the low hw mod 16 lanes and R11 = hw &^ 15 from R11.
#define TAILMASK \
	MOVQ R11, CX \
	ANDQ $15, CX \
	MOVL $1, AX \
	SHLL CX, AX \
	SUBL $1, AX \
	KMOVW AX, K2 \
	ANDQ $-16, R11

// RED16 sets X0 to reduce16 of Z0's lanes:
// ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), the same of l8..l15, then their sum.
#define RED16 \
	VPERMILPS $0xb1, Z0, Z1 \
	VADDPS Z1, Z0, Z0 \
	VPERMILPS $0x4e, Z0, Z1 \
	VADDPS Z1, Z0, Z0 \
	VSHUFF32X4 $0xb1, Z0, Z0, Z1 \
	VADDPS Z1, Z0, Z0 \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDSS X1, X0, X0

// func zsumRowsAVX512(y *float32, ld, rows, hw int, b, rs float32) float64
TEXT ·zsumRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), R8
	MOVQ ld+8(FP), R9
	SHLQ $2, R9
	MOVQ rows+16(FP), R10
	MOVQ hw+24(FP), R11
	VBROADCASTSS b+32(FP), Z28
	VBROADCASTSS rs+36(FP), Z29
	TAILMASK
	VXORPD X2, X2, X2
	TESTQ R10, R10
	JEQ zsr_done
zsr_row:
	MOVQ R8, SI
	MOVQ R11, BX
	VPXORD Z0, Z0, Z0
	TESTQ BX, BX
	JEQ zsr_tail
zsr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VADDPS Z1, Z0, Z0
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zsr_loop
zsr_tail:
	KORTESTW K2, K2
	JEQ zsr_red
	VMOVUPS.Z (SI), K2, Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VADDPS Z1, Z0, K2, Z0
zsr_red:
	RED16
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X2, X2
	ADDQ R9, R8
	DECQ R10
	JNZ zsr_row
zsr_done:
	VMOVSD X2, ret+40(FP)
	VZEROUPPER
	RET

// func zsqdevRowsAVX512(y *float32, ld, rows, hw int, b, rs, mu float32) float64
TEXT ·zsqdevRowsAVX512(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), R8
	MOVQ ld+8(FP), R9
	SHLQ $2, R9
	MOVQ rows+16(FP), R10
	MOVQ hw+24(FP), R11
	VBROADCASTSS b+32(FP), Z28
	VBROADCASTSS rs+36(FP), Z29
	VBROADCASTSS mu+40(FP), Z30
	TAILMASK
	VXORPD X2, X2, X2
	TESTQ R10, R10
	JEQ zqr_done
zqr_row:
	MOVQ R8, SI
	MOVQ R11, BX
	VPXORD Z0, Z0, Z0
	TESTQ BX, BX
	JEQ zqr_tail
zqr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z1, Z1, Z1
	VADDPS Z1, Z0, Z0
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zqr_loop
zqr_tail:
	KORTESTW K2, K2
	JEQ zqr_red
	VMOVUPS.Z (SI), K2, Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z1, Z1, Z1
	VADDPS Z1, Z0, K2, Z0
zqr_red:
	RED16
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X2, X2
	ADDQ R9, R8
	DECQ R10
	JNZ zqr_row
zqr_done:
	VMOVSD X2, ret+48(FP)
	VZEROUPPER
	RET

// func zsumdotRowsAVX512(gr, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, relu bool) (sum, dot float64)
// g' = g where relu is false or 0 < (z − mu)·k + off < hi, else 0: lanes
// Z0 sum g', lanes Z5 sum g'·(z − mu).
TEXT ·zsumdotRowsAVX512(SB), NOSPLIT, $0-88
	MOVQ gr+0(FP), R8
	MOVQ y+8(FP), R13
	MOVQ ld+16(FP), R9
	SHLQ $2, R9
	MOVQ rows+24(FP), R10
	MOVQ hw+32(FP), R11
	VBROADCASTSS b+40(FP), Z28
	VBROADCASTSS rs+44(FP), Z29
	VBROADCASTSS mu+48(FP), Z30
	VBROADCASTSS k+52(FP), Z31
	VBROADCASTSS off+56(FP), Z27
	VBROADCASTSS hi+60(FP), Z21
	MOVBQZX relu+64(FP), R12
	TAILMASK
	VPXORD Z20, Z20, Z20
	VXORPD X2, X2, X2
	VXORPD X7, X7, X7
	TESTQ R10, R10
	JEQ zdr_done
zdr_row:
	MOVQ R8, DX
	MOVQ R13, SI
	MOVQ R11, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z5, Z5, Z5
	TESTQ BX, BX
	JEQ zdr_tail
zdr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1 // z − mu
	KXNORW K1, K1, K1
	TESTQ R12, R12
	JEQ zdr_load
	VMULPS Z31, Z1, Z4
	VADDPS Z27, Z4, Z4 // pre
	VCMPPS $0x1e, Z20, Z4, K1
	VCMPPS $0x11, Z21, Z4, K3
	KANDW K3, K1, K1
zdr_load:
	VMOVUPS.Z (DX), K1, Z3
	VADDPS Z3, Z0, Z0
	VMULPS Z1, Z3, Z3
	VADDPS Z3, Z5, Z5
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zdr_loop
zdr_tail:
	KORTESTW K2, K2
	JEQ zdr_red
	VMOVUPS.Z (SI), K2, Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	KMOVW K2, K1
	TESTQ R12, R12
	JEQ zdr_tload
	VMULPS Z31, Z1, Z4
	VADDPS Z27, Z4, Z4
	VCMPPS $0x1e, Z20, Z4, K1
	VCMPPS $0x11, Z21, Z4, K3
	KANDW K3, K1, K1
	KANDW K2, K1, K1
zdr_tload:
	VMOVUPS.Z (DX), K1, Z3
	VADDPS Z3, Z0, K2, Z0
	VMULPS Z1, Z3, Z3
	VADDPS Z3, Z5, K2, Z5
zdr_red:
	RED16
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X2, X2
	VMOVAPS Z5, Z0
	RED16
	VCVTSS2SD X0, X0, X0
	VADDSD X0, X7, X7
	ADDQ R9, R8
	ADDQ R9, R13
	DECQ R10
	JNZ zdr_row
zdr_done:
	VMOVSD X2, sum+72(FP)
	VMOVSD X7, dot+80(FP)
	VZEROUPPER
	RET

// func zgradRowsAVX512(d, gr, y *float32, ld, rows, hw int, a, b0, b1, b, rs, mu, k, off, hi float32, relu bool) float64
// d = a·g' + b0 + b1·(z − mu) (g' as in zsumdotRows), lanes Z0 sum d·z,
// the row sums subtracted from X2.
TEXT ·zgradRowsAVX512(SB), NOSPLIT, $0-96
	MOVQ d+0(FP), R8
	MOVQ gr+8(FP), R13
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ hw+40(FP), R11
	VBROADCASTSS a+48(FP), Z24
	VBROADCASTSS b0+52(FP), Z25
	VBROADCASTSS b1+56(FP), Z26
	VBROADCASTSS b+60(FP), Z28
	VBROADCASTSS rs+64(FP), Z29
	VBROADCASTSS mu+68(FP), Z30
	VBROADCASTSS k+72(FP), Z31
	VBROADCASTSS off+76(FP), Z27
	VBROADCASTSS hi+80(FP), Z21
	MOVBQZX relu+84(FP), R12
	TAILMASK
	MOVQ y+16(FP), AX
	VPXORD Z20, Z20, Z20
	VXORPD X2, X2, X2
	TESTQ R10, R10
	JEQ zgrr_done
zgrr_row:
	MOVQ R8, DI
	MOVQ R13, DX
	MOVQ AX, SI
	MOVQ R11, BX
	VPXORD Z0, Z0, Z0
	TESTQ BX, BX
	JEQ zgrr_tail
zgrr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1 // z
	VSUBPS Z30, Z1, Z4 // z − mu
	KXNORW K1, K1, K1
	TESTQ R12, R12
	JEQ zgrr_load
	VMULPS Z31, Z4, Z5
	VADDPS Z27, Z5, Z5 // pre
	VCMPPS $0x1e, Z20, Z5, K1
	VCMPPS $0x11, Z21, Z5, K3
	KANDW K3, K1, K1
zgrr_load:
	VMOVUPS.Z (DX), K1, Z3
	VMULPS Z24, Z3, Z3
	VADDPS Z25, Z3, Z3
	VMULPS Z26, Z4, Z4
	VADDPS Z4, Z3, Z3
	VMOVUPS Z3, (DI)
	VMULPS Z1, Z3, Z3
	VADDPS Z3, Z0, Z0
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, BX
	JNZ zgrr_loop
zgrr_tail:
	KORTESTW K2, K2
	JEQ zgrr_red
	VMOVUPS.Z (SI), K2, Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z4
	KMOVW K2, K1
	TESTQ R12, R12
	JEQ zgrr_tload
	VMULPS Z31, Z4, Z5
	VADDPS Z27, Z5, Z5
	VCMPPS $0x1e, Z20, Z5, K1
	VCMPPS $0x11, Z21, Z5, K3
	KANDW K3, K1, K1
	KANDW K2, K1, K1
zgrr_tload:
	VMOVUPS.Z (DX), K1, Z3
	VMULPS Z24, Z3, Z3
	VADDPS Z25, Z3, Z3
	VMULPS Z26, Z4, Z4
	VADDPS Z4, Z3, Z3
	VMOVUPS Z3, K2, (DI)
	VMULPS Z1, Z3, Z3
	VADDPS Z3, Z0, K2, Z0
zgrr_red:
	RED16
	VCVTSS2SD X0, X0, X0
	VSUBSD X0, X2, X2
	ADDQ R9, R8
	ADDQ R9, R13
	ADDQ R9, AX
	DECQ R10
	JNZ zgrr_row
zgrr_done:
	VMOVSD X2, ret+88(FP)
	VZEROUPPER
	RET

// func zaffineRowsAVX512(out, y, r *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, mode int)
// out = pre = ((y − b)·rs − mu)·k + off (mode 0), min(max(pre, 0), hi)
// (mode 1) or max(pre + r, 0) (mode 2), as zaffineAVX512,
// zaffineReLUAVX512 and zaffineAddReLUAVX512 compute them; the tail
// under K2.
TEXT ·zaffineRowsAVX512(SB), NOSPLIT, $0-80
	MOVQ out+0(FP), R8
	MOVQ y+8(FP), R13
	MOVQ ld+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ hw+40(FP), R11
	VBROADCASTSS b+48(FP), Z28
	VBROADCASTSS rs+52(FP), Z29
	VBROADCASTSS mu+56(FP), Z30
	VBROADCASTSS k+60(FP), Z31
	VBROADCASTSS off+64(FP), Z27
	VBROADCASTSS hi+68(FP), Z21
	MOVQ mode+72(FP), R12
	TAILMASK
	MOVQ r+16(FP), AX
	VPXORD Z20, Z20, Z20
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
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z31, Z1, Z1
	VADDPS Z27, Z1, Z1
	TESTQ R12, R12
	JEQ zafrw_store
	CMPQ R12, $2
	JNE zafrw_max
	VADDPS (DX), Z1, Z1
zafrw_max:
	// max(0, x) returns its second operand, x, when x is NaN or a zero;
	// adding +0 then turns −0 into +0: Go's max(x, 0). Mode 1 then takes
	// min(hi, x), its second operand x when x is NaN: Go's min(x, hi).
	VMAXPS Z1, Z20, Z1
	VADDPS Z20, Z1, Z1
	CMPQ R12, $1
	JNE zafrw_store
	VMINPS Z1, Z21, Z1
zafrw_store:
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, BX
	JNZ zafrw_loop
zafrw_tail:
	KORTESTW K2, K2
	JEQ zafrw_next
	VMOVUPS.Z (SI), K2, Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z31, Z1, Z1
	VADDPS Z27, Z1, Z1
	TESTQ R12, R12
	JEQ zafrw_tstore
	CMPQ R12, $2
	JNE zafrw_tmax
	VMOVUPS.Z (DX), K2, Z2
	VADDPS Z2, Z1, Z1
zafrw_tmax:
	VMAXPS Z1, Z20, Z1
	VADDPS Z20, Z1, Z1
	CMPQ R12, $1
	JNE zafrw_tstore
	VMINPS Z1, Z21, Z1
zafrw_tstore:
	VMOVUPS Z1, K2, (DI)
zafrw_next:
	ADDQ R9, R8
	ADDQ R9, R13
	ADDQ R9, AX
	DECQ R10
	JNZ zafrw_row
zafrw_done:
	VZEROUPPER
	RET

// func zaffineReLURowsExtAVX512(out, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16)
//
// zaffineRowsAVX512's mode 1 (batch normalization, ReLU, the clamp hi)
// that also keeps, per lane, the minimum and maximum of the values it
// stores (mn < v ? mn : v and mx > v ? mx : v: the Go twin's extremes
// for non-NaN values, as no −0 is stored) and the lanes that stored a
// NaN (where the extremes may differ).
TEXT ·zaffineReLURowsExtAVX512(SB), NOSPLIT, $0-72
	MOVQ out+0(FP), R8
	MOVQ y+8(FP), R13
	MOVQ ld+16(FP), R9
	SHLQ $2, R9
	MOVQ rows+24(FP), R10
	MOVQ hw+32(FP), R11
	VBROADCASTSS b+40(FP), Z28
	VBROADCASTSS rs+44(FP), Z29
	VBROADCASTSS mu+48(FP), Z30
	VBROADCASTSS k+52(FP), Z31
	VBROADCASTSS off+56(FP), Z27
	VBROADCASTSS hi+60(FP), Z21
	MOVQ ext+64(FP), R12
	VMOVUPS 0(R12), Z22  // running minima
	VMOVUPS 64(R12), Z23 // running maxima
	KMOVW 128(R12), K4   // lanes that stored a NaN
	TAILMASK
	VPXORD Z20, Z20, Z20
	TESTQ R10, R10
	JEQ zafx_done
zafx_row:
	MOVQ R8, DI
	MOVQ R13, SI
	MOVQ R11, BX
	TESTQ BX, BX
	JEQ zafx_tail
zafx_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z31, Z1, Z1
	VADDPS Z27, Z1, Z1
	VMAXPS Z1, Z20, Z1 // Go's max(x, 0), then min(x, hi): as zaffineRowsAVX512
	VADDPS Z20, Z1, Z1
	VMINPS Z1, Z21, Z1
	VMOVUPS Z1, (DI)
	VMINPS Z1, Z22, Z22 // mn < v ? mn : v
	VMAXPS Z1, Z23, Z23 // mx > v ? mx : v
	VCMPPS $3, Z1, Z1, K3 // NaN
	KORW K3, K4, K4
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, BX
	JNZ zafx_loop
zafx_tail:
	KORTESTW K2, K2
	JEQ zafx_next
	VMOVUPS.Z (SI), K2, Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z31, Z1, Z1
	VADDPS Z27, Z1, Z1
	VMAXPS Z1, Z20, Z1
	VADDPS Z20, Z1, Z1
	VMINPS Z1, Z21, Z1
	VMOVUPS Z1, K2, (DI)
	VMINPS Z1, Z22, K2, Z22 // the row's lanes only
	VMAXPS Z1, Z23, K2, Z23
	VCMPPS $3, Z1, Z1, K2, K3
	KORW K3, K4, K4
zafx_next:
	ADDQ R9, R8
	ADDQ R9, R13
	DECQ R10
	JNZ zafx_row
zafx_done:
	VMOVUPS Z22, 0(R12)
	VMOVUPS Z23, 64(R12)
	KMOVW K4, 128(R12)
	VZEROUPPER
	RET
