//go:build amd64 && !purego

#include "textflag.h"
#include "epilogue_amd64.h"

// func dw8AVX2(dst, src *float32, recs *dw8Rec, masks *int32, w4, b4 *float32, store *int32, pairs, kk, inPlane, outPlane int, lo, hi float32)
//
// One group of four channels of one image (dw8.go): for each pair of
// slots, eight sums (Y0–Y7: channel ch's slot j in Y(2·ch + j)) over the
// pair's kk tap records, then + bias, max lo, min hi, and the stores.
//
// Registers: SI the group's first channel's input, DX a channel's input
// bytes, R14 three channels'; DI the first output plane, R11 its plane's
// bytes, R9 three; R12 the current record, R13 the masks, R15 the tap's
// four weights, CX the taps left, R10 the pairs left, AX and BX the
// slots' addresses, R8 scratch. Y8, Y9 the slots' masks, Y10 the weight,
// Y11, Y12 the loads.
TEXT ·dw8AVX2(SB), NOSPLIT, $0-96
	MOVQ src+8(FP), SI
	MOVQ dst+0(FP), DI
	MOVQ recs+16(FP), R12
	MOVQ masks+24(FP), R13
	MOVQ inPlane+72(FP), DX
	LEAQ (DX)(DX*2), R14
	MOVQ outPlane+80(FP), R11
	LEAQ (R11)(R11*2), R9
	MOVQ pairs+56(FP), R10

dw8_pair:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   w4+32(FP), R15
	MOVQ   kk+64(FP), CX

	PCALIGN $32

dw8_tap:
	MOVLQSX (R12), AX
	MOVLQSX 4(R12), BX
	ADDQ    SI, AX
	ADDQ    SI, BX
	MOVLQSX 8(R12), R8
	VMOVDQU (R13)(R8*1), Y8
	MOVLQSX 12(R12), R8
	VMOVDQU (R13)(R8*1), Y9
	VBROADCASTSS 0(R15), Y10
	VMASKMOVPS   (AX), Y8, Y11
	VMASKMOVPS   (BX), Y9, Y12
	VFMADD231PS  Y10, Y11, Y0
	VFMADD231PS  Y10, Y12, Y1
	VBROADCASTSS 4(R15), Y10
	VMASKMOVPS   (AX)(DX*1), Y8, Y11
	VMASKMOVPS   (BX)(DX*1), Y9, Y12
	VFMADD231PS  Y10, Y11, Y2
	VFMADD231PS  Y10, Y12, Y3
	VBROADCASTSS 8(R15), Y10
	VMASKMOVPS   (AX)(DX*2), Y8, Y11
	VMASKMOVPS   (BX)(DX*2), Y9, Y12
	VFMADD231PS  Y10, Y11, Y4
	VFMADD231PS  Y10, Y12, Y5
	VBROADCASTSS 12(R15), Y10
	VMASKMOVPS   (AX)(R14*1), Y8, Y11
	VMASKMOVPS   (BX)(R14*1), Y9, Y12
	VFMADD231PS  Y10, Y11, Y6
	VFMADD231PS  Y10, Y12, Y7
	ADDQ $16, R12
	ADDQ $16, R15
	DECQ CX
	JNZ  dw8_tap

	// The store record: the slots' output offsets, and whether to store
	// through the store mask.
	MOVLQSX      (R12), AX
	MOVLQSX      4(R12), BX
	ADDQ         DI, AX
	ADDQ         DI, BX
	MOVL         8(R12), CX
	ADDQ         $16, R12
	MOVQ         b4+40(FP), R8
	VBROADCASTSS lo+88(FP), Y9
	VBROADCASTSS hi+92(FP), Y10
	ZEROSIGN(Y9, Y14)
	TESTL        CX, CX
	JNZ          dw8_part
	VBROADCASTSS 0(R8), Y11
	VADDPS       Y0, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (AX)
	VADDPS       Y1, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (BX)
	VBROADCASTSS 4(R8), Y11
	VADDPS       Y2, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (AX)(R11*1)
	VADDPS       Y3, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (BX)(R11*1)
	VBROADCASTSS 8(R8), Y11
	VADDPS       Y4, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (AX)(R11*2)
	VADDPS       Y5, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (BX)(R11*2)
	VBROADCASTSS 12(R8), Y11
	VADDPS       Y6, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (AX)(R9*1)
	VADDPS       Y7, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMOVUPS      Y12, (BX)(R9*1)
	DECQ R10
	JNZ  dw8_pair
	VZEROUPPER
	RET

dw8_part:
	// A slot's 8 lanes would pass the plane's end: the first n lanes
	// (the store mask).
	MOVQ    store+48(FP), CX
	VMOVDQU (CX), Y13
	VBROADCASTSS 0(R8), Y11
	VADDPS       Y0, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (AX)
	VADDPS       Y1, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (BX)
	VBROADCASTSS 4(R8), Y11
	VADDPS       Y2, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (AX)(R11*1)
	VADDPS       Y3, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (BX)(R11*1)
	VBROADCASTSS 8(R8), Y11
	VADDPS       Y4, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (AX)(R11*2)
	VADDPS       Y5, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (BX)(R11*2)
	VBROADCASTSS 12(R8), Y11
	VADDPS       Y6, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (AX)(R9*1)
	VADDPS       Y7, Y11, Y12
	VMAXPS       Y12, Y9, Y12
	VADDPS       Y14, Y12, Y12
	VMINPS       Y12, Y10, Y12
	VMASKMOVPS   Y12, Y13, (BX)(R9*1)
	DECQ R10
	JNZ  dw8_pair
	VZEROUPPER
	RET
