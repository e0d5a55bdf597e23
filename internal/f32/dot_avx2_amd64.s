//go:build amd64 && !purego

#include "textflag.h"

// DOTPASS runs one pass of dot4x6AVX2Block over the current tile: the
// four rows of A (their offsets in aoff) by three of the tile's rows of
// B, columns jb…jb+2 (their offsets at bo bytes into boff, bo = 8·jb),
// on the lanes h..h+7 (hb = 4h bytes) of each pair's 16, for p < k:
// twelve 8-lane accumulators Y0–Y11 (row i, column jb+c in Y(3i+c))
// loaded from and stored back to acc (pair (i, jb+c) at (6i+jb+c)·64 +
// hb bytes: ao = 64·jb + hb), B's three rows in Y12–Y14, A's rows
// streaming through Y15: 7 loads per 12 fused multiply-adds, in
// increasing p (A's rows are aligned, B's need not be: 3 of the 7 may
// split a cache line, where 2 rows × 6 columns load 6 of 8 from B).
#define DOTPASS(bo, hb, ao, lbl) \
	MOVQ p0+8(FP), R13; \
	MOVQ a+16(FP), R10; \
	MOVQ aoff+24(FP), R12; \
	MOVQ 0(R12), AX; \
	ADDQ R13, AX; \
	LEAQ hb(R10)(AX*4), AX; \
	MOVQ 8(R12), BX; \
	ADDQ R13, BX; \
	LEAQ hb(R10)(BX*4), BX; \
	MOVQ 16(R12), DI; \
	ADDQ R13, DI; \
	LEAQ hb(R10)(DI*4), DI; \
	MOVQ 24(R12), R8; \
	ADDQ R13, R8; \
	LEAQ hb(R10)(R8*4), R8; \
	MOVQ b+32(FP), R10; \
	MOVQ boff+40(FP), R12; \
	MOVQ bo+0(R12), CX; \
	ADDQ R13, CX; \
	LEAQ hb(R10)(CX*4), CX; \
	MOVQ bo+8(R12), DX; \
	ADDQ R13, DX; \
	LEAQ hb(R10)(DX*4), DX; \
	MOVQ bo+16(R12), SI; \
	ADDQ R13, SI; \
	LEAQ hb(R10)(SI*4), SI; \
	MOVQ acc+48(FP), R12; \
	VMOVUPS ao+0(R12), Y0; \
	VMOVUPS ao+64(R12), Y1; \
	VMOVUPS ao+128(R12), Y2; \
	VMOVUPS ao+384(R12), Y3; \
	VMOVUPS ao+448(R12), Y4; \
	VMOVUPS ao+512(R12), Y5; \
	VMOVUPS ao+768(R12), Y6; \
	VMOVUPS ao+832(R12), Y7; \
	VMOVUPS ao+896(R12), Y8; \
	VMOVUPS ao+1152(R12), Y9; \
	VMOVUPS ao+1216(R12), Y10; \
	VMOVUPS ao+1280(R12), Y11; \
	XORQ R10, R10; \
lbl: \
	VMOVUPS (CX)(R10*1), Y12; \
	VMOVUPS (DX)(R10*1), Y13; \
	VMOVUPS (SI)(R10*1), Y14; \
	VMOVUPS (AX)(R10*1), Y15; \
	VFMADD231PS Y12, Y15, Y0; \
	VFMADD231PS Y13, Y15, Y1; \
	VFMADD231PS Y14, Y15, Y2; \
	VMOVUPS (BX)(R10*1), Y15; \
	VFMADD231PS Y12, Y15, Y3; \
	VFMADD231PS Y13, Y15, Y4; \
	VFMADD231PS Y14, Y15, Y5; \
	VMOVUPS (DI)(R10*1), Y15; \
	VFMADD231PS Y12, Y15, Y6; \
	VFMADD231PS Y13, Y15, Y7; \
	VFMADD231PS Y14, Y15, Y8; \
	VMOVUPS (R8)(R10*1), Y15; \
	VFMADD231PS Y12, Y15, Y9; \
	VFMADD231PS Y13, Y15, Y10; \
	VFMADD231PS Y14, Y15, Y11; \
	ADDQ $64, R10; \
	CMPQ R10, R11; \
	JLT lbl; \
	VMOVUPS Y0, ao+0(R12); \
	VMOVUPS Y1, ao+64(R12); \
	VMOVUPS Y2, ao+128(R12); \
	VMOVUPS Y3, ao+384(R12); \
	VMOVUPS Y4, ao+448(R12); \
	VMOVUPS Y5, ao+512(R12); \
	VMOVUPS Y6, ao+768(R12); \
	VMOVUPS Y7, ao+832(R12); \
	VMOVUPS Y8, ao+896(R12); \
	VMOVUPS Y9, ao+1152(R12); \
	VMOVUPS Y10, ao+1216(R12); \
	VMOVUPS Y11, ao+1280(R12)

// func dot4x6AVX2Block(k, p0 int, a *float32, aoff *int, b *float32, boff *int, acc *float32, nt int)
// is dot4x6AVX512's contract in 8-lane registers: for tile t and the
// pairs (i, j), it adds a[aoff[i]+p0+p]·b[boff[6t+j]+p0+p] for p < k (a
// multiple of 16) into lane p mod 16 of acc[384t + (6i+j)·16 :][:16], one
// fused multiply-add per p in increasing order. A 4×6×16-lane tile is 48
// registers, so each tile runs in four passes over p (DOTPASS): columns
// 0–2 then 3–5, each on lanes 0–7 then 8–15; a lane's products are the same
// and in the same order whichever pass holds it. The tile loop keeps its
// cursors (boff, acc, nt) in the argument slots.
TEXT ·dot4x6AVX2Block(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), R11
	SHLQ $2, R11
	TESTQ R11, R11
	JEQ dot46y_done
	CMPQ nt+56(FP), $0
	JEQ dot46y_done
dot46y_tile:
	DOTPASS(0, 0, 0, dot46y_p0)
	DOTPASS(0, 32, 32, dot46y_p1)
	DOTPASS(24, 0, 192, dot46y_p2)
	DOTPASS(24, 32, 224, dot46y_p3)
	ADDQ $48, boff+40(FP)
	ADDQ $1536, acc+48(FP)
	DECQ nt+56(FP)
	JNZ dot46y_tile
dot46y_done:
	VZEROUPPER
	RET
