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

// The float exponent's bits, for the non-finite test of quantizeC3AVX2.
DATA c3Exp<>+0(SB)/8, $0x7f8000007f800000
DATA c3Exp<>+8(SB)/8, $0x7f8000007f800000
DATA c3Exp<>+16(SB)/8, $0x7f8000007f800000
DATA c3Exp<>+24(SB)/8, $0x7f8000007f800000
GLOBL c3Exp<>(SB), RODATA|NOPTR, $32

// func quantizeC3AVX2(dst *uint8, x *float32, hw int, s, fhi float32, zoff, qlo, qhi int32, mean, inv *float32, norm int) int
// quantizeC3AVX512 on AVX2, 8 pixels (24 bytes) a step, whole steps
// only: the same operations per plane (VSUBPS, VMULPS with norm ≠ 0;
// VDIVPS, VMINPS, VCVTPS2DQ, the integer offset and clamp), the three
// planes' bytes joined in one dword, 12 bytes a 128-bit lane by VPSHUFB
// (c3Shuf's first 32 bytes), stored as 16 bytes at dst (the last 4
// zeros, which the next 12 overwrite) then 8 and 4 at dst+12 and
// dst+20: no byte past the 24. It returns the pixels done (hw rounded
// down to 8), or the first pixel of the step that holds a non-finite
// value (that step and those after it are not written).
//
// Registers: Y0–Y2 the planes' values, Y3, Y4 scratch; Y5–Y7 mean,
// Y8–Y10 inv, Y11 s, Y12 fhi, Y13 zoff, Y14 qlo, Y15 qhi.
TEXT ·quantizeC3AVX2(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ hw+16(FP), CX
	ANDQ $-8, CX
	MOVQ hw+16(FP), AX
	LEAQ (SI)(AX*4), R10
	LEAQ (R10)(AX*4), R11
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
	MOVQ norm+64(FP), R9
	TESTQ R9, R9
	JZ   c3a_start
	MOVQ mean+48(FP), AX
	VBROADCASTSS 0(AX), Y5
	VBROADCASTSS 4(AX), Y6
	VBROADCASTSS 8(AX), Y7
	MOVQ inv+56(FP), AX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10

c3a_start:
	XORQ BX, BX

c3a_step:
	CMPQ BX, CX
	JGE  c3a_done
	VMOVUPS (SI)(BX*4), Y0
	VMOVUPS (R10)(BX*4), Y1
	VMOVUPS (R11)(BX*4), Y2
	TESTQ R9, R9
	JZ   c3a_check
	VSUBPS Y5, Y0, Y0
	VSUBPS Y6, Y1, Y1
	VSUBPS Y7, Y2, Y2
	VMULPS Y8, Y0, Y0
	VMULPS Y9, Y1, Y1
	VMULPS Y10, Y2, Y2

c3a_check:
	VPAND    c3Exp<>(SB), Y0, Y3
	VPCMPEQD c3Exp<>(SB), Y3, Y3
	VPAND    c3Exp<>(SB), Y1, Y4
	VPCMPEQD c3Exp<>(SB), Y4, Y4
	VPOR     Y4, Y3, Y3
	VPAND    c3Exp<>(SB), Y2, Y4
	VPCMPEQD c3Exp<>(SB), Y4, Y4
	VPOR     Y4, Y3, Y3
	VPTEST   Y3, Y3
	JNZ  c3a_done
	VDIVPS Y11, Y0, Y0
	VDIVPS Y11, Y1, Y1
	VDIVPS Y11, Y2, Y2
	VMINPS Y12, Y0, Y0
	VMINPS Y12, Y1, Y1
	VMINPS Y12, Y2, Y2
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VPADDD  Y13, Y0, Y0
	VPADDD  Y13, Y1, Y1
	VPADDD  Y13, Y2, Y2
	VPMAXSD Y14, Y0, Y0
	VPMAXSD Y14, Y1, Y1
	VPMAXSD Y14, Y2, Y2
	VPMINSD Y15, Y0, Y0
	VPMINSD Y15, Y1, Y1
	VPMINSD Y15, Y2, Y2
	VPSLLD $8, Y1, Y1
	VPSLLD $16, Y2, Y2
	VPOR   Y1, Y0, Y0
	VPOR   Y2, Y0, Y0
	VPSHUFB c3Shuf<>(SB), Y0, Y0
	VMOVDQU X0, (DI)
	VEXTRACTI128 $1, Y0, X3
	VMOVQ   X3, 12(DI)
	VPEXTRD $2, X3, 20(DI)
	ADDQ $24, DI
	ADDQ $8, BX
	JMP  c3a_step

c3a_done:
	MOVQ BX, ret+72(FP)
	VZEROUPPER
	RET
