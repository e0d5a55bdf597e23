//go:build amd64 && !purego

#include "textflag.h"

// func maxPool2AVX2(dst, r0, r1 *float32, n8 int)
// 2×2 max-pooling of stride 2, eight outputs at a time: the two rows'
// maximum (VMAXPS), then even and odd columns apart (VSHUFPS) and their
// maximum, put back in order (VPERMPD).
TEXT ·maxPool2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), BX
	MOVQ n8+24(FP), CX
mp_loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMAXPS (BX), Y0, Y0
	VMAXPS 32(BX), Y1, Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VMAXPS Y3, Y2, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $32, DI
	DECQ CX
	JNZ mp_loop
	VZEROUPPER
	RET
