//go:build amd64 && !purego

#include "textflag.h"

// The byte input path on AVX-512 VBMI: per-channel 256-entry tables
// looked up 64 bytes at a time (two VPERMI2B on the table's halves,
// blended by each index's top bit) and, for 3 channels, the planes'
// bytes interleaved into channels-last order by VPERMB under the masks
// of the byte positions j ≡ r (mod 3). bytesToInput's loops are its
// reference twin (TestBytesToInputMatches).

DATA inputC3Idx<>+0(SB)/8, $0x0202010101000000
DATA inputC3Idx<>+8(SB)/8, $0x0504040403030302
DATA inputC3Idx<>+16(SB)/8, $0x0707070606060505
DATA inputC3Idx<>+24(SB)/8, $0x0a0a090909080808
DATA inputC3Idx<>+32(SB)/8, $0x0d0c0c0c0b0b0b0a
DATA inputC3Idx<>+40(SB)/8, $0x0f0f0f0e0e0e0d0d
DATA inputC3Idx<>+48(SB)/8, $0x1212111111101010
DATA inputC3Idx<>+56(SB)/8, $0x1514141413131312
DATA inputC3Idx<>+64(SB)/8, $0x1717171616161515
DATA inputC3Idx<>+72(SB)/8, $0x1a1a191919181818
DATA inputC3Idx<>+80(SB)/8, $0x1d1c1c1c1b1b1b1a
DATA inputC3Idx<>+88(SB)/8, $0x1f1f1f1e1e1e1d1d
DATA inputC3Idx<>+96(SB)/8, $0x2222212121202020
DATA inputC3Idx<>+104(SB)/8, $0x2524242423232322
DATA inputC3Idx<>+112(SB)/8, $0x2727272626262525
DATA inputC3Idx<>+120(SB)/8, $0x2a2a292929282828
DATA inputC3Idx<>+128(SB)/8, $0x2d2c2c2c2b2b2b2a
DATA inputC3Idx<>+136(SB)/8, $0x2f2f2f2e2e2e2d2d
DATA inputC3Idx<>+144(SB)/8, $0x3232313131303030
DATA inputC3Idx<>+152(SB)/8, $0x3534343433333332
DATA inputC3Idx<>+160(SB)/8, $0x3737373636363535
DATA inputC3Idx<>+168(SB)/8, $0x3a3a393939383838
DATA inputC3Idx<>+176(SB)/8, $0x3d3c3c3c3b3b3b3a
DATA inputC3Idx<>+184(SB)/8, $0x3f3f3f3e3e3e3d3d
GLOBL inputC3Idx<>(SB), RODATA|NOPTR, $192

// lookup64 sets Zout to the bytes of table T0…T3 (4 vectors of 64
// bytes) at the indices in Z0, with Z2 and K2 scratch.
#define LOOKUP64(T0, T1, T2, T3, Zout) \
	VMOVDQA64 Z0, Zout; \
	VPERMI2B T1, T0, Zout; \
	VMOVDQA64 Z0, Z2; \
	VPERMI2B T3, T2, Z2; \
	VPMOVB2M Z0, K2; \
	VMOVDQU8 Z2, K2, Zout

// func bytesLUTVBMI(dst *uint8, pix *uint8, hw int, lut *[256]uint8, nc int) int
TEXT ·bytesLUTVBMI(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ pix+8(FP), SI
	MOVQ hw+16(FP), CX
	ANDQ $-64, CX
	MOVQ lut+24(FP), AX
	MOVQ nc+32(FP), DX
	XORQ BX, BX
	VMOVDQU64 0(AX), Z20
	VMOVDQU64 64(AX), Z21
	VMOVDQU64 128(AX), Z22
	VMOVDQU64 192(AX), Z23
	CMPQ DX, $3
	JEQ  c3

c1:
	CMPQ BX, CX
	JGE  done
	VMOVDQU64 (SI)(BX*1), Z0
	LOOKUP64(Z20, Z21, Z22, Z23, Z1)
	VMOVDQU64 Z1, (DI)(BX*1)
	ADDQ $64, BX
	JMP  c1

c3:
	VMOVDQU64 256(AX), Z24
	VMOVDQU64 320(AX), Z25
	VMOVDQU64 384(AX), Z26
	VMOVDQU64 448(AX), Z27
	VMOVDQU64 512(AX), Z28
	VMOVDQU64 576(AX), Z29
	VMOVDQU64 640(AX), Z30
	VMOVDQU64 704(AX), Z31
	VMOVDQU64 inputC3Idx<>+0(SB), Z17
	VMOVDQU64 inputC3Idx<>+64(SB), Z18
	VMOVDQU64 inputC3Idx<>+128(SB), Z19
	MOVQ $0x9249249249249249, AX
	KMOVQ AX, K3
	MOVQ $0x2492492492492492, AX
	KMOVQ AX, K4
	MOVQ $0x4924924924924924, AX
	KMOVQ AX, K5
	MOVQ hw+16(FP), AX
	LEAQ (SI)(AX*1), R10
	LEAQ (R10)(AX*1), R11

c3loop:
	CMPQ BX, CX
	JGE  done
	VMOVDQU64 (SI)(BX*1), Z0
	LOOKUP64(Z20, Z21, Z22, Z23, Z4)
	VMOVDQU64 (R10)(BX*1), Z0
	LOOKUP64(Z24, Z25, Z26, Z27, Z5)
	VMOVDQU64 (R11)(BX*1), Z0
	LOOKUP64(Z28, Z29, Z30, Z31, Z6)
	// Block k of 64 output bytes: byte j is pixel (64k + j)/3 of channel
	// (k + j) mod 3, so channel c fills the positions j ≡ c − k (mod 3).
	VPERMB Z4, Z17, K3, Z7
	VPERMB Z5, Z17, K4, Z7
	VPERMB Z6, Z17, K5, Z7
	VMOVDQU64 Z7, (DI)
	VPERMB Z4, Z18, K5, Z8
	VPERMB Z5, Z18, K3, Z8
	VPERMB Z6, Z18, K4, Z8
	VMOVDQU64 Z8, 64(DI)
	VPERMB Z4, Z19, K4, Z9
	VPERMB Z5, Z19, K5, Z9
	VPERMB Z6, Z19, K3, Z9
	VMOVDQU64 Z9, 128(DI)
	ADDQ $192, DI
	ADDQ $64, BX
	JMP  c3loop

done:
	MOVQ BX, ret+40(FP)
	VZEROUPPER
	RET
