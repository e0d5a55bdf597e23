//go:build amd64 && !purego

#include "textflag.h"

// Go's max(a, b) is NaN when either is: VMAXPS returns its second source
// (b here) when either is NaN, so the kernels below OR in an unordered
// comparison (all ones, a NaN, where a or b is NaN). MAXP(b, a, t) sets
// a = max(a, b) so, with t a scratch register; MAXS on the low floats;
// MAXZ on zmm registers (the comparison into K4).
#define MAXP(b, a, t) \
	VCMPPS $3, b, a, t \
	VMAXPS b, a, a \
	VORPS t, a, a

#define MAXS(b, a, t) \
	VCMPSS $3, b, a, t \
	VMAXSS b, a, a \
	VORPS t, a, a

#define MAXZ(b, a) \
	VCMPPS $3, b, a, K4 \
	VMAXPS b, a, a \
	VPTERNLOGD $0xff, a, a, K4, a

// func maxPool2AVX2(dst, r0, r1 *float32, n8 int)
// 2×2 max-pooling of stride 2, eight outputs at a time: the two rows'
// maximum (VMAXPS), then even and odd columns apart (VSHUFPS) and their
// maximum, put back in order (VPERMPD).
TEXT ·maxPool2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), BX
	MOVQ n8+24(FP), CX
mp_loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	MAXP((BX), Y0, Y7)
	MAXP(32(BX), Y1, Y7)
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	MAXP(Y3, Y2, Y7)
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $32, DI
	DECQ CX
	JNZ mp_loop
	VZEROUPPER
	RET

// func maxPool2PlanesAVX2(dst, src *float32, planes, oh, ow, w, hw int)
// maxPool2AVX2's steps over whole planes (hw floats apart, rows w floats
// apart, the outputs contiguous): per row pair eight outputs at a time,
// then four (the same operations on X registers, whose VSHUFPS leaves
// them in order), then one at a time (VMAXSS, the same operand order).
TEXT ·maxPool2PlanesAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ planes+16(FP), R12
	MOVQ w+40(FP), R8
	SHLQ $2, R8 // row stride in bytes
	MOVQ hw+48(FP), R9
	SHLQ $2, R9 // plane stride in bytes
mpp_plane:
	MOVQ SI, R10 // the row pair's first row
	MOVQ oh+24(FP), R13
mpp_row:
	MOVQ R10, AX
	LEAQ (R10)(R8*1), BX
	MOVQ ow+32(FP), CX
mpp_eight:
	CMPQ CX, $8
	JLT mpp_four
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	MAXP((BX), Y0, Y7)
	MAXP(32(BX), Y1, Y7)
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	MAXP(Y3, Y2, Y7)
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $64, AX
	ADDQ $64, BX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP mpp_eight
mpp_four:
	CMPQ CX, $4
	JLT mpp_one
	VMOVUPS (AX), X0
	VMOVUPS 16(AX), X1
	MAXP((BX), X0, X7)
	MAXP(16(BX), X1, X7)
	VSHUFPS $0x88, X1, X0, X2
	VSHUFPS $0xDD, X1, X0, X3
	MAXP(X3, X2, X7)
	VMOVUPS X2, (DI)
	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $16, DI
	SUBQ $4, CX
mpp_one:
	TESTQ CX, CX
	JZ mpp_rowdone
	VMOVSS (AX), X0
	VMOVSS 4(AX), X1
	MAXS((BX), X0, X7)
	MAXS(4(BX), X1, X7)
	MAXS(X1, X0, X7)
	VMOVSS X0, (DI)
	ADDQ $8, AX
	ADDQ $8, BX
	ADDQ $4, DI
	DECQ CX
	JMP mpp_one
mpp_rowdone:
	LEAQ (R10)(R8*2), R10
	DECQ R13
	JNZ mpp_row
	ADDQ R9, SI
	DECQ R12
	JNZ mpp_plane
	VZEROUPPER
	RET

// func maxPool2PlaneAVX512(dst, src *float32, oh, ow, w int, idx *int32)
// 2×2 max-pooling of stride 2 of a plane of row stride w into oh rows of
// ow outputs: sixteen outputs at a time, the last ow mod 16 of a row
// under masks (so rows of 5, 7 or 14 outputs take no scalar steps): the
// two rows' maximum (VMAXPS), then even and odd columns apart (VPERMI2PS
// with idx[0:16] and idx[16:32]) and their maximum.
TEXT ·maxPool2PlaneAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ oh+16(FP), R12
	MOVQ w+32(FP), R8
	SHLQ $2, R8 // row stride in bytes
	MOVQ idx+40(FP), AX
	VMOVDQU32 (AX), Z8
	VMOVDQU32 64(AX), Z9
	// Masks of the row's last chunk: K3 its t = ow mod 16 outputs,
	// K1 and K2 its 2t inputs in the two vectors (t = 0: no chunk).
	MOVQ ow+24(FP), CX
	ANDQ $15, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K3
	SHLQ $1, CX
	MOVQ CX, DX
	CMPQ CX, $16
	JLE mp5_lo
	MOVQ $16, CX
mp5_lo:
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	SUBQ $16, DX
	JGE mp5_hi
	XORQ DX, DX
mp5_hi:
	MOVQ DX, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	MOVQ ow+24(FP), R11
	SHRQ $4, R11 // full chunks per row
mp5_row:
	MOVQ SI, R10
	LEAQ (SI)(R8*1), BX
	MOVQ R11, R9
	TESTQ R9, R9
	JEQ mp5_tail
mp5_full:
	VMOVUPS (R10), Z0
	VMOVUPS 64(R10), Z1
	MAXZ((BX), Z0)
	MAXZ(64(BX), Z1)
	VMOVUPS Z8, Z5
	VPERMI2PS Z1, Z0, Z5
	VMOVUPS Z9, Z6
	VPERMI2PS Z1, Z0, Z6
	MAXZ(Z6, Z5)
	VMOVUPS Z5, (DI)
	ADDQ $128, R10
	ADDQ $128, BX
	ADDQ $64, DI
	DECQ R9
	JNZ mp5_full
mp5_tail:
	KORTESTW K3, K3
	JEQ mp5_next
	VMOVUPS.Z (R10), K1, Z0
	VMOVUPS.Z 64(R10), K2, Z1
	VMOVUPS.Z (BX), K1, Z2
	VMOVUPS.Z 64(BX), K2, Z3
	MAXZ(Z2, Z0)
	MAXZ(Z3, Z1)
	VMOVUPS Z8, Z5
	VPERMI2PS Z1, Z0, Z5
	VMOVUPS Z9, Z6
	VPERMI2PS Z1, Z0, Z6
	MAXZ(Z6, Z5)
	VMOVUPS Z5, K3, (DI)
	MOVQ ow+24(FP), AX
	ANDQ $15, AX
	LEAQ (DI)(AX*4), DI
mp5_next:
	LEAQ (SI)(R8*2), SI
	DECQ R12
	JNZ mp5_row
	VZEROUPPER
	RET

// func globalAvgPoolAVX2(dst, src *float32, planes, hw int, d float32)
// GlobalAvgPool's sums in one ymm (lane j: the values i ≡ j mod 8 below
// the last multiple of 8, in increasing i from +0), two VHADDPS giving
// (l0+l1)+(l2+l3) in lane 0 and (l4+l5)+(l6+l7) in lane 4, their sum,
// then the remaining values in order and the division by d: the Go
// loop's operations.
TEXT ·globalAvgPoolAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ planes+16(FP), DX
	MOVQ hw+24(FP), R8
	VMOVSS d+32(FP), X15
	MOVQ R8, R9
	SHRQ $3, R9
	MOVQ R8, R10
	ANDQ $7, R10
gapplane:
	TESTQ DX, DX
	JEQ gapdone
	VXORPS Y0, Y0, Y0
	MOVQ R9, CX
	TESTQ CX, CX
	JEQ gapreduce
gapvec:
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ gapvec
gapreduce:
	VHADDPS Y0, Y0, Y0
	VHADDPS Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDSS X1, X0, X0
	MOVQ R10, CX
	TESTQ CX, CX
	JEQ gapdiv
gaptail:
	VADDSS (SI), X0, X0
	ADDQ $4, SI
	DECQ CX
	JNZ gaptail
gapdiv:
	VDIVSS X15, X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	DECQ DX
	JMP gapplane
gapdone:
	VZEROUPPER
	RET
