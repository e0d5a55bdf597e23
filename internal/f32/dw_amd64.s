//go:build amd64 && !purego

#include "textflag.h"

#define DST DI
#define SRC SI
#define OFF R8
#define WTS R9
#define TAPS R10
#define CNT CX
#define T BX
#define P DX

// func dwSumAVX512(dst, src *float32, off *int, w *float32, taps, n int, init float32, acc bool)
TEXT ·dwSumAVX512(SB), NOSPLIT, $0-53
	MOVQ dst+0(FP), DST
	MOVQ src+8(FP), SRC
	MOVQ off+16(FP), OFF
	MOVQ w+24(FP), WTS
	MOVQ taps+32(FP), TAPS
	MOVQ n+40(FP), CNT
	VBROADCASTSS init+48(FP), Z8
	MOVBQZX acc+52(FP), R11

s512_block:
	TESTQ R11, R11
	JNZ   s512_load
	VMOVAPS Z8, Z0
	VMOVAPS Z8, Z1
	VMOVAPS Z8, Z2
	VMOVAPS Z8, Z3
	JMP     s512_taps

s512_load:
	VMOVUPS (DST), Z0
	VMOVUPS 64(DST), Z1
	VMOVUPS 128(DST), Z2
	VMOVUPS 192(DST), Z3

s512_taps:
	XORQ T, T

s512_tap:
	MOVQ         (OFF)(T*8), P
	LEAQ         (SRC)(P*4), P
	VBROADCASTSS (WTS)(T*4), Z4
	VFMADD231PS  (P), Z4, Z0
	VFMADD231PS  64(P), Z4, Z1
	VFMADD231PS  128(P), Z4, Z2
	VFMADD231PS  192(P), Z4, Z3
	INCQ         T
	CMPQ         T, TAPS
	JLT          s512_tap

	VMOVUPS Z0, (DST)
	VMOVUPS Z1, 64(DST)
	VMOVUPS Z2, 128(DST)
	VMOVUPS Z3, 192(DST)
	ADDQ    $256, DST
	ADDQ    $256, SRC
	SUBQ    $64, CNT
	JNZ     s512_block
	VZEROUPPER
	RET

// func dwSumAVX2(dst, src *float32, off *int, w *float32, taps, n int, init float32, acc bool)
TEXT ·dwSumAVX2(SB), NOSPLIT, $0-53
	MOVQ dst+0(FP), DST
	MOVQ src+8(FP), SRC
	MOVQ off+16(FP), OFF
	MOVQ w+24(FP), WTS
	MOVQ taps+32(FP), TAPS
	MOVQ n+40(FP), CNT
	VBROADCASTSS init+48(FP), Y8
	MOVBQZX acc+52(FP), R11

s256_block:
	TESTQ R11, R11
	JNZ   s256_load
	VMOVAPS Y8, Y0
	VMOVAPS Y8, Y1
	VMOVAPS Y8, Y2
	VMOVAPS Y8, Y3
	JMP     s256_taps

s256_load:
	VMOVUPS (DST), Y0
	VMOVUPS 32(DST), Y1
	VMOVUPS 64(DST), Y2
	VMOVUPS 96(DST), Y3

s256_taps:
	XORQ T, T

s256_tap:
	MOVQ         (OFF)(T*8), P
	LEAQ         (SRC)(P*4), P
	VBROADCASTSS (WTS)(T*4), Y4
	VFMADD231PS  (P), Y4, Y0
	VFMADD231PS  32(P), Y4, Y1
	VFMADD231PS  64(P), Y4, Y2
	VFMADD231PS  96(P), Y4, Y3
	INCQ         T
	CMPQ         T, TAPS
	JLT          s256_tap

	VMOVUPS Y0, (DST)
	VMOVUPS Y1, 32(DST)
	VMOVUPS Y2, 64(DST)
	VMOVUPS Y3, 96(DST)
	ADDQ    $128, DST
	ADDQ    $128, SRC
	SUBQ    $32, CNT
	JNZ     s256_block
	VZEROUPPER
	RET

#define OUT DI
#define DY R9
#define Q R11

// func dwDotAVX512(out, dy, src *float32, off *int, taps, n int)
TEXT ·dwDotAVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), OUT
	MOVQ src+16(FP), SRC
	MOVQ off+24(FP), OFF
	MOVQ taps+32(FP), TAPS
	XORQ T, T

d512_tap:
	MOVQ   (OFF)(T*8), P
	LEAQ   (SRC)(P*4), P
	MOVQ   dy+8(FP), DY
	MOVQ   n+40(FP), CNT
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

d512_loop:
	VMOVUPS     (DY), Z4
	VMOVUPS     64(DY), Z5
	VMOVUPS     128(DY), Z6
	VMOVUPS     192(DY), Z7
	VFMADD231PS (P), Z4, Z0
	VFMADD231PS 64(P), Z5, Z1
	VFMADD231PS 128(P), Z6, Z2
	VFMADD231PS 192(P), Z7, Z3
	ADDQ        $256, DY
	ADDQ        $256, P
	SUBQ        $64, CNT
	JNZ         d512_loop

	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VPERMILPS     $0x4e, X0, X1
	VADDPS        X1, X0, X0
	VPERMILPS     $0xb1, X0, X1
	VADDSS        X1, X0, X0
	VADDSS        (OUT)(T*4), X0, X0
	VMOVSS        X0, (OUT)(T*4)
	INCQ          T
	CMPQ          T, TAPS
	JLT           d512_tap
	VZEROUPPER
	RET

// func dwDotAVX2(out, dy, src *float32, off *int, taps, n int)
TEXT ·dwDotAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), OUT
	MOVQ src+16(FP), SRC
	MOVQ off+24(FP), OFF
	MOVQ taps+32(FP), TAPS
	XORQ T, T

d256_tap:
	MOVQ   (OFF)(T*8), P
	LEAQ   (SRC)(P*4), P
	MOVQ   dy+8(FP), DY
	MOVQ   n+40(FP), CNT
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

d256_loop:
	VMOVUPS     (DY), Y4
	VMOVUPS     32(DY), Y5
	VMOVUPS     64(DY), Y6
	VMOVUPS     96(DY), Y7
	VFMADD231PS (P), Y4, Y0
	VFMADD231PS 32(P), Y5, Y1
	VFMADD231PS 64(P), Y6, Y2
	VFMADD231PS 96(P), Y7, Y3
	ADDQ        $128, DY
	ADDQ        $128, P
	SUBQ        $32, CNT
	JNZ         d256_loop

	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VADDPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VADDSS       X1, X0, X0
	VADDSS       (OUT)(T*4), X0, X0
	VMOVSS       X0, (OUT)(T*4)
	INCQ         T
	CMPQ         T, TAPS
	JLT          d256_tap
	VZEROUPPER
	RET
