//go:build amd64 && !purego

#include "textflag.h"
#include "epilogue_amd64.h"

// Even and odd float indices of two registers (VPERMT2PS).
DATA flevens<>+0(SB)/4, $0
DATA flevens<>+4(SB)/4, $2
DATA flevens<>+8(SB)/4, $4
DATA flevens<>+12(SB)/4, $6
DATA flevens<>+16(SB)/4, $8
DATA flevens<>+20(SB)/4, $10
DATA flevens<>+24(SB)/4, $12
DATA flevens<>+28(SB)/4, $14
DATA flevens<>+32(SB)/4, $16
DATA flevens<>+36(SB)/4, $18
DATA flevens<>+40(SB)/4, $20
DATA flevens<>+44(SB)/4, $22
DATA flevens<>+48(SB)/4, $24
DATA flevens<>+52(SB)/4, $26
DATA flevens<>+56(SB)/4, $28
DATA flevens<>+60(SB)/4, $30
GLOBL flevens<>(SB), RODATA|NOPTR, $64

DATA flodds<>+0(SB)/4, $1
DATA flodds<>+4(SB)/4, $3
DATA flodds<>+8(SB)/4, $5
DATA flodds<>+12(SB)/4, $7
DATA flodds<>+16(SB)/4, $9
DATA flodds<>+20(SB)/4, $11
DATA flodds<>+24(SB)/4, $13
DATA flodds<>+28(SB)/4, $15
DATA flodds<>+32(SB)/4, $17
DATA flodds<>+36(SB)/4, $19
DATA flodds<>+40(SB)/4, $21
DATA flodds<>+44(SB)/4, $23
DATA flodds<>+48(SB)/4, $25
DATA flodds<>+52(SB)/4, $27
DATA flodds<>+56(SB)/4, $29
DATA flodds<>+60(SB)/4, $31
GLOBL flodds<>(SB), RODATA|NOPTR, $64

// func dwFlatAVX512(dst, src *float32, tab *uint32, groups, kk int, lo, hi float32)
//
// Registers: R8 the group's header, BX the tap's record, R9–R12 the four
// slots' input chunks, R13 the taps left, AX the tap's offset, Z0–Z3 the
// four sums, Z8–Z11 the loads, Z28 lo, Z29 hi.
TEXT ·dwFlatAVX512(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         tab+16(FP), R8
	MOVQ         groups+24(FP), CX
	MOVQ         kk+32(FP), DX
	VBROADCASTSS lo+40(FP), Z28
	VBROADCASTSS hi+44(FP), Z29
	ZEROSIGN512(Z28, Z27)

fl_group:
	MOVLQSX 0(R8), R9
	ADDQ    SI, R9
	MOVLQSX 4(R8), R10
	ADDQ    SI, R10
	MOVLQSX 8(R8), R11
	ADDQ    SI, R11
	MOVLQSX 12(R8), R12
	ADDQ    SI, R12
	VXORPS  Z0, Z0, Z0
	VXORPS  Z1, Z1, Z1
	VXORPS  Z2, Z2, Z2
	VXORPS  Z3, Z3, Z3
	LEAQ    64(R8), BX
	MOVQ    DX, R13

fl_tap:
	MOVLQSX          0(BX), AX
	KMOVW            4(BX), K1
	KMOVW            6(BX), K2
	KMOVW            8(BX), K3
	KMOVW            10(BX), K4
	VMOVUPS.Z        (R9)(AX*1), K1, Z8
	VMOVUPS.Z        (R10)(AX*1), K2, Z9
	VMOVUPS.Z        (R11)(AX*1), K3, Z10
	VMOVUPS.Z        (R12)(AX*1), K4, Z11
	VFMADD231PS.BCST 12(BX), Z8, Z0
	VFMADD231PS.BCST 16(BX), Z9, Z1
	VFMADD231PS.BCST 20(BX), Z10, Z2
	VFMADD231PS.BCST 24(BX), Z11, Z3
	ADDQ             $32, BX
	DECQ             R13
	JNZ              fl_tap

	// + bias, max lo, min hi (biasClampRowsAVX512's operations and
	// operand order), masked stores.
	VBROADCASTSS 32(R8), Z4
	VBROADCASTSS 36(R8), Z5
	VBROADCASTSS 40(R8), Z6
	VBROADCASTSS 44(R8), Z7
	VADDPS       Z0, Z4, Z0
	VADDPS       Z1, Z5, Z1
	VADDPS       Z2, Z6, Z2
	VADDPS       Z3, Z7, Z3
	VMAXPS       Z0, Z28, Z0
	VADDPS       Z27, Z0, Z0
	VMAXPS       Z1, Z28, Z1
	VADDPS       Z27, Z1, Z1
	VMAXPS       Z2, Z28, Z2
	VADDPS       Z27, Z2, Z2
	VMAXPS       Z3, Z28, Z3
	VADDPS       Z27, Z3, Z3
	VMINPS       Z0, Z29, Z0
	VMINPS       Z1, Z29, Z1
	VMINPS       Z2, Z29, Z2
	VMINPS       Z3, Z29, Z3
	KMOVW        48(R8), K1
	KMOVW        50(R8), K2
	KMOVW        52(R8), K3
	KMOVW        54(R8), K4
	MOVLQSX      16(R8), AX
	VMOVUPS      Z0, K1, (DI)(AX*1)
	MOVLQSX      20(R8), AX
	VMOVUPS      Z1, K2, (DI)(AX*1)
	MOVLQSX      24(R8), AX
	VMOVUPS      Z2, K3, (DI)(AX*1)
	MOVLQSX      28(R8), AX
	VMOVUPS      Z3, K4, (DI)(AX*1)
	MOVQ         BX, R8
	DECQ         CX
	JNZ          fl_group
	VZEROUPPER
	RET

// func dwPhasesAVX512(dst, src *float32, c, h, wBytes, owBytes, psBytes, masks int)
//
// Registers: SI the input row, R8 the channel's phase planes, R10 (R11)
// the next even (odd) input row's even-column output row, its odd
// columns psBytes further; K5, K6 the row's load masks, K1, K2 the even
// and odd floats' store masks; Z30 the evens' indices, Z31 the odds'.
TEXT ·dwPhasesAVX512(SB), NOSPLIT, $0-64
	MOVQ    dst+0(FP), R8
	MOVQ    src+8(FP), SI
	MOVQ    c+16(FP), R9
	MOVQ    wBytes+32(FP), DX
	MOVQ    owBytes+40(FP), R12
	MOVQ    psBytes+48(FP), R13
	MOVQ    masks+56(FP), AX
	KMOVW   AX, K5
	SHRQ    $16, AX
	KMOVW   AX, K6
	SHRQ    $16, AX
	KMOVW   AX, K1
	SHRQ    $16, AX
	KMOVW   AX, K2
	VMOVUPS flevens<>(SB), Z30
	VMOVUPS flodds<>(SB), Z31

ph_channel:
	MOVQ R8, R10
	LEAQ (R8)(R13*2), R11
	MOVQ h+24(FP), CX

ph_row:
	VMOVUPS.Z (SI), K5, Z0
	VMOVUPS.Z 64(SI), K6, Z1
	VMOVAPS   Z0, Z2
	VPERMT2PS Z1, Z30, Z2
	VPERMT2PS Z1, Z31, Z0
	VMOVUPS   Z2, K1, (R10)
	VMOVUPS   Z0, K2, (R10)(R13*1)
	ADDQ      R12, R10
	ADDQ      DX, SI
	DECQ      CX
	JZ        ph_next
	VMOVUPS.Z (SI), K5, Z0
	VMOVUPS.Z 64(SI), K6, Z1
	VMOVAPS   Z0, Z2
	VPERMT2PS Z1, Z30, Z2
	VPERMT2PS Z1, Z31, Z0
	VMOVUPS   Z2, K1, (R11)
	VMOVUPS   Z0, K2, (R11)(R13*1)
	ADDQ      R12, R11
	ADDQ      DX, SI
	DECQ      CX
	JNZ       ph_row

ph_next:
	LEAQ (R8)(R13*4), R8
	DECQ R9
	JNZ  ph_channel
	VZEROUPPER
	RET

// C1ACC adds the total at byte o of AX to sum Z (Z = Z + total: the
// GEMM kernels' VADDPS).
#define C1ACC(o, Z) \
	VADDPS o(AX), Z, Z

// C1OUT adds bias b (at byte b of R9) to sum Z, clamps it and stores
// it under K1 at AX, then advances AX one plane (SI bytes).
#define C1OUT(b, Z) \
	VBROADCASTSS b(R9), Z17 \
	VADDPS       Z, Z17, Z \
	VMAXPS       Z, Z28, Z \
	VADDPS       Z27, Z, Z \
	VMINPS       Z, Z29, Z \
	VMOVUPS      Z, K1, (AX) \
	ADDQ         SI, AX

// func convFlatAVX512(dst, src *float32, off *int64, masks, st *uint16, w, bias, scratch *float32, chunks, depths, groups, planeBytes int, lo, hi float32)
//
// Depths are summed in blocks of kc = 256 as the GEMM kernels do: each
// block's sums from zero, then added to the previous blocks' total
// (Σ + total, kept in scratch between blocks).
//
// Registers: DI the group's first output plane, R8 its weights, R9 its
// biases, R10 the chunk's input (src + 64j), R11 the chunk's load masks,
// R12 the chunk's store mask, R13 the depth's offset record, R14 the
// depth's weights, BX chunks left, CX the block's depths left, DX groups
// left, R15 the chunk's byte offset in a plane, SI planeBytes, AX
// scratch; Z0–Z15 the sixteen sums, Z16 the load, Z17 a bias, Z28 lo,
// Z29 hi. Locals: the chunk's depths not yet in a block, and whether a
// block is done.
TEXT ·convFlatAVX512(SB), NOSPLIT, $16-104
	MOVQ         dst+0(FP), DI
	MOVQ         w+40(FP), R8
	MOVQ         bias+48(FP), R9
	MOVQ         groups+80(FP), DX
	MOVQ         planeBytes+88(FP), SI
	VBROADCASTSS lo+96(FP), Z28
	VBROADCASTSS hi+100(FP), Z29
	ZEROSIGN512(Z28, Z27)

c1_group:
	MOVQ src+8(FP), R10
	MOVQ masks+24(FP), R11
	MOVQ st+32(FP), R12
	MOVQ chunks+64(FP), BX
	XORQ R15, R15

c1_chunk:
	MOVQ off+16(FP), R13
	MOVQ R8, R14
	MOVQ depths+72(FP), AX
	MOVQ AX, rem-8(SP)
	MOVQ $0, done-16(SP)

c1_block:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	MOVQ   rem-8(SP), CX
	CMPQ   CX, $256
	JLE    c1_blockset
	MOVQ   $256, CX

c1_blockset:
	SUBQ CX, rem-8(SP)

c1_tap:
	MOVQ             (R13), AX
	KMOVW            (R11), K1
	VMOVUPS.Z        (R10)(AX*1), K1, Z16
	VFMADD231PS.BCST (R14), Z16, Z0
	VFMADD231PS.BCST 4(R14), Z16, Z1
	VFMADD231PS.BCST 8(R14), Z16, Z2
	VFMADD231PS.BCST 12(R14), Z16, Z3
	VFMADD231PS.BCST 16(R14), Z16, Z4
	VFMADD231PS.BCST 20(R14), Z16, Z5
	VFMADD231PS.BCST 24(R14), Z16, Z6
	VFMADD231PS.BCST 28(R14), Z16, Z7
	VFMADD231PS.BCST 32(R14), Z16, Z8
	VFMADD231PS.BCST 36(R14), Z16, Z9
	VFMADD231PS.BCST 40(R14), Z16, Z10
	VFMADD231PS.BCST 44(R14), Z16, Z11
	VFMADD231PS.BCST 48(R14), Z16, Z12
	VFMADD231PS.BCST 52(R14), Z16, Z13
	VFMADD231PS.BCST 56(R14), Z16, Z14
	VFMADD231PS.BCST 60(R14), Z16, Z15
	ADDQ             $8, R13
	ADDQ             $2, R11
	ADDQ             $64, R14
	DECQ             CX
	JNZ              c1_tap

	// A later block: its sums plus the earlier blocks' total.
	CMPQ done-16(SP), $0
	JEQ  c1_first
	MOVQ scratch+56(FP), AX
	C1ACC(0, Z0)
	C1ACC(64, Z1)
	C1ACC(128, Z2)
	C1ACC(192, Z3)
	C1ACC(256, Z4)
	C1ACC(320, Z5)
	C1ACC(384, Z6)
	C1ACC(448, Z7)
	C1ACC(512, Z8)
	C1ACC(576, Z9)
	C1ACC(640, Z10)
	C1ACC(704, Z11)
	C1ACC(768, Z12)
	C1ACC(832, Z13)
	C1ACC(896, Z14)
	C1ACC(960, Z15)

c1_first:
	// More blocks: keep the total.
	CMPQ    rem-8(SP), $0
	JEQ     c1_out
	MOVQ    scratch+56(FP), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	VMOVUPS Z4, 256(AX)
	VMOVUPS Z5, 320(AX)
	VMOVUPS Z6, 384(AX)
	VMOVUPS Z7, 448(AX)
	VMOVUPS Z8, 512(AX)
	VMOVUPS Z9, 576(AX)
	VMOVUPS Z10, 640(AX)
	VMOVUPS Z11, 704(AX)
	VMOVUPS Z12, 768(AX)
	VMOVUPS Z13, 832(AX)
	VMOVUPS Z14, 896(AX)
	VMOVUPS Z15, 960(AX)
	MOVQ    $1, done-16(SP)
	JMP     c1_block

c1_out:
	// + bias, max lo, min hi (biasClampRowsAVX512's operations and
	// operand order), a masked store into each channel's plane.
	KMOVW (R12), K1
	LEAQ  (DI)(R15*1), AX
	C1OUT(0, Z0)
	C1OUT(4, Z1)
	C1OUT(8, Z2)
	C1OUT(12, Z3)
	C1OUT(16, Z4)
	C1OUT(20, Z5)
	C1OUT(24, Z6)
	C1OUT(28, Z7)
	C1OUT(32, Z8)
	C1OUT(36, Z9)
	C1OUT(40, Z10)
	C1OUT(44, Z11)
	C1OUT(48, Z12)
	C1OUT(52, Z13)
	C1OUT(56, Z14)
	C1OUT(60, Z15)
	ADDQ  $64, R10
	ADDQ  $64, R15
	ADDQ  $2, R12
	DECQ  BX
	JNZ   c1_chunk

	// The next group: 16 planes, 16·depths weights and 16 biases
	// further.
	MOVQ  SI, AX
	SHLQ  $4, AX
	ADDQ  AX, DI
	MOVQ  R14, R8
	ADDQ  $64, R9
	DECQ  DX
	JNZ   c1_group
	VZEROUPPER
	RET

// C2FMA broadcasts weight i (byte 4i of R14) into Zw and adds its
// products with the two chunks' loads (Z16, Z17) to sums Za and Zb.
#define C2FMA(i, Zw, Za, Zb) \
	VBROADCASTSS i*4(R14), Zw \
	VFMADD231PS  Zw, Z16, Za  \
	VFMADD231PS  Zw, Z17, Zb

// C2OUT adds bias i (byte 4i of R9) to sums Za and Zb, clamps them and
// stores them under K1 at AX and K2 at AX + R15, then advances AX one
// plane (SI bytes).
#define C2OUT(i, Za, Zb) \
	VBROADCASTSS i*4(R9), Z17     \
	VADDPS       Za, Z17, Za      \
	VADDPS       Zb, Z17, Zb      \
	VMAXPS       Za, Z28, Za      \
	VADDPS       Z27, Za, Za      \
	VMAXPS       Zb, Z28, Zb      \
	VADDPS       Z27, Zb, Zb      \
	VMINPS       Za, Z29, Za      \
	VMINPS       Zb, Z29, Zb      \
	VMOVUPS      Za, K1, (AX)     \
	VMOVUPS      Zb, K2, (AX)(R15*1) \
	ADDQ         SI, AX

// func convFlat8x2AVX512(dst, src *float32, off *int64, masks *uint16, w, bias, scratch *float32, pairs, depths, groups, planeBytes, srcB, dstB, step int, lo, hi float32)
//
// convFlatAVX512's blocks, with DI the pair's chunk A outputs (first
// plane), R10 its input, R12 srcB and R15 dstB (chunk B's distances), R11
// the pair's masks (its depths', then its store masks), Z0–Z7 chunk A's
// eight sums, Z8–Z15 chunk B's, Z16 and Z17 their loads, Z18–Z25 the
// broadcast weights. Locals: the group's first output plane, the
// pair's depths not yet in a block, whether a block is done.
TEXT ·convFlat8x2AVX512(SB), NOSPLIT, $24-120
	MOVQ         dst+0(FP), DI
	MOVQ         w+32(FP), R8
	MOVQ         bias+40(FP), R9
	MOVQ         groups+72(FP), DX
	MOVQ         planeBytes+80(FP), SI
	MOVQ         srcB+88(FP), R12
	MOVQ         dstB+96(FP), R15
	VBROADCASTSS lo+112(FP), Z28
	VBROADCASTSS hi+116(FP), Z29
	ZEROSIGN512(Z28, Z27)

c2_group:
	MOVQ DI, gbase-24(SP)
	MOVQ src+8(FP), R10
	MOVQ masks+24(FP), R11
	MOVQ pairs+56(FP), BX

c2_pair:
	MOVQ off+16(FP), R13
	MOVQ R8, R14
	MOVQ depths+64(FP), AX
	MOVQ AX, rem-8(SP)
	MOVQ $0, done-16(SP)

c2_block:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	MOVQ   rem-8(SP), CX
	CMPQ   CX, $256
	JLE    c2_blockset
	MOVQ   $256, CX

c2_blockset:
	SUBQ CX, rem-8(SP)

c2_depth:
	MOVQ      (R13), AX
	KMOVW     (R11), K1
	KMOVW     2(R11), K2
	LEAQ      (R10)(AX*1), AX
	VMOVUPS.Z (AX), K1, Z16
	VMOVUPS.Z (AX)(R12*1), K2, Z17
	C2FMA(0, Z18, Z0, Z8)
	C2FMA(1, Z19, Z1, Z9)
	C2FMA(2, Z20, Z2, Z10)
	C2FMA(3, Z21, Z3, Z11)
	C2FMA(4, Z22, Z4, Z12)
	C2FMA(5, Z23, Z5, Z13)
	C2FMA(6, Z24, Z6, Z14)
	C2FMA(7, Z25, Z7, Z15)
	ADDQ      $8, R13
	ADDQ      $4, R11
	ADDQ      $32, R14
	DECQ      CX
	JNZ       c2_depth

	// A later block: its sums plus the earlier blocks' total.
	CMPQ done-16(SP), $0
	JEQ  c2_first
	MOVQ scratch+48(FP), AX
	C1ACC(0, Z0)
	C1ACC(64, Z1)
	C1ACC(128, Z2)
	C1ACC(192, Z3)
	C1ACC(256, Z4)
	C1ACC(320, Z5)
	C1ACC(384, Z6)
	C1ACC(448, Z7)
	C1ACC(512, Z8)
	C1ACC(576, Z9)
	C1ACC(640, Z10)
	C1ACC(704, Z11)
	C1ACC(768, Z12)
	C1ACC(832, Z13)
	C1ACC(896, Z14)
	C1ACC(960, Z15)

c2_first:
	// More blocks: keep the total.
	CMPQ    rem-8(SP), $0
	JEQ     c2_out
	MOVQ    scratch+48(FP), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, 192(AX)
	VMOVUPS Z4, 256(AX)
	VMOVUPS Z5, 320(AX)
	VMOVUPS Z6, 384(AX)
	VMOVUPS Z7, 448(AX)
	VMOVUPS Z8, 512(AX)
	VMOVUPS Z9, 576(AX)
	VMOVUPS Z10, 640(AX)
	VMOVUPS Z11, 704(AX)
	VMOVUPS Z12, 768(AX)
	VMOVUPS Z13, 832(AX)
	VMOVUPS Z14, 896(AX)
	VMOVUPS Z15, 960(AX)
	MOVQ    $1, done-16(SP)
	JMP     c2_block

c2_out:
	// R11 is at the pair's store masks.
	KMOVW (R11), K1
	KMOVW 2(R11), K2
	ADDQ  $4, R11
	MOVQ  DI, AX
	C2OUT(0, Z0, Z8)
	C2OUT(1, Z1, Z9)
	C2OUT(2, Z2, Z10)
	C2OUT(3, Z3, Z11)
	C2OUT(4, Z4, Z12)
	C2OUT(5, Z5, Z13)
	C2OUT(6, Z6, Z14)
	C2OUT(7, Z7, Z15)
	MOVQ  step+104(FP), AX
	ADDQ  AX, R10
	ADDQ  AX, DI
	DECQ  BX
	JNZ   c2_pair

	// The next group: 8 planes, 8·depths weights and 8 biases further.
	MOVQ gbase-24(SP), DI
	MOVQ SI, AX
	SHLQ $3, AX
	ADDQ AX, DI
	MOVQ R14, R8
	ADDQ $32, R9
	DECQ DX
	JNZ  c2_group
	VZEROUPPER
	RET

// func dwSub2AVX512(dst, src *float32, c, h, oh, wBytes, owBytes, masks int)
//
// Registers: SI the channel's input plane, BX the input row, DI the
// output row, CX rows left, R9 channels left, DX wBytes, R12 owBytes;
// K5, K6 the row's load masks, K1 the store mask; Z30 the evens.
TEXT ·dwSub2AVX512(SB), NOSPLIT, $0-64
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    c+16(FP), R9
	MOVQ    wBytes+40(FP), DX
	MOVQ    owBytes+48(FP), R12
	MOVQ    masks+56(FP), AX
	KMOVW   AX, K5
	SHRQ    $16, AX
	KMOVW   AX, K6
	SHRQ    $16, AX
	KMOVW   AX, K1
	VMOVUPS flevens<>(SB), Z30

sb_channel:
	MOVQ SI, BX
	MOVQ oh+32(FP), CX

sb_row:
	VMOVUPS.Z (BX), K5, Z0
	VMOVUPS.Z 64(BX), K6, Z1
	VPERMT2PS Z1, Z30, Z0
	VMOVUPS   Z0, K1, (DI)
	ADDQ      R12, DI
	LEAQ      (BX)(DX*2), BX
	DECQ      CX
	JNZ       sb_row
	// The next plane, h rows further.
	MOVQ  h+24(FP), AX
	IMULQ DX, AX
	ADDQ  AX, SI
	DECQ R9
	JNZ  sb_channel
	VZEROUPPER
	RET

// func dwFlat4AVX512(dst, src *float32, off *int64, masks *uint16, w, bias *float32, c, chunks, kk, planeIn, planeOut, srcB, dstB int, lo, hi float32)
//
// Registers: SI (DI) the channel's input (output) plane of image 0, R8
// its weights, R9 its bias, R10 (R14) the chunk's input (output) in
// image 0, R11 the chunk's masks, R12 srcB, R15 dstB, R13 the taps'
// offsets, CX the tap, BX chunks left, DX channels left, AX the tap's
// input; Z0–Z3 the four images' sums, Z8–Z11 their loads, Z4 the
// weight, Z5 the bias, Z28 lo, Z29 hi.
TEXT ·dwFlat4AVX512(SB), NOSPLIT, $0-112
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         off+16(FP), R13
	MOVQ         w+32(FP), R8
	MOVQ         bias+40(FP), R9
	MOVQ         c+48(FP), DX
	MOVQ         srcB+88(FP), R12
	MOVQ         dstB+96(FP), R15
	VBROADCASTSS lo+104(FP), Z28
	VBROADCASTSS hi+108(FP), Z29
	ZEROSIGN512(Z28, Z27)

d4_channel:
	VBROADCASTSS (R9), Z5
	MOVQ         SI, R10
	MOVQ         DI, R14
	MOVQ         masks+24(FP), R11
	MOVQ         chunks+56(FP), BX

d4_chunk:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	XORQ   CX, CX

d4_tap:
	MOVQ         (R13)(CX*8), AX
	KMOVW        (R11), K1
	VBROADCASTSS (R8)(CX*4), Z4
	ADDQ         R10, AX
	VMOVUPS.Z    (AX), K1, Z8
	VMOVUPS.Z    (AX)(R12*1), K1, Z9
	VMOVUPS.Z    (AX)(R12*2), K1, Z10
	ADDQ         R12, AX
	VMOVUPS.Z    (AX)(R12*2), K1, Z11
	VFMADD231PS  Z4, Z8, Z0
	VFMADD231PS  Z4, Z9, Z1
	VFMADD231PS  Z4, Z10, Z2
	VFMADD231PS  Z4, Z11, Z3
	ADDQ         $2, R11
	INCQ         CX
	CMPQ         CX, kk+64(FP)
	JNE          d4_tap

	// + bias, max lo, min hi (biasClampRowsAVX512's operations and
	// operand order), masked stores; R11 is at the store mask.
	KMOVW   (R11), K1
	ADDQ    $2, R11
	VADDPS  Z0, Z5, Z0
	VADDPS  Z1, Z5, Z1
	VADDPS  Z2, Z5, Z2
	VADDPS  Z3, Z5, Z3
	VMAXPS  Z0, Z28, Z0
	VADDPS  Z27, Z0, Z0
	VMAXPS  Z1, Z28, Z1
	VADDPS  Z27, Z1, Z1
	VMAXPS  Z2, Z28, Z2
	VADDPS  Z27, Z2, Z2
	VMAXPS  Z3, Z28, Z3
	VADDPS  Z27, Z3, Z3
	VMINPS  Z0, Z29, Z0
	VMINPS  Z1, Z29, Z1
	VMINPS  Z2, Z29, Z2
	VMINPS  Z3, Z29, Z3
	MOVQ    R14, AX
	VMOVUPS Z0, K1, (AX)
	VMOVUPS Z1, K1, (AX)(R15*1)
	VMOVUPS Z2, K1, (AX)(R15*2)
	ADDQ    R15, AX
	VMOVUPS Z3, K1, (AX)(R15*2)
	ADDQ    $64, R10
	ADDQ    $64, R14
	DECQ    BX
	JNZ     d4_chunk

	// The next channel.
	ADDQ planeIn+72(FP), SI
	ADDQ planeOut+80(FP), DI
	MOVQ kk+64(FP), AX
	LEAQ (R8)(AX*4), R8
	ADDQ $4, R9
	DECQ DX
	JNZ  d4_channel
	VZEROUPPER
	RET

// func dwFlatC4AVX512(dst, src *float32, tab *int32, w, bias *float32, groups, pairs, kk, planeIn, planeOut int, lo, hi float32)
//
// The one-image kernel of four channels and two chunks at a time (eight
// sums): per group of four channels (planes planeIn bytes apart in src,
// planeOut in dst; w: kk records of the four channels' weights; bias:
// their four biases), per pair of chunks j, j+1 (tab: per pair kk
// records of a tap's byte offset and the two chunks' load masks, then
// the two store masks), per tap: two masks, four weights, eight masked
// loads (chunk j+1 64 bytes after chunk j) and fused multiply-adds; then
// + bias, max lo, min hi (dwFlat4's operations and operand order) and
// eight masked stores.
//
// Registers: SI, DI the group's first planes; R8 its weights, R9 its
// biases; R10, R14 the pair's first input and output chunk; R11 the
// table; R12 planeIn, R15 planeOut; R13 the tap's weights; BX pairs
// left, CX taps left, DX groups left.
TEXT ·dwFlatC4AVX512(SB), NOSPLIT, $0-88
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         w+24(FP), R8
	MOVQ         bias+32(FP), R9
	MOVQ         groups+40(FP), DX
	MOVQ         planeIn+64(FP), R12
	MOVQ         planeOut+72(FP), R15
	VBROADCASTSS lo+80(FP), Z28
	VBROADCASTSS hi+84(FP), Z29
	ZEROSIGN512(Z28, Z31)

c4_group:
	VBROADCASTSS 0(R9), Z24
	VBROADCASTSS 4(R9), Z25
	VBROADCASTSS 8(R9), Z26
	VBROADCASTSS 12(R9), Z27
	MOVQ         SI, R10
	MOVQ         DI, R14
	MOVQ         tab+16(FP), R11
	MOVQ         pairs+48(FP), BX

c4_pair:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ   R8, R13
	MOVQ   kk+56(FP), CX

c4_tap:
	MOVLQSX      (R11), AX
	KMOVW        4(R11), K1
	KMOVW        6(R11), K2
	ADDQ         R10, AX
	VBROADCASTSS 0(R13), Z16
	VBROADCASTSS 4(R13), Z17
	VBROADCASTSS 8(R13), Z18
	VBROADCASTSS 12(R13), Z19
	VMOVUPS.Z    (AX), K1, Z8
	VMOVUPS.Z    64(AX), K2, Z9
	VMOVUPS.Z    (AX)(R12*1), K1, Z10
	VMOVUPS.Z    64(AX)(R12*1), K2, Z11
	VMOVUPS.Z    (AX)(R12*2), K1, Z12
	VMOVUPS.Z    64(AX)(R12*2), K2, Z13
	ADDQ         R12, AX
	VMOVUPS.Z    (AX)(R12*2), K1, Z14
	VMOVUPS.Z    64(AX)(R12*2), K2, Z15
	VFMADD231PS  Z16, Z8, Z0
	VFMADD231PS  Z16, Z9, Z1
	VFMADD231PS  Z17, Z10, Z2
	VFMADD231PS  Z17, Z11, Z3
	VFMADD231PS  Z18, Z12, Z4
	VFMADD231PS  Z18, Z13, Z5
	VFMADD231PS  Z19, Z14, Z6
	VFMADD231PS  Z19, Z15, Z7
	ADDQ         $8, R11
	ADDQ         $16, R13
	DECQ         CX
	JNZ          c4_tap

	// R11 is at the pair's store masks.
	KMOVW   (R11), K1
	KMOVW   2(R11), K2
	ADDQ    $8, R11
	VADDPS  Z0, Z24, Z0
	VADDPS  Z1, Z24, Z1
	VADDPS  Z2, Z25, Z2
	VADDPS  Z3, Z25, Z3
	VADDPS  Z4, Z26, Z4
	VADDPS  Z5, Z26, Z5
	VADDPS  Z6, Z27, Z6
	VADDPS  Z7, Z27, Z7
	VMAXPS  Z0, Z28, Z0
	VADDPS  Z31, Z0, Z0
	VMAXPS  Z1, Z28, Z1
	VADDPS  Z31, Z1, Z1
	VMAXPS  Z2, Z28, Z2
	VADDPS  Z31, Z2, Z2
	VMAXPS  Z3, Z28, Z3
	VADDPS  Z31, Z3, Z3
	VMAXPS  Z4, Z28, Z4
	VADDPS  Z31, Z4, Z4
	VMAXPS  Z5, Z28, Z5
	VADDPS  Z31, Z5, Z5
	VMAXPS  Z6, Z28, Z6
	VADDPS  Z31, Z6, Z6
	VMAXPS  Z7, Z28, Z7
	VADDPS  Z31, Z7, Z7
	VMINPS  Z0, Z29, Z0
	VMINPS  Z1, Z29, Z1
	VMINPS  Z2, Z29, Z2
	VMINPS  Z3, Z29, Z3
	VMINPS  Z4, Z29, Z4
	VMINPS  Z5, Z29, Z5
	VMINPS  Z6, Z29, Z6
	VMINPS  Z7, Z29, Z7
	MOVQ    R14, AX
	VMOVUPS Z0, K1, (AX)
	VMOVUPS Z1, K2, 64(AX)
	VMOVUPS Z2, K1, (AX)(R15*1)
	VMOVUPS Z3, K2, 64(AX)(R15*1)
	VMOVUPS Z4, K1, (AX)(R15*2)
	VMOVUPS Z5, K2, 64(AX)(R15*2)
	ADDQ    R15, AX
	VMOVUPS Z6, K1, (AX)(R15*2)
	VMOVUPS Z7, K2, 64(AX)(R15*2)
	ADDQ    $128, R10
	ADDQ    $128, R14
	DECQ    BX
	JNZ     c4_pair

	// The next four channels.
	LEAQ (SI)(R12*4), SI
	LEAQ (DI)(R15*4), DI
	MOVQ kk+56(FP), AX
	SHLQ $4, AX
	ADDQ AX, R8
	ADDQ $16, R9
	DECQ DX
	JNZ  c4_group
	VZEROUPPER
	RET
