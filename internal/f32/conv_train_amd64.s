//go:build amd64 && !purego

#include "textflag.h"

// func rowSums8SSE(x *float32, stride, n4 int, lanes *[32]float32)
// X0..X7: the four partial sums of rows 0..7, lane j holding the
// elements i ≡ j (mod 4) in increasing i. Row q starts at x + q·stride.
TEXT ·rowSums8SSE(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX                // stride in bytes
	MOVQ n4+16(FP), CX
	SHLQ $2, CX                // n4 in bytes
	LEAQ (SI)(BX*2), DI        // row 2
	LEAQ (DI)(BX*2), R8        // row 4
	LEAQ (R8)(BX*2), R9        // row 6
	XORPS X0, X0
	XORPS X1, X1
	XORPS X2, X2
	XORPS X3, X3
	XORPS X4, X4
	XORPS X5, X5
	XORPS X6, X6
	XORPS X7, X7
	XORQ AX, AX
	LEAQ (SI)(BX*1), R10       // row 1
	LEAQ (DI)(BX*1), R11       // row 3
	LEAQ (R8)(BX*1), R12       // row 5
	LEAQ (R9)(BX*1), R13       // row 7
rs8_loop:
	CMPQ AX, CX
	JGE rs8_done
	MOVUPS (SI)(AX*1), X8
	MOVUPS (R10)(AX*1), X9
	MOVUPS (DI)(AX*1), X10
	MOVUPS (R11)(AX*1), X11
	ADDPS X8, X0
	ADDPS X9, X1
	ADDPS X10, X2
	ADDPS X11, X3
	MOVUPS (R8)(AX*1), X12
	MOVUPS (R12)(AX*1), X13
	MOVUPS (R9)(AX*1), X8
	MOVUPS (R13)(AX*1), X9
	ADDPS X12, X4
	ADDPS X13, X5
	ADDPS X8, X6
	ADDPS X9, X7
	ADDQ $16, AX
	JMP rs8_loop
rs8_done:
	MOVQ lanes+24(FP), DX
	MOVUPS X0, 0(DX)
	MOVUPS X1, 16(DX)
	MOVUPS X2, 32(DX)
	MOVUPS X3, 48(DX)
	MOVUPS X4, 64(DX)
	MOVUPS X5, 80(DX)
	MOVUPS X6, 96(DX)
	MOVUPS X7, 112(DX)
	RET
