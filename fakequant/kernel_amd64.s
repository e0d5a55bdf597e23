//go:build amd64 && !purego

#include "textflag.h"

// func fqAVX2(dst, src, s, lo, hi *float32, n, step int)
TEXT ·fqAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ s+16(FP), R8
	MOVQ lo+24(FP), R9
	MOVQ hi+32(FP), R10
	MOVQ n+40(FP), CX
	MOVQ step+48(FP), DX
	SHRQ $3, CX
	JZ   fqdone

fqloop:
	VMOVUPS    (R8), Y1       // S
	VMOVUPS    (SI), Y0       // x
	VDIVPS     Y1, Y0, Y0     // u = x / S
	VMAXPS     (R9), Y0, Y0   // max(u, lo); lo when u is NaN
	VMINPS     (R10), Y0, Y0  // min(·, hi)
	VROUNDPS   $8, Y0, Y0     // half to even
	VCVTTPS2DQ Y0, Y0         // q (exact: an integer below 2^24)
	VCVTDQ2PS  Y0, Y0         // float32(q): −0 became +0
	VMULPS     Y1, Y0, Y0     // S·q
	VMOVUPS    Y0, (DI)
	ADDQ       $32, SI
	ADDQ       $32, DI
	ADDQ       DX, R8
	ADDQ       DX, R9
	ADDQ       DX, R10
	DECQ       CX
	JNZ        fqloop

fqdone:
	VZEROUPPER
	RET

// func clipAVX2(dx, dy, x, s, ulo, uhi *float32, n, step int)
TEXT ·clipAVX2(SB), NOSPLIT, $0-64
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ s+24(FP), R8
	MOVQ ulo+32(FP), R9
	MOVQ uhi+40(FP), R10
	MOVQ n+48(FP), CX
	MOVQ step+56(FP), DX
	SHRQ $3, CX
	JZ   clipdone

cliploop:
	VMOVUPS (BX), Y0
	VDIVPS  (R8), Y0, Y0        // u = x / S
	VCMPPS  $0x1e, (R9), Y0, Y1 // u > ulo (GT_OQ: false for NaN)
	VCMPPS  $0x11, (R10), Y0, Y2 // u < uhi (LT_OQ)
	VANDPS  Y2, Y1, Y1
	VANDPS  (SI), Y1, Y1        // dy where inside, +0 elsewhere
	VMOVUPS Y1, (DI)
	ADDQ    $32, BX
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    DX, R8
	ADDQ    DX, R9
	ADDQ    DX, R10
	DECQ    CX
	JNZ     cliploop

clipdone:
	VZEROUPPER
	RET
