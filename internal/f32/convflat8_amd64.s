//go:build amd64 && !purego

#include "textflag.h"
#include "epilogue_amd64.h"
#include "go_asm.h"

// func convFlat8AVX2(a *flat8Args)
//
// The AVX2 flat convolution kernel (convflat8.go): per task (three
// slots), per group of four output channels, 12 sums, Y(3·ch + i) channel
// ch's sums of slot i, over the depths in blocks of kc = 256, then the
// epilogue and the stores.
//
// The task's inputs stay in L1 across its groups; the weights
// stream (group after group, depth after depth).
//
// Registers: DI the arguments; SI the task, R10 the tasks left. In the
// depth loop: AX, BX, DX the slots' chunks in their inputs, R13, R14,
// R15 their mask rows, R12 the depth's record, R11 its four weights, CX
// the block's depths left, R8, R9 the record's offsets; Y12–Y14 the
// slots' masks, then their inputs, Y15 a weight. Locals: the group's
// weights (wg), biases (bg) and output offset (oo), the groups left
// (gl), the depths left after the block (left), whether a block's sums
// are in scratch (blk).
TEXT ·convFlat8AVX2(SB), NOSPLIT, $48-8
	MOVQ a+0(FP), DI
	MOVQ flat8Args_tasks(DI), SI
	MOVQ flat8Args_ntasks(DI), R10

f8_task:
	MOVQ flat8Args_w(DI), R8
	MOVQ R8, wg-8(SP)
	MOVQ flat8Args_bias(DI), R8
	MOVQ R8, bg-16(SP)
	MOVQ $0, oo-24(SP)
	MOVQ flat8Args_groups(DI), R8
	MOVQ R8, gl-32(SP)

f8_group:
	MOVQ flat8Args_masks(DI), R8
	MOVQ 8(SI), R13
	ADDQ R8, R13
	MOVQ 24(SI), R14
	ADDQ R8, R14
	MOVQ 40(SI), R15
	ADDQ R8, R15
	MOVQ flat8Args_src(DI), AX
	ADDQ 0(SI), AX
	MOVQ flat8Args_src+8(DI), BX
	ADDQ 16(SI), BX
	MOVQ flat8Args_src+16(DI), DX
	ADDQ 32(SI), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ flat8Args_recs(DI), R12
	MOVQ wg-8(SP), R11
	MOVQ flat8Args_depths(DI), R8
	MOVQ R8, left-40(SP)
	MOVQ $0, blk-48(SP)

f8_block:
	MOVQ left-40(SP), CX
	CMPQ CX, $256
	JLE  f8_last
	MOVQ $256, CX

f8_last:
	SUBQ CX, left-40(SP)

	CMPQ flat8Args_shared(DI), $0
	JNE  f8_depth1

	PCALIGN $32

f8_depth:
	MOVQ       0(R12), R8
	MOVQ       8(R12), R9
	VMOVDQU    (R13)(R9*1), Y12
	VMASKMOVPS (AX)(R8*1), Y12, Y12
	VMOVDQU    (R14)(R9*1), Y13
	VMASKMOVPS (BX)(R8*1), Y13, Y13
	VMOVDQU    (R15)(R9*1), Y14
	VMASKMOVPS (DX)(R8*1), Y14, Y14
	VBROADCASTSS 0(R11), Y15
	VFMADD231PS  Y12, Y15, Y0
	VFMADD231PS  Y13, Y15, Y1
	VFMADD231PS  Y14, Y15, Y2
	VBROADCASTSS 4(R11), Y15
	VFMADD231PS  Y12, Y15, Y3
	VFMADD231PS  Y13, Y15, Y4
	VFMADD231PS  Y14, Y15, Y5
	VBROADCASTSS 8(R11), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VFMADD231PS  Y14, Y15, Y8
	VBROADCASTSS 12(R11), Y15
	VFMADD231PS  Y12, Y15, Y9
	VFMADD231PS  Y13, Y15, Y10
	VFMADD231PS  Y14, Y15, Y11
	ADDQ $16, R12
	ADDQ $16, R11
	DECQ CX
	JNZ  f8_depth
	JMP  f8_ended

	// The slots' mask rows are one (three images): one mask load a depth.
	PCALIGN $32

f8_depth1:
	// An odd depth first, then two at a time.
	TESTQ $1, CX
	JZ    f8_two
	MOVQ       0(R12), R8
	MOVQ       8(R12), R9
	VMOVDQU    (R13)(R9*1), Y14
	VMASKMOVPS (AX)(R8*1), Y14, Y12
	VMASKMOVPS (BX)(R8*1), Y14, Y13
	VMASKMOVPS (DX)(R8*1), Y14, Y14
	VBROADCASTSS 0(R11), Y15
	VFMADD231PS  Y12, Y15, Y0
	VFMADD231PS  Y13, Y15, Y1
	VFMADD231PS  Y14, Y15, Y2
	VBROADCASTSS 4(R11), Y15
	VFMADD231PS  Y12, Y15, Y3
	VFMADD231PS  Y13, Y15, Y4
	VFMADD231PS  Y14, Y15, Y5
	VBROADCASTSS 8(R11), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VFMADD231PS  Y14, Y15, Y8
	VBROADCASTSS 12(R11), Y15
	VFMADD231PS  Y12, Y15, Y9
	VFMADD231PS  Y13, Y15, Y10
	VFMADD231PS  Y14, Y15, Y11
	ADDQ $16, R12
	ADDQ $16, R11
	DECQ CX
	JZ   f8_ended

	PCALIGN $32

f8_two:
	MOVQ       0(R12), R8
	MOVQ       8(R12), R9
	VMOVDQU    (R13)(R9*1), Y14
	VMASKMOVPS (AX)(R8*1), Y14, Y12
	VMASKMOVPS (BX)(R8*1), Y14, Y13
	VMASKMOVPS (DX)(R8*1), Y14, Y14
	VBROADCASTSS 0(R11), Y15
	VFMADD231PS  Y12, Y15, Y0
	VFMADD231PS  Y13, Y15, Y1
	VFMADD231PS  Y14, Y15, Y2
	VBROADCASTSS 4(R11), Y15
	VFMADD231PS  Y12, Y15, Y3
	VFMADD231PS  Y13, Y15, Y4
	VFMADD231PS  Y14, Y15, Y5
	VBROADCASTSS 8(R11), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VFMADD231PS  Y14, Y15, Y8
	VBROADCASTSS 12(R11), Y15
	VFMADD231PS  Y12, Y15, Y9
	VFMADD231PS  Y13, Y15, Y10
	VFMADD231PS  Y14, Y15, Y11
	MOVQ       16(R12), R8
	MOVQ       24(R12), R9
	VMOVDQU    (R13)(R9*1), Y14
	VMASKMOVPS (AX)(R8*1), Y14, Y12
	VMASKMOVPS (BX)(R8*1), Y14, Y13
	VMASKMOVPS (DX)(R8*1), Y14, Y14
	VBROADCASTSS 16(R11), Y15
	VFMADD231PS  Y12, Y15, Y0
	VFMADD231PS  Y13, Y15, Y1
	VFMADD231PS  Y14, Y15, Y2
	VBROADCASTSS 20(R11), Y15
	VFMADD231PS  Y12, Y15, Y3
	VFMADD231PS  Y13, Y15, Y4
	VFMADD231PS  Y14, Y15, Y5
	VBROADCASTSS 24(R11), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VFMADD231PS  Y14, Y15, Y8
	VBROADCASTSS 28(R11), Y15
	VFMADD231PS  Y12, Y15, Y9
	VFMADD231PS  Y13, Y15, Y10
	VFMADD231PS  Y14, Y15, Y11
	ADDQ $32, R12
	ADDQ $32, R11
	SUBQ $2, CX
	JNZ  f8_two

f8_ended:
	CMPQ left-40(SP), $0
	JEQ  f8_sums

	// A block of kc depths ends: its sums join the total (the first
	// block's are the total), and the next block starts from zero.
	MOVQ flat8Args_scratch(DI), R9
	CMPQ blk-48(SP), $0
	JNE  f8_add
	VMOVUPS Y0, 0(R9)
	VMOVUPS Y1, 32(R9)
	VMOVUPS Y2, 64(R9)
	VMOVUPS Y3, 96(R9)
	VMOVUPS Y4, 128(R9)
	VMOVUPS Y5, 160(R9)
	VMOVUPS Y6, 192(R9)
	VMOVUPS Y7, 224(R9)
	VMOVUPS Y8, 256(R9)
	VMOVUPS Y9, 288(R9)
	VMOVUPS Y10, 320(R9)
	VMOVUPS Y11, 352(R9)
	JMP f8_zero

f8_add:
	VADDPS  0(R9), Y0, Y0
	VMOVUPS Y0, 0(R9)
	VADDPS  32(R9), Y1, Y1
	VMOVUPS Y1, 32(R9)
	VADDPS  64(R9), Y2, Y2
	VMOVUPS Y2, 64(R9)
	VADDPS  96(R9), Y3, Y3
	VMOVUPS Y3, 96(R9)
	VADDPS  128(R9), Y4, Y4
	VMOVUPS Y4, 128(R9)
	VADDPS  160(R9), Y5, Y5
	VMOVUPS Y5, 160(R9)
	VADDPS  192(R9), Y6, Y6
	VMOVUPS Y6, 192(R9)
	VADDPS  224(R9), Y7, Y7
	VMOVUPS Y7, 224(R9)
	VADDPS  256(R9), Y8, Y8
	VMOVUPS Y8, 256(R9)
	VADDPS  288(R9), Y9, Y9
	VMOVUPS Y9, 288(R9)
	VADDPS  320(R9), Y10, Y10
	VMOVUPS Y10, 320(R9)
	VADDPS  352(R9), Y11, Y11
	VMOVUPS Y11, 352(R9)

f8_zero:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ $1, blk-48(SP)
	JMP  f8_block

f8_sums:
	// The last block's sums plus the total of the blocks before.
	CMPQ blk-48(SP), $0
	JEQ  f8_epilogue
	MOVQ flat8Args_scratch(DI), R9
	VADDPS 0(R9), Y0, Y0
	VADDPS 32(R9), Y1, Y1
	VADDPS 64(R9), Y2, Y2
	VADDPS 96(R9), Y3, Y3
	VADDPS 128(R9), Y4, Y4
	VADDPS 160(R9), Y5, Y5
	VADDPS 192(R9), Y6, Y6
	VADDPS 224(R9), Y7, Y7
	VADDPS 256(R9), Y8, Y8
	VADDPS 288(R9), Y9, Y9
	VADDPS 320(R9), Y10, Y10
	VADDPS 352(R9), Y11, Y11

f8_epilogue:
	// + bias, max lo, min hi (biasRowsClampAVX2's operations), in place.
	MOVQ         R11, wg-8(SP) // the next group's weights
	MOVQ         bg-16(SP), R11
	VBROADCASTSS flat8Args_lo(DI), Y13
	VBROADCASTSS flat8Args_hi(DI), Y14
	ZEROSIGN(Y13, Y15)
	VBROADCASTSS 0(R11), Y12
	VADDPS       Y0, Y12, Y0
	VMAXPS       Y0, Y13, Y0
	VADDPS       Y15, Y0, Y0
	VMINPS       Y0, Y14, Y0
	VADDPS       Y1, Y12, Y1
	VMAXPS       Y1, Y13, Y1
	VADDPS       Y15, Y1, Y1
	VMINPS       Y1, Y14, Y1
	VADDPS       Y2, Y12, Y2
	VMAXPS       Y2, Y13, Y2
	VADDPS       Y15, Y2, Y2
	VMINPS       Y2, Y14, Y2
	VBROADCASTSS 4(R11), Y12
	VADDPS       Y3, Y12, Y3
	VMAXPS       Y3, Y13, Y3
	VADDPS       Y15, Y3, Y3
	VMINPS       Y3, Y14, Y3
	VADDPS       Y4, Y12, Y4
	VMAXPS       Y4, Y13, Y4
	VADDPS       Y15, Y4, Y4
	VMINPS       Y4, Y14, Y4
	VADDPS       Y5, Y12, Y5
	VMAXPS       Y5, Y13, Y5
	VADDPS       Y15, Y5, Y5
	VMINPS       Y5, Y14, Y5
	VBROADCASTSS 8(R11), Y12
	VADDPS       Y6, Y12, Y6
	VMAXPS       Y6, Y13, Y6
	VADDPS       Y15, Y6, Y6
	VMINPS       Y6, Y14, Y6
	VADDPS       Y7, Y12, Y7
	VMAXPS       Y7, Y13, Y7
	VADDPS       Y15, Y7, Y7
	VMINPS       Y7, Y14, Y7
	VADDPS       Y8, Y12, Y8
	VMAXPS       Y8, Y13, Y8
	VADDPS       Y15, Y8, Y8
	VMINPS       Y8, Y14, Y8
	VBROADCASTSS 12(R11), Y12
	VADDPS       Y9, Y12, Y9
	VMAXPS       Y9, Y13, Y9
	VADDPS       Y15, Y9, Y9
	VMINPS       Y9, Y14, Y9
	VADDPS       Y10, Y12, Y10
	VMAXPS       Y10, Y13, Y10
	VADDPS       Y15, Y10, Y10
	VMINPS       Y10, Y14, Y10
	VADDPS       Y11, Y12, Y11
	VMAXPS       Y11, Y13, Y11
	VADDPS       Y15, Y11, Y11
	VMINPS       Y11, Y14, Y11

	// The slots' outputs: chunk q of channel 4·group + ch.
	MOVQ oo-24(SP), R8
	MOVQ flat8Args_dst(DI), AX
	ADDQ 0(SI), AX
	ADDQ R8, AX
	MOVQ flat8Args_dst+8(DI), BX
	ADDQ 16(SI), BX
	ADDQ R8, BX
	MOVQ flat8Args_dst+16(DI), DX
	ADDQ 32(SI), DX
	ADDQ R8, DX
	MOVQ flat8Args_planeBytes(DI), R9
	LEAQ (R9)(R9*2), R12
	MOVQ flat8Args_store(DI), R8
	TESTQ R8, R8
	JNE  f8_partial
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, (BX)
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, (AX)(R9*1)
	VMOVUPS Y4, (BX)(R9*1)
	VMOVUPS Y5, (DX)(R9*1)
	VMOVUPS Y6, (AX)(R9*2)
	VMOVUPS Y7, (BX)(R9*2)
	VMOVUPS Y8, (DX)(R9*2)
	VMOVUPS Y9, (AX)(R12*1)
	VMOVUPS Y10, (BX)(R12*1)
	VMOVUPS Y11, (DX)(R12*1)

f8_next:
	ADDQ $16, bg-16(SP)
	MOVQ flat8Args_planeBytes(DI), R8
	SHLQ $2, R8
	ADDQ R8, oo-24(SP)
	DECQ gl-32(SP)
	JNZ  f8_group
	ADDQ $48, SI
	DECQ R10
	JNZ  f8_task
	VZEROUPPER
	RET

f8_partial:
	// A plane of fewer than 8 pixels: its first P lanes.
	VMOVDQU (R8), Y15
	VMASKMOVPS Y0, Y15, (AX)
	VMASKMOVPS Y1, Y15, (BX)
	VMASKMOVPS Y2, Y15, (DX)
	VMASKMOVPS Y3, Y15, (AX)(R9*1)
	VMASKMOVPS Y4, Y15, (BX)(R9*1)
	VMASKMOVPS Y5, Y15, (DX)(R9*1)
	VMASKMOVPS Y6, Y15, (AX)(R9*2)
	VMASKMOVPS Y7, Y15, (BX)(R9*2)
	VMASKMOVPS Y8, Y15, (DX)(R9*2)
	VMASKMOVPS Y9, Y15, (AX)(R12*1)
	VMASKMOVPS Y10, Y15, (BX)(R12*1)
	VMASKMOVPS Y11, Y15, (DX)(R12*1)
	JMP f8_next

// func flat8SplitAVX2(dst, src *float32, c, h, w, ow, ps, phases int, masks *int32)
//
// flat8Split's planes (convflat8.go): for each channel of h rows of w ≤
// 32 floats at src, plane (a, b) (a, b < phases) at dst + ((channel·
// phases + a)·phases + b)·ps floats, its row r (ow floats apart) the
// floats of parity b of input row 2r + a. Each input row is read once
// (⌈w/8⌉ whole vectors, or near the image's end four masked loads;
// masks: 32 words, −1 for the row's w floats),
// split by VSHUFPS and VPERMPD, and each half stored as two whole
// vectors, one where w ≤ 16 (up to 16 floats: past the row's ⌈w/2⌉,
// into the plane's next row, written later, or the room the plane
// has past its last row; with phases 1, into the next plane's first
// row, written later, or 16 floats past the last).
//
// Registers: SI the channel's input, DI plane (a, 0), R8 its row, R9
// the input row, CX the rows left, R10 the channels left, R11 a, R12 a
// plane's bytes, R13 the input's row bytes, R14 the plane's, BX the
// channel's input bytes (h·w·4), DX the phases, AX the whole vectors
// a row, R15 the last row start they may load from.
TEXT ·flat8SplitAVX2(SB), NOSPLIT, $0-72
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    c+16(FP), R10
	MOVQ    w+32(FP), R13
	SHLQ    $2, R13
	MOVQ    ow+40(FP), R14
	SHLQ    $2, R14
	MOVQ    h+24(FP), BX
	IMULQ   R13, BX
	MOVQ    phases+56(FP), DX
	MOVQ    ps+48(FP), R12
	SHLQ    $2, R12
	MOVQ    masks+64(FP), AX
	VMOVDQU (AX), Y4
	VMOVDQU 32(AX), Y5
	VMOVDQU 64(AX), Y6
	VMOVDQU 96(AX), Y7
	// AX: the whole vectors a row (⌈w/8⌉); R15: the last row start
	// from which they end within the image (its end − 32·AX).
	MOVQ    w+32(FP), AX
	ADDQ    $7, AX
	SHRQ    $3, AX
	MOVQ    BX, R15
	IMULQ   c+16(FP), R15
	ADDQ    SI, R15
	MOVQ    AX, R8
	SHLQ    $5, R8
	SUBQ    R8, R15

fs_channel:
	XORQ R11, R11

fs_a:
	// Rows of parity a: (h − a + 1)/2, from input row a.
	MOVQ  h+24(FP), CX
	SUBQ  R11, CX
	INCQ  CX
	SHRQ  $1, CX
	MOVQ  R13, R9
	IMULQ R11, R9
	ADDQ  SI, R9
	MOVQ  DI, R8
	TESTQ CX, CX
	JZ    fs_planes

fs_row:
	// Whole vectors (⌈w/8⌉ of them, into the next row) where they end
	// within the image; masked loads near its end.
	CMPQ    R9, R15
	JHI     fs_masked
	VMOVUPS (R9), Y0
	CMPQ    AX, $2
	JLT     fs_split
	VMOVUPS 32(R9), Y1
	CMPQ    AX, $3
	JLT     fs_split
	VMOVUPS 64(R9), Y2
	CMPQ    AX, $4
	JLT     fs_split
	VMOVUPS 96(R9), Y3
	JMP     fs_split

fs_masked:
	VMASKMOVPS (R9), Y4, Y0
	VMASKMOVPS 32(R9), Y5, Y1
	VMASKMOVPS 64(R9), Y6, Y2
	VMASKMOVPS 96(R9), Y7, Y3

fs_split:
	VSHUFPS    $0x88, Y1, Y0, Y8
	VSHUFPS    $0x88, Y3, Y2, Y9
	VPERMPD    $0xd8, Y8, Y8
	VPERMPD    $0xd8, Y9, Y9
	VMOVUPS    Y8, (R8)
	CMPQ       AX, $2
	JLE        fs_half
	VMOVUPS    Y9, 32(R8)

fs_half:
	// Rows of at most 16 floats: halves of at most 8.
	CMPQ       DX, $1
	JEQ        fs_next
	VSHUFPS    $0xdd, Y1, Y0, Y10
	VSHUFPS    $0xdd, Y3, Y2, Y11
	VPERMPD    $0xd8, Y10, Y10
	VPERMPD    $0xd8, Y11, Y11
	VMOVUPS    Y10, (R8)(R12*1)
	CMPQ       AX, $2
	JLE        fs_next
	VMOVUPS    Y11, 32(R8)(R12*1)

fs_next:
	ADDQ R14, R8
	LEAQ (R9)(R13*2), R9
	DECQ CX
	JNZ  fs_row

fs_planes:
	// Past planes (a, 0) and (a, 1) (or the one plane).
	MOVQ  DX, R8
	IMULQ R12, R8
	ADDQ  R8, DI
	INCQ  R11
	CMPQ  R11, DX
	JLT   fs_a
	ADDQ  BX, SI
	DECQ  R10
	JNZ   fs_channel
	VZEROUPPER
	RET
