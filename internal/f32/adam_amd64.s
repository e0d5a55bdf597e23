//go:build amd64 && !purego

#include "textflag.h"

// func adamAVX2(w, grad, m, v *float32, n int, c *[8]float32)
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // β1
	VBROADCASTSS 4(AX), Y9   // 1−β1
	VBROADCASTSS 8(AX), Y10  // β2
	VBROADCASTSS 12(AX), Y11 // 1−β2
	VBROADCASTSS 16(AX), Y12 // Step
	VBROADCASTSS 20(AX), Y13 // Scale2
	VBROADCASTSS 24(AX), Y14 // Eps
	VBROADCASTSS 28(AX), Y15 // Decay
	VXORPS       Y7, Y7, Y7  // +0
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0     // g
	VADDPS  Y0, Y7, Y0   // 0 + g
	VMULPS  (R8), Y8, Y1 // β1·m
	VMULPS  Y0, Y9, Y2   // (1−β1)·g
	VADDPS  Y2, Y1, Y1   // m
	VMOVUPS Y1, (R8)
	VMULPS  (R9), Y10, Y3 // β2·v
	VMULPS  Y0, Y11, Y4   // (1−β2)·g
	VMULPS  Y0, Y4, Y4    // ·g
	VADDPS  Y4, Y3, Y3    // v
	VMOVUPS Y3, (R9)
	VMULPS  Y13, Y3, Y3   // v·Scale2
	VSQRTPS Y3, Y3
	VADDPS  Y14, Y3, Y3   // + Eps
	VMULPS  Y12, Y1, Y1   // Step·m
	VDIVPS  Y3, Y1, Y1    // (Step·m) / (√(v·Scale2) + Eps)
	VMULPS  (DI), Y15, Y5 // w·Decay
	VSUBPS  Y1, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET
