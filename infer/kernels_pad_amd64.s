//go:build amd64 && !purego

#include "textflag.h"

// func copyRowsAVX512(dst *uint8, dstStride int, src *uint8, srcStride, rows, n int)
//
// Copies rows rows of n ≥ 16 bytes, srcStride bytes apart in src and
// dstStride apart in dst: 64-byte moves (16-byte ones for a row of fewer
// than 64 bytes), the last one ending at the row's end (overlapping the
// one before when n is not a multiple of the move). No masked moves:
// masked byte stores are slow on AMD Zen.
TEXT ·copyRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	MOVQ rows+32(FP), DX
	MOVQ n+40(FP), CX
	CMPQ CX, $64
	JAE long
	LEAQ -16(CX), R10

srow:
	XORQ AX, AX

schunk:
	CMPQ AX, R10
	JAE slast
	VMOVDQU (SI)(AX*1), X0
	VMOVDQU X0, (DI)(AX*1)
	ADDQ $16, AX
	JMP schunk

slast:
	VMOVDQU (SI)(R10*1), X0
	VMOVDQU X0, (DI)(R10*1)
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ DX
	JNZ srow
	VZEROUPPER
	RET

long:
	LEAQ -64(CX), R10

row:
	XORQ AX, AX

chunk:
	CMPQ AX, R10
	JAE last
	VMOVDQU64 (SI)(AX*1), Z0
	VMOVDQU64 Z0, (DI)(AX*1)
	ADDQ $64, AX
	JMP chunk

last:
	VMOVDQU64 (SI)(R10*1), Z0
	VMOVDQU64 Z0, (DI)(R10*1)
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ DX
	JNZ row
	VZEROUPPER
	RET
