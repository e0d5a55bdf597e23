//go:build amd64 && !purego

#include "textflag.h"

// The streaming loops of bandwidth.go: four independent 64-bit sums (or
// four loads and four stores) per iteration, so the loop runs at the
// memory system's rate. n counts 64-bit words.

#define PTR SI
#define DST DI
#define BLOCKS CX

// func readSumZ(p *uint64, n int) uint64
TEXT ·readSumZ(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), PTR
	MOVQ n+8(FP), BLOCKS
	SHRQ $5, BLOCKS // 32 words (256 bytes) per iteration
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	TESTQ BLOCKS, BLOCKS
	JEQ zreaddone
zreadloop:
	VPADDQ (PTR), Z0, Z0
	VPADDQ 64(PTR), Z1, Z1
	VPADDQ 128(PTR), Z2, Z2
	VPADDQ 192(PTR), Z3, Z3
	ADDQ $256, PTR
	DECQ BLOCKS
	JNZ zreadloop
zreaddone:
	VPADDQ Z1, Z0, Z0
	VPADDQ Z3, Z2, Z2
	VPADDQ Z2, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDQ Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	VMOVQ X0, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET

// func copyZ(dst, src *uint64, n int)
TEXT ·copyZ(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DST
	MOVQ src+8(FP), PTR
	MOVQ n+16(FP), BLOCKS
	SHRQ $5, BLOCKS
	TESTQ BLOCKS, BLOCKS
	JEQ zcopydone
zcopyloop:
	VMOVDQU64 (PTR), Z0
	VMOVDQU64 64(PTR), Z1
	VMOVDQU64 128(PTR), Z2
	VMOVDQU64 192(PTR), Z3
	VMOVDQU64 Z0, (DST)
	VMOVDQU64 Z1, 64(DST)
	VMOVDQU64 Z2, 128(DST)
	VMOVDQU64 Z3, 192(DST)
	ADDQ $256, PTR
	ADDQ $256, DST
	DECQ BLOCKS
	JNZ zcopyloop
zcopydone:
	VZEROUPPER
	RET

// func readSumY(p *uint64, n int) uint64
TEXT ·readSumY(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), PTR
	MOVQ n+8(FP), BLOCKS
	SHRQ $4, BLOCKS // 16 words (128 bytes) per iteration
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	TESTQ BLOCKS, BLOCKS
	JEQ yreaddone
yreadloop:
	VPADDQ (PTR), Y0, Y0
	VPADDQ 32(PTR), Y1, Y1
	VPADDQ 64(PTR), Y2, Y2
	VPADDQ 96(PTR), Y3, Y3
	ADDQ $128, PTR
	DECQ BLOCKS
	JNZ yreadloop
yreaddone:
	VPADDQ Y1, Y0, Y0
	VPADDQ Y3, Y2, Y2
	VPADDQ Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	VMOVQ X0, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET

// func copyY(dst, src *uint64, n int)
TEXT ·copyY(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DST
	MOVQ src+8(FP), PTR
	MOVQ n+16(FP), BLOCKS
	SHRQ $4, BLOCKS
	TESTQ BLOCKS, BLOCKS
	JEQ ycopydone
ycopyloop:
	VMOVDQU (PTR), Y0
	VMOVDQU 32(PTR), Y1
	VMOVDQU 64(PTR), Y2
	VMOVDQU 96(PTR), Y3
	VMOVDQU Y0, (DST)
	VMOVDQU Y1, 32(DST)
	VMOVDQU Y2, 64(DST)
	VMOVDQU Y3, 96(DST)
	ADDQ $128, PTR
	ADDQ $128, DST
	DECQ BLOCKS
	JNZ ycopyloop
ycopydone:
	VZEROUPPER
	RET
