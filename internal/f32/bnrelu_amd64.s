//go:build amd64 && !purego

#include "textflag.h"

// The fused batch-normalization + ReLU row kernels (bnrelu.go). Z20 holds
// zeros, Z21 the clamp hi; pre = ((y − b)·rs − mu)·k + off as in
// zaffineAVX512 (no fused multiply-adds, so the bits are the Go twins').
// The gradient passes where 0 < pre < hi: two ordered compares (NaN
// passes nothing), ANDed.

// func zaffineReLUAVX512(out, y *float32, n int, b, rs, mu, k, off, hi float32)
TEXT ·zaffineReLUAVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Z28
	VBROADCASTSS rs+28(FP), Z29
	VBROADCASTSS mu+32(FP), Z30
	VBROADCASTSS k+36(FP), Z31
	VBROADCASTSS off+40(FP), Z27
	VBROADCASTSS hi+44(FP), Z21
	VPXORD Z20, Z20, Z20
	TESTQ CX, CX
	JEQ zafr_done
zafr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z31, Z1, Z1
	VADDPS Z27, Z1, Z1
	// max(0, pre) returns its second operand, pre, when pre is NaN or a
	// zero; adding +0 then turns −0 into +0: Go's max(pre, 0). min(hi, ·)
	// returns its second operand when it is NaN: Go's min(·, hi).
	VMAXPS Z1, Z20, Z1
	VADDPS Z20, Z1, Z1
	VMINPS Z1, Z21, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ zafr_loop
zafr_done:
	VZEROUPPER
	RET

// func zsumdotReLUAVX512(gr, y *float32, n int, b, rs, mu, k, off, hi float32, lanes *float32)
TEXT ·zsumdotReLUAVX512(SB), NOSPLIT, $0-56
	MOVQ gr+0(FP), DX
	MOVQ y+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Z28
	VBROADCASTSS rs+28(FP), Z29
	VBROADCASTSS mu+32(FP), Z30
	VBROADCASTSS k+36(FP), Z31
	VBROADCASTSS off+40(FP), Z27
	VBROADCASTSS hi+44(FP), Z21
	MOVQ lanes+48(FP), DI
	VPXORD Z20, Z20, Z20
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z2
	TESTQ CX, CX
	JEQ zsdr_done
zsdr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1 // z − mu
	VMULPS Z31, Z1, Z4
	VADDPS Z27, Z4, Z4 // pre
	VCMPPS $0x1e, Z20, Z4, K1 // pre > 0 (ordered: NaN gives 0)
	VCMPPS $0x11, Z21, Z4, K3 // pre < hi (ordered)
	KANDW K3, K1, K1
	VMOVUPS.Z (DX), K1, Z3
	VADDPS Z3, Z0, Z0
	VMULPS Z1, Z3, Z1
	VADDPS Z1, Z2, Z2
	ADDQ $64, DX
	ADDQ $64, SI
	SUBQ $16, CX
	JNZ zsdr_loop
zsdr_done:
	VMOVUPS Z0, (DI)
	VMOVUPS Z2, 64(DI)
	VZEROUPPER
	RET

// func zgradReLUAVX512(d, gr, y *float32, n int, a, b0, b1, b, rs, mu, k, off, hi float32, lanes *float32)
TEXT ·zgradReLUAVX512(SB), NOSPLIT, $0-80
	MOVQ d+0(FP), DI
	MOVQ gr+8(FP), DX
	MOVQ y+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS a+32(FP), Z24
	VBROADCASTSS b0+36(FP), Z25
	VBROADCASTSS b1+40(FP), Z26
	VBROADCASTSS b+44(FP), Z28
	VBROADCASTSS rs+48(FP), Z29
	VBROADCASTSS mu+52(FP), Z30
	VBROADCASTSS k+56(FP), Z31
	VBROADCASTSS off+60(FP), Z27
	VBROADCASTSS hi+64(FP), Z21
	MOVQ lanes+72(FP), R8
	VPXORD Z20, Z20, Z20
	VMOVUPS (R8), Z0
	TESTQ CX, CX
	JEQ zgr_done
zgr_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1 // z
	VSUBPS Z30, Z1, Z4 // z − mu
	VMULPS Z31, Z4, Z5
	VADDPS Z27, Z5, Z5 // pre
	VCMPPS $0x1e, Z20, Z5, K1
	VCMPPS $0x11, Z21, Z5, K3
	KANDW K3, K1, K1
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
	SUBQ $16, CX
	JNZ zgr_loop
zgr_done:
	VMOVUPS Z0, (R8)
	VZEROUPPER
	RET

// func addBiasRowsAVX512(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int, b float32)
// rows, cols > 0: 16 floats a step, the row's last cols mod 16 under the
// mask K1 (masked-off lanes are neither read nor written).
TEXT ·addBiasRowsAVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ ldDst+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ ldSrc+24(FP), R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11
	VBROADCASTSS b+48(FP), Z28
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ R11, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	SUBL $1, AX
	KMOVW AX, K1
	MOVQ R11, R12
	ANDQ $-16, R12
abr_row:
	XORQ BX, BX
	TESTQ R12, R12
	JEQ abr_tail
abr_full:
	VADDPS (SI)(BX*4), Z28, Z1
	VMOVUPS Z1, (DI)(BX*4)
	ADDQ $16, BX
	CMPQ BX, R12
	JLT abr_full
abr_tail:
	TESTQ CX, CX
	JEQ abr_next
	VMOVUPS.Z (SI)(BX*4), K1, Z1
	VADDPS Z28, Z1, Z1
	VMOVUPS Z1, K1, (DI)(BX*4)
abr_next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ abr_row
	VZEROUPPER
	RET

// func reluGradAVX512(d, y, gr *float32, n int, hi float32)
// n a positive multiple of 16: d = g where 0 < y < hi (ordered compares:
// NaN fails both), else +0.
TEXT ·reluGradAVX512(SB), NOSPLIT, $0-36
	MOVQ d+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ gr+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS hi+32(FP), Z21
	VPXORD Z20, Z20, Z20
rg_loop:
	VMOVUPS (SI), Z1
	VCMPPS $0x1e, Z20, Z1, K1 // y > 0
	VCMPPS $0x11, Z21, Z1, K2 // y < hi
	KANDW K2, K1, K1
	VMOVUPS.Z (DX), K1, Z3
	VMOVUPS Z3, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ rg_loop
	VZEROUPPER
	RET

// func addReLUAVX512(y, a, b *float32, n int)
// n a positive multiple of 16: y = max(a + b, 0) as Go's max (see
// zaffineReLUAVX512).
TEXT ·addReLUAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	VPXORD Z20, Z20, Z20
ar_loop:
	VMOVUPS (SI), Z1
	VADDPS (DX), Z1, Z1
	VMAXPS Z1, Z20, Z1
	VADDPS Z20, Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ ar_loop
	VZEROUPPER
	RET

// func zaffineAddReLUAVX512(out, y, r *float32, n int, b, rs, mu, k, off float32)
TEXT ·zaffineAddReLUAVX512(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ r+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS b+32(FP), Z28
	VBROADCASTSS rs+36(FP), Z29
	VBROADCASTSS mu+40(FP), Z30
	VBROADCASTSS k+44(FP), Z31
	VBROADCASTSS off+48(FP), Z27
	VPXORD Z20, Z20, Z20
	TESTQ CX, CX
	JEQ zaar_done
zaar_loop:
	VMOVUPS (SI), Z1
	VSUBPS Z28, Z1, Z1
	VMULPS Z29, Z1, Z1
	VSUBPS Z30, Z1, Z1
	VMULPS Z31, Z1, Z1
	VADDPS Z27, Z1, Z1
	VADDPS (DX), Z1, Z1
	VMAXPS Z1, Z20, Z1
	VADDPS Z20, Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ zaar_loop
zaar_done:
	VZEROUPPER
	RET
