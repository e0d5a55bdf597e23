//go:build amd64 && !purego

#include "textflag.h"
#include "epilogue_amd64.h"

// LANES sets k to the low n (in CX, 0 ≤ n ≤ 16) lanes; clobbers R9.
#define LANES(k) \
	MOVL  $1, R9; \
	SHLL  CX, R9; \
	DECL  R9; \
	KMOVW R9, k

// c + sum for one row (R12) of the tile, masked by K1 (and K2), then
// the next row.
#define ADD2(za, zb) \
	VMOVUPS.Z (R12), K1, Z26; \
	VMOVUPS.Z 64(R12), K2, Z27; \
	VADDPS    Z26, za, za; \
	VADDPS    Z27, zb, zb; \
	ADDQ      DX, R12

#define ADD1(za) \
	VMOVUPS.Z (R12), K1, Z26; \
	VADDPS    Z26, za, za; \
	ADDQ      DX, R12

// The epilogue of row i: + bias[i] (R13), then max lo (Z29), min hi (Z30):
// biasRowsClampAVX2's operations.
#define EP2(za, zb, i) \
	VBROADCASTSS i(R13), Z28; \
	VADDPS       Z28, za, za; \
	VADDPS       Z28, zb, zb; \
	VMAXPS       za, Z29, za; \
	VADDPS       Z31, za, za; \
	VMAXPS       zb, Z29, zb; \
	VADDPS       Z31, zb, zb; \
	VMINPS       za, Z30, za; \
	VMINPS       zb, Z30, zb

#define EP1(za, i) \
	VBROADCASTSS i(R13), Z28; \
	VADDPS       Z28, za, za; \
	VMAXPS       za, Z29, za; \
	VADDPS       Z31, za, za; \
	VMINPS       za, Z30, za

#define STORE2(za, zb) \
	VMOVUPS za, K1, (DI); \
	VMOVUPS zb, K2, 64(DI); \
	ADDQ    DX, DI

#define STORE1(za) \
	VMOVUPS za, K1, (DI); \
	ADDQ    DX, DI

// func kernelOff8MaskAVX512(k int, a, b *float32, off *int, c *float32, ldc int, acc bool, w int, bias *float32, lo, hi float32)
// is kernelOff8AVX512 on the first w (1 ≤ w ≤ 32) columns of the tile:
// c[i][j] = acc·c[i][j] + Σ_p a[p·8+i]·b[off[p]+j] for j < w, one fused
// multiply-add per p in increasing p from zero (kernelOff8AVX512's
// operations on those columns); with bias not nil, then
// min(max(c[i][j] + bias[i], lo), hi) before the store (the operations
// of biasRowsClampAVX2 on the stored tile). It reads b[off[p]+j] and c
// only for j < w (masked loads and stores), and with w ≤ 16 it runs one
// vector per row.
TEXT ·kernelOff8MaskAVX512(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), R10
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ off+24(FP), SI
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	MOVQ w+56(FP), R11
	MOVQ bias+64(FP), R13
	VBROADCASTSS lo+72(FP), Z29
	VBROADCASTSS hi+76(FP), Z30
	ZEROSIGN512(Z29, Z31)
	MOVQ R11, CX
	CMPQ CX, $16
	JLE  m8_k1
	MOVQ $16, CX

m8_k1:
	LANES(K1)
	MOVQ R11, CX
	SUBQ $16, CX
	JGE  m8_k2
	XORQ CX, CX

m8_k2:
	LANES(K2)
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
	CMPQ R11, $16
	JLE  m8_half
	TESTQ R10, R10
	JEQ  m8_store

m8_loop:
	MOVQ      (SI), R8
	VMOVUPS.Z (BX)(R8*4), K1, Z24
	VMOVUPS.Z 64(BX)(R8*4), K2, Z25
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
	ADDQ $8, SI
	DECQ R10
	JNZ  m8_loop

m8_store:
	MOVQ DI, R12
	CMPB acc+48(FP), $0
	JEQ  m8_ep
	ADD2(Z0, Z1)
	ADD2(Z2, Z3)
	ADD2(Z4, Z5)
	ADD2(Z6, Z7)
	ADD2(Z8, Z9)
	ADD2(Z10, Z11)
	ADD2(Z12, Z13)
	ADD2(Z14, Z15)

m8_ep:
	TESTQ R13, R13
	JEQ   m8_set
	EP2(Z0, Z1, 0)
	EP2(Z2, Z3, 4)
	EP2(Z4, Z5, 8)
	EP2(Z6, Z7, 12)
	EP2(Z8, Z9, 16)
	EP2(Z10, Z11, 20)
	EP2(Z12, Z13, 24)
	EP2(Z14, Z15, 28)

m8_set:
	STORE2(Z0, Z1)
	STORE2(Z2, Z3)
	STORE2(Z4, Z5)
	STORE2(Z6, Z7)
	STORE2(Z8, Z9)
	STORE2(Z10, Z11)
	STORE2(Z12, Z13)
	STORE2(Z14, Z15)
	VZEROUPPER
	RET

m8_half:
	TESTQ R10, R10
	JEQ   m8_hstore

m8_hloop:
	MOVQ      (SI), R8
	VMOVUPS.Z (BX)(R8*4), K1, Z24
	VFMADD231PS.BCST 0(AX), Z24, Z0
	VFMADD231PS.BCST 4(AX), Z24, Z2
	VFMADD231PS.BCST 8(AX), Z24, Z4
	VFMADD231PS.BCST 12(AX), Z24, Z6
	VFMADD231PS.BCST 16(AX), Z24, Z8
	VFMADD231PS.BCST 20(AX), Z24, Z10
	VFMADD231PS.BCST 24(AX), Z24, Z12
	VFMADD231PS.BCST 28(AX), Z24, Z14
	ADDQ $32, AX
	ADDQ $8, SI
	DECQ R10
	JNZ  m8_hloop

m8_hstore:
	MOVQ DI, R12
	CMPB acc+48(FP), $0
	JEQ  m8_hep
	ADD1(Z0)
	ADD1(Z2)
	ADD1(Z4)
	ADD1(Z6)
	ADD1(Z8)
	ADD1(Z10)
	ADD1(Z12)
	ADD1(Z14)

m8_hep:
	TESTQ R13, R13
	JEQ   m8_hset
	EP1(Z0, 0)
	EP1(Z2, 4)
	EP1(Z4, 8)
	EP1(Z6, 12)
	EP1(Z8, 16)
	EP1(Z10, 20)
	EP1(Z12, 24)
	EP1(Z14, 28)

m8_hset:
	STORE1(Z0)
	STORE1(Z2)
	STORE1(Z4)
	STORE1(Z6)
	STORE1(Z8)
	STORE1(Z10)
	STORE1(Z12)
	STORE1(Z14)
	VZEROUPPER
	RET

// func kernelOff4MaskAVX512(k int, a, b *float32, off *int, c *float32, ldc int, acc bool, w int, bias *float32, lo, hi float32)
// is kernelOff8MaskAVX512 on the first four rows of the 8-row panel a
// (a[p·8+i] for i < 4): the same fused multiply-adds on those rows, in
// the same order, for half the work; it reads and writes rows 0–3 of c
// only (a last panel of at most four rows, in a tile).
TEXT ·kernelOff4MaskAVX512(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), R10
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ off+24(FP), SI
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), DX
	SHLQ $2, DX
	MOVQ w+56(FP), R11
	MOVQ bias+64(FP), R13
	VBROADCASTSS lo+72(FP), Z29
	VBROADCASTSS hi+76(FP), Z30
	ZEROSIGN512(Z29, Z31)
	MOVQ R11, CX
	CMPQ CX, $16
	JLE  m4_k1
	MOVQ $16, CX

m4_k1:
	LANES(K1)
	MOVQ R11, CX
	SUBQ $16, CX
	JGE  m4_k2
	XORQ CX, CX

m4_k2:
	LANES(K2)
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	CMPQ R11, $16
	JLE  m4_half
	TESTQ R10, R10
	JEQ  m4_store

m4_loop:
	MOVQ      (SI), R8
	VMOVUPS.Z (BX)(R8*4), K1, Z24
	VMOVUPS.Z 64(BX)(R8*4), K2, Z25
	VBROADCASTSS 0(AX), Z16
	VBROADCASTSS 4(AX), Z17
	VBROADCASTSS 8(AX), Z18
	VBROADCASTSS 12(AX), Z19
	VFMADD231PS Z16, Z24, Z0
	VFMADD231PS Z16, Z25, Z1
	VFMADD231PS Z17, Z24, Z2
	VFMADD231PS Z17, Z25, Z3
	VFMADD231PS Z18, Z24, Z4
	VFMADD231PS Z18, Z25, Z5
	VFMADD231PS Z19, Z24, Z6
	VFMADD231PS Z19, Z25, Z7
	ADDQ $32, AX
	ADDQ $8, SI
	DECQ R10
	JNZ  m4_loop

m4_store:
	MOVQ DI, R12
	CMPB acc+48(FP), $0
	JEQ  m4_ep
	ADD2(Z0, Z1)
	ADD2(Z2, Z3)
	ADD2(Z4, Z5)
	ADD2(Z6, Z7)

m4_ep:
	TESTQ R13, R13
	JEQ   m4_set
	EP2(Z0, Z1, 0)
	EP2(Z2, Z3, 4)
	EP2(Z4, Z5, 8)
	EP2(Z6, Z7, 12)

m4_set:
	STORE2(Z0, Z1)
	STORE2(Z2, Z3)
	STORE2(Z4, Z5)
	STORE2(Z6, Z7)
	VZEROUPPER
	RET

m4_half:
	TESTQ R10, R10
	JEQ   m4_hstore

m4_hloop:
	MOVQ      (SI), R8
	VMOVUPS.Z (BX)(R8*4), K1, Z24
	VFMADD231PS.BCST 0(AX), Z24, Z0
	VFMADD231PS.BCST 4(AX), Z24, Z2
	VFMADD231PS.BCST 8(AX), Z24, Z4
	VFMADD231PS.BCST 12(AX), Z24, Z6
	ADDQ $32, AX
	ADDQ $8, SI
	DECQ R10
	JNZ  m4_hloop

m4_hstore:
	MOVQ DI, R12
	CMPB acc+48(FP), $0
	JEQ  m4_hep
	ADD1(Z0)
	ADD1(Z2)
	ADD1(Z4)
	ADD1(Z6)

m4_hep:
	TESTQ R13, R13
	JEQ   m4_hset
	EP1(Z0, 0)
	EP1(Z2, 4)
	EP1(Z4, 8)
	EP1(Z6, 12)

m4_hset:
	STORE1(Z0)
	STORE1(Z2)
	STORE1(Z4)
	STORE1(Z6)
	VZEROUPPER
	RET
