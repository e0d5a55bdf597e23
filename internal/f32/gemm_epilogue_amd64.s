//go:build amd64 && !purego

#include "textflag.h"
#include "epilogue_amd64.h"

// The one-row kernels of the fused GEMM (gemm_epilogue.go): for each of
// panels packed NR-column panels of B (panel q at b + q·k·NR floats),
// c[q·NR + j] = [c[q·NR + j] +] Σ_p a[p]·b_q[p·NR + j], one fused
// multiply-add per p in increasing p from zero: the micro-kernels' order.
// Four panels at a time (eight accumulators), then one at a time.

// func rowAVX512(k int, a, b *float32, panels int, c *float32, acc bool)
TEXT ·rowAVX512(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ panels+24(FP), DX
	MOVQ c+32(FP), DI
	MOVBQZX acc+40(FP), R8
	MOVQ CX, R9
	SHLQ $7, R9
rowAVX512_group4:
	CMPQ DX, $4
	JLT rowAVX512_single
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	MOVQ AX, SI
	MOVQ BX, R10
	LEAQ (R10)(R9*1), R11
	LEAQ (R11)(R9*1), R12
	LEAQ (R12)(R9*1), R13
	MOVQ CX, R14
	TESTQ R14, R14
	JEQ rowAVX512_g4store
rowAVX512_g4loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS (R10), Z8, Z0
	VFMADD231PS 64(R10), Z8, Z1
	VFMADD231PS (R11), Z8, Z2
	VFMADD231PS 64(R11), Z8, Z3
	VFMADD231PS (R12), Z8, Z4
	VFMADD231PS 64(R12), Z8, Z5
	VFMADD231PS (R13), Z8, Z6
	VFMADD231PS 64(R13), Z8, Z7
	ADDQ $4, SI
	ADDQ $128, R10
	ADDQ $128, R11
	ADDQ $128, R12
	ADDQ $128, R13
	DECQ R14
	JNZ rowAVX512_g4loop
rowAVX512_g4store:
	TESTQ R8, R8
	JEQ rowAVX512_g4put
	VADDPS 0(DI), Z0, Z0
	VADDPS 64(DI), Z1, Z1
	VADDPS 128(DI), Z2, Z2
	VADDPS 192(DI), Z3, Z3
	VADDPS 256(DI), Z4, Z4
	VADDPS 320(DI), Z5, Z5
	VADDPS 384(DI), Z6, Z6
	VADDPS 448(DI), Z7, Z7
rowAVX512_g4put:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	ADDQ $512, DI
	LEAQ (BX)(R9*4), BX
	SUBQ $4, DX
	JMP rowAVX512_group4
rowAVX512_single:
	TESTQ DX, DX
	JEQ rowAVX512_done
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ AX, SI
	MOVQ BX, R10
	MOVQ CX, R14
	TESTQ R14, R14
	JEQ rowAVX512_s1store
rowAVX512_s1loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS (R10), Z8, Z0
	VFMADD231PS 64(R10), Z8, Z1
	ADDQ $4, SI
	ADDQ $128, R10
	DECQ R14
	JNZ rowAVX512_s1loop
rowAVX512_s1store:
	TESTQ R8, R8
	JEQ rowAVX512_s1put
	VADDPS (DI), Z0, Z0
	VADDPS 64(DI), Z1, Z1
rowAVX512_s1put:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $128, DI
	ADDQ R9, BX
	DECQ DX
	JMP rowAVX512_single
rowAVX512_done:
	VZEROUPPER
	RET

// func rowAVX2(k int, a, b *float32, panels int, c *float32, acc bool)
TEXT ·rowAVX2(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ panels+24(FP), DX
	MOVQ c+32(FP), DI
	MOVBQZX acc+40(FP), R8
	MOVQ CX, R9
	SHLQ $6, R9
rowAVX2_group4:
	CMPQ DX, $4
	JLT rowAVX2_single
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ AX, SI
	MOVQ BX, R10
	LEAQ (R10)(R9*1), R11
	LEAQ (R11)(R9*1), R12
	LEAQ (R12)(R9*1), R13
	MOVQ CX, R14
	TESTQ R14, R14
	JEQ rowAVX2_g4store
rowAVX2_g4loop:
	VBROADCASTSS (SI), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y8, Y1
	VFMADD231PS (R11), Y8, Y2
	VFMADD231PS 32(R11), Y8, Y3
	VFMADD231PS (R12), Y8, Y4
	VFMADD231PS 32(R12), Y8, Y5
	VFMADD231PS (R13), Y8, Y6
	VFMADD231PS 32(R13), Y8, Y7
	ADDQ $4, SI
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, R13
	DECQ R14
	JNZ rowAVX2_g4loop
rowAVX2_g4store:
	TESTQ R8, R8
	JEQ rowAVX2_g4put
	VADDPS 0(DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VADDPS 64(DI), Y2, Y2
	VADDPS 96(DI), Y3, Y3
	VADDPS 128(DI), Y4, Y4
	VADDPS 160(DI), Y5, Y5
	VADDPS 192(DI), Y6, Y6
	VADDPS 224(DI), Y7, Y7
rowAVX2_g4put:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	LEAQ (BX)(R9*4), BX
	SUBQ $4, DX
	JMP rowAVX2_group4
rowAVX2_single:
	TESTQ DX, DX
	JEQ rowAVX2_done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ AX, SI
	MOVQ BX, R10
	MOVQ CX, R14
	TESTQ R14, R14
	JEQ rowAVX2_s1store
rowAVX2_s1loop:
	VBROADCASTSS (SI), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y8, Y1
	ADDQ $4, SI
	ADDQ $64, R10
	DECQ R14
	JNZ rowAVX2_s1loop
rowAVX2_s1store:
	TESTQ R8, R8
	JEQ rowAVX2_s1put
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
rowAVX2_s1put:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, DI
	ADDQ R9, BX
	DECQ DX
	JMP rowAVX2_single
rowAVX2_done:
	VZEROUPPER
	RET

// The epilogue kernels below: Go's min(max(v + b, lo), hi) bit for bit
// (epilogue_amd64.h).

// func biasClampAVX2(dst, src *float32, n int, b, lo, hi float32)
// dst[j] = min(max(src[j] + b, lo), hi), n a positive multiple of 8.
TEXT ·biasClampAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS b+24(FP), Y1
	VBROADCASTSS lo+28(FP), Y2
	VBROADCASTSS hi+32(FP), Y3
	ZEROSIGN(Y2, Y4)
bc_loop:
	VADDPS (SI), Y1, Y0
	VMAXPS Y0, Y2, Y0
	VADDPS Y4, Y0, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ bc_loop
	VZEROUPPER
	RET

// func biasVecClampAVX2(dst, src, bias *float32, n int, lo, hi float32)
// dst[j] = min(max(src[j] + bias[j], lo), hi), n a positive multiple of 8.
TEXT ·biasVecClampAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ bias+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSS lo+32(FP), Y2
	VBROADCASTSS hi+36(FP), Y3
	ZEROSIGN(Y2, Y4)
bv_loop:
	VMOVUPS (SI), Y0
	VADDPS (BX), Y0, Y0
	VMAXPS Y0, Y2, Y0
	VADDPS Y4, Y0, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ bv_loop
	VZEROUPPER
	RET

// func packRunsAVX2(dst, src *float32, offs *int, depth, w8 int)
// For p < depth: copy the 8·w8 floats at src + offs[p] to dst + p·8·w8.
TEXT ·packRunsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), BX
	MOVQ depth+24(FP), CX
	MOVQ w8+32(FP), DX
pr_p:
	MOVQ (BX), AX
	LEAQ (SI)(AX*4), R8
	MOVQ DX, R9
pr_v:
	VMOVUPS (R8), Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, R8
	ADDQ $32, DI
	DECQ R9
	JNZ pr_v
	ADDQ $8, BX
	DECQ CX
	JNZ pr_p
	VZEROUPPER
	RET

// func biasClampRowsAVX2(dst, src *float32, rows, ow, ld int, b, lo, hi float32)
// For y < rows, x < ow: dst[y·ow + x] = min(max(src[y·ld + x] + b, lo), hi):
// eight at a time; a row of at least 8 ends with the eight at ow − 8
// (overlapping the ones before, which get the same values again), a
// shorter one runs one at a time (the same operations).
TEXT ·biasClampRowsAVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ow+24(FP), DX
	MOVQ ld+32(FP), R8
	SHLQ $2, R8
	VBROADCASTSS b+40(FP), Y1
	VBROADCASTSS lo+44(FP), Y2
	VBROADCASTSS hi+48(FP), Y3
	ZEROSIGN(Y2, Y4)
	LEAQ -32(DX*4), R11 // the last eight's byte offset in a row
	TESTQ CX, CX
	JEQ cr_done
	CMPQ DX, $8
	JLT cr_short

cr_row:
	XORQ R9, R9

	PCALIGN $32

cr_vec:
	CMPQ R9, R11
	JGE cr_last
	VADDPS (SI)(R9*1), Y1, Y0
	VMAXPS Y0, Y2, Y0
	VADDPS Y4, Y0, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (DI)(R9*1)
	ADDQ $32, R9
	JMP cr_vec

cr_last:
	VADDPS (SI)(R11*1), Y1, Y0
	VMAXPS Y0, Y2, Y0
	VADDPS Y4, Y0, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (DI)(R11*1)
	LEAQ (DI)(DX*4), DI
	ADDQ R8, SI
	DECQ CX
	JNZ cr_row
	VZEROUPPER
	RET

cr_short:
	XORQ R9, R9

cr_one:
	VMOVSS (SI)(R9*4), X0
	VADDSS X1, X0, X0
	VMAXSS X0, X2, X0
	VADDSS X4, X0, X0
	VMINSS X0, X3, X0
	VMOVSS X0, (DI)(R9*4)
	INCQ R9
	CMPQ R9, DX
	JLT cr_one
	LEAQ (DI)(DX*4), DI
	ADDQ R8, SI
	DECQ CX
	JNZ cr_short

cr_done:
	VZEROUPPER
	RET

// func kernel8AVX512(k int, a, b, c *float32, ldc int, acc bool)
// The 8×32 form of kernelAVX512 (kernel_amd64.s), for weights of 16,
// 32 or 64 rows that 12-row panels would pad: c = acc·c + Σ_p a[p·8+i]·b[p·32+j],
// fused multiply-adds in increasing p from zero (the same order).
TEXT ·kernel8AVX512(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), DX
	SHLQ $2, DX
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
	JEQ k8_store
k8_loop:
	VMOVUPS (BX), Z24
	VMOVUPS 64(BX), Z25
	VBROADCASTSS 0(AX), Z16
	VBROADCASTSS 4(AX), Z17
	VBROADCASTSS 8(AX), Z18
	VBROADCASTSS 12(AX), Z19
	VBROADCASTSS 16(AX), Z20
	VBROADCASTSS 20(AX), Z21
	VBROADCASTSS 24(AX), Z22
	VBROADCASTSS 28(AX), Z23
	VFMADD231PS Z16, Z24, Z0
	VFMADD231PS Z16, Z25, Z1
	VFMADD231PS Z17, Z24, Z2
	VFMADD231PS Z17, Z25, Z3
	VFMADD231PS Z18, Z24, Z4
	VFMADD231PS Z18, Z25, Z5
	VFMADD231PS Z19, Z24, Z6
	VFMADD231PS Z19, Z25, Z7
	VFMADD231PS Z20, Z24, Z8
	VFMADD231PS Z20, Z25, Z9
	VFMADD231PS Z21, Z24, Z10
	VFMADD231PS Z21, Z25, Z11
	VFMADD231PS Z22, Z24, Z12
	VFMADD231PS Z22, Z25, Z13
	VFMADD231PS Z23, Z24, Z14
	VFMADD231PS Z23, Z25, Z15
	ADDQ $32, AX
	ADDQ $128, BX
	DECQ CX
	JNZ k8_loop
k8_store:
	CMPB acc+40(FP), $0
	JEQ k8_set
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
k8_set:
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

// func biasRowsClampAVX2(c *float32, ldc, rows, cols int, bias *float32, bstep int, lo, hi float32)
// In place, for i < rows, j < cols: c[i·ldc + j] = min(max(c[i·ldc + j] + bias[i·bstep], lo), hi).
TEXT ·biasRowsClampAVX2(SB), NOSPLIT, $0-56
	MOVQ c+0(FP), DI
	MOVQ ldc+8(FP), R8
	SHLQ $2, R8
	MOVQ rows+16(FP), CX
	MOVQ cols+24(FP), DX
	MOVQ bias+32(FP), BX
	MOVQ bstep+40(FP), R11
	SHLQ $2, R11
	VBROADCASTSS lo+48(FP), Y2
	VBROADCASTSS hi+52(FP), Y3
	ZEROSIGN(Y2, Y4)
br_row:
	VBROADCASTSS (BX), Y1
	MOVQ DI, R10
	MOVQ DX, R9
br_vec:
	CMPQ R9, $8
	JLT br_tail
	VADDPS (R10), Y1, Y0
	VMAXPS Y0, Y2, Y0
	VADDPS Y4, Y0, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (R10)
	ADDQ $32, R10
	SUBQ $8, R9
	JMP br_vec
br_tail:
	TESTQ R9, R9
	JEQ br_next
	VMOVSS (R10), X0
	VADDSS X1, X0, X0
	VMAXSS X0, X2, X0
	VADDSS X4, X0, X0
	VMINSS X0, X3, X0
	VMOVSS X0, (R10)
	ADDQ $4, R10
	DECQ R9
	JMP br_tail
br_next:
	ADDQ R8, DI
	ADDQ R11, BX
	DECQ CX
	JNZ br_row
	VZEROUPPER
	RET

// func biasColsClampAVX2(c *float32, ldc, rows, cols int, bias *float32, lo, hi float32)
// In place, for i < rows, j < cols: c[i·ldc + j] = min(max(c[i·ldc + j] + bias[j], lo), hi).
TEXT ·biasColsClampAVX2(SB), NOSPLIT, $0-48
	MOVQ c+0(FP), DI
	MOVQ ldc+8(FP), R8
	SHLQ $2, R8
	MOVQ rows+16(FP), CX
	MOVQ cols+24(FP), DX
	MOVQ bias+32(FP), BX
	VBROADCASTSS lo+40(FP), Y2
	VBROADCASTSS hi+44(FP), Y3
	ZEROSIGN(Y2, Y4)
bcl_row:
	MOVQ DI, R10
	MOVQ BX, R12
	MOVQ DX, R9
bcl_vec:
	CMPQ R9, $8
	JLT bcl_tail
	VMOVUPS (R10), Y0
	VADDPS (R12), Y0, Y0
	VMAXPS Y0, Y2, Y0
	VADDPS Y4, Y0, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (R10)
	ADDQ $32, R10
	ADDQ $32, R12
	SUBQ $8, R9
	JMP bcl_vec
bcl_tail:
	TESTQ R9, R9
	JEQ bcl_next
	VMOVSS (R10), X0
	VADDSS (R12), X0, X0
	VMAXSS X0, X2, X0
	VADDSS X4, X0, X0
	VMINSS X0, X3, X0
	VMOVSS X0, (R10)
	ADDQ $4, R10
	ADDQ $4, R12
	DECQ R9
	JMP bcl_tail
bcl_next:
	ADDQ R8, DI
	DECQ CX
	JNZ bcl_row
	VZEROUPPER
	RET
