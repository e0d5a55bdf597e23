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
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL qlo+36(FP), AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL qhi+40(FP), AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x7f800000, AX
	VMOVD AX, X10
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
	VMOVQ X0, (DI)(BX*1)
	ADDQ $8, BX
	JMP  step2

ok2:
bad2:
	MOVQ BX, ret+48(FP)
	VZEROUPPER
	RET

// quantizeC3AVX512 quantizes one image of 3 planes of hw floats (CHW) into
// channels-last bytes, 16 pixels (48 bytes) a step, whole steps only:
// per plane c, with norm ≠ 0, the normalization x' = float32(x − mean[c])
// · inv[c] first (VSUBPS then VMULPS, two roundings, as normalizeCHW),
// then quantizeU8AVX512's steps on x'; the three planes' bytes of a pixel
// are joined in one dword (c0 | c1<<8 | c2<<16), packed to 12 bytes a
// 128-bit lane by VPSHUFB, the lanes joined by VPERMD, and 48 bytes
// stored under a mask. It returns the pixels done (hw rounded down to 16),
// or the first pixel of the step that holds a non-finite x' (that step
// and those after it are not written). quantizeC3 is its caller and
// quantizeRows' three passes its reference twin (TestQuantizeC3Matches).
DATA c3Shuf<>+0(SB)/8, $0x0908060504020100
DATA c3Shuf<>+8(SB)/8, $0x808080800e0d0c0a
DATA c3Shuf<>+16(SB)/8, $0x0908060504020100
DATA c3Shuf<>+24(SB)/8, $0x808080800e0d0c0a
DATA c3Shuf<>+32(SB)/8, $0x0908060504020100
DATA c3Shuf<>+40(SB)/8, $0x808080800e0d0c0a
DATA c3Shuf<>+48(SB)/8, $0x0908060504020100
DATA c3Shuf<>+56(SB)/8, $0x808080800e0d0c0a
GLOBL c3Shuf<>(SB), RODATA|NOPTR, $64
DATA c3Perm<>+0(SB)/8, $0x0000000100000000
DATA c3Perm<>+8(SB)/8, $0x0000000400000002
DATA c3Perm<>+16(SB)/8, $0x0000000600000005
DATA c3Perm<>+24(SB)/8, $0x0000000900000008
DATA c3Perm<>+32(SB)/8, $0x0000000c0000000a
DATA c3Perm<>+40(SB)/8, $0x0000000e0000000d
DATA c3Perm<>+48(SB)/8, $0x0000000f0000000f
DATA c3Perm<>+56(SB)/8, $0x0000000f0000000f
GLOBL c3Perm<>(SB), RODATA|NOPTR, $64

// func quantizeC3AVX512(dst *uint8, x *float32, hw int, s, fhi float32, zoff, qlo, qhi int32, mean, inv *float32, norm int) int
TEXT ·quantizeC3AVX512(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ hw+16(FP), CX
	ANDQ $-16, CX
	MOVQ hw+16(FP), AX
	LEAQ (SI)(AX*4), R10
	LEAQ (R10)(AX*4), R11
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
	MOVQ norm+64(FP), R9
	TESTQ R9, R9
	JZ   c3consts
	MOVQ mean+48(FP), AX
	VBROADCASTSS 0(AX), Z10
	VBROADCASTSS 4(AX), Z11
	VBROADCASTSS 8(AX), Z12
	MOVQ inv+56(FP), AX
	VBROADCASTSS 0(AX), Z13
	VBROADCASTSS 4(AX), Z14
	VBROADCASTSS 8(AX), Z15

c3consts:
	VMOVDQU32 c3Shuf<>(SB), Z30
	VMOVDQU32 c3Perm<>(SB), Z31
	MOVQ $0xffffffffffff, AX
	KMOVQ AX, K1
	XORQ BX, BX

c3step:
	CMPQ BX, CX
	JGE  c3done
	VMOVUPS (SI)(BX*4), Z0
	VMOVUPS (R10)(BX*4), Z1
	VMOVUPS (R11)(BX*4), Z2
	TESTQ R9, R9
	JZ   c3check
	VSUBPS Z10, Z0, Z0
	VSUBPS Z11, Z1, Z1
	VSUBPS Z12, Z2, Z2
	VMULPS Z13, Z0, Z0
	VMULPS Z14, Z1, Z1
	VMULPS Z15, Z2, Z2

c3check:
	VPANDD  Z20, Z0, Z3
	VPANDD  Z20, Z1, Z4
	VPANDD  Z20, Z2, Z5
	VPCMPEQD Z20, Z3, K2
	VPCMPEQD Z20, Z4, K3
	VPCMPEQD Z20, Z5, K4
	KORW K2, K3, K2
	KORW K2, K4, K2
	KORTESTW K2, K2
	JNZ  c3done
	VDIVPS Z21, Z0, Z0
	VDIVPS Z21, Z1, Z1
	VDIVPS Z21, Z2, Z2
	VMINPS Z23, Z0, Z0
	VMINPS Z23, Z1, Z1
	VMINPS Z23, Z2, Z2
	VCVTPS2DQ Z0, Z0
	VCVTPS2DQ Z1, Z1
	VCVTPS2DQ Z2, Z2
	VPADDD  Z24, Z0, Z0
	VPADDD  Z24, Z1, Z1
	VPADDD  Z24, Z2, Z2
	VPMAXSD Z25, Z0, Z0
	VPMAXSD Z25, Z1, Z1
	VPMAXSD Z25, Z2, Z2
	VPMINSD Z26, Z0, Z0
	VPMINSD Z26, Z1, Z1
	VPMINSD Z26, Z2, Z2
	VPSLLD $8, Z1, Z1
	VPSLLD $16, Z2, Z2
	VPORD  Z1, Z0, Z0
	VPORD  Z2, Z0, Z0
	VPSHUFB Z30, Z0, Z0
	VPERMD Z0, Z31, Z0
	VMOVDQU8 Z0, K1, (DI)
	ADDQ $48, DI
	ADDQ $16, BX
	JMP  c3step

c3done:
	MOVQ BX, ret+72(FP)
	VZEROUPPER
	RET
