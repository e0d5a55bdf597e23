//go:build amd64 && !purego

#include "textflag.h"

// func im2colRowsAVX512(dst, src *float32, back, rows, dld, sld int, lmask, smask uint32)
// For each of rows rows: the 32 lanes at src − back (two zmm, lanes
// outside lmask zeroed, not read) stored to dst under smask; then src
// += sld, dst += dld (bytes).
TEXT ·im2colRowsAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	SUBQ back+16(FP), SI
	MOVQ rows+24(FP), CX
	MOVQ dld+32(FP), R8
	MOVQ sld+40(FP), R9
	MOVL lmask+48(FP), AX
	MOVL smask+52(FP), BX
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	KMOVW BX, K3
	SHRL $16, BX
	KMOVW BX, K4
	TESTQ CX, CX
	JLE done
loop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET
