//go:build amd64 && !purego

#include "textflag.h"

// Input quantization on AVX-512F: the one FLOAT kernel of the runtime,
// the boundary where float32 pixels become integers. It is kept out of the
// kernel files on purpose (TestAssemblyUsesNoFloat exempts this file by
// name, and only this one). Per 16 floats:
//
//	non-finite check: (bits & 0x7f800000) == 0x7f800000 (NaN or ±Inf); the
//	                  first block with one stops the loop and its start is
//	                  returned (the Go side finds the element)
//	q = x / S         VDIVPS: IEEE float32 division, as Go's x / s
//	q = min(q, hi+1)  in float32 (an exact integer): above 2^31 VCVTPS2DQ
//	                  would give the integer indefinite 0x80000000
//	round             VCVTPS2DQ in the MXCSR's rounding mode, which Go leaves at
//	                  its default, round to nearest, ties to even; below
//	                  −2^31 the indefinite 0x80000000 is itself below
//	                  every clamp (even after adding Z − off ≤ 255), so no
//	                  lower float clamp is needed
//	u = clamp(r + Z − off, qmin − off, qmax − off), narrowed by VPMOVDB
//
// which is quant.QuantizeValue (RoundClamp(x/S, qmin−Z, qmax−Z) + Z) minus
// the storage offset, bit for bit (TestQuantizeU8MatchesReference).

// func quantizeU8AVX512(dst *uint8, x *float32, n int, s, fhi float32, zoff, qlo, qhi int32) int
TEXT ·quantizeU8AVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Z21
	VBROADCASTSS fhi+28(FP), Z23
	MOVL zoff+32(FP), AX
	VPBROADCASTD AX, Z24
	MOVL qlo+36(FP), AX
	VPBROADCASTD AX, Z25
	MOVL qhi+40(FP), AX
	VPBROADCASTD AX, Z26
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z20
	XORQ BX, BX // elements done

full:
	MOVQ CX, AX
	SUBQ BX, AX
	CMPQ AX, $16
	JLT  tail
	VMOVUPS (SI)(BX*4), Z0
	VPANDD  Z20, Z0, Z1
	VPCMPEQD Z20, Z1, K2
	KORTESTW K2, K2
	JNZ  bad
	VDIVPS Z21, Z0, Z0
	VMINPS Z23, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPADDD  Z24, Z0, Z0
	VPMAXSD Z25, Z0, Z0
	VPMINSD Z26, Z0, Z0
	VPMOVDB Z0, (DI)(BX*1)
	ADDQ $16, BX
	JMP  full

tail:
	TESTQ AX, AX
	JZ   ok
	MOVQ CX, R8
	MOVQ AX, CX
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
	MOVQ R8, CX
	KMOVW DX, K1
	VMOVUPS.Z (SI)(BX*4), K1, Z0
	VPANDD  Z20, Z0, Z1
	VPCMPEQD Z20, Z1, K2
	KORTESTW K2, K2
	JNZ  bad
	VDIVPS Z21, Z0, Z0
	VMINPS Z23, Z0, Z0
	VCVTPS2DQ Z0, Z0
	VPADDD  Z24, Z0, Z0
	VPMAXSD Z25, Z0, Z0
	VPMINSD Z26, Z0, Z0
	VPMOVDB Z0, K1, (DI)(BX*1)

ok:
	MOVQ CX, ret+48(FP)
	VZEROUPPER
	RET

bad:
	MOVQ BX, ret+48(FP)
	VZEROUPPER
	RET

// quantizeU8AVX2 is the same on AVX2, 8 floats a step, whole steps only
// (it returns the count done, a multiple of 8, or the start of the step
// holding a non-finite value; the caller finishes in Go). Narrowing by
// VPACKUSDW and VPACKUSWB (values already in [0, 255]).

// func quantizeU8AVX2(dst *uint8, x *float32, n int, s, fhi float32, zoff, qlo, qhi int32) int
TEXT ·quantizeU8AVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	ANDQ $-8, CX
	VBROADCASTSS s+24(FP), Y11
	VBROADCASTSS fhi+28(FP), Y12
	MOVL zoff+32(FP), AX
	MOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL qlo+36(FP), AX
	MOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL qhi+40(FP), AX
	MOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x7f800000, AX
	MOVD AX, X10
	VPBROADCASTD X10, Y10
	XORQ BX, BX

step2:
	CMPQ BX, CX
	JGE  ok2
	VMOVUPS (SI)(BX*4), Y0
	VPAND    Y10, Y0, Y1
	VPCMPEQD Y10, Y1, Y1
	VPTEST   Y1, Y1
	JNZ  bad2
	VDIVPS Y11, Y0, Y0
	VMINPS Y12, Y0, Y0
	VCVTPS2DQ Y0, Y0
	VPADDD  Y13, Y0, Y0
	VPMAXSD Y14, Y0, Y0
	VPMINSD Y15, Y0, Y0
	VPACKUSDW Y0, Y0, Y0
	VPACKUSWB Y0, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPUNPCKLDQ X1, X0, X0
	MOVQ X0, (DI)(BX*1)
	ADDQ $8, BX
	JMP  step2

ok2:
bad2:
	MOVQ BX, ret+48(FP)
	VZEROUPPER
	RET
