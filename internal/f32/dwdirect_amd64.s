//go:build amd64 && !purego

#include "textflag.h"
#include "epilogue_amd64.h"

// Even float indices 0, 2, …, 30 of two registers (VPERMI2PS).
DATA dwevens<>+0(SB)/4, $0
DATA dwevens<>+4(SB)/4, $2
DATA dwevens<>+8(SB)/4, $4
DATA dwevens<>+12(SB)/4, $6
DATA dwevens<>+16(SB)/4, $8
DATA dwevens<>+20(SB)/4, $10
DATA dwevens<>+24(SB)/4, $12
DATA dwevens<>+28(SB)/4, $14
DATA dwevens<>+32(SB)/4, $16
DATA dwevens<>+36(SB)/4, $18
DATA dwevens<>+40(SB)/4, $20
DATA dwevens<>+44(SB)/4, $22
DATA dwevens<>+48(SB)/4, $24
DATA dwevens<>+52(SB)/4, $26
DATA dwevens<>+56(SB)/4, $28
DATA dwevens<>+60(SB)/4, $30
GLOBL dwevens<>(SB), RODATA|NOPTR, $64

// func dwDirectAVX512(dst, src, w, bias *float32, recs *dwRec, c, h, ldIn, oh, owBytes, k, s, pad, chunkBytes, planeBytes, wBytes, bstep int, lo, hi float32)
//
// Four output rows at a time (four independent sums, Z0–Z3, so that the
// fused multiply-adds of one output, which follow each other, overlap
// with the other rows'), one 16-lane chunk of them at a time.
//
// Registers: SI the channel's input plane, DI the block's first output
// row, R8 the channel's weights, R9 its bias, R11 the block's first oy,
// R12 the chunk's records, R14 the chunk's byte offset in an output row,
// R13 ky, R10 the taps left in the kernel row, R15 the tap's weight, CX
// the tap's record, BX the block's first input row for ky, DX the byte
// step between the block's input rows (s·ldIn·4), AX scratch. K4–K7 the
// four input rows' masks (all lanes, or none for a padding row), K1 (and
// K3 at stride 2) the tap's column masks, K2 their conjunction. Z28 lo,
// Z29 hi, Z30 the evens' indices, Z31 the bias.
TEXT ·dwDirectAVX512(SB), NOSPLIT, $0-144
	VMOVUPS      dwevens<>(SB), Z30
	VBROADCASTSS lo+136(FP), Z28
	VBROADCASTSS hi+140(FP), Z29
	ZEROSIGN512(Z28, Z27)
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         w+16(FP), R8
	MOVQ         bias+24(FP), R9
	MOVQ         ldIn+56(FP), DX
	IMULQ        s+88(FP), DX
	SHLQ         $2, DX

dd_channel:
	VBROADCASTSS (R9), Z31
	XORQ         R11, R11

dd_block:
	MOVQ recs+32(FP), R12
	XORQ R14, R14

dd_chunk:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	MOVQ   R8, R15
	XORQ   R13, R13

dd_ky:
	// The block's input rows iy = (oy + r)·s − pad + ky: row r's mask
	// is all lanes when 0 ≤ iy < h (unsigned iy < h), else none.
	MOVQ  R11, BX
	IMULQ s+88(FP), BX
	SUBQ  pad+96(FP), BX
	ADDQ  R13, BX
	// All four rows in the image (iy ≥ 0 and iy + 3s < h): no row masks.
	MOVQ  s+88(FP), AX
	IMULQ $3, AX
	ADDQ  BX, AX
	CMPQ  AX, h+48(FP)
	JAE   dd_masks
	TESTQ BX, BX
	JS    dd_masks
	IMULQ ldIn+56(FP), BX
	SHLQ  $2, BX
	ADDQ  SI, BX
	MOVQ  R12, CX
	MOVQ  k+80(FP), R10
	CMPQ  s+88(FP), $2
	JEQ   dd_kx2f
	JMP   dd_kx1f

dd_masks:
	MOVQ  BX, AX
	CMPQ  AX, h+48(FP)
	SBBL  AX, AX
	KMOVW AX, K4
	MOVQ  s+88(FP), AX
	ADDQ  BX, AX
	CMPQ  AX, h+48(FP)
	SBBL  AX, AX
	KMOVW AX, K5
	MOVQ  s+88(FP), AX
	SHLQ  $1, AX
	ADDQ  BX, AX
	CMPQ  AX, h+48(FP)
	SBBL  AX, AX
	KMOVW AX, K6
	MOVQ  s+88(FP), AX
	IMULQ $3, AX
	ADDQ  BX, AX
	CMPQ  AX, h+48(FP)
	SBBL  AX, AX
	KMOVW AX, K7
	IMULQ ldIn+56(FP), BX
	SHLQ  $2, BX
	ADDQ  SI, BX
	MOVQ  R12, CX
	MOVQ  k+80(FP), R10
	CMPQ  s+88(FP), $2
	JEQ   dd_kx2

dd_kx1:
	MOVWLZX      (CX), AX
	KMOVW        AX, K1
	MOVLQSX      4(CX), AX
	ADDQ         BX, AX
	VBROADCASTSS (R15), Z4
	KANDW        K1, K4, K2
	VMOVUPS.Z    (AX), K2, Z8
	KANDW        K1, K5, K2
	VMOVUPS.Z    (AX)(DX*1), K2, Z9
	KANDW        K1, K6, K2
	VMOVUPS.Z    (AX)(DX*2), K2, Z10
	LEAQ         (AX)(DX*2), AX
	KANDW        K1, K7, K2
	VMOVUPS.Z    (AX)(DX*1), K2, Z11
	VFMADD231PS  Z4, Z8, Z0
	VFMADD231PS  Z4, Z9, Z1
	VFMADD231PS  Z4, Z10, Z2
	VFMADD231PS  Z4, Z11, Z3
	ADDQ         $4, R15
	ADDQ         $8, CX
	DECQ         R10
	JNZ          dd_kx1
	JMP          dd_kydone

dd_kx2:
	MOVWLZX      (CX), AX
	KMOVW        AX, K1
	MOVWLZX      2(CX), AX
	KMOVW        AX, K3
	MOVLQSX      4(CX), AX
	ADDQ         BX, AX
	VBROADCASTSS (R15), Z4
	KANDW        K1, K4, K2
	VMOVUPS.Z    (AX), K2, Z8
	KANDW        K3, K4, K2
	VMOVUPS.Z    64(AX), K2, Z12
	VPERMT2PS    Z12, Z30, Z8
	KANDW        K1, K5, K2
	VMOVUPS.Z    (AX)(DX*1), K2, Z9
	KANDW        K3, K5, K2
	VMOVUPS.Z    64(AX)(DX*1), K2, Z13
	VPERMT2PS    Z13, Z30, Z9
	KANDW        K1, K6, K2
	VMOVUPS.Z    (AX)(DX*2), K2, Z10
	KANDW        K3, K6, K2
	VMOVUPS.Z    64(AX)(DX*2), K2, Z14
	VPERMT2PS    Z14, Z30, Z10
	LEAQ         (AX)(DX*2), AX
	KANDW        K1, K7, K2
	VMOVUPS.Z    (AX)(DX*1), K2, Z11
	KANDW        K3, K7, K2
	VMOVUPS.Z    64(AX)(DX*1), K2, Z15
	VPERMT2PS    Z15, Z30, Z11
	VFMADD231PS  Z4, Z8, Z0
	VFMADD231PS  Z4, Z9, Z1
	VFMADD231PS  Z4, Z10, Z2
	VFMADD231PS  Z4, Z11, Z3
	ADDQ         $4, R15
	ADDQ         $8, CX
	DECQ         R10
	JNZ          dd_kx2
	JMP          dd_kydone

dd_kx1f:
	MOVWLZX      (CX), AX
	KMOVW        AX, K1
	MOVLQSX      4(CX), AX
	ADDQ         BX, AX
	VBROADCASTSS (R15), Z4
	VMOVUPS.Z    (AX), K1, Z8
	VMOVUPS.Z    (AX)(DX*1), K1, Z9
	VMOVUPS.Z    (AX)(DX*2), K1, Z10
	LEAQ         (AX)(DX*2), AX
	VMOVUPS.Z    (AX)(DX*1), K1, Z11
	VFMADD231PS  Z4, Z8, Z0
	VFMADD231PS  Z4, Z9, Z1
	VFMADD231PS  Z4, Z10, Z2
	VFMADD231PS  Z4, Z11, Z3
	ADDQ         $4, R15
	ADDQ         $8, CX
	DECQ         R10
	JNZ          dd_kx1f
	JMP          dd_kydone

dd_kx2f:
	MOVWLZX      (CX), AX
	KMOVW        AX, K1
	MOVWLZX      2(CX), AX
	KMOVW        AX, K3
	MOVLQSX      4(CX), AX
	ADDQ         BX, AX
	VBROADCASTSS (R15), Z4
	VMOVUPS.Z    (AX), K1, Z8
	VMOVUPS.Z    64(AX), K3, Z12
	VPERMT2PS    Z12, Z30, Z8
	VMOVUPS.Z    (AX)(DX*1), K1, Z9
	VMOVUPS.Z    64(AX)(DX*1), K3, Z13
	VPERMT2PS    Z13, Z30, Z9
	VMOVUPS.Z    (AX)(DX*2), K1, Z10
	VMOVUPS.Z    64(AX)(DX*2), K3, Z14
	VPERMT2PS    Z14, Z30, Z10
	LEAQ         (AX)(DX*2), AX
	VMOVUPS.Z    (AX)(DX*1), K1, Z11
	VMOVUPS.Z    64(AX)(DX*1), K3, Z15
	VPERMT2PS    Z15, Z30, Z11
	VFMADD231PS  Z4, Z8, Z0
	VFMADD231PS  Z4, Z9, Z1
	VFMADD231PS  Z4, Z10, Z2
	VFMADD231PS  Z4, Z11, Z3
	ADDQ         $4, R15
	ADDQ         $8, CX
	DECQ         R10
	JNZ          dd_kx2f

dd_kydone:
	INCQ R13
	CMPQ R13, k+80(FP)
	JLT  dd_ky

	// The epilogue, and the chunk's masked stores: rows oy + r < oh.
	MOVWLZX (CX), AX
	KMOVW   AX, K1
	VADDPS  Z31, Z0, Z0
	VMAXPS  Z0, Z28, Z0
	VADDPS  Z27, Z0, Z0
	VMINPS  Z0, Z29, Z0
	VADDPS  Z31, Z1, Z1
	VMAXPS  Z1, Z28, Z1
	VADDPS  Z27, Z1, Z1
	VMINPS  Z1, Z29, Z1
	VADDPS  Z31, Z2, Z2
	VMAXPS  Z2, Z28, Z2
	VADDPS  Z27, Z2, Z2
	VMINPS  Z2, Z29, Z2
	VADDPS  Z31, Z3, Z3
	VMAXPS  Z3, Z28, Z3
	VADDPS  Z27, Z3, Z3
	VMINPS  Z3, Z29, Z3
	LEAQ    (DI)(R14*1), AX
	MOVQ    oh+64(FP), R10
	SUBQ    R11, R10 // rows left, ≥ 1
	VMOVUPS Z0, K1, (AX)
	CMPQ    R10, $2
	JLT     dd_stored
	ADDQ    owBytes+72(FP), AX
	VMOVUPS Z1, K1, (AX)
	CMPQ    R10, $3
	JLT     dd_stored
	ADDQ    owBytes+72(FP), AX
	VMOVUPS Z2, K1, (AX)
	CMPQ    R10, $4
	JLT     dd_stored
	ADDQ    owBytes+72(FP), AX
	VMOVUPS Z3, K1, (AX)

dd_stored:
	ADDQ $8, CX
	MOVQ CX, R12
	ADDQ $64, R14
	CMPQ R14, chunkBytes+104(FP)
	JLT  dd_chunk

	// The next block of four rows (the output rows are contiguous:
	// after the channel's last block DI is the next channel's plane).
	MOVQ oh+64(FP), R10
	SUBQ R11, R10
	CMPQ R10, $4
	JLE  dd_lastblock
	MOVQ owBytes+72(FP), AX
	SHLQ $2, AX
	ADDQ AX, DI
	ADDQ $4, R11
	JMP  dd_block

dd_lastblock:
	IMULQ owBytes+72(FP), R10
	ADDQ  R10, DI
	ADDQ  planeBytes+112(FP), SI
	ADDQ  wBytes+120(FP), R8
	ADDQ  bstep+128(FP), R9
	DECQ  c+40(FP)
	JNZ   dd_channel
	VZEROUPPER
	RET
