//go:build amd64 && !purego

#include "textflag.h"

// func signPlanesAVX2(dst *uint8, plane int, src *uint8, n int)
//
// For n > 0, a multiple of 32: dst[i] = src[i] XOR 0x80 (v = u − 128 as
// a signed byte) and dst[plane+i] = |v| (VPABSB: 128 for −128, read as
// an unsigned byte), 32 bytes a step.
TEXT ·signPlanesAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ plane+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	MOVL $0x80808080, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	XORQ AX, AX
	LEAQ (DI)(DX*1), R8

loop:
	VMOVDQU (SI)(AX*1), Y0
	VPXOR Y15, Y0, Y0
	VPABSB Y0, Y1
	VMOVDQU Y0, (DI)(AX*1)
	VMOVDQU Y1, (R8)(AX*1)
	ADDQ $32, AX
	CMPQ AX, CX
	JB loop
	VZEROUPPER
	RET
