//go:build amd64 && !purego

#include "textflag.h"

// 2×2 max-pooling with stride 2 on channels-last bytes, AVX-512BW, for
// c ≤ 64 channels: each output position is the byte-wise maximum
// (VPMAXUB) of four c-byte vectors, loaded and stored under the mask of
// the c channels. The vector twin of maxPoolHWC (gemm.go).

// func maxPool2U8AVX512(dst, src *uint8, c, w, oh, ow int)
TEXT ·maxPool2U8AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R8
	MOVQ w+24(FP), R9
	IMULQ R8, R9 // bytes per input row
	MOVQ oh+32(FP), DX
	MOVQ ow+40(FP), BX
	TESTQ DX, DX
	JLE  pooldone
	TESTQ BX, BX
	JLE  pooldone
	MOVQ $-1, AX
	CMPQ R8, $64
	JGE  poolmask
	MOVQ R8, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
poolmask:
	KMOVQ AX, K1
	LEAQ (R8)(R8*1), R10 // input bytes per output position

poolrow:
	MOVQ SI, R11
	LEAQ (SI)(R9*1), R12
	MOVQ BX, R13

poolcol:
	VMOVDQU8.Z (R11), K1, Z0
	VMOVDQU8.Z (R11)(R8*1), K1, Z1
	VMOVDQU8.Z (R12), K1, Z2
	VMOVDQU8.Z (R12)(R8*1), K1, Z3
	VPMAXUB Z1, Z0, Z0
	VPMAXUB Z3, Z2, Z2
	VPMAXUB Z2, Z0, Z0
	VMOVDQU8 Z0, K1, (DI)
	ADDQ R10, R11
	ADDQ R10, R12
	ADDQ R8, DI
	DECQ R13
	JNZ  poolcol

	LEAQ (SI)(R9*2), SI
	DECQ DX
	JNZ  poolrow

pooldone:
	VZEROUPPER
	RET

// func gapSumsAVX512(sums *uint32, src *uint8, c, hw int)
//
// sums[ch] = Σ_p src[p·c + ch] for every channel of hw ≥ 1 channels-last
// pixels of c channels, 32 channels at a time (the last block under the
// byte mask K1, whose loads do not fault past it): a chunk of at most 256
// pixels is summed in 16-bit lanes (256·255 < 2^16), then widened into
// 32-bit sums. sums holds c rounded up to 32 values; every one is
// written. gapU8's scalar sums are its twin.
TEXT ·gapSumsAVX512(SB), NOSPLIT, $0-32
	MOVQ sums+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R8
	MOVQ hw+24(FP), R9
	XORQ BX, BX

gapblock:
	MOVQ R8, CX
	SUBQ BX, CX
	MOVL $0xffffffff, DX
	CMPQ CX, $32
	JAE gapmask
	MOVL $1, DX
	SHLL CX, DX
	DECL DX

gapmask:
	KMOVD DX, K1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	LEAQ (SI)(BX*1), R10
	MOVQ R9, R11

gapchunk:
	MOVQ R11, R12
	CMPQ R12, $256
	JBE gapfew
	MOVQ $256, R12

gapfew:
	SUBQ R12, R11
	VPXORD Z0, Z0, Z0

gappix:
	VPMOVZXBW.Z (R10), K1, Z1
	VPADDW Z1, Z0, Z0
	ADDQ R8, R10
	DECQ R12
	JNZ gappix
	VEXTRACTI64X4 $1, Z0, Y1
	VPMOVZXWD Y0, Z4
	VPMOVZXWD Y1, Z5
	VPADDD Z4, Z2, Z2
	VPADDD Z5, Z3, Z3
	TESTQ R11, R11
	JNZ gapchunk
	VMOVDQU32 Z2, (DI)(BX*4)
	VMOVDQU32 Z3, 64(DI)(BX*4)
	ADDQ $32, BX
	CMPQ BX, R8
	JB gapblock
	VZEROUPPER
	RET

// func gapSumsAVX2(sums *uint32, src *uint8, c, hw int)
//
// gapSumsAVX512 on AVX2 for c a multiple of 16: 16 channels at a time, a
// chunk of at most 256 pixels summed in 16-bit lanes (256·255 < 2^16),
// then widened into 32-bit sums; sums holds c values. gapU8's scalar sums
// are its twin.
TEXT ·gapSumsAVX2(SB), NOSPLIT, $0-32
	MOVQ sums+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R8
	MOVQ hw+24(FP), R9
	XORQ BX, BX

gap2block:
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	LEAQ (SI)(BX*1), R10
	MOVQ R9, R11

gap2chunk:
	MOVQ R11, R12
	CMPQ R12, $256
	JBE gap2few
	MOVQ $256, R12

gap2few:
	SUBQ R12, R11
	VPXOR Y0, Y0, Y0

gap2pix:
	VPMOVZXBW (R10), Y1
	VPADDW Y1, Y0, Y0
	ADDQ R8, R10
	DECQ R12
	JNZ gap2pix
	VEXTRACTI128 $1, Y0, X1
	VPMOVZXWD X0, Y4
	VPMOVZXWD X1, Y5
	VPADDD Y4, Y2, Y2
	VPADDD Y5, Y3, Y3
	TESTQ R11, R11
	JNZ gap2chunk
	VMOVDQU Y2, (DI)(BX*4)
	VMOVDQU Y3, 32(DI)(BX*4)
	ADDQ $16, BX
	CMPQ BX, R8
	JB gap2block
	VZEROUPPER
	RET

// func gapMeansAVX512(dst *uint8, sums *uint32, c int, k *gapVecK)
//
// gapDiv.mean on the c sums (16 a vector, the last under a mask; sums
// has room for c rounded up to 16): x = sum + hw·e; q = x·M >> s in
// 64-bit products of the even and the odd dwords (exact: gapVecK); r =
// x − q·hw; q + 1 where 2r + (q & 1) > hw; the byte q − e. k holds hw·e,
// M, hw, 1 and e in every dword (vectors 0–4) and s (quadword 5·8).
TEXT ·gapMeansAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ sums+8(FP), SI
	MOVQ c+16(FP), R9
	MOVQ k+24(FP), AX
	VMOVDQU32 0(AX), Z10  // hw·e
	VMOVDQU32 64(AX), Z11 // M
	VMOVDQU32 128(AX), Z12 // hw
	VMOVDQU32 192(AX), Z13 // 1
	VMOVDQU32 256(AX), Z14 // e
	VPBROADCASTQ 320(AX), Z15 // s
	XORQ BX, BX

meanblk:
	MOVQ R9, CX
	SUBQ BX, CX
	MOVL $0xffff, R8
	CMPQ CX, $16
	JAE meanmask
	MOVL $1, R8
	SHLL CX, R8
	DECL R8

meanmask:
	KMOVW R8, K1
	VMOVDQU32 (SI)(BX*4), Z0
	VPADDD Z10, Z0, Z0
	VPMULUDQ Z11, Z0, Z1
	VPSRLVQ Z15, Z1, Z1
	VPSRLQ $32, Z0, Z2
	VPMULUDQ Z11, Z2, Z2
	VPSRLVQ Z15, Z2, Z2
	VPSLLQ $32, Z2, Z2
	VPORD Z2, Z1, Z1 // q
	VPMULLD Z12, Z1, Z2
	VPSUBD Z2, Z0, Z0 // r
	VPADDD Z0, Z0, Z0
	VPANDD Z13, Z1, Z2
	VPADDD Z2, Z0, Z0 // 2r + (q & 1)
	VPCMPGTD Z12, Z0, K2
	VPADDD Z13, Z1, K2, Z1
	VPSUBD Z14, Z1, Z1
	VPMOVDB Z1, K1, (DI)(BX*1)
	ADDQ $16, BX
	CMPQ BX, R9
	JB meanblk
	VZEROUPPER
	RET

// func maxPool2U8AVX2(dst, src *uint8, c, w, oh, ow int)
//
// 2×2 max-pooling with stride 2 on channels-last bytes, AVX2, for any c
// ≥ 1: each output position's c bytes are the byte-wise maximum
// (VPMAXUB) of the window's four c-byte vectors at a (its top-left
// pixel), a + c, a + w·c and a + w·c + c, in chunks that never reach
// past a pixel's c bytes (no read or write out of bounds): 32 bytes at
// 0, 32, … and the last 32 at c − 32 for c ≥ 32 (overlapping the one
// before it: max is idempotent, and dst does not overlap src); two 16-,
// 8- or 4-byte chunks at 0 and c − 16, c − 8 or c − 4 for c in [16, 32),
// [8, 16) or [4, 8); bytes one by one (CMOVLHI) for c < 4. The vector
// twin of maxPool2Words (kernels_pool.go). VEX encoding throughout.
TEXT ·maxPool2U8AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ c+16(FP), R8
	MOVQ w+24(FP), R9
	IMULQ R8, R9 // bytes per input row
	MOVQ oh+32(FP), DX
	TESTQ DX, DX
	JLE  p2done
	CMPQ ow+40(FP), $0
	JLE  p2done
	LEAQ (R8)(R8*1), R10 // input bytes per output position
	LEAQ (R9)(R8*1), R12 // the window's bottom-right pixel from a

p2row:
	MOVQ SI, R11
	MOVQ ow+40(FP), R13

p2pixel:
	CMPQ R8, $16
	JLT  p2narrow
	CMPQ R8, $32
	JLT  p2x16
	// c ≥ 32: 32 bytes at BX = 0, 32, … while BX < c − 32, then at c − 32.
	XORQ BX, BX
	LEAQ -32(R8), CX

p2y:
	CMPQ BX, CX
	JGE  p2ylast
	LEAQ (R11)(BX*1), AX
	VMOVDQU (AX), Y0
	VMOVDQU (AX)(R8*1), Y1
	VPMAXUB (AX)(R9*1), Y0, Y0
	VPMAXUB (AX)(R12*1), Y1, Y1
	VPMAXUB Y1, Y0, Y0
	VMOVDQU Y0, (DI)(BX*1)
	ADDQ $32, BX
	JMP  p2y

p2ylast:
	LEAQ (R11)(CX*1), AX
	VMOVDQU (AX), Y0
	VMOVDQU (AX)(R8*1), Y1
	VPMAXUB (AX)(R9*1), Y0, Y0
	VPMAXUB (AX)(R12*1), Y1, Y1
	VPMAXUB Y1, Y0, Y0
	VMOVDQU Y0, (DI)(CX*1)
	JMP  p2next

p2x16:
	// 16 ≤ c < 32: 16 bytes at 0 and at c − 16.
	VMOVDQU (R11), X0
	VMOVDQU (R11)(R8*1), X1
	VPMAXUB (R11)(R9*1), X0, X0
	VPMAXUB (R11)(R12*1), X1, X1
	VPMAXUB X1, X0, X0
	LEAQ -16(R11)(R8*1), AX
	VMOVDQU (AX), X2
	VMOVDQU (AX)(R8*1), X3
	VPMAXUB (AX)(R9*1), X2, X2
	VPMAXUB (AX)(R12*1), X3, X3
	VPMAXUB X3, X2, X2
	VMOVDQU X0, (DI)
	VMOVDQU X2, -16(DI)(R8*1)
	JMP  p2next

p2narrow:
	CMPQ R8, $8
	JLT  p2x4
	// 8 ≤ c < 16: 8 bytes at 0 and at c − 8 (exact-size loads: a wider
	// one could read past the end of src).
	VMOVQ   (R11), X0
	VMOVQ   (R11)(R8*1), X1
	VMOVQ   (R11)(R9*1), X2
	VMOVQ   (R11)(R12*1), X3
	VPMAXUB X1, X0, X0
	VPMAXUB X3, X2, X2
	VPMAXUB X2, X0, X0
	LEAQ -8(R11)(R8*1), AX
	VMOVQ   (AX), X1
	VMOVQ   (AX)(R8*1), X2
	VMOVQ   (AX)(R9*1), X3
	VMOVQ   (AX)(R12*1), X4
	VPMAXUB X2, X1, X1
	VPMAXUB X4, X3, X3
	VPMAXUB X3, X1, X1
	VMOVQ   X0, (DI)
	VMOVQ   X1, -8(DI)(R8*1)
	JMP  p2next

p2x4:
	CMPQ R8, $4
	JLT  p2x1
	// 4 ≤ c < 8: 4 bytes at 0 and at c − 4.
	VMOVD   (R11), X0
	VMOVD   (R11)(R8*1), X1
	VMOVD   (R11)(R9*1), X2
	VMOVD   (R11)(R12*1), X3
	VPMAXUB X1, X0, X0
	VPMAXUB X3, X2, X2
	VPMAXUB X2, X0, X0
	LEAQ -4(R11)(R8*1), AX
	VMOVD   (AX), X1
	VMOVD   (AX)(R8*1), X2
	VMOVD   (AX)(R9*1), X3
	VMOVD   (AX)(R12*1), X4
	VPMAXUB X2, X1, X1
	VPMAXUB X4, X3, X3
	VPMAXUB X3, X1, X1
	VMOVD   X0, (DI)
	VMOVD   X1, -4(DI)(R8*1)
	JMP  p2next

p2x1:
	// c < 4: one byte at a time.
	XORQ BX, BX

p2byte:
	LEAQ (R11)(BX*1), AX
	MOVBLZX (AX), CX
	MOVBLZX (AX)(R8*1), R14
	CMPL R14, CX
	CMOVLHI R14, CX
	MOVBLZX (AX)(R9*1), R14
	CMPL R14, CX
	CMOVLHI R14, CX
	MOVBLZX (AX)(R12*1), R14
	CMPL R14, CX
	CMOVLHI R14, CX
	MOVB CX, (DI)(BX*1)
	INCQ BX
	CMPQ BX, R8
	JLT  p2byte

p2next:
	ADDQ R10, R11
	ADDQ R8, DI
	DECQ R13
	JNZ  p2pixel

	LEAQ (SI)(R9*2), SI
	DECQ DX
	JNZ  p2row

p2done:
	VZEROUPPER
	RET
