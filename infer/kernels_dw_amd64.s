//go:build amd64 && !purego

#include "textflag.h"

// func dwRowAVX512(acc *int32, src *uint8, c, w, k, stride, ow int, wt, bias *int32)
//
// One output row of a depthwise convolution on a padded channels-last
// image (dwTapsGo is its twin): for each of ow pixels (src advancing by
// stride·c bytes) and each block of 16 channels (the last one masked),
// acc = bias + Σ_taps zero-extend(u)·w in 32-bit lanes, the taps k×k
// pixels of a row pitch of w·c bytes, the weights tap-major (c int32 a
// tap). Masked loads touch no byte past a channel run.
//
// A 3×3 kernel (mobilenet-tiny's) runs k3 instead: blocks of 16 channels
// outside, pixels inside, with the block's nine tap weights and its bias
// held in Z16…Z25, so that a tap is one load, one multiply and one add
// (the generic loop reloads the weights and walks pointers per tap).
TEXT ·dwRowAVX512(SB), NOSPLIT, $0-72
	MOVQ acc+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R14
	MOVQ w+24(FP), R8
	MOVQ stride+40(FP), R10
	MOVQ ow+48(FP), R11
	MOVQ wt+56(FP), R12
	MOVQ bias+64(FP), R13
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	TESTQ R11, R11
	JEQ done
	CMPQ k+32(FP), $3
	JEQ k3

pixel:
	XORQ BX, BX // channel block start

block:
	MOVQ R14, CX
	SUBQ BX, CX
	MOVL $0xffff, DX
	CMPQ CX, $16
	JAE mask
	MOVL $1, DX
	SHLL CX, DX
	DECL DX

mask:
	KMOVW DX, K1
	VMOVDQU32.Z (R13)(BX*4), K1, Z0
	LEAQ (R12)(BX*4), R15 // this block's weights of tap 0
	LEAQ (SI)(BX*1), DX   // this block's bytes of tap row 0
	MOVQ k+32(FP), CX

tapRow:
	MOVQ DX, R9
	MOVQ k+32(FP), AX

tap:
	VPMOVZXBD.Z (R9), K1, Z1
	VMOVDQU32.Z (R15), K1, Z2
	VPMULLD Z2, Z1, Z1
	VPADDD Z1, Z0, Z0
	ADDQ R14, R9
	LEAQ (R15)(R14*4), R15
	DECQ AX
	JNZ tap
	ADDQ R8, DX
	DECQ CX
	JNZ tapRow

	VMOVDQU32 Z0, K1, (DI)(BX*4)
	ADDQ $16, BX
	CMPQ BX, R14
	JB block

	ADDQ R10, SI
	LEAQ (DI)(R14*4), DI
	DECQ R11
	JNZ pixel

done:
	VZEROUPPER
	RET

	// k3: BX is the block's first channel, K1 its mask; per pixel, R9,
	// DX, AX point at the block's bytes of the three tap rows (kx at
	// +0, +c, +2c: R14 = c) and CX at its accumulators; R15 counts the
	// pixels left.
k3:
	XORQ BX, BX

block3:
	MOVQ R14, CX
	SUBQ BX, CX
	MOVL $0xffff, DX
	CMPQ CX, $16
	JAE mask3
	MOVL $1, DX
	SHLL CX, DX
	DECL DX

mask3:
	KMOVW DX, K1
	VMOVDQU32.Z (R13)(BX*4), K1, Z25
	LEAQ (R12)(BX*4), R15
	VMOVDQU32.Z (R15), K1, Z16
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z17
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z18
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z19
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z20
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z21
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z22
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z23
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z24
	LEAQ (SI)(BX*1), R9
	LEAQ (DI)(BX*4), CX
	MOVQ R11, R15

pixel3:
	LEAQ (R9)(R8*1), DX
	LEAQ (DX)(R8*1), AX
	VMOVDQA32 Z25, Z0
	VPMOVZXBD.Z (R9), K1, Z1
	VPMULLD Z16, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (R9)(R14*1), K1, Z2
	VPMULLD Z17, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (R9)(R14*2), K1, Z3
	VPMULLD Z18, Z3, Z3
	VPADDD Z3, Z0, Z0
	VPMOVZXBD.Z (DX), K1, Z1
	VPMULLD Z19, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (DX)(R14*1), K1, Z2
	VPMULLD Z20, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (DX)(R14*2), K1, Z3
	VPMULLD Z21, Z3, Z3
	VPADDD Z3, Z0, Z0
	VPMOVZXBD.Z (AX), K1, Z1
	VPMULLD Z22, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (AX)(R14*1), K1, Z2
	VPMULLD Z23, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (AX)(R14*2), K1, Z3
	VPMULLD Z24, Z3, Z3
	VPADDD Z3, Z0, Z0
	VMOVDQU32 Z0, K1, (CX)
	ADDQ R10, R9
	LEAQ (CX)(R14*4), CX
	DECQ R15
	JNZ pixel3

	ADDQ $16, BX
	CMPQ BX, R14
	JB block3
	JMP done

// func dwRowAVX2(acc *int32, src *uint8, c, c8, w, k, stride, ow int, wt, bias *int32)
//
// dwRowAVX512 for the channels [0, c8) (c8 a multiple of 8, ≤ c) in blocks
// of 8 (32-bit lanes of a YMM register); the caller computes the rest.
TEXT ·dwRowAVX2(SB), NOSPLIT, $0-80
	MOVQ acc+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R14
	MOVQ w+32(FP), R8
	MOVQ stride+48(FP), R10
	MOVQ ow+56(FP), R11
	MOVQ wt+64(FP), R12
	MOVQ bias+72(FP), R13
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	TESTQ R11, R11
	JEQ done2
	CMPQ c8+24(FP), $0
	JEQ done2

pixel2:
	XORQ BX, BX

block2:
	VMOVDQU (R13)(BX*4), Y0
	LEAQ (R12)(BX*4), R15
	LEAQ (SI)(BX*1), DX
	MOVQ k+40(FP), CX

tapRow2:
	MOVQ DX, R9
	MOVQ k+40(FP), AX

	PCALIGN $32

tap2:
	VPMOVZXBD (R9), Y1
	VPMULLD (R15), Y1, Y1
	VPADDD Y1, Y0, Y0
	ADDQ R14, R9
	LEAQ (R15)(R14*4), R15
	DECQ AX
	JNZ tap2
	ADDQ R8, DX
	DECQ CX
	JNZ tapRow2

	VMOVDQU Y0, (DI)(BX*4)
	ADDQ $8, BX
	CMPQ BX, c8+24(FP)
	JB block2

	ADDQ R10, SI
	LEAQ (DI)(R14*4), DI
	DECQ R11
	JNZ pixel2

done2:
	VZEROUPPER
	RET

// DW3WEIGHTS loads the nine tap weights of the block of 8 channels at
// BX into Y7…Y15 from the tap-major int32 weights at R12 (R14 channels a
// tap, R15 the bytes of one kernel row of taps); AX is scratch.
#define DW3WEIGHTS \
	LEAQ (R12)(BX*4), AX; \
	VMOVDQU (AX), Y7; \
	VMOVDQU (AX)(R14*4), Y8; \
	VMOVDQU (AX)(R14*8), Y9; \
	ADDQ R15, AX; \
	VMOVDQU (AX), Y10; \
	VMOVDQU (AX)(R14*4), Y11; \
	VMOVDQU (AX)(R14*8), Y12; \
	ADDQ R15, AX; \
	VMOVDQU (AX), Y13; \
	VMOVDQU (AX)(R14*4), Y14; \
	VMOVDQU (AX)(R14*8), Y15

// DW3SUM sums one pixel's nine taps of a 3×3 depthwise block of 8
// channels into Y0: the bias (Y6) plus the zero-extended bytes at AX (the
// pixel's top-left tap; R8 the row pitch, R14 the pixel pitch) times the
// tap weights Y7…Y15, the three kernel rows in separate registers first.
// R9 and Y1…Y5 are scratch.
#define DW3SUM \
	LEAQ (AX)(R8*1), R9; \
	VPMOVZXBD (AX), Y0; \
	VPMULLD Y7, Y0, Y0; \
	VPMOVZXBD (AX)(R14*1), Y1; \
	VPMULLD Y8, Y1, Y1; \
	VPMOVZXBD (AX)(R14*2), Y2; \
	VPMULLD Y9, Y2, Y2; \
	VPMOVZXBD (R9), Y3; \
	VPMULLD Y10, Y3, Y3; \
	VPMOVZXBD (R9)(R14*1), Y4; \
	VPMULLD Y11, Y4, Y4; \
	VPMOVZXBD (R9)(R14*2), Y5; \
	VPMULLD Y12, Y5, Y5; \
	VPADDD Y0, Y1, Y0; \
	VPADDD Y2, Y3, Y2; \
	VPADDD Y4, Y5, Y4; \
	ADDQ R8, R9; \
	VPMOVZXBD (R9), Y1; \
	VPMULLD Y13, Y1, Y1; \
	VPMOVZXBD (R9)(R14*1), Y3; \
	VPMULLD Y14, Y3, Y3; \
	VPMOVZXBD (R9)(R14*2), Y5; \
	VPMULLD Y15, Y5, Y5; \
	VPADDD Y6, Y0, Y0; \
	VPADDD Y1, Y2, Y2; \
	VPADDD Y3, Y4, Y4; \
	VPADDD Y5, Y0, Y0; \
	VPADDD Y2, Y4, Y4; \
	VPADDD Y4, Y0, Y0

// func dwRow3AVX2(acc *int32, src *uint8, c, c8, w, stride, ow int, wt, bias *int32)
//
// dwRowAVX2 for a 3×3 kernel (mobilenet-tiny's), as dwRowAVX512's k3:
// blocks of 8 channels outside, pixels inside, with the block's nine tap
// weights in Y7…Y15 and its bias in Y6, so that a tap is one load (zero-
// extended), one multiply and one add; the three kernel rows are summed
// in separate registers first (integer sums: any order gives the same
// value). Channels [0, c8) only (c8 a multiple of 8); the caller computes
// the rest.
TEXT ·dwRow3AVX2(SB), NOSPLIT, $0-72
	MOVQ acc+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R14
	MOVQ w+32(FP), R8
	MOVQ stride+40(FP), R10
	MOVQ ow+48(FP), R11
	MOVQ wt+56(FP), R12
	MOVQ bias+64(FP), R13
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	LEAQ (R14)(R14*2), BX
	SHLQ $2, BX    // one kernel row of weights in bytes (3·c int32)
	MOVQ BX, R15
	TESTQ R11, R11
	JEQ done3a
	CMPQ c8+24(FP), $0
	JEQ done3a
	XORQ BX, BX

block3a:
	DW3WEIGHTS
	VMOVDQU (R13)(BX*4), Y6
	LEAQ (SI)(BX*1), AX
	LEAQ (DI)(BX*4), DX
	MOVQ R11, CX

	PCALIGN $32

pixel3a:
	DW3SUM
	VMOVDQU Y0, (DX)
	ADDQ R10, AX
	LEAQ (DX)(R14*4), DX
	DECQ CX
	JNZ pixel3a

	ADDQ $8, BX
	CMPQ BX, c8+24(FP)
	JB block3a

done3a:
	VZEROUPPER
	RET

// func dwRow3QAVX2(dst *uint8, src *uint8, c, w, stride, ow int, wt, bias *int32, rq *int64)
//
// dwRow3AVX2 with the requantization fused in its clamped form
// (requant32.go's requantClamp: the caller checks that rq has it): each
// pixel's eight accumulators of a block are clamped to [l, h], multiplied
// by the multiplier's two parts (a·mh + (a·ml) >> 12, exact in 32 bits
// for the clamped range), offset by c and shifted by k, as
// avx2Requant32Store's rqc form does, then narrowed to 8 bytes (the
// values are in [lo, hi] ⊂ [0, 255]) and stored at dst, c bytes a pixel.
// c must be a multiple of 8 (the blocks are half panels of rq: channels
// 16q + 8h… at byte 32·h of panel q's vectors). dwConvU8 followed by
// requantU8 is its twin.
TEXT ·dwRow3QAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R14
	MOVQ w+24(FP), R8
	MOVQ stride+32(FP), R10
	MOVQ ow+40(FP), R11
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	LEAQ (R14)(R14*2), R15
	SHLQ $2, R15   // one kernel row of weights in bytes (3·c int32)
	TESTQ R11, R11
	JEQ doneq3a
	TESTQ R14, R14
	JEQ doneq3a
	XORQ BX, BX

blockq3a:
	MOVQ wt+48(FP), R12
	DW3WEIGHTS
	MOVQ bias+56(FP), R13
	VMOVDQU (R13)(BX*4), Y6
	// R12: the block's constants, panel BX/16 (rqLanes int64 each),
	// half (BX/8)&1 (32 bytes into each vector).
	MOVQ BX, R12
	SHRQ $4, R12
	IMULQ $1792, R12
	MOVQ BX, R13
	ANDQ $8, R13
	LEAQ (R12)(R13*4), R12
	ADDQ rq+64(FP), R12
	LEAQ (SI)(BX*1), AX
	LEAQ (DI)(BX*1), DX
	MOVQ R11, CX

	PCALIGN $32

pixelq3a:
	DW3SUM
	VPMAXSD 1408(R12), Y0, Y0
	VPMINSD 1472(R12), Y0, Y0
	VPMULLD 1536(R12), Y0, Y1
	VPMULLD 1600(R12), Y0, Y0
	VPSRAD $12, Y1, Y1
	VPADDD Y1, Y0, Y0
	VPADDD 1664(R12), Y0, Y0
	VPSRAVD 1728(R12), Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW X1, X0, X0
	VPACKUSWB X0, X0, X0
	VMOVQ X0, (DX)
	ADDQ R10, AX
	ADDQ R14, DX
	DECQ CX
	JNZ pixelq3a

	ADDQ $8, BX
	CMPQ BX, R14
	JB blockq3a

doneq3a:
	VZEROUPPER
	RET

// func dwRow3QAVX512(dst *uint8, src *uint8, c, w, stride, ow int, wt, bias *int32, rq *int64)
//
// dwRowAVX512's 3×3 path (k3) with the requantization fused: each pixel's
// accumulators of a block of 16 channels are requantized in registers
// as gemm_gen.go's requantStore does (the block is a panel of rq, a
// requantPanels of the layer, whose constants stay in Z4…Z15 while the
// pixels go by) and its bytes stored under the block's mask at dst, c
// bytes a pixel. dwTapsGo followed by requantU8 is its twin.
TEXT ·dwRow3QAVX512(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R14
	MOVQ w+24(FP), R8
	MOVQ stride+32(FP), R10
	MOVQ ow+40(FP), R11
	MOVQ wt+48(FP), R12
	MOVQ bias+56(FP), R13
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	TESTQ R11, R11
	JEQ doneq
	MOVL $0xaaaa, AX
	KMOVW AX, K7
	XORQ BX, BX

blockq:
	MOVQ R14, CX
	SUBQ BX, CX
	MOVL $0xffff, DX
	CMPQ CX, $16
	JAE maskq
	MOVL $1, DX
	SHLL CX, DX
	DECL DX

maskq:
	KMOVW DX, K1
	// The block's requantization constants: panel BX/16 of rq.
	MOVQ BX, AX
	SHRQ $4, AX
	IMULQ $1792, AX
	ADDQ rq+64(FP), AX
	// The 32-bit form where the layer allows it (requant32.go): its
	// constants (vectors 13–21, Z in vector 10) in Z4…Z13.
	CMPQ 776(AX), $0
	JNE block32
	VMOVDQU64 0(AX), Z4
	VMOVDQU64 64(AX), Z5
	VMOVDQU64 128(AX), Z6
	VMOVDQU64 192(AX), Z7
	VMOVDQU64 256(AX), Z8
	VMOVDQU64 320(AX), Z9
	VMOVDQU64 384(AX), Z10
	VMOVDQU64 448(AX), Z11
	VMOVDQU64 512(AX), Z12
	VMOVDQU64 576(AX), Z13
	VMOVDQU64 640(AX), Z14
	VMOVDQU64 704(AX), Z15
	VMOVDQU32.Z (R13)(BX*4), K1, Z25
	LEAQ (R12)(BX*4), R15
	VMOVDQU32.Z (R15), K1, Z16
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z17
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z18
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z19
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z20
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z21
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z22
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z23
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z24
	LEAQ (SI)(BX*1), R9
	LEAQ (DI)(BX*1), CX
	MOVQ R11, R15

pixelq:
	LEAQ (R9)(R8*1), DX
	LEAQ (DX)(R8*1), AX
	VMOVDQA32 Z25, Z0
	VPMOVZXBD.Z (R9), K1, Z1
	VPMULLD Z16, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (R9)(R14*1), K1, Z2
	VPMULLD Z17, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (R9)(R14*2), K1, Z3
	VPMULLD Z18, Z3, Z3
	VPADDD Z3, Z0, Z0
	VPMOVZXBD.Z (DX), K1, Z1
	VPMULLD Z19, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (DX)(R14*1), K1, Z2
	VPMULLD Z20, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (DX)(R14*2), K1, Z3
	VPMULLD Z21, Z3, Z3
	VPADDD Z3, Z0, Z0
	VPMOVZXBD.Z (AX), K1, Z1
	VPMULLD Z22, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (AX)(R14*1), K1, Z2
	VPMULLD Z23, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (AX)(R14*2), K1, Z3
	VPMULLD Z24, Z3, Z3
	VPADDD Z3, Z0, Z0
	// Requantize Z0 (requantStore's sequence) and store its bytes.
	VPSRLQ $32, Z0, Z26
	VPMULDQ Z4, Z0, Z0
	VPMULDQ Z5, Z26, Z26
	VPTESTMQ Z10, Z0, K3
	VPTESTMQ Z11, Z26, K4
	VPADDQ Z15, Z0, K3, Z0
	VPADDQ Z15, Z26, K4, Z26
	VPADDQ Z8, Z0, Z0
	VPADDQ Z9, Z26, Z26
	VPSRAVQ Z6, Z0, Z0
	VPSRAVQ Z7, Z26, Z26
	VPMAXSQ Z12, Z0, Z0
	VPMAXSQ Z12, Z26, Z26
	VPMINSQ Z13, Z0, Z0
	VPMINSQ Z13, Z26, Z26
	VPSLLQ $32, Z26, Z26
	VPBLENDMD Z26, Z0, K7, Z0
	VPADDD Z14, Z0, Z0
	VPMOVDB Z0, K1, (CX)
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JNZ pixelq
	JMP nextq

block32:
	VMOVDQU64 832(AX), Z4
	VMOVDQU64 896(AX), Z5
	VMOVDQU64 960(AX), Z6
	VMOVDQU64 1024(AX), Z7
	VMOVDQU64 1088(AX), Z8
	VMOVDQU64 1152(AX), Z9
	VMOVDQU64 640(AX), Z10
	VMOVDQU64 1216(AX), Z11
	VMOVDQU64 1280(AX), Z12
	VMOVDQU64 1344(AX), Z13
	VMOVDQU32.Z (R13)(BX*4), K1, Z25
	LEAQ (R12)(BX*4), R15
	VMOVDQU32.Z (R15), K1, Z16
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z17
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z18
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z19
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z20
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z21
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z22
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z23
	LEAQ (R15)(R14*4), R15
	VMOVDQU32.Z (R15), K1, Z24
	LEAQ (SI)(BX*1), R9
	LEAQ (DI)(BX*1), CX
	MOVQ R11, R15

pixelq32:
	LEAQ (R9)(R8*1), DX
	LEAQ (DX)(R8*1), AX
	VMOVDQA32 Z25, Z0
	VPMOVZXBD.Z (R9), K1, Z1
	VPMULLD Z16, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (R9)(R14*1), K1, Z2
	VPMULLD Z17, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (R9)(R14*2), K1, Z3
	VPMULLD Z18, Z3, Z3
	VPADDD Z3, Z0, Z0
	VPMOVZXBD.Z (DX), K1, Z1
	VPMULLD Z19, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (DX)(R14*1), K1, Z2
	VPMULLD Z20, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (DX)(R14*2), K1, Z3
	VPMULLD Z21, Z3, Z3
	VPADDD Z3, Z0, Z0
	VPMOVZXBD.Z (AX), K1, Z1
	VPMULLD Z22, Z1, Z1
	VPADDD Z1, Z0, Z0
	VPMOVZXBD.Z (AX)(R14*1), K1, Z2
	VPMULLD Z23, Z2, Z2
	VPADDD Z2, Z0, Z0
	VPMOVZXBD.Z (AX)(R14*2), K1, Z3
	VPMULLD Z24, Z3, Z3
	VPADDD Z3, Z0, Z0
	// Requantize Z0 in the 32-bit form (gemm_gen.go's requant32Store).
	VPMULLD Z4, Z0, Z26
	VPMULLD Z5, Z0, Z0
	VPANDD Z9, Z26, Z27
	VPSRAD $12, Z26, Z26
	VPADDD Z26, Z0, Z0
	VPTESTMD Z27, Z27, K3
	VPTESTMD Z8, Z0, K4
	KORW K3, K4, K3
	VPADDD Z7, Z0, Z0
	VPADDD Z13, Z0, K3, Z0
	VPSRAVD Z6, Z0, Z0
	VPADDD Z10, Z0, Z0
	VPMAXSD Z11, Z0, Z0
	VPMINSD Z12, Z0, Z0
	VPMOVDB Z0, K1, (CX)
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JNZ pixelq32

nextq:

	ADDQ $16, BX
	CMPQ BX, R14
	JB blockq

doneq:
	VZEROUPPER
	RET

// The VNNI depthwise kernel (dwRow3VNNI). A 3×3 tap row of a block of 16
// channels becomes one VPDPBUSD: the channels' bytes of three (or four)
// neighbouring pixels, loaded as 128-bit lanes, are transposed by VPERMB
// (the index in Z22) so that each channel's dword holds its pixels x,
// x+1, x+2, x+3, and multiplied by the packed weights (w0, w1, w2, 0)
// (form A, the output at x) or (0, w0, w1, w2) (form B, the output at
// x+1, stride 1 only). DX = 3c.

// DW_GROUP3 transposes pixels 0–2 at base into Z2 (lane 3 zero: its
// weights are 0 in form A).
#define DW_GROUP3(base) \
	VMOVDQU (base), X2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VPERMB Z2, Z22, Z2

// DW_GROUP4 transposes pixels 0–3 at base into Z2.
#define DW_GROUP4(base) \
	VMOVDQU (base), X2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VINSERTI32X4 $3, (base)(DX*1), Z2, Z2 \
	VPERMB Z2, Z22, Z2

// DW_REQ64 requantizes Z0 in the 64-bit form (requantStore's sequence,
// constants in Z4…Z15) and stores its 16 bytes at dst.
#define DW_REQ64(dst) \
	VPSRLQ $32, Z0, Z26 \
	VPMULDQ Z4, Z0, Z0 \
	VPMULDQ Z5, Z26, Z26 \
	VPTESTMQ Z10, Z0, K3 \
	VPTESTMQ Z11, Z26, K4 \
	VPADDQ Z15, Z0, K3, Z0 \
	VPADDQ Z15, Z26, K4, Z26 \
	VPADDQ Z8, Z0, Z0 \
	VPADDQ Z9, Z26, Z26 \
	VPSRAVQ Z6, Z0, Z0 \
	VPSRAVQ Z7, Z26, Z26 \
	VPMAXSQ Z12, Z0, Z0 \
	VPMAXSQ Z12, Z26, Z26 \
	VPMINSQ Z13, Z0, Z0 \
	VPMINSQ Z13, Z26, Z26 \
	VPSLLQ $32, Z26, Z26 \
	VPBLENDMD Z26, Z0, K7, Z0 \
	VPADDD Z14, Z0, Z0 \
	VPMOVDB Z0, dst

// DW_REQ32 is DW_REQ64 in the 32-bit form (requant32Store's sequence,
// constants in Z4…Z13).
#define DW_REQ32(dst) \
	VPMULLD Z4, Z0, Z26 \
	VPMULLD Z5, Z0, Z0 \
	VPANDD Z9, Z26, Z27 \
	VPSRAD $12, Z26, Z26 \
	VPADDD Z26, Z0, Z0 \
	VPTESTMD Z27, Z27, K3 \
	VPTESTMD Z8, Z0, K4 \
	KORW K3, K4, K3 \
	VPADDD Z7, Z0, Z0 \
	VPADDD Z13, Z0, K3, Z0 \
	VPSRAVD Z6, Z0, Z0 \
	VPADDD Z10, Z0, Z0 \
	VPMAXSD Z11, Z0, Z0 \
	VPMINSD Z12, Z0, Z0 \
	VPMOVDB Z0, dst

// DW_REQC is DW_REQ64 in the clamped form (requantClampStore's
// sequence: the clamp to [L, H], T = acc·Mh + (acc·Ml >> 12), (T + C)
// >> k; constants L, H, Ml, Mh, C, k in Z4…Z9).
#define DW_REQC(dst) \
	VPMAXSD Z4, Z0, Z0 \
	VPMINSD Z5, Z0, Z0 \
	VPMULLD Z6, Z0, Z26 \
	VPMULLD Z7, Z0, Z0 \
	VPSRAD $12, Z26, Z26 \
	VPADDD Z26, Z0, Z0 \
	VPADDD Z8, Z0, Z0 \
	VPSRAVD Z9, Z0, Z0 \
	VPMOVDB Z0, dst

// DW_PAIR accumulates the outputs at R9 (form A, Z0) and one pixel on
// (form B, Z1), stride 1.
#define DW_PAIR \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	MOVQ R9, AX \
	DW_GROUP4(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	ADDQ R8, AX \
	DW_GROUP4(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	ADDQ R8, AX \
	DW_GROUP4(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1

// DW_ONE accumulates the output at R9 (form A) in Z0.
#define DW_ONE \
	VMOVDQA32 Z25, Z0 \
	MOVQ R9, AX \
	DW_GROUP3(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	ADDQ R8, AX \
	DW_GROUP3(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	ADDQ R8, AX \
	DW_GROUP3(AX) \
	VPDPBUSD Z20, Z2, Z0

// func dwRow3VNNI(dst *uint8, src *uint8, c, w, stride, ow int, wv *int8, bias *int32, rq *int64)
//
// dwRow3QAVX512 with VPDPBUSD (AVX-512 VNNI and VBMI): c a multiple of
// 16, wv the packing of dwVNNIWeights (the VPERMB index, then per block
// of 16 channels and kernel row the forms A and B). On stride 1 the
// outputs go in pairs, which read a fourth pixel (inside the row: w ≥ ow
// + 2); a last odd one, and every one of stride 2, reads three. dwTapsGo
// followed by requantU8 is its twin.
TEXT ·dwRow3VNNI(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R14
	MOVQ w+24(FP), R8
	MOVQ stride+32(FP), R10
	MOVQ ow+40(FP), R11
	MOVQ wv+48(FP), R12
	MOVQ bias+56(FP), R13
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	TESTQ R11, R11
	JEQ donev
	MOVL $0xaaaa, AX
	KMOVW AX, K7
	VMOVDQU64 (R12), Z22
	ADDQ $64, R12
	XORQ BX, BX

blockv:
	// The block's weights: 384 bytes from R12 + (BX/16)·384.
	MOVQ BX, DX
	SHRQ $4, DX
	IMULQ $384, DX
	ADDQ R12, DX
	VMOVDQU64 0(DX), Z16
	VMOVDQU64 64(DX), Z17
	VMOVDQU64 128(DX), Z18
	VMOVDQU64 192(DX), Z19
	VMOVDQU64 256(DX), Z20
	VMOVDQU64 320(DX), Z21
	VMOVDQU32 (R13)(BX*4), Z25
	// The block's requantization constants: panel BX/16 of rq.
	MOVQ BX, AX
	SHRQ $4, AX
	IMULQ $1792, AX
	ADDQ rq+64(FP), AX
	LEAQ (SI)(BX*1), R9
	LEAQ (DI)(BX*1), CX
	MOVQ R11, R15
	CMPQ 784(AX), $0
	JNE blockvc
	CMPQ 776(AX), $0
	JNE blockv32
	VMOVDQU64 0(AX), Z4
	VMOVDQU64 64(AX), Z5
	VMOVDQU64 128(AX), Z6
	VMOVDQU64 192(AX), Z7
	VMOVDQU64 256(AX), Z8
	VMOVDQU64 320(AX), Z9
	VMOVDQU64 384(AX), Z10
	VMOVDQU64 448(AX), Z11
	VMOVDQU64 512(AX), Z12
	VMOVDQU64 576(AX), Z13
	VMOVDQU64 640(AX), Z14
	VMOVDQU64 704(AX), Z15
	LEAQ (R14)(R14*2), DX
	CMPQ R10, R14
	JNE onev64

pairv64:
	CMPQ R15, $2
	JB onev64
	DW_PAIR
	DW_REQ64((CX))
	VMOVDQA32 Z1, Z0
	DW_REQ64((CX)(R14*1))
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairv64

onev64:
	TESTQ R15, R15
	JEQ nextv
	DW_ONE
	DW_REQ64((CX))
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP onev64

blockv32:
	VMOVDQU64 832(AX), Z4
	VMOVDQU64 896(AX), Z5
	VMOVDQU64 960(AX), Z6
	VMOVDQU64 1024(AX), Z7
	VMOVDQU64 1088(AX), Z8
	VMOVDQU64 1152(AX), Z9
	VMOVDQU64 640(AX), Z10
	VMOVDQU64 1216(AX), Z11
	VMOVDQU64 1280(AX), Z12
	VMOVDQU64 1344(AX), Z13
	LEAQ (R14)(R14*2), DX
	CMPQ R10, R14
	JNE onev32

pairv32:
	CMPQ R15, $2
	JB onev32
	DW_PAIR
	DW_REQ32((CX))
	VMOVDQA32 Z1, Z0
	DW_REQ32((CX)(R14*1))
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairv32

onev32:
	TESTQ R15, R15
	JEQ nextv
	DW_ONE
	DW_REQ32((CX))
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP onev32

	// The clamped form (requant32.go: enableRequantClamp), vectors
	// 22–27 in Z4…Z9.
blockvc:
	VMOVDQU64 1408(AX), Z4
	VMOVDQU64 1472(AX), Z5
	VMOVDQU64 1536(AX), Z6
	VMOVDQU64 1600(AX), Z7
	VMOVDQU64 1664(AX), Z8
	VMOVDQU64 1728(AX), Z9
	LEAQ (R14)(R14*2), DX
	CMPQ R10, R14
	JNE onevc

pairvc:
	CMPQ R15, $2
	JB onevc
	DW_PAIR
	DW_REQC((CX))
	VMOVDQA32 Z1, Z0
	DW_REQC((CX)(R14*1))
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairvc

onevc:
	TESTQ R15, R15
	JEQ nextv
	DW_ONE
	DW_REQC((CX))
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP onevc

nextv:
	ADDQ $16, BX
	CMPQ BX, R14
	JB blockv

donev:
	VZEROUPPER
	RET

// The whole-image VNNI depthwise kernel (dwImg3VNNI): dwRow3VNNI's
// groups and forms, its clamped requantization (DW_REQC), on the
// unpadded image. The rows of kernel row 0, 1, 2 start at R11, R12, R13
// (the padding row where the input row is outside the image), R9 is the
// byte offset of the output's first tap pixel in them (−c at a padded
// left edge) and Z23 holds the padding byte in every byte: a group's
// lane of a pixel left or right of the row takes Z23's instead of a load.

// DWI_G4(base) is DW_GROUP4; DWI_G4L leaves lane 0 (pixel −1) the
// padding, DWI_G4R lane 3 (pixel w).
#define DWI_G4(base) \
	VMOVDQU (base), X2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VINSERTI32X4 $3, (base)(DX*1), Z2, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI_G4L(base) \
	VMOVDQA64 Z23, Z2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VINSERTI32X4 $3, (base)(DX*1), Z2, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI_G4R(base) \
	VMOVDQU (base), X2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VINSERTI32X4 $3, X23, Z2, Z2 \
	VPERMB Z2, Z22, Z2

// DWI_G3(base) is DW_GROUP3; DWI_G3L and DWI_G3R pad lane 0 and lane 2.
#define DWI_G3(base) \
	VMOVDQU (base), X2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI_G3L(base) \
	VMOVDQA64 Z23, Z2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, (base)(R14*2), Z2, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI_G3R(base) \
	VMOVDQU (base), X2 \
	VINSERTI32X4 $1, (base)(R14*1), Z2, Z2 \
	VINSERTI32X4 $2, X23, Z2, Z2 \
	VPERMB Z2, Z22, Z2

// DWI_PAIR accumulates the outputs at R9 (Z0) and one pixel on (Z1),
// stride 1, and stores their bytes at CX and CX + c; DWI_PAIRL and
// DWI_PAIRR at the left and right edges.
#define DWI_PAIR \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	LEAQ (R11)(R9*1), AX \
	DWI_G4(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	LEAQ (R12)(R9*1), AX \
	DWI_G4(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	LEAQ (R13)(R9*1), AX \
	DWI_G4(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1 \
	DW_REQC((CX)) \
	VMOVDQA32 Z1, Z0 \
	DW_REQC((CX)(R14*1))

#define DWI_PAIRL \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	LEAQ (R11)(R9*1), AX \
	DWI_G4L(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	LEAQ (R12)(R9*1), AX \
	DWI_G4L(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	LEAQ (R13)(R9*1), AX \
	DWI_G4L(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1 \
	DW_REQC((CX)) \
	VMOVDQA32 Z1, Z0 \
	DW_REQC((CX)(R14*1))

#define DWI_PAIRR \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	LEAQ (R11)(R9*1), AX \
	DWI_G4R(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	LEAQ (R12)(R9*1), AX \
	DWI_G4R(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	LEAQ (R13)(R9*1), AX \
	DWI_G4R(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1 \
	DW_REQC((CX)) \
	VMOVDQA32 Z1, Z0 \
	DW_REQC((CX)(R14*1))

// DWI_ONE accumulates the output at R9 (form A) and stores its bytes
// at CX; DWI_ONEL and DWI_ONER at the edges.
#define DWI_ONE \
	VMOVDQA32 Z25, Z0 \
	LEAQ (R11)(R9*1), AX \
	DWI_G3(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	LEAQ (R12)(R9*1), AX \
	DWI_G3(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	LEAQ (R13)(R9*1), AX \
	DWI_G3(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	DW_REQC((CX))

#define DWI_ONEL \
	VMOVDQA32 Z25, Z0 \
	LEAQ (R11)(R9*1), AX \
	DWI_G3L(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	LEAQ (R12)(R9*1), AX \
	DWI_G3L(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	LEAQ (R13)(R9*1), AX \
	DWI_G3L(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	DW_REQC((CX))

#define DWI_ONER \
	VMOVDQA32 Z25, Z0 \
	LEAQ (R11)(R9*1), AX \
	DWI_G3R(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	LEAQ (R12)(R9*1), AX \
	DWI_G3R(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	LEAQ (R13)(R9*1), AX \
	DWI_G3R(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	DW_REQC((CX))

// With c = 16 a group's four pixels are 64 contiguous bytes: one load
// (DWI16_G4), or a masked one (K1: lanes 1–3, K2: 0–2, K3: 1–2, K4: 0–1;
// a masked-off lane is not read) over the padding byte or, for three
// pixels, whatever Z2 held (lane 3's weights are 0).
#define DWI16_G4(base) \
	VMOVDQU64 (base), Z2 \
	VPERMB Z2, Z22, Z2

#define DWI16_G4L(base) \
	VMOVDQA64 Z23, Z2 \
	VMOVDQU8 (base), K1, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI16_G4R(base) \
	VMOVDQA64 Z23, Z2 \
	VMOVDQU8 (base), K2, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI16_G3(base) \
	VMOVDQU8 (base), K2, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI16_G3L(base) \
	VMOVDQA64 Z23, Z2 \
	VMOVDQU8 (base), K3, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI16_G3R(base) \
	VMOVDQA64 Z23, Z2 \
	VMOVDQU8 (base), K4, Z2 \
	VPERMB Z2, Z22, Z2

#define DWI16_PAIR \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	LEAQ (R11)(R9*1), AX \
	DWI16_G4(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	LEAQ (R12)(R9*1), AX \
	DWI16_G4(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	LEAQ (R13)(R9*1), AX \
	DWI16_G4(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1 \
	DW_REQC((CX)) \
	VMOVDQA32 Z1, Z0 \
	DW_REQC((CX)(R14*1))

#define DWI16_PAIRL \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	LEAQ (R11)(R9*1), AX \
	DWI16_G4L(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	LEAQ (R12)(R9*1), AX \
	DWI16_G4L(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	LEAQ (R13)(R9*1), AX \
	DWI16_G4L(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1 \
	DW_REQC((CX)) \
	VMOVDQA32 Z1, Z0 \
	DW_REQC((CX)(R14*1))

#define DWI16_PAIRR \
	VMOVDQA32 Z25, Z0 \
	VMOVDQA32 Z25, Z1 \
	LEAQ (R11)(R9*1), AX \
	DWI16_G4R(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	VPDPBUSD Z17, Z2, Z1 \
	LEAQ (R12)(R9*1), AX \
	DWI16_G4R(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	VPDPBUSD Z19, Z2, Z1 \
	LEAQ (R13)(R9*1), AX \
	DWI16_G4R(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	VPDPBUSD Z21, Z2, Z1 \
	DW_REQC((CX)) \
	VMOVDQA32 Z1, Z0 \
	DW_REQC((CX)(R14*1))

#define DWI16_ONE \
	VMOVDQA32 Z25, Z0 \
	LEAQ (R11)(R9*1), AX \
	DWI16_G3(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	LEAQ (R12)(R9*1), AX \
	DWI16_G3(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	LEAQ (R13)(R9*1), AX \
	DWI16_G3(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	DW_REQC((CX))

#define DWI16_ONEL \
	VMOVDQA32 Z25, Z0 \
	LEAQ (R11)(R9*1), AX \
	DWI16_G3L(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	LEAQ (R12)(R9*1), AX \
	DWI16_G3L(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	LEAQ (R13)(R9*1), AX \
	DWI16_G3L(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	DW_REQC((CX))

#define DWI16_ONER \
	VMOVDQA32 Z25, Z0 \
	LEAQ (R11)(R9*1), AX \
	DWI16_G3R(AX) \
	VPDPBUSD Z16, Z2, Z0 \
	LEAQ (R12)(R9*1), AX \
	DWI16_G3R(AX) \
	VPDPBUSD Z18, Z2, Z0 \
	LEAQ (R13)(R9*1), AX \
	DWI16_G3R(AX) \
	VPDPBUSD Z20, Z2, Z0 \
	DW_REQC((CX))

// DWI_ROW(r, iy, prow, h) points r at input row iy (of the block BX),
// or at the padding row prow if iy is outside [0, h). Uses R9.
#define DWI_ROW(r, iy, prow, h) \
	MOVQ iy, R9 \
	IMULQ R8, R9 \
	ADDQ SI, R9 \
	MOVQ prow, r \
	CMPQ iy, h \
	CMOVQCS R9, r \
	ADDQ BX, r

// func dwImg3VNNI(dst, src, padRow *uint8, c, w, h, stride, pad, oh, ow, tail int, wv *int8, bias *int32, rq *int64, padU int)
//
// A whole image of dwRow3VNNI (clamped form only: the caller checked
// its flag) on the unpadded h×w×c image src: output row oy reads input
// rows oy·stride − pad + ky, padRow (w·c bytes of padU) for those
// outside the image, and a pixel left or right of a row (pad 1) is
// padU. Per row: with pad 1 a left-edge pair (stride 1) or single
// (stride 2) first; then pairs (stride 1) and singles; then tail
// outputs at the right edge (0, 1: a single, 2: a pair; dwImgTail). The
// caller (dwConvU8Q) checked the geometry. dwConvU8 followed by
// requantU8 is its twin.
TEXT ·dwImg3VNNI(SB), NOSPLIT, $8-120
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+24(FP), R14
	MOVQ w+32(FP), R8
	MOVQ stride+48(FP), R10
	IMULQ R14, R8  // row pitch in bytes
	IMULQ R14, R10 // pixel step in bytes
	CMPQ ow+72(FP), $0
	JEQ donei
	CMPQ oh+64(FP), $0
	JEQ donei
	MOVQ padU+112(FP), AX
	VPBROADCASTB AX, Z23
	MOVQ wv+88(FP), AX
	VMOVDQU64 (AX), Z22
	XORQ BX, BX
	CMPQ R14, $16
	JEQ c16i

blocki:
	// The block's weights: 384 bytes from wv + 64 + (BX/16)·384.
	MOVQ BX, DX
	SHRQ $4, DX
	IMULQ $384, DX
	ADDQ wv+88(FP), DX
	VMOVDQU64 64(DX), Z16
	VMOVDQU64 128(DX), Z17
	VMOVDQU64 192(DX), Z18
	VMOVDQU64 256(DX), Z19
	VMOVDQU64 320(DX), Z20
	VMOVDQU64 384(DX), Z21
	MOVQ bias+96(FP), AX
	VMOVDQU32 (AX)(BX*4), Z25
	// The clamped form's constants: vectors 22–27 of panel BX/16 of rq.
	MOVQ BX, AX
	SHRQ $4, AX
	IMULQ $1792, AX
	ADDQ rq+104(FP), AX
	VMOVDQU64 1408(AX), Z4
	VMOVDQU64 1472(AX), Z5
	VMOVDQU64 1536(AX), Z6
	VMOVDQU64 1600(AX), Z7
	VMOVDQU64 1664(AX), Z8
	VMOVDQU64 1728(AX), Z9
	LEAQ (R14)(R14*2), DX
	LEAQ (DI)(BX*1), CX
	MOVQ $0, oy-8(SP)

rowi:
	MOVQ oy-8(SP), AX
	IMULQ stride+48(FP), AX
	SUBQ pad+56(FP), AX
	DWI_ROW(R11, AX, padRow+16(FP), h+40(FP))
	INCQ AX
	DWI_ROW(R12, AX, padRow+16(FP), h+40(FP))
	INCQ AX
	DWI_ROW(R13, AX, padRow+16(FP), h+40(FP))
	MOVQ pad+56(FP), R9
	IMULQ R14, R9
	NEGQ R9
	MOVQ ow+72(FP), R15
	SUBQ tail+80(FP), R15
	CMPQ pad+56(FP), $0
	JEQ midi
	CMPQ R10, R14
	JNE leftonei
	DWI_PAIRL
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP midi

leftonei:
	DWI_ONEL
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15

midi:
	CMPQ R10, R14
	JNE onei

pairi:
	CMPQ R15, $2
	JB onei
	DWI_PAIR
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairi

onei:
	TESTQ R15, R15
	JEQ taili
	DWI_ONE
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP onei

taili:
	MOVQ tail+80(FP), AX
	CMPQ AX, $1
	JB nextrowi
	JEQ tailonei
	DWI_PAIRR
	LEAQ (CX)(R14*2), CX
	JMP nextrowi

tailonei:
	DWI_ONER
	ADDQ R14, CX

nextrowi:
	MOVQ oy-8(SP), AX
	INCQ AX
	MOVQ AX, oy-8(SP)
	CMPQ AX, oh+64(FP)
	JB rowi
	ADDQ $16, BX
	CMPQ BX, R14
	JB blocki
	JMP donei

	// c = 16: one block, the groups' pixels one load (DWI16_G4).
c16i:
	MOVQ $0xffffffffffff0000, AX
	KMOVQ AX, K1
	MOVQ $0x0000ffffffffffff, AX
	KMOVQ AX, K2
	MOVQ $0x0000ffffffff0000, AX
	KMOVQ AX, K3
	MOVQ $0x00000000ffffffff, AX
	KMOVQ AX, K4
blocki16:
	// The block's weights: 384 bytes from wv + 64 + (BX/16)·384.
	MOVQ BX, DX
	SHRQ $4, DX
	IMULQ $384, DX
	ADDQ wv+88(FP), DX
	VMOVDQU64 64(DX), Z16
	VMOVDQU64 128(DX), Z17
	VMOVDQU64 192(DX), Z18
	VMOVDQU64 256(DX), Z19
	VMOVDQU64 320(DX), Z20
	VMOVDQU64 384(DX), Z21
	MOVQ bias+96(FP), AX
	VMOVDQU32 (AX)(BX*4), Z25
	// The clamped form's constants: vectors 22–27 of panel BX/16 of rq.
	MOVQ BX, AX
	SHRQ $4, AX
	IMULQ $1792, AX
	ADDQ rq+104(FP), AX
	VMOVDQU64 1408(AX), Z4
	VMOVDQU64 1472(AX), Z5
	VMOVDQU64 1536(AX), Z6
	VMOVDQU64 1600(AX), Z7
	VMOVDQU64 1664(AX), Z8
	VMOVDQU64 1728(AX), Z9
	LEAQ (R14)(R14*2), DX
	LEAQ (DI)(BX*1), CX
	MOVQ $0, oy-8(SP)

rowi16:
	MOVQ oy-8(SP), AX
	IMULQ stride+48(FP), AX
	SUBQ pad+56(FP), AX
	DWI_ROW(R11, AX, padRow+16(FP), h+40(FP))
	INCQ AX
	DWI_ROW(R12, AX, padRow+16(FP), h+40(FP))
	INCQ AX
	DWI_ROW(R13, AX, padRow+16(FP), h+40(FP))
	MOVQ pad+56(FP), R9
	IMULQ R14, R9
	NEGQ R9
	MOVQ ow+72(FP), R15
	SUBQ tail+80(FP), R15
	CMPQ pad+56(FP), $0
	JEQ midi16
	CMPQ R10, R14
	JNE leftonei16
	DWI16_PAIRL
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP midi16

leftonei16:
	DWI16_ONEL
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15

midi16:
	CMPQ R10, R14
	JNE onei16

pairi16:
	CMPQ R15, $2
	JB onei16
	DWI16_PAIR
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pairi16

onei16:
	TESTQ R15, R15
	JEQ taili16
	DWI16_ONE
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP onei16

taili16:
	MOVQ tail+80(FP), AX
	CMPQ AX, $1
	JB nextrowi16
	JEQ tailonei16
	DWI16_PAIRR
	LEAQ (CX)(R14*2), CX
	JMP nextrowi16

tailonei16:
	DWI16_ONER
	ADDQ R14, CX

nextrowi16:
	MOVQ oy-8(SP), AX
	INCQ AX
	MOVQ AX, oy-8(SP)
	CMPQ AX, oh+64(FP)
	JB rowi16
	JMP donei

donei:
	VZEROUPPER
	RET

// The 64-channel whole-image kernel (dwImg3VNNI64). A group is four
// neighbouring pixels' 64 bytes of a block of 64 channels (P0…P3 in
// Z8…Z11), turned by byte and word unpacks into four vectors of dwords
// (Z16…Z19): V_j's dword i of lane l is channel 16l + 4j + i's bytes of
// the four pixels. The block's packing (dw64Pack, R8) holds the forms A
// and B, the bias and the clamped form's constants in that channel
// order, so the accumulators (form A: Z0…Z3, form B: Z4…Z7) are
// requantized with memory operands and the saturating packs (the
// unpacks' inverse) give the 64 output bytes in channel order: one store.
// A pixel left or right of a row is Z23 (the padding byte) instead of a
// load.

// DW64_T transposes Z8…Z11 into Z16…Z19.
#define DW64_T \
	VPUNPCKLBW Z9, Z8, Z12 \
	VPUNPCKHBW Z9, Z8, Z13 \
	VPUNPCKLBW Z11, Z10, Z14 \
	VPUNPCKHBW Z11, Z10, Z15 \
	VPUNPCKLWD Z14, Z12, Z16 \
	VPUNPCKHWD Z14, Z12, Z17 \
	VPUNPCKLWD Z15, Z13, Z18 \
	VPUNPCKHWD Z15, Z13, Z19

// DW64_A(o) accumulates form A (weights at o(R8), 4 vectors) into Z0…Z3,
// DW64_B(o) form B into Z4…Z7.
#define DW64_A(o0, o1, o2, o3) \
	VPDPBUSD o0(R8), Z16, Z0 \
	VPDPBUSD o1(R8), Z17, Z1 \
	VPDPBUSD o2(R8), Z18, Z2 \
	VPDPBUSD o3(R8), Z19, Z3

#define DW64_B(o0, o1, o2, o3) \
	VPDPBUSD o0(R8), Z16, Z4 \
	VPDPBUSD o1(R8), Z17, Z5 \
	VPDPBUSD o2(R8), Z18, Z6 \
	VPDPBUSD o3(R8), Z19, Z7

// DW64_INIT(a, b, c, d) sets four accumulators to the bias.
#define DW64_INIT(a, b, c, d) \
	VMOVDQU32 1536(R8), a \
	VMOVDQU32 1600(R8), b \
	VMOVDQU32 1664(R8), c \
	VMOVDQU32 1728(R8), d

// DW64_RQ(r, j) is DW_REQC's arithmetic on r with vector j's constants
// (L, H, Ml, Mh, C, k at 1792 + (6q + j)·64, q the constant); Z12 is
// scratch.
#define DW64_RQ(r, oL, oH, oMl, oMh, oC, oK) \
	VPMAXSD oL(R8), r, r \
	VPMINSD oH(R8), r, r \
	VPMULLD oMl(R8), r, Z12 \
	VPMULLD oMh(R8), r, r \
	VPSRAD $12, Z12, Z12 \
	VPADDD Z12, r, r \
	VPADDD oC(R8), r, r \
	VPSRAVD oK(R8), r, r

// DW64_RQ2(r, s, oL, …) is DW64_RQ on r and s (the same vector j of two
// outputs), each constant loaded once (Z20–Z22, Z24, Z27, Z28); Z12 and
// Z13 are scratch.
#define DW64_RQ2(r, s, oL, oH, oMl, oMh, oC, oK) \
	VMOVDQU32 oL(R8), Z20 \
	VMOVDQU32 oH(R8), Z21 \
	VMOVDQU32 oMl(R8), Z22 \
	VMOVDQU32 oMh(R8), Z24 \
	VMOVDQU32 oC(R8), Z27 \
	VMOVDQU32 oK(R8), Z28 \
	VPMAXSD Z20, r, r \
	VPMAXSD Z20, s, s \
	VPMINSD Z21, r, r \
	VPMINSD Z21, s, s \
	VPMULLD Z22, r, Z12 \
	VPMULLD Z22, s, Z13 \
	VPMULLD Z24, r, r \
	VPMULLD Z24, s, s \
	VPSRAD $12, Z12, Z12 \
	VPSRAD $12, Z13, Z13 \
	VPADDD Z12, r, r \
	VPADDD Z13, s, s \
	VPADDD Z27, r, r \
	VPADDD Z27, s, s \
	VPSRAVD Z28, r, r \
	VPSRAVD Z28, s, s

// DW64_PACK(a, b, c, d, dst) stores the 64 bytes of the requantized
// vectors a…d (0…3) at dst.
#define DW64_PACK(a, b, c, d, dst) \
	VPACKSSDW b, a, a \
	VPACKSSDW d, c, c \
	VPACKUSWB c, a, a \
	VMOVDQU64 a, dst

// DW64_STORE2 requantizes both outputs of a pair (Z0…Z3 and Z4…Z7) and
// stores them at CX and CX + c.
#define DW64_STORE2 \
	DW64_RQ2(Z0, Z4, 1792, 2048, 2304, 2560, 2816, 3072) \
	DW64_RQ2(Z1, Z5, 1856, 2112, 2368, 2624, 2880, 3136) \
	DW64_RQ2(Z2, Z6, 1920, 2176, 2432, 2688, 2944, 3200) \
	DW64_RQ2(Z3, Z7, 1984, 2240, 2496, 2752, 3008, 3264) \
	DW64_PACK(Z0, Z1, Z2, Z3, (CX)) \
	DW64_PACK(Z4, Z5, Z6, Z7, (CX)(R14*1))

// DW64_STORE(a, b, c, d, dst) requantizes a…d (vectors 0…3) and stores
// their 64 bytes at dst.
#define DW64_STORE(a, b, c, d, dst) \
	DW64_RQ(a, 1792, 2048, 2304, 2560, 2816, 3072) \
	DW64_RQ(b, 1856, 2112, 2368, 2624, 2880, 3136) \
	DW64_RQ(c, 1920, 2176, 2432, 2688, 2944, 3200) \
	DW64_RQ(d, 1984, 2240, 2496, 2752, 3008, 3264) \
	VPACKSSDW b, a, a \
	VPACKSSDW d, c, c \
	VPACKUSWB c, a, a \
	VMOVDQU64 a, dst

// DW64_P4(base) loads P0…P3 from base; DW64_P4L pads P0, DW64_P4R P3;
// DW64_P3 loads P0…P2 (form A only), DW64_P3L pads P0, DW64_P3R P2.
#define DW64_P4(base) \
	VMOVDQU64 (base), Z8 \
	VMOVDQU64 (base)(R14*1), Z9 \
	VMOVDQU64 (base)(R14*2), Z10 \
	VMOVDQU64 (base)(DX*1), Z11

#define DW64_P4L(base) \
	VMOVDQA64 Z23, Z8 \
	VMOVDQU64 (base)(R14*1), Z9 \
	VMOVDQU64 (base)(R14*2), Z10 \
	VMOVDQU64 (base)(DX*1), Z11

#define DW64_P4R(base) \
	VMOVDQU64 (base), Z8 \
	VMOVDQU64 (base)(R14*1), Z9 \
	VMOVDQU64 (base)(R14*2), Z10 \
	VMOVDQA64 Z23, Z11

#define DW64_P3(base) \
	VMOVDQU64 (base), Z8 \
	VMOVDQU64 (base)(R14*1), Z9 \
	VMOVDQU64 (base)(R14*2), Z10 \
	VMOVDQA64 Z23, Z11

#define DW64_P3L(base) \
	VMOVDQA64 Z23, Z8 \
	VMOVDQU64 (base)(R14*1), Z9 \
	VMOVDQU64 (base)(R14*2), Z10 \
	VMOVDQA64 Z23, Z11

#define DW64_P3R(base) \
	VMOVDQU64 (base), Z8 \
	VMOVDQU64 (base)(R14*1), Z9 \
	VMOVDQA64 Z23, Z10 \
	VMOVDQA64 Z23, Z11

// DW64_PAIRK(P) accumulates both forms of the three kernel rows with the
// group loads P, then stores the outputs at CX and CX + c.
#define DW64_PAIRK(P) \
	DW64_INIT(Z0, Z1, Z2, Z3) \
	VMOVDQA32 Z0, Z4 \
	VMOVDQA32 Z1, Z5 \
	VMOVDQA32 Z2, Z6 \
	VMOVDQA32 Z3, Z7 \
	LEAQ (R11)(R9*1), AX \
	P(AX) \
	DW64_T \
	DW64_A(0, 64, 128, 192) \
	DW64_B(256, 320, 384, 448) \
	LEAQ (R12)(R9*1), AX \
	P(AX) \
	DW64_T \
	DW64_A(512, 576, 640, 704) \
	DW64_B(768, 832, 896, 960) \
	LEAQ (R13)(R9*1), AX \
	P(AX) \
	DW64_T \
	DW64_A(1024, 1088, 1152, 1216) \
	DW64_B(1280, 1344, 1408, 1472) \
	DW64_STORE2

// DW64_ONEK(P) is DW64_PAIRK with form A only: the output at CX.
#define DW64_ONEK(P) \
	DW64_INIT(Z0, Z1, Z2, Z3) \
	LEAQ (R11)(R9*1), AX \
	P(AX) \
	DW64_T \
	DW64_A(0, 64, 128, 192) \
	LEAQ (R12)(R9*1), AX \
	P(AX) \
	DW64_T \
	DW64_A(512, 576, 640, 704) \
	LEAQ (R13)(R9*1), AX \
	P(AX) \
	DW64_T \
	DW64_A(1024, 1088, 1152, 1216) \
	DW64_STORE(Z0, Z1, Z2, Z3, (CX))

// DWI_ROWM(r, iy, prow, h, pitch) is DWI_ROW with the pitch in memory.
#define DWI_ROWM(r, iy, prow, h, pitch) \
	MOVQ iy, R9 \
	IMULQ pitch, R9 \
	ADDQ SI, R9 \
	MOVQ prow, r \
	CMPQ iy, h \
	CMOVQCS R9, r \
	ADDQ BX, r

// func dwImg3VNNI64(dst, src, padRow *uint8, c, w, h, stride, pad, oh, ow, tail int, pk *int8, padU int)
//
// dwImg3VNNI for c a multiple of 64, in blocks of 64 channels with
// dw64Pack's packing pk (dw64Block bytes a block): the same row
// schedule, groups transposed by unpacks instead of VPERMB and outputs
// packed instead of VPMOVDB. dwConvU8 followed by requantU8 is its twin.
TEXT ·dwImg3VNNI64(SB), NOSPLIT, $16-104
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+24(FP), R14
	MOVQ w+32(FP), AX
	MOVQ stride+48(FP), R10
	IMULQ R14, AX
	MOVQ AX, pitch-16(SP) // row pitch in bytes
	IMULQ R14, R10        // pixel step in bytes
	CMPQ ow+72(FP), $0
	JEQ done64
	CMPQ oh+64(FP), $0
	JEQ done64
	MOVQ padU+96(FP), AX
	VPBROADCASTB AX, Z23
	LEAQ (R14)(R14*2), DX
	XORQ BX, BX

block64:
	// The block's packing: pk + (BX/64)·3328.
	MOVQ BX, R8
	SHRQ $6, R8
	IMULQ $3328, R8
	ADDQ pk+88(FP), R8
	LEAQ (DI)(BX*1), CX
	MOVQ $0, oy-8(SP)

row64:
	MOVQ oy-8(SP), AX
	IMULQ stride+48(FP), AX
	SUBQ pad+56(FP), AX
	DWI_ROWM(R11, AX, padRow+16(FP), h+40(FP), pitch-16(SP))
	INCQ AX
	DWI_ROWM(R12, AX, padRow+16(FP), h+40(FP), pitch-16(SP))
	INCQ AX
	DWI_ROWM(R13, AX, padRow+16(FP), h+40(FP), pitch-16(SP))
	MOVQ pad+56(FP), R9
	IMULQ R14, R9
	NEGQ R9
	MOVQ ow+72(FP), R15
	SUBQ tail+80(FP), R15
	CMPQ pad+56(FP), $0
	JEQ mid64
	CMPQ R10, R14
	JNE leftone64
	DW64_PAIRK(DW64_P4L)
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP mid64

leftone64:
	DW64_ONEK(DW64_P3L)
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15

mid64:
	CMPQ R10, R14
	JNE one64

pair64:
	CMPQ R15, $2
	JB one64
	DW64_PAIRK(DW64_P4)
	LEAQ (R9)(R10*2), R9
	LEAQ (CX)(R14*2), CX
	SUBQ $2, R15
	JMP pair64

one64:
	TESTQ R15, R15
	JEQ tail64
	DW64_ONEK(DW64_P3)
	ADDQ R10, R9
	ADDQ R14, CX
	DECQ R15
	JMP one64

tail64:
	MOVQ tail+80(FP), AX
	CMPQ AX, $1
	JB nextrow64
	JEQ tailone64
	DW64_PAIRK(DW64_P4R)
	LEAQ (CX)(R14*2), CX
	JMP nextrow64

tailone64:
	DW64_ONEK(DW64_P3R)
	ADDQ R14, CX

nextrow64:
	MOVQ oy-8(SP), AX
	INCQ AX
	MOVQ AX, oy-8(SP)
	CMPQ AX, oh+64(FP)
	JB row64
	ADDQ $64, BX
	CMPQ BX, R14
	JB block64

done64:
	VZEROUPPER
	RET
