//go:build amd64 && !purego

#include "textflag.h"

// func nonFiniteAVX2(x *float32, n int) bool
// Reports whether one of the n floats at x (n a positive multiple of 8)
// is ±Inf or NaN: its exponent bits (x & 0x7f800000) plus 0x00800000
// carry into bit 31 exactly when they are all ones; the carries are ORed
// and their sign bits read at the end.
TEXT ·nonFiniteAVX2(SB), NOSPLIT, $0-17
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $3, CX
	MOVL $0x7f800000, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	MOVL $0x00800000, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	VPXOR Y10, Y10, Y10
nf_loop:
	VPAND (SI), Y8, Y0
	VPADDD Y9, Y0, Y0
	VPOR Y0, Y10, Y10
	ADDQ $32, SI
	DECQ CX
	JNZ nf_loop
	VMOVMSKPS Y10, AX
	VZEROUPPER
	TESTL AX, AX
	SETNE ret+16(FP)
	RET
