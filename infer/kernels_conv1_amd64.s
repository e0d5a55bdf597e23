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

// C1_PIX(p, acc, b) accumulates the pixel whose receptive field starts
// at p (kernel rows R13 bytes apart) into acc from the bias (Z25), b
// the broadcast scratch.
#define C1_PIX(p, acc, b) \
	VMOVDQA32 Z25, acc \
	VPBROADCASTD (p), b \
	VPDPBUSD Z16, b, acc \
	VPBROADCASTD (p)(R13*1), b \
	VPDPBUSD Z17, b, acc \
	VPBROADCASTD (p)(R13*2), b \
	VPDPBUSD Z18, b, acc

// func conv1K3VNNI(dst, img *uint8, oh, ow, stride, pitch, ldd, panels int, w *int8, bias *int32, rq *int64)
//
// A 3×3 convolution of one input channel (a stem) on a padded image
// (rows pitch bytes apart, 3 bytes of slack after it), one sample a
// call: output pixel (oy, ox)'s kernel row ky is the dword at
// img + (oy·stride + ky)·pitch + ox·stride (its fourth byte meets a zero
// weight), broadcast and multiplied by the panel's group ky (seg's
// packing: 16 channels × (w0, w1, w2, 0)) with VPDPBUSD; the clamped
// requantization (constants of panel q of rq) writes 16 bytes a panel
// at dst + (oy·ow + ox)·ldd + 16q. Pixels go in pairs (two accumulator
// chains). gemmConvPackedQ on the same weights is its twin.
TEXT ·conv1K3VNNI(SB), NOSPLIT, $0-88
	MOVQ dst+0(FP), DI
	MOVQ img+8(FP), SI
	MOVQ stride+32(FP), R10
	MOVQ pitch+40(FP), R13
	MOVQ ldd+48(FP), R14
	CMPQ oh+16(FP), $0
	JEQ donec1
	CMPQ ow+24(FP), $0
	JEQ donec1
	XORQ BX, BX

panelc1:
	MOVQ BX, AX
	IMULQ $192, AX
	ADDQ w+64(FP), AX
	VMOVDQU64 0(AX), Z16
	VMOVDQU64 64(AX), Z17
	VMOVDQU64 128(AX), Z18
	MOVQ bias+72(FP), AX
	MOVQ BX, DX
	SHLQ $6, DX
	VMOVDQU32 (AX)(DX*1), Z25
	MOVQ BX, AX
	IMULQ $1792, AX
	ADDQ rq+80(FP), AX
	VMOVDQU64 1408(AX), Z4
	VMOVDQU64 1472(AX), Z5
	VMOVDQU64 1536(AX), Z6
	VMOVDQU64 1600(AX), Z7
	VMOVDQU64 1664(AX), Z8
	VMOVDQU64 1728(AX), Z9
	MOVQ BX, CX
	SHLQ $4, CX
	ADDQ DI, CX // the panel's bytes of pixel 0
	MOVQ SI, R11 // the output row's first receptive field
	MOVQ oh+16(FP), R9
	MOVQ R10, R8
	IMULQ R13, R8 // an output row's step: stride·pitch

rowc1:
	MOVQ R11, R12
	MOVQ ow+24(FP), R15

pairc1:
	CMPQ R15, $2
	JB onec1
	LEAQ (R12)(R10*1), AX
	C1_PIX(R12, Z0, Z1)
	C1_PIX(AX, Z2, Z3)
	C1_REQ(Z0, Z26, (CX))
	C1_REQ(Z2, Z27, (CX)(R14*1))
	LEAQ (R12)(R10*2), R12
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairc1

onec1:
	TESTQ R15, R15
	JEQ nextrowc1
	C1_PIX(R12, Z0, Z1)
	C1_REQ(Z0, Z26, (CX))
	ADDQ R14, CX

nextrowc1:
	ADDQ R8, R11
	DECQ R9
	JNE rowc1
	INCQ BX
	CMPQ BX, panels+56(FP)
	JB panelc1

donec1:
	VZEROUPPER
	RET
