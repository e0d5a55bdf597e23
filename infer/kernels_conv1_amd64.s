//go:build amd64 && !purego

#include "textflag.h"

// C1_REQ(r, t, dst) is the clamped requantization (requantClampStore's
// sequence, constants L, H, Ml, Mh, C, k in Z4…Z9) of r, t scratch, and
// the store of its 16 bytes at dst.
#define C1_REQ(r, t, dst) \
	VPMAXSD Z4, r, r \
	VPMINSD Z5, r, r \
	VPMULLD Z6, r, t \
	VPMULLD Z7, r, r \
	VPSRAD $12, t, t \
	VPADDD t, r, r \
	VPADDD Z8, r, r \
	VPSRAVD Z9, r, r \
	VPMOVDB r, dst

// C1_PIX(x, acc, b) accumulates the pixel whose receptive field's kernel
// rows start at column x (a register) of the rows R11, R12, R13 into acc
// from the bias (Z25), b the broadcast scratch: each kernel row is the
// dword there (its fourth byte meets a zero weight).
#define C1_PIX(x, acc, b) \
	VMOVDQA32 Z25, acc \
	VPBROADCASTD (R11)(x*1), b \
	VPDPBUSD Z16, b, acc \
	VPBROADCASTD (R12)(x*1), b \
	VPDPBUSD Z17, b, acc \
	VPBROADCASTD (R13)(x*1), b \
	VPDPBUSD Z18, b, acc

// C1_EDGE is C1_PIX(R9, Z0, Z1) for a pixel at a row's edge: the bytes
// of its mask (K1) are loaded over the padding byte (Z23), the others
// (left or right of the row) not read.
#define C1_EDGE \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA64 Z23, Z1 \
	VMOVDQU8 (R11)(R9*1), K1, X1 \
	VPBROADCASTD X1, Z1 \
	VPDPBUSD Z16, Z1, Z0 \
	VMOVDQA64 Z23, Z1 \
	VMOVDQU8 (R12)(R9*1), K1, X1 \
	VPBROADCASTD X1, Z1 \
	VPDPBUSD Z17, Z1, Z0 \
	VMOVDQA64 Z23, Z1 \
	VMOVDQU8 (R13)(R9*1), K1, X1 \
	VPBROADCASTD X1, Z1 \
	VPDPBUSD Z18, Z1, Z0

// C1_ROW(r, iy, prow, h) points r at input row iy (w bytes: R8), or at
// the padding row prow if iy is outside [0, h). Uses AX.
#define C1_ROW(r, iy, prow, h) \
	MOVQ iy, AX \
	IMULQ R8, AX \
	ADDQ SI, AX \
	MOVQ prow, r \
	CMPQ iy, h \
	CMOVQCS AX, r

// func conv1K3VNNI(dst, src, padRow *uint8, oh, ow, h, w, stride, pad, ldd, panels int, wt *int8, bias *int32, rq *int64, masks *uint16, xl, xr, padU int)
//
// A 3×3 convolution of one input channel (a stem) on one unpadded h×w
// image, one sample a call: output pixel (oy, ox) has kernel row ky at
// input row oy·stride − pad + ky (padRow, w bytes of padU, outside the
// image), column ox·stride − pad on; each kernel row's dword is
// broadcast and multiplied by the panel's group ky (seg's packing: 16
// channels × (w0, w1, w2, 0)) with VPDPBUSD. The first xl and last xr
// pixels of a row are at its edges: masks[ox] has bit j set where byte
// j of the dword is inside the row (the others are padU), the middle
// ones read whole dwords four or two at a time (as many accumulator
// chains). The clamped requantization (panel q of rq) writes 16 bytes a
// panel at dst + (oy·ow + ox)·ldd + 16q. gemmConvPackedQ on the padded
// image is its twin.
TEXT ·conv1K3VNNI(SB), NOSPLIT, $16-144
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+48(FP), R8
	MOVQ stride+56(FP), R10
	MOVQ ldd+72(FP), R14
	CMPQ oh+24(FP), $0
	JEQ donec1
	CMPQ ow+32(FP), $0
	JEQ donec1
	MOVQ padU+136(FP), AX
	VPBROADCASTB AX, Z23
	XORQ BX, BX

panelc1:
	MOVQ BX, AX
	IMULQ $192, AX
	ADDQ wt+88(FP), AX
	VMOVDQU64 0(AX), Z16
	VMOVDQU64 64(AX), Z17
	VMOVDQU64 128(AX), Z18
	MOVQ bias+96(FP), AX
	MOVQ BX, DX
	SHLQ $6, DX
	VMOVDQU32 (AX)(DX*1), Z25
	MOVQ BX, AX
	IMULQ $1792, AX
	ADDQ rq+104(FP), AX
	VMOVDQU64 1408(AX), Z4
	VMOVDQU64 1472(AX), Z5
	VMOVDQU64 1536(AX), Z6
	VMOVDQU64 1600(AX), Z7
	VMOVDQU64 1664(AX), Z8
	VMOVDQU64 1728(AX), Z9
	MOVQ BX, CX
	SHLQ $4, CX
	ADDQ DI, CX // the panel's bytes of pixel 0
	MOVQ $0, oy-8(SP)

rowc1:
	MOVQ oy-8(SP), DX
	IMULQ R10, DX
	SUBQ pad+64(FP), DX // the first kernel row's input row
	C1_ROW(R11, DX, padRow+16(FP), h+40(FP))
	INCQ DX
	C1_ROW(R12, DX, padRow+16(FP), h+40(FP))
	INCQ DX
	C1_ROW(R13, DX, padRow+16(FP), h+40(FP))
	MOVQ pad+64(FP), R9
	NEGQ R9 // the column of output 0's receptive field
	MOVQ masks+112(FP), DX
	MOVQ xl+120(FP), R15

leftc1:
	TESTQ R15, R15
	JEQ midc1
	KMOVW (DX), K1
	C1_EDGE
	C1_REQ(Z0, Z26, (CX))
	ADDQ $2, DX
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP leftc1

midc1:
	MOVQ ow+32(FP), R15
	SUBQ xl+120(FP), R15
	SUBQ xr+128(FP), R15

quadc1:
	CMPQ R15, $4
	JB pairc1
	LEAQ (R9)(R10*1), AX
	LEAQ (R9)(R10*2), DX
	C1_PIX(R9, Z0, Z1)
	C1_PIX(AX, Z2, Z3)
	C1_PIX(DX, Z10, Z11)
	ADDQ R10, DX
	C1_PIX(DX, Z12, Z13)
	C1_REQ(Z0, Z26, (CX))
	C1_REQ(Z2, Z27, (CX)(R14*1))
	C1_REQ(Z10, Z28, (CX)(R14*2))
	LEAQ (CX)(R14*2), AX
	C1_REQ(Z12, Z29, (AX)(R14*1))
	LEAQ (R9)(R10*4), R9
	LEAQ (CX)(R14*4), CX
	SUBQ $4, R15
	JMP quadc1

pairc1:
	CMPQ R15, $2
	JB onec1
	LEAQ (R9)(R10*1), AX
	C1_PIX(R9, Z0, Z1)
	C1_PIX(AX, Z2, Z3)
	C1_REQ(Z0, Z26, (CX))
	C1_REQ(Z2, Z27, (CX)(R14*1))
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairc1

onec1:
	TESTQ R15, R15
	JEQ rightc1
	C1_PIX(R9, Z0, Z1)
	C1_REQ(Z0, Z26, (CX))
	ADDQ R10, R9
	ADDQ R14, CX

rightc1:
	MOVQ ow+32(FP), DX
	SUBQ xr+128(FP), DX
	SHLQ $1, DX
	ADDQ masks+112(FP), DX
	MOVQ xr+128(FP), R15

rightloopc1:
	TESTQ R15, R15
	JEQ nextrowc1
	KMOVW (DX), K1
	C1_EDGE
	C1_REQ(Z0, Z26, (CX))
	ADDQ $2, DX
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP rightloopc1

nextrowc1:
	MOVQ oy-8(SP), AX
	INCQ AX
	MOVQ AX, oy-8(SP)
	CMPQ AX, oh+24(FP)
	JB rowc1
	INCQ BX
	CMPQ BX, panels+80(FP)
	JB panelc1

donec1:
	VZEROUPPER
	RET
