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
