//go:build amd64 && !purego

#include "textflag.h"

// AVX2 offset kernels beside kernelOffAVX2 (kernel_amd64.s): the same
// sums per element (fused multiply-adds in increasing p from zero, then
// stored or added to c) on other tile shapes.

// func kernelOff4x24AVX2(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)
// is kernelOffAVX2 on a 4×24 tile: c = acc·c + Σ_p a[p·4+i]·b[off[p]+j]
// for i < 4, j < 24, each element one fused multiply-add per p in
// increasing p from zero, then added to c (acc) or stored: the bits of
// kernelOffAVX2 on the same elements. Row i sums in Y(3i), Y(3i+1),
// Y(3i+2) (columns 0–7, 8–15, 16–23); row p of B is loaded into Y12–Y14
// (7 loads per 12 fused multiply-adds, where 6×16 takes 8), and the line
// of row p 288 bytes on (three column tiles ahead) is prefetched, as
// kernelOffAVX2 does.
TEXT ·kernelOff4x24AVX2(SB), NOSPLIT, $0-49
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ off+24(FP), SI
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JEQ off4x24_store
off4x24_loop:
	MOVQ (SI), R8
	VMOVUPS (BX)(R8*4), Y12
	VMOVUPS 32(BX)(R8*4), Y13
	VMOVUPS 64(BX)(R8*4), Y14
	PREFETCHT0 288(BX)(R8*4)
	VBROADCASTSS 0(AX), Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VBROADCASTSS 4(AX), Y15
	VFMADD231PS Y12, Y15, Y3
	VFMADD231PS Y13, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VBROADCASTSS 8(AX), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VBROADCASTSS 12(AX), Y15
	VFMADD231PS Y12, Y15, Y9
	VFMADD231PS Y13, Y15, Y10
	VFMADD231PS Y14, Y15, Y11
	ADDQ $16, AX
	ADDQ $8, SI
	DECQ CX
	JNZ off4x24_loop
off4x24_store:
	CMPB acc+48(FP), $0
	JEQ off4x24_set
	VADDPS 0(DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VADDPS 64(DI), Y2, Y2
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	ADDQ DX, DI
	VADDPS 0(DI), Y3, Y3
	VADDPS 32(DI), Y4, Y4
	VADDPS 64(DI), Y5, Y5
	VMOVUPS Y3, 0(DI)
	VMOVUPS Y4, 32(DI)
	VMOVUPS Y5, 64(DI)
	ADDQ DX, DI
	VADDPS 0(DI), Y6, Y6
	VADDPS 32(DI), Y7, Y7
	VADDPS 64(DI), Y8, Y8
	VMOVUPS Y6, 0(DI)
	VMOVUPS Y7, 32(DI)
	VMOVUPS Y8, 64(DI)
	ADDQ DX, DI
	VADDPS 0(DI), Y9, Y9
	VADDPS 32(DI), Y10, Y10
	VADDPS 64(DI), Y11, Y11
	VMOVUPS Y9, 0(DI)
	VMOVUPS Y10, 32(DI)
	VMOVUPS Y11, 64(DI)
	VZEROUPPER
	RET
off4x24_set:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	ADDQ DX, DI
	VMOVUPS Y3, 0(DI)
	VMOVUPS Y4, 32(DI)
	VMOVUPS Y5, 64(DI)
	ADDQ DX, DI
	VMOVUPS Y6, 0(DI)
	VMOVUPS Y7, 32(DI)
	VMOVUPS Y8, 64(DI)
	ADDQ DX, DI
	VMOVUPS Y9, 0(DI)
	VMOVUPS Y10, 32(DI)
	VMOVUPS Y11, 64(DI)
	VZEROUPPER
	RET

// func kernelOff4of6AVX2(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)
// is kernelOffAVX2 on rows 0–3 of its 6-row panel (a[p·6+i], i < 4), for
// a last panel of at most four rows: c = acc·c + Σ_p a[p·6+i]·b[off[p]+j]
// for i < 4, j < 16, the same operations on those rows (two thirds of
// the work, and it reads and writes only rows 0–3 of c). Row i sums in
// Y(2i), Y(2i+1); B's row p in Y12/Y13, prefetched as kernelOffAVX2 does.
TEXT ·kernelOff4of6AVX2(SB), NOSPLIT, $0-49
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ off+24(FP), SI
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ off4of6_store
off4of6_loop:
	MOVQ (SI), R8
	VMOVUPS (BX)(R8*4), Y12
	VMOVUPS 32(BX)(R8*4), Y13
	PREFETCHT0 192(BX)(R8*4)
	VBROADCASTSS 0(AX), Y14
	VFMADD231PS Y12, Y14, Y0
	VFMADD231PS Y13, Y14, Y1
	VBROADCASTSS 4(AX), Y15
	VFMADD231PS Y12, Y15, Y2
	VFMADD231PS Y13, Y15, Y3
	VBROADCASTSS 8(AX), Y14
	VFMADD231PS Y12, Y14, Y4
	VFMADD231PS Y13, Y14, Y5
	VBROADCASTSS 12(AX), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	ADDQ $24, AX
	ADDQ $8, SI
	DECQ CX
	JNZ off4of6_loop
off4of6_store:
	CMPB acc+48(FP), $0
	JEQ off4of6_set
	VADDPS 0(DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, DI
	VADDPS 0(DI), Y2, Y2
	VADDPS 32(DI), Y3, Y3
	VMOVUPS Y2, 0(DI)
	VMOVUPS Y3, 32(DI)
	ADDQ DX, DI
	VADDPS 0(DI), Y4, Y4
	VADDPS 32(DI), Y5, Y5
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y5, 32(DI)
	ADDQ DX, DI
	VADDPS 0(DI), Y6, Y6
	VADDPS 32(DI), Y7, Y7
	VMOVUPS Y6, 0(DI)
	VMOVUPS Y7, 32(DI)
	VZEROUPPER
	RET
off4of6_set:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y2, 0(DI)
	VMOVUPS Y3, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y4, 0(DI)
	VMOVUPS Y5, 32(DI)
	ADDQ DX, DI
	VMOVUPS Y6, 0(DI)
	VMOVUPS Y7, 32(DI)
	VZEROUPPER
	RET
