//go:build amd64 && !purego

#include "textflag.h"

// func kernel8StridedAVX512(k int, a *float32, lda int, b, c *float32, ldc int, acc bool)
// kernel8AVX512 with A unpacked: row i of the 8-row panel at a + i·lda,
// c = acc·c + Σ_p a[i·lda + p]·b[p·32+j], fused multiply-adds in increasing p
// from zero (the same order, so the same bits). Rows 0–3 are addressed from
// AX, rows 4–7 from R10 = AX + 4·lda, with R8 = lda and R9 = 3·lda in bytes.
TEXT ·kernel8StridedAVX512(SB), NOSPLIT, $0-49
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (AX)(R8*4), R10
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	TESTQ CX, CX
	JEQ k8s_store
k8s_loop:
	VMOVUPS (BX), Z24
	VMOVUPS 64(BX), Z25
	VFMADD231PS.BCST (AX), Z24, Z0
	VFMADD231PS.BCST (AX), Z25, Z1
	VFMADD231PS.BCST (AX)(R8*1), Z24, Z2
	VFMADD231PS.BCST (AX)(R8*1), Z25, Z3
	VFMADD231PS.BCST (AX)(R8*2), Z24, Z4
	VFMADD231PS.BCST (AX)(R8*2), Z25, Z5
	VFMADD231PS.BCST (AX)(R9*1), Z24, Z6
	VFMADD231PS.BCST (AX)(R9*1), Z25, Z7
	VFMADD231PS.BCST (R10), Z24, Z8
	VFMADD231PS.BCST (R10), Z25, Z9
	VFMADD231PS.BCST (R10)(R8*1), Z24, Z10
	VFMADD231PS.BCST (R10)(R8*1), Z25, Z11
	VFMADD231PS.BCST (R10)(R8*2), Z24, Z12
	VFMADD231PS.BCST (R10)(R8*2), Z25, Z13
	VFMADD231PS.BCST (R10)(R9*1), Z24, Z14
	VFMADD231PS.BCST (R10)(R9*1), Z25, Z15
	ADDQ $4, AX
	ADDQ $4, R10
	ADDQ $128, BX
	DECQ CX
	JNZ k8s_loop
k8s_store:
	CMPB acc+48(FP), $0
	JEQ k8s_set
	VADDPS (DI), Z0, Z0
	VADDPS 64(DI), Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z2, Z2
	VADDPS 64(DI), Z3, Z3
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z4, Z4
	VADDPS 64(DI), Z5, Z5
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z6, Z6
	VADDPS 64(DI), Z7, Z7
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z8, Z8
	VADDPS 64(DI), Z9, Z9
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z10, Z10
	VADDPS 64(DI), Z11, Z11
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z12, Z12
	VADDPS 64(DI), Z13, Z13
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ DX, DI
	VADDPS (DI), Z14, Z14
	VADDPS 64(DI), Z15, Z15
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	VZEROUPPER
	RET
k8s_set:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z8, (DI)
	VMOVUPS Z9, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z10, (DI)
	VMOVUPS Z11, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z12, (DI)
	VMOVUPS Z13, 64(DI)
	ADDQ DX, DI
	VMOVUPS Z14, (DI)
	VMOVUPS Z15, 64(DI)
	VZEROUPPER
	RET

// func biasClampRowsAVX512(dst, src *float32, rows, ow, ld int, b, lo, hi float32)
// biasClampRowsAVX2 with sixteen lanes and the last ow mod 16 of each row
// under a mask (the same operations, in the same operand order, lane by
// lane), so short rows (4, 7, 14) take no scalar steps.
TEXT ·biasClampRowsAVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ow+24(FP), DX
	MOVQ ld+32(FP), R8
	SHLQ $2, R8
	VBROADCASTSS b+40(FP), Z1
	VBROADCASTSS lo+44(FP), Z2
	VBROADCASTSS hi+48(FP), Z3
	MOVQ DX, CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1 // the last ow mod 16 lanes
	MOVQ rows+16(FP), CX
	MOVQ DX, R12
	ANDQ $15, R12 // tail lanes per row
	MOVQ DX, R11
	SHRQ $4, R11 // whole vectors per row
cr5_row:
	MOVQ SI, R10
	MOVQ R11, R9
	TESTQ R9, R9
	JEQ cr5_tail
cr5_vec:
	VADDPS (R10), Z1, Z0
	VMAXPS Z2, Z0, Z0
	VMINPS Z3, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, R10
	ADDQ $64, DI
	DECQ R9
	JNZ cr5_vec
cr5_tail:
	KORTESTW K1, K1
	JEQ cr5_next
	VMOVUPS.Z (R10), K1, Z4
	VADDPS Z4, Z1, Z0
	VMAXPS Z2, Z0, Z0
	VMINPS Z3, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	LEAQ (DI)(R12*4), DI
cr5_next:
	ADDQ R8, SI
	DECQ CX
	JNZ cr5_row
	VZEROUPPER
	RET

// func kernel8x16StridedAVX512(k int, a *float32, lda int, b, c *float32, ldc int, acc bool)
// kernel8StridedAVX512 on the first 16 columns of a 32-column panel (b
// advances 32 floats per p): c = acc·c + Σ_p a[i·lda + p]·b[p·32+j], j < 16, the
// same fused multiply-adds in the same order, for a last panel of at most
// 16 columns (half the work of the full panel).
TEXT ·kernel8x16StridedAVX512(SB), NOSPLIT, $0-49
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (AX)(R8*4), R10
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JEQ k816_store
k816_loop:
	VMOVUPS (BX), Z24
	VFMADD231PS.BCST (AX), Z24, Z0
	VFMADD231PS.BCST (AX)(R8*1), Z24, Z1
	VFMADD231PS.BCST (AX)(R8*2), Z24, Z2
	VFMADD231PS.BCST (AX)(R9*1), Z24, Z3
	VFMADD231PS.BCST (R10), Z24, Z4
	VFMADD231PS.BCST (R10)(R8*1), Z24, Z5
	VFMADD231PS.BCST (R10)(R8*2), Z24, Z6
	VFMADD231PS.BCST (R10)(R9*1), Z24, Z7
	ADDQ $4, AX
	ADDQ $4, R10
	ADDQ $128, BX
	DECQ CX
	JNZ k816_loop
k816_store:
	CMPB acc+48(FP), $0
	JEQ k816_set
	VADDPS (DI), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z2, Z2
	VMOVUPS Z2, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z3, Z3
	VMOVUPS Z3, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z4, Z4
	VMOVUPS Z4, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z5, Z5
	VMOVUPS Z5, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z6, Z6
	VMOVUPS Z6, (DI)
	ADDQ DX, DI
	VADDPS (DI), Z7, Z7
	VMOVUPS Z7, (DI)
	VZEROUPPER
	RET
k816_set:
	VMOVUPS Z0, (DI)
	ADDQ DX, DI
	VMOVUPS Z1, (DI)
	ADDQ DX, DI
	VMOVUPS Z2, (DI)
	ADDQ DX, DI
	VMOVUPS Z3, (DI)
	ADDQ DX, DI
	VMOVUPS Z4, (DI)
	ADDQ DX, DI
	VMOVUPS Z5, (DI)
	ADDQ DX, DI
	VMOVUPS Z6, (DI)
	ADDQ DX, DI
	VMOVUPS Z7, (DI)
	VZEROUPPER
	RET
