//go:build amd64 && !purego

#include "textflag.h"

// func fqAVX2(dst, src, s, lo, hi *float32, n, step, period int) (unclipped bool)
TEXT ·fqAVX2(SB), NOSPLIT, $0-65
	MOVQ     dst+0(FP), DI
	MOVQ     src+8(FP), SI
	MOVQ     s+16(FP), R8
	MOVQ     lo+24(FP), R9
	MOVQ     hi+32(FP), R10
	MOVQ     n+40(FP), CX
	MOVQ     step+48(FP), DX
	MOVQ     period+56(FP), R11 // blocks of 8 before the parameters restart
	MOVQ     R8, R12
	MOVQ     R9, R13
	MOVQ     R10, AX
	MOVQ     R11, BX
	VPCMPEQD Y4, Y4, Y4 // all lanes unclipped so far
	SHRQ     $3, CX
	JZ       fqdone

fqloop:
	VMOVUPS    (R8), Y1       // S
	VMOVUPS    (SI), Y0       // x
	VDIVPS     Y1, Y0, Y0     // u = x / S
	VROUNDPS   $8, Y0, Y0     // r = round(u), half to even (NaN stays)
	VMAXPS     (R9), Y0, Y2   // max(r, lo); lo when r is NaN
	VMINPS     (R10), Y2, Y2  // q = min(·, hi)
	VCMPPS     $0, Y2, Y0, Y3 // r == q (EQ_OQ, false for NaN): not clipped
	VANDPS     Y3, Y4, Y4
	VCVTTPS2DQ Y2, Y0         // q (exact: an integer below 2^24)
	VCVTDQ2PS  Y0, Y0         // float32(q): −0 became +0
	VMULPS     Y1, Y0, Y0     // S·q
	VMOVUPS    Y0, (DI)
	ADDQ       $32, SI
	ADDQ       $32, DI
	ADDQ       DX, R8
	ADDQ       DX, R9
	ADDQ       DX, R10
	DECQ       BX
	JNZ        fqnext
	MOVQ       R12, R8        // a period done: back to the first parameters
	MOVQ       R13, R9
	MOVQ       AX, R10
	MOVQ       R11, BX

fqnext:
	DECQ CX
	JNZ  fqloop

fqdone:
	VMOVMSKPS Y4, AX
	CMPL      AX, $0xff
	SETEQ     unclipped+64(FP)
	VZEROUPPER
	RET

// func passAVX2(dx, dy, x, tlo, thi *float32, n, step int)
TEXT ·passAVX2(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ tlo+24(FP), R8
	MOVQ thi+32(FP), R9
	MOVQ n+40(FP), CX
	MOVQ step+48(FP), DX
	SHRQ $3, CX
	JZ   passdone

passloop:
	VMOVUPS (BX), Y0
	VCMPPS  $0x1d, (R8), Y0, Y1 // x ≥ tlo (GE_OQ: false for NaN)
	VCMPPS  $0x12, (R9), Y0, Y2 // x ≤ thi (LE_OQ)
	VANDPS  Y2, Y1, Y1
	VANDPS  (SI), Y1, Y1        // dy where inside, +0 elsewhere
	VMOVUPS Y1, (DI)
	ADDQ    $32, BX
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    DX, R8
	ADDQ    DX, R9
	DECQ    CX
	JNZ     passloop

passdone:
	VZEROUPPER
	RET

// func requantAVX512(dst, src *float32, sa, rcp *float64, m0, half, shift *int64, mf *float64, n, step int, c *[13]uint64)
// c: MinInt32, MaxInt32, ½, 1 (float64), the sign and magnitude masks,
// ½ − 2^−16 (float64), q_min − Z, q_max − Z (int64), S (float32 bits);
// c[10..12]: 2^29, q_min − Z and q_max − Z (float64), for the float64
// steps of blocks below 2^29 (as requantRunsAVX512's).
TEXT ·requantAVX512(SB), NOSPLIT, $0-88
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ sa+16(FP), R8
	MOVQ rcp+24(FP), R12
	MOVQ m0+32(FP), R9
	MOVQ half+40(FP), R10
	MOVQ shift+48(FP), R11
	MOVQ mf+56(FP), R13
	MOVQ n+64(FP), CX
	MOVQ step+72(FP), DX
	MOVQ c+80(FP), AX
	VBROADCASTSD 0(AX), Z16  // MinInt32
	VBROADCASTSD 8(AX), Z17  // MaxInt32
	VBROADCASTSD 16(AX), Z18 // 0.5
	VBROADCASTSD 24(AX), Z19 // 1.0
	VPBROADCASTQ 32(AX), Z20 // sign mask
	VPBROADCASTQ 40(AX), Z21 // |·| mask
	VBROADCASTSD 48(AX), Z22 // ½ − 2^−16
	VPBROADCASTQ 56(AX), Z23 // q_min − Z
	VPBROADCASTQ 64(AX), Z24 // q_max − Z
	VBROADCASTSS 72(AX), Y25 // S
	VBROADCASTSD 80(AX), Z9  // 2^29
	VBROADCASTSD 88(AX), Z11 // q_min − Z as float64
	VBROADCASTSD 96(AX), Z12 // q_max − Z as float64
	VPXORQ       Z10, Z10, Z10 // +0
	VPTERNLOGQ   $0xff, Z26, Z26, Z26 // all ones
	VPSRLQ       $63, Z26, Z26        // 1
	KXNORW       K3, K3, K3           // all 8 lanes
	TESTQ        CX, CX
	JLE          rqdone

rqloop:
	CMPQ CX, $8
	JGE  rqblock
	MOVQ $1, AX // the last, partial block: its first CX lanes
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K3

rqblock:
	// v′ = y·(1/S_acc). Both quotients lie within 2^−50·|v′| of
	// y/S_acc, so for |v′| ≤ 2^32 within 2^−18: where v′ is farther
	// than 2^−16 from every half-integer (|v′ − rne(v′)| < ½ − 2^−16)
	// no rounding boundary lies between them and math.Round(y/S_acc)
	// is rne(v′); beyond 2^32 both clamp to the same int32 bound.
	// Elsewhere (and for NaN, ±Inf) the block is divided.
	VCVTPS2PD.Z (SI), K3, Z7  // y as float64 (exact); lanes past n: 0
	VMULPD      (R12), Z7, Z0 // v′ = y·(1/S_acc)
	VRNDSCALEPD $0x08, Z0, Z1 // r = v′ rounded half to even
	VSUBPD      Z1, Z0, Z2    // v′ − r (exact)
	VPANDQ      Z21, Z2, Z2
	VCMPPD      $0x11, Z22, Z2, K2 // |v′ − r| < ½ − 2^−16 (LT_OQ: false for NaN)
	VPANDQ      Z21, Z0, Z8           // |v′|
	VCMPPD      $0x11, Z9, Z8, K2, K4 // and |v′| < 2^29: float64 (exact, see requantRunsAVX512)
	KMOVW       K4, AX
	CMPB        AL, $0xff
	JNE         rqslow

	VMULPD      (R13), Z1, Z1         // r·M = acc·M0·2^−shift (exact)
	VRNDSCALEPD $0x08, Z1, Z1         // RoundShift: half to even
	VADDPD      Z10, Z1, Z1           // −0 → +0
	VMAXPD      Z11, Z1, Z1           // clamp(· + Z, q_min, q_max) − Z
	VMINPD      Z12, Z1, Z1
	VCVTPD2PS   Z1, Y1                // float32(q − Z) (exact)
	JMP         rqstore

rqslow:
	KMOVW K2, AX
	CMPB  AL, $0xff
	JNE   rqdivide

rqint:
	VMAXPD      Z16, Z1, Z1         // ≥ MinInt32; MinInt32 for NaN (second operand)
	VMINPD      Z17, Z1, Z1         // ≤ MaxInt32
	VCVTTPD2DQ  Z1, Y1              // acc (exact: an integer in range)
	VPMOVSXDQ   Y1, Z1              // as int64
	VPMULDQ     (R9), Z1, Z1        // p = acc·M0 (exact)
	VPSRAVQ     (R11), Z1, Z2       // p >> shift
	VPANDQ      Z26, Z2, Z2         // (p >> shift) & 1
	VPADDQ      (R10), Z1, Z1       // p + 2^(shift−1) − 1
	VPADDQ      Z2, Z1, Z1
	VPSRAVQ     (R11), Z1, Z1       // RoundShift: half to even
	VPMAXSQ     Z23, Z1, Z1         // clamp(· + Z, q_min, q_max) − Z
	VPMINSQ     Z24, Z1, Z1
	VPMOVQD     Z1, Y1
	VCVTDQ2PS   Y1, Y1              // float32(q − Z)

rqstore:
	VMULPS      Y25, Y1, Y1         // S·(q − Z)
	VMOVUPS     Y1, K3, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        DX, R8
	ADDQ        DX, R12
	ADDQ        DX, R9
	ADDQ        DX, R10
	ADDQ        DX, R11
	ADDQ        DX, R13
	SUBQ        $8, CX
	JG          rqloop

rqdone:
	VZEROUPPER
	RET

rqdivide:
	VDIVPD      (R8), Z7, Z0        // v = y / S_acc (IEEE, as DIVSD)
	VRNDSCALEPD $0x0b, Z0, Z1       // t = trunc(v)
	VSUBPD      Z1, Z0, Z2          // d = v − t (exact)
	VPANDQ      Z21, Z2, Z2         // |d|
	VCMPPD      $0x1d, Z18, Z2, K1  // |d| ≥ ½ (GE_OQ: false for NaN)
	VPANDQ      Z20, Z0, Z3         // sign of v
	VPORQ       Z19, Z3, Z3         // copysign(1, v)
	VADDPD      Z3, Z1, K1, Z1      // math.Round: half away from zero
	JMP         rqint

// func minMaxLanesAVX2(mn, mx, x *float32, n int) bool
TEXT ·minMaxLanesAVX2(SB), NOSPLIT, $0-33
	MOVQ   mn+0(FP), DI
	MOVQ   mx+8(FP), SI
	MOVQ   x+16(FP), BX
	MOVQ   n+24(FP), CX
	VXORPS Y3, Y3, Y3
	SHRQ   $3, CX
	JZ     mldone

mlloop:
	VMOVUPS (BX), Y0
	VMINPS  (DI), Y0, Y1  // v < mn ? v : mn
	VMOVUPS Y1, (DI)
	VMAXPS  (SI), Y0, Y2  // v > mx ? v : mx
	VMOVUPS Y2, (SI)
	VCMPPS  $3, Y0, Y0, Y4 // NaN
	VORPS   Y4, Y3, Y3
	ADDQ    $32, BX
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     mlloop

mldone:
	VMOVMSKPS Y3, AX
	TESTL     AX, AX
	SETNE     ret+32(FP)
	VZEROUPPER
	RET

// func minMaxRunAVX2(mn, mx *[8]float32, x *float32, n int) bool
TEXT ·minMaxRunAVX2(SB), NOSPLIT, $0-33
	MOVQ    mn+0(FP), DI
	MOVQ    mx+8(FP), SI
	MOVQ    x+16(FP), BX
	MOVQ    n+24(FP), CX
	VMOVUPS (DI), Y1
	VMOVUPS (SI), Y2
	VXORPS  Y3, Y3, Y3
	SHRQ    $3, CX
	JZ      mrdone

mrloop:
	VMOVUPS (BX), Y0
	VMINPS  Y1, Y0, Y1   // v < mn ? v : mn
	VMAXPS  Y2, Y0, Y2   // v > mx ? v : mx
	VCMPPS  $3, Y0, Y0, Y4
	VORPS   Y4, Y3, Y3
	ADDQ    $32, BX
	DECQ    CX
	JNZ     mrloop

mrdone:
	VMOVUPS   Y1, (DI)
	VMOVUPS   Y2, (SI)
	VMOVMSKPS Y3, AX
	TESTL     AX, AX
	SETNE     ret+32(FP)
	VZEROUPPER
	RET

// func addAVX512(dst, a, b *float32, n int, c *[16]uint64)
// c: S_a, a_lo, a_hi, S_b, b_lo, b_hi, S_o (float32 bits in the low
// half), then M0a, n − na, M0b, n − nb, n, 2^(n−1) − 1, Z, lo, hi (int64).
TEXT ·addAVX512(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         b+16(FP), BX
	MOVQ         n+24(FP), CX
	MOVQ         c+32(FP), AX
	VBROADCASTSS 0(AX), Y8     // S_a
	VBROADCASTSS 8(AX), Y9     // a_lo
	VBROADCASTSS 16(AX), Y10   // a_hi
	VBROADCASTSS 24(AX), Y11   // S_b
	VBROADCASTSS 32(AX), Y12   // b_lo
	VBROADCASTSS 40(AX), Y13   // b_hi
	VBROADCASTSS 48(AX), Y14   // S_o
	VPBROADCASTQ 56(AX), Z16   // M0a
	VPBROADCASTQ 64(AX), Z17   // n − na
	VPBROADCASTQ 72(AX), Z18   // M0b
	VPBROADCASTQ 80(AX), Z19   // n − nb
	VPBROADCASTQ 88(AX), Z20   // n
	VPBROADCASTQ 96(AX), Z21   // 2^(n−1) − 1
	VPBROADCASTQ 104(AX), Z22  // Z
	VPBROADCASTQ 112(AX), Z23  // lo
	VPBROADCASTQ 120(AX), Z24  // hi
	VPTERNLOGQ   $0xff, Z25, Z25, Z25 // all ones
	VPSRLQ       $63, Z25, Z25        // 1
	SHRQ         $3, CX
	JZ           adddone

addloop:
	VMOVUPS    (SI), Y0
	VDIVPS     Y8, Y0, Y0      // a / S_a (IEEE, as DIVSS)
	VMAXPS     Y9, Y0, Y0      // max(u, lo); lo when u is NaN
	VMINPS     Y10, Y0, Y0     // min(·, hi)
	VROUNDPS   $8, Y0, Y0      // half to even: quant.RoundClamp
	VCVTTPS2DQ Y0, Y0          // da
	VMOVUPS    (BX), Y1
	VDIVPS     Y11, Y1, Y1     // b / S_b
	VMAXPS     Y12, Y1, Y1
	VMINPS     Y13, Y1, Y1
	VROUNDPS   $8, Y1, Y1
	VCVTTPS2DQ Y1, Y1          // db
	VPMOVSXDQ  Y0, Z0
	VPMULDQ    Z16, Z0, Z0     // da·M0a (exact)
	VPSLLVQ    Z17, Z0, Z0     // ·2^(n−na): da·A
	VPMOVSXDQ  Y1, Z1
	VPMULDQ    Z18, Z1, Z1
	VPSLLVQ    Z19, Z1, Z1     // db·B
	VPADDQ     Z1, Z0, Z0      // p (|p| < 2^62)
	VPSRAVQ    Z20, Z0, Z2     // p >> n
	VPANDQ     Z25, Z2, Z2     // (p >> n) & 1
	VPADDQ     Z21, Z0, Z0     // p + 2^(n−1) − 1
	VPADDQ     Z2, Z0, Z0
	VPSRAVQ    Z20, Z0, Z0     // quant.RoundShift: half to even
	VPADDQ     Z22, Z0, Z0     // + Z
	VPMAXSQ    Z23, Z0, Z0     // clamp to [lo, hi]
	VPMINSQ    Z24, Z0, Z0
	VPSUBQ     Z22, Z0, Z0     // q − Z
	VPMOVQD    Z0, Y0
	VCVTDQ2PS  Y0, Y0          // float32(q − Z)
	VMULPS     Y14, Y0, Y0     // S_o·(q − Z)
	VMOVUPS    Y0, (DI)
	ADDQ       $32, SI
	ADDQ       $32, BX
	ADDQ       $32, DI
	DECQ       CX
	JNZ        addloop

adddone:
	VZEROUPPER
	RET

// func sumAVX2(v, a, b *float32, n int, lo, hi float32)
TEXT ·sumAVX2(SB), NOSPLIT, $0-40
	MOVQ         v+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         b+16(FP), BX
	MOVQ         n+24(FP), CX
	VBROADCASTSS lo+32(FP), Y1
	VBROADCASTSS hi+36(FP), Y2
	SHRQ         $3, CX
	JZ           sumdone

sumloop:
	VMOVUPS (SI), Y0
	VADDPS  (BX), Y0, Y0 // t = a + b
	VMAXPS  Y0, Y1, Y0   // lo > t ? lo : t (t when NaN or equal)
	VMINPS  Y0, Y2, Y0   // hi < t ? hi : t
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sumloop

sumdone:
	VZEROUPPER
	RET

// func clampAVX2(dst, x *float32, n int, hi float32)
TEXT ·clampAVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS hi+24(FP), Y2
	SHRQ         $3, CX
	JZ           clampdone

clamploop:
	VMOVUPS (SI), Y0
	VMINPS  Y0, Y2, Y0 // hi < x ? hi : x (x when NaN)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     clamploop

clampdone:
	VZEROUPPER
	RET

// func qAVX2(dst *int32, src *float32, s, lo, hi float32, n int)
TEXT ·qAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	VBROADCASTSS s+16(FP), Y1
	VBROADCASTSS lo+20(FP), Y2
	VBROADCASTSS hi+24(FP), Y3
	MOVQ         n+32(FP), CX
	SHRQ         $3, CX
	JZ           qdone

qloop:
	VMOVUPS    (SI), Y0
	VDIVPS     Y1, Y0, Y0 // u = x / S
	VMAXPS     Y2, Y0, Y0 // max(u, lo); lo when u is NaN
	VMINPS     Y3, Y0, Y0 // min(·, hi)
	VROUNDPS   $8, Y0, Y0 // half to even
	VCVTTPS2DQ Y0, Y0     // q (exact: an integer below 2^24)
	VMOVDQU    Y0, (DI)
	ADDQ       $32, SI
	ADDQ       $32, DI
	DECQ       CX
	JNZ        qloop

qdone:
	VZEROUPPER
	RET

// func minMaxCols32AVX2(mn, mx, x *float32, rows, stride int) bool
TEXT ·minMaxCols32AVX2(SB), NOSPLIT, $0-41
	MOVQ    mn+0(FP), DI
	MOVQ    mx+8(FP), SI
	MOVQ    x+16(FP), BX
	MOVQ    rows+24(FP), CX
	MOVQ    stride+32(FP), DX
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VXORPS  Y12, Y12, Y12
	TESTQ   CX, CX
	JZ      mc32done

mc32loop:
	VMOVUPS 0(BX), Y8
	VMOVUPS 32(BX), Y9
	VMOVUPS 64(BX), Y10
	VMOVUPS 96(BX), Y11
	VMINPS  Y0, Y8, Y0       // v < mn ? v : mn
	VMINPS  Y1, Y9, Y1
	VMINPS  Y2, Y10, Y2
	VMINPS  Y3, Y11, Y3
	VMAXPS  Y4, Y8, Y4       // v > mx ? v : mx
	VMAXPS  Y5, Y9, Y5
	VMAXPS  Y6, Y10, Y6
	VMAXPS  Y7, Y11, Y7
	VCMPPS  $3, Y9, Y8, Y13  // either NaN
	VCMPPS  $3, Y11, Y10, Y14
	VORPS   Y13, Y12, Y12
	VORPS   Y14, Y12, Y12
	ADDQ    DX, BX
	DECQ    CX
	JNZ     mc32loop

mc32done:
	VMOVUPS   Y0, 0(DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	VMOVUPS   Y4, 0(SI)
	VMOVUPS   Y5, 32(SI)
	VMOVUPS   Y6, 64(SI)
	VMOVUPS   Y7, 96(SI)
	VMOVMSKPS Y12, AX
	TESTL     AX, AX
	SETNE     ret+40(FP)
	VZEROUPPER
	RET

// func minMaxCols8AVX2(mn, mx, x *float32, rows, stride int) bool
TEXT ·minMaxCols8AVX2(SB), NOSPLIT, $0-41
	MOVQ    mn+0(FP), DI
	MOVQ    mx+8(FP), SI
	MOVQ    x+16(FP), BX
	MOVQ    rows+24(FP), CX
	MOVQ    stride+32(FP), DX
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y4
	VXORPS  Y12, Y12, Y12
	TESTQ   CX, CX
	JZ      mc8done

mc8loop:
	VMOVUPS (BX), Y8
	VMINPS  Y0, Y8, Y0
	VMAXPS  Y4, Y8, Y4
	VCMPPS  $3, Y8, Y8, Y13
	VORPS   Y13, Y12, Y12
	ADDQ    DX, BX
	DECQ    CX
	JNZ     mc8loop

mc8done:
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y4, (SI)
	VMOVMSKPS Y12, AX
	TESTL     AX, AX
	SETNE     ret+40(FP)
	VZEROUPPER
	RET

// func fqAVX512(dst, src, s, lo, hi *float32, n, step, period int) (unclipped bool)
TEXT ·fqAVX512(SB), NOSPLIT, $0-65
	MOVQ        dst+0(FP), DI
	MOVQ        src+8(FP), SI
	MOVQ        s+16(FP), R8
	MOVQ        lo+24(FP), R9
	MOVQ        hi+32(FP), R10
	MOVQ        n+40(FP), CX
	MOVQ        step+48(FP), DX
	MOVQ        period+56(FP), R11 // blocks of 16 before the parameters restart
	MOVQ        R8, R12
	MOVQ        R9, R13
	MOVQ        R10, AX
	MOVQ        R11, BX
	KXNORW      K2, K2, K2 // all lanes unclipped so far
	SHRQ        $4, CX
	JZ          fq5done

fq5loop:
	VMOVUPS     (R8), Z1       // S
	VMOVUPS     (SI), Z0       // x
	VDIVPS      Z1, Z0, Z0     // u = x / S
	VRNDSCALEPS $8, Z0, Z0     // r = round(u), half to even (NaN stays)
	VMAXPS      (R9), Z0, Z2   // max(r, lo); lo when r is NaN
	VMINPS      (R10), Z2, Z2  // q = min(·, hi)
	VCMPPS      $0, Z2, Z0, K1 // r == q (EQ_OQ, false for NaN): not clipped
	KANDW       K1, K2, K2
	VCVTTPS2DQ  Z2, Z0         // q (exact: an integer below 2^24)
	VCVTDQ2PS   Z0, Z0         // float32(q): −0 became +0
	VMULPS      Z1, Z0, Z0     // S·q
	VMOVUPS     Z0, (DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        DX, R8
	ADDQ        DX, R9
	ADDQ        DX, R10
	DECQ        BX
	JNZ         fq5next
	MOVQ        R12, R8        // a period done: back to the first parameters
	MOVQ        R13, R9
	MOVQ        AX, R10
	MOVQ        R11, BX

fq5next:
	DECQ CX
	JNZ  fq5loop

fq5done:
	KMOVW K2, AX
	CMPL  AX, $0xffff
	SETEQ unclipped+64(FP)
	VZEROUPPER
	RET

// func minMaxCols64AVX512(mn, mx, x *float32, rows, stride int) bool
TEXT ·minMaxCols64AVX512(SB), NOSPLIT, $0-41
	MOVQ    mn+0(FP), DI
	MOVQ    mx+8(FP), SI
	MOVQ    x+16(FP), BX
	MOVQ    rows+24(FP), CX
	MOVQ    stride+32(FP), DX
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 0(SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	KXORW   K3, K3, K3
	TESTQ   CX, CX
	JZ      mc64done

mc64loop:
	VMOVUPS 0(BX), Z8
	VMOVUPS 64(BX), Z9
	VMOVUPS 128(BX), Z10
	VMOVUPS 192(BX), Z11
	VMINPS  Z0, Z8, Z0      // v < mn ? v : mn
	VMINPS  Z1, Z9, Z1
	VMINPS  Z2, Z10, Z2
	VMINPS  Z3, Z11, Z3
	VMAXPS  Z4, Z8, Z4      // v > mx ? v : mx
	VMAXPS  Z5, Z9, Z5
	VMAXPS  Z6, Z10, Z6
	VMAXPS  Z7, Z11, Z7
	VCMPPS  $3, Z9, Z8, K1  // either NaN
	VCMPPS  $3, Z11, Z10, K2
	KORW    K1, K3, K3
	KORW    K2, K3, K3
	ADDQ    DX, BX
	DECQ    CX
	JNZ     mc64loop

mc64done:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 0(SI)
	VMOVUPS Z5, 64(SI)
	VMOVUPS Z6, 128(SI)
	VMOVUPS Z7, 192(SI)
	KMOVW   K3, AX
	TESTL   AX, AX
	SETNE   ret+40(FP)
	VZEROUPPER
	RET

// func passAVX512(dx, dy, x, tlo, thi *float32, n, step int)
TEXT ·passAVX512(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ tlo+24(FP), R8
	MOVQ thi+32(FP), R9
	MOVQ n+40(FP), CX
	MOVQ step+48(FP), DX
	SHRQ $4, CX
	JZ   pass5done

pass5loop:
	VMOVUPS   (BX), Z0
	VCMPPS    $0x1d, (R8), Z0, K1     // x ≥ tlo (GE_OQ: false for NaN)
	VCMPPS    $0x12, (R9), Z0, K1, K2 // and x ≤ thi (LE_OQ)
	VMOVUPS.Z (SI), K2, Z1            // dy where inside, +0 elsewhere
	VMOVUPS   Z1, (DI)
	ADDQ      $64, BX
	ADDQ      $64, SI
	ADDQ      $64, DI
	ADDQ      DX, R8
	ADDQ      DX, R9
	DECQ      CX
	JNZ       pass5loop

pass5done:
	VZEROUPPER
	RET

// func sumAVX512(v, a, b *float32, n int, lo, hi float32)
TEXT ·sumAVX512(SB), NOSPLIT, $0-40
	MOVQ         v+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         b+16(FP), BX
	MOVQ         n+24(FP), CX
	VBROADCASTSS lo+32(FP), Z1
	VBROADCASTSS hi+36(FP), Z2
	SHRQ         $4, CX
	JZ           sum5done

sum5loop:
	VMOVUPS (SI), Z0
	VADDPS  (BX), Z0, Z0 // t = a + b
	VMAXPS  Z0, Z1, Z0   // lo > t ? lo : t (t when NaN or equal)
	VMINPS  Z0, Z2, Z0   // hi < t ? hi : t
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, BX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     sum5loop

sum5done:
	VZEROUPPER
	RET

// func clampAVX512(dst, x *float32, n int, hi float32)
TEXT ·clampAVX512(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS hi+24(FP), Z2
	SHRQ         $4, CX
	JZ           clamp5done

clamp5loop:
	VMOVUPS (SI), Z0
	VMINPS  Z0, Z2, Z0 // hi < x ? hi : x (x when NaN)
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     clamp5loop

clamp5done:
	VZEROUPPER
	RET

// func minMaxRunAVX512(mn, mx *[16]float32, x *float32, n int) bool
TEXT ·minMaxRunAVX512(SB), NOSPLIT, $0-33
	MOVQ    mn+0(FP), DI
	MOVQ    mx+8(FP), SI
	MOVQ    x+16(FP), BX
	MOVQ    n+24(FP), CX
	VMOVUPS (DI), Z1
	VMOVUPS (SI), Z2
	KXORW   K3, K3, K3
	SHRQ    $4, CX
	JZ      mr5done

mr5loop:
	VMOVUPS (BX), Z0
	VMINPS  Z1, Z0, Z1    // v < mn ? v : mn
	VMAXPS  Z2, Z0, Z2    // v > mx ? v : mx
	VCMPPS  $3, Z0, Z0, K1 // v is NaN
	KORW    K1, K3, K3
	ADDQ    $64, BX
	DECQ    CX
	JNZ     mr5loop

mr5done:
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, (SI)
	KMOVW   K3, AX
	TESTL   AX, AX
	SETNE   ret+32(FP)
	VZEROUPPER
	RET

// func requantRunsAVX512(dst, src *float32, sa, rcp *float64, m0, half, shift *int64, mf *float64, inner, runs, c0, ch int, c *[13]uint64)
//
// requantAVX512 on runs consecutive runs of inner elements, run r with
// channel (c0 + r) mod ch's 8 parameter lanes (at byte 64·channel of
// each parameter array): the calls of requantFakeQuantize's loop over
// runs in one, each run's last partial block under a mask as there.
//
// A block whose quotients all take requantAVX512's shortcut (r = rne(v′))
// with |v′| < 2^29 requantizes in float64: p = acc·M0 has |p| < 2^53
// (M0 < 2^24), so r·M with M = M0·2^−shift (mf, exact) is p·2^−shift
// exactly, and its rounding half to even is quant.RoundShift(p, shift);
// + 0 turns a −0 into +0, the clamp to [q_min − Z, q_max − Z] and the
// conversion to float32 are exact on these integers. Other blocks take
// requantAVX512's integer steps.
TEXT ·requantRunsAVX512(SB), NOSPLIT, $0-104
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ sa+16(FP), R8
	MOVQ rcp+24(FP), R12
	MOVQ m0+32(FP), R9
	MOVQ half+40(FP), R10
	MOVQ shift+48(FP), R11
	MOVQ mf+56(FP), R15
	MOVQ inner+64(FP), R13
	MOVQ runs+72(FP), R14
	MOVQ c0+80(FP), BX
	SHLQ $6, BX              // byte offset of the run's channel
	MOVQ c+96(FP), AX
	VBROADCASTSD 0(AX), Z16  // MinInt32
	VBROADCASTSD 8(AX), Z17  // MaxInt32
	VBROADCASTSD 16(AX), Z18 // 0.5
	VBROADCASTSD 24(AX), Z19 // 1.0
	VPBROADCASTQ 32(AX), Z20 // sign mask
	VPBROADCASTQ 40(AX), Z21 // |·| mask
	VBROADCASTSD 48(AX), Z22 // ½ − 2^−16
	VPBROADCASTQ 56(AX), Z23 // q_min − Z
	VPBROADCASTQ 64(AX), Z24 // q_max − Z
	VBROADCASTSS 72(AX), Y25 // S
	VBROADCASTSD 80(AX), Z9  // 2^29
	VBROADCASTSD 88(AX), Z11 // q_min − Z as float64
	VBROADCASTSD 96(AX), Z12 // q_max − Z as float64
	VPXORQ       Z10, Z10, Z10        // +0
	VPTERNLOGQ   $0xff, Z26, Z26, Z26 // all ones
	VPSRLQ       $63, Z26, Z26        // 1
	TESTQ        R13, R13
	JLE          rrdone
	TESTQ        R14, R14
	JLE          rrdone

rrrun:
	MOVQ   R13, CX
	KXNORW K3, K3, K3 // all 8 lanes

rrloop:
	MOVQ  $8, DX // the block's elements
	CMPQ  CX, $8
	JGE   rrblock
	MOVQ  CX, DX
	MOVQ  $1, AX // the run's last, partial block: its first CX lanes
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K3

rrblock:
	VCVTPS2PD.Z (SI), K3, Z7          // y as float64 (exact); lanes past the run: 0
	VMULPD      (R12)(BX*1), Z7, Z0   // v′ = y·(1/S_acc)
	VRNDSCALEPD $0x08, Z0, Z1         // r = v′ rounded half to even
	VSUBPD      Z1, Z0, Z2            // v′ − r (exact)
	VPANDQ      Z21, Z2, Z2
	VCMPPD      $0x11, Z22, Z2, K2    // |v′ − r| < ½ − 2^−16 (LT_OQ: false for NaN)
	VPANDQ      Z21, Z0, Z8           // |v′|
	VCMPPD      $0x11, Z9, Z8, K2, K4 // and |v′| < 2^29
	KMOVW       K4, AX
	CMPB        AL, $0xff
	JNE         rrslow

	VMULPD      (R15)(BX*1), Z1, Z1   // r·M = acc·M0·2^−shift (exact)
	VRNDSCALEPD $0x08, Z1, Z1         // RoundShift: half to even
	VADDPD      Z10, Z1, Z1           // −0 → +0
	VMAXPD      Z11, Z1, Z1           // clamp(· + Z, q_min, q_max) − Z
	VMINPD      Z12, Z1, Z1
	VCVTPD2PS   Z1, Y1                // float32(q − Z) (exact)
	JMP         rrstore

rrslow:
	KMOVW K2, AX
	CMPB  AL, $0xff
	JNE   rrdivide

rrint:
	VMAXPD      Z16, Z1, Z1          // ≥ MinInt32; MinInt32 for NaN (second operand)
	VMINPD      Z17, Z1, Z1          // ≤ MaxInt32
	VCVTTPD2DQ  Z1, Y1               // acc (exact: an integer in range)
	VPMOVSXDQ   Y1, Z1               // as int64
	VPMULDQ     (R9)(BX*1), Z1, Z1   // p = acc·M0 (exact)
	VPSRAVQ     (R11)(BX*1), Z1, Z2  // p >> shift
	VPANDQ      Z26, Z2, Z2          // (p >> shift) & 1
	VPADDQ      (R10)(BX*1), Z1, Z1  // p + 2^(shift−1) − 1
	VPADDQ      Z2, Z1, Z1
	VPSRAVQ     (R11)(BX*1), Z1, Z1  // RoundShift: half to even
	VPMAXSQ     Z23, Z1, Z1          // clamp(· + Z, q_min, q_max) − Z
	VPMINSQ     Z24, Z1, Z1
	VPMOVQD     Z1, Y1
	VCVTDQ2PS   Y1, Y1               // float32(q − Z)

rrstore:
	VMULPS      Y25, Y1, Y1          // S·(q − Z)
	VMOVUPS     Y1, K3, (DI)
	LEAQ        (SI)(DX*4), SI
	LEAQ        (DI)(DX*4), DI
	SUBQ        DX, CX
	JG          rrloop

	ADDQ $64, BX // the next run's channel
	MOVQ ch+88(FP), AX
	SHLQ $6, AX  // byte size of the channels' lanes
	CMPQ BX, AX
	JLT  rrnext
	XORQ BX, BX

rrnext:
	DECQ R14
	JNZ  rrrun

rrdone:
	VZEROUPPER
	RET

rrdivide:
	VDIVPD      (R8)(BX*1), Z7, Z0   // v = y / S_acc (IEEE, as DIVSD)
	VRNDSCALEPD $0x0b, Z0, Z1        // t = trunc(v)
	VSUBPD      Z1, Z0, Z2           // d = v − t (exact)
	VPANDQ      Z21, Z2, Z2          // |d|
	VCMPPD      $0x1d, Z18, Z2, K1   // |d| ≥ ½ (GE_OQ: false for NaN)
	VPANDQ      Z20, Z0, Z3          // sign of v
	VPORQ       Z19, Z3, Z3          // copysign(1, v)
	VADDPD      Z3, Z1, K1, Z1       // math.Round: half away from zero
	JMP         rrint

// func qSumRowsAVX512(sums *int64, src *float32, rows, hw int, s, lo, hi float32)
//
// sums[r] = Σ of qAVX2's integers over row r (hw elements at src[r·hw:]),
// 16 at a time, the row's last partial block under a mask (its lanes
// past the row add 0), summed in int64 lanes.
TEXT ·qSumRowsAVX512(SB), NOSPLIT, $0-44
	MOVQ         sums+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         rows+16(FP), R8
	MOVQ         hw+24(FP), R9
	VBROADCASTSS s+32(FP), Z1
	VBROADCASTSS lo+36(FP), Z2
	VBROADCASTSS hi+40(FP), Z3
	TESTQ        R8, R8
	JLE          qsdone
	TESTQ        R9, R9
	JLE          qsdone

qsrow:
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	MOVQ   R9, CX
	KXNORW K1, K1, K1 // all 16 lanes

qsloop:
	MOVQ  $16, DX // the block's elements
	CMPQ  CX, $16
	JGE   qsblock
	MOVQ  CX, DX
	MOVQ  $1, AX // the row's last, partial block: its first CX lanes
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1

qsblock:
	VMOVUPS.Z     (SI), K1, Z0
	VDIVPS        Z1, Z0, Z0 // u = x / S
	VMAXPS        Z2, Z0, Z0 // max(u, lo); lo when u is NaN
	VMINPS        Z3, Z0, Z0 // min(·, hi)
	VRNDSCALEPS   $0x08, Z0, Z0 // half to even
	VCVTTPS2DQ    Z0, Z0        // q (exact: an integer below 2^24)
	VMOVDQA32.Z   Z0, K1, Z0    // lanes past the row: 0
	VEXTRACTI64X4 $1, Z0, Y6
	VPMOVSXDQ     Y0, Z7
	VPMOVSXDQ     Y6, Z6
	VPADDQ        Z7, Z4, Z4
	VPADDQ        Z6, Z5, Z5
	LEAQ          (SI)(DX*4), SI
	SUBQ          DX, CX
	JG            qsloop

	VPADDQ        Z5, Z4, Z4
	VEXTRACTI64X4 $1, Z4, Y5
	VPADDQ        Y5, Y4, Y4
	VEXTRACTI128  $1, Y4, X5
	VPADDQ        X5, X4, X4
	VPSHUFD       $0x4e, X4, X5
	VPADDQ        X5, X4, X4
	VMOVQ         X4, (DI)
	ADDQ          $8, DI
	DECQ          R8
	JNZ           qsrow

qsdone:
	VZEROUPPER
	RET

// The masks of requantRunsAVX2's partial blocks: the 8 int32 at byte
// 32 − 4k hold k all-ones lanes, then zeros.
DATA rqmask<>+0(SB)/8, $0xffffffffffffffff
DATA rqmask<>+8(SB)/8, $0xffffffffffffffff
DATA rqmask<>+16(SB)/8, $0xffffffffffffffff
DATA rqmask<>+24(SB)/8, $0xffffffffffffffff
DATA rqmask<>+32(SB)/8, $0
DATA rqmask<>+40(SB)/8, $0
DATA rqmask<>+48(SB)/8, $0
DATA rqmask<>+56(SB)/8, $0
GLOBL rqmask<>(SB), RODATA|NOPTR, $64

// func requantRunsAVX2(dst, src *float32, rcp, mf *float64, inner, runs, first, c0, ch, step int, c *[13]uint64) (done int)
//
// requantRunsAVX512's float64 shortcut on 8-element blocks, each as two
// halves of 4 float64 lanes (elements 0–3, then 4–7; parameters at byte
// 0 and 32 of the block's 8 lanes): runs runs of inner elements, the
// first of them starting first elements before its end (a resumption
// inside a run), run r with the parameters at rcp and mf plus
// 64·((c0 + r) mod ch) bytes, advancing by step bytes per block inside
// the run (64: one lane per element; 0: the same 8 lanes). A run's last
// partial block loads and stores only its lanes (VMASKMOVPS; lanes past
// the run are 0, which passes the test). Per lane: v′ = y·(1/S_acc),
// r = rne(v′) (VROUNDPD imm 8: to nearest even, inexact suppressed); when all 8 lanes have
// |v′ − r| < ½ − 2^−16 and |v′| < 2^29 (LT_OQ: false for NaN), r·M
// (M = M0·2^−shift, mf) rounded half to even (RoundShift), + 0 (−0 made
// +0), clamped to [q_min − Z, q_max − Z] in float64 (c[11], c[12]),
// float32(·) and S·(·): the AVX-512 kernels' float64 steps, exact.
// A block that fails the test is not stored: the kernel returns the
// count of elements done before it (the count of all of them when none
// fails), for the Go code to requantize it and resume.
TEXT ·requantRunsAVX2(SB), NOSPLIT, $0-96
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         rcp+16(FP), R12
	MOVQ         mf+24(FP), R15
	MOVQ         inner+32(FP), R13
	MOVQ         runs+40(FP), R14
	MOVQ         first+48(FP), CX
	MOVQ         c0+56(FP), BX
	SHLQ         $6, BX // byte offset of the run's channel
	MOVQ         step+72(FP), R10
	MOVQ         c+80(FP), AX
	MOVQ         SI, R11 // where src started: done = (SI − R11)/4
	VBROADCASTSD 40(AX), Y8  // |·| mask
	VBROADCASTSD 48(AX), Y9  // ½ − 2^−16
	VBROADCASTSS 72(AX), Y14 // S
	VBROADCASTSD 80(AX), Y10 // 2^29
	VBROADCASTSD 88(AX), Y12 // q_min − Z as float64
	VBROADCASTSD 96(AX), Y13 // q_max − Z as float64
	VXORPD       Y11, Y11, Y11 // +0
	TESTQ        R14, R14
	JLE          r2done
	JMP          r2start

r2run:
	MOVQ R13, CX

r2start:
	LEAQ (R12)(BX*1), R8 // the run's parameters
	LEAQ (R15)(BX*1), R9
	TESTQ CX, CX
	JLE   r2end

r2loop:
	CMPQ      CX, $8
	JLT       r2partial
	VCVTPS2PD (SI), Y0   // y, elements 0–3, as float64 (exact)
	VCVTPS2PD 16(SI), Y1 // elements 4–7

r2block:
	VMULPD    (R8), Y0, Y0     // v′ = y·(1/S_acc)
	VMULPD    32(R8), Y1, Y1
	VROUNDPD  $8, Y0, Y2       // r = v′ rounded half to even
	VROUNDPD  $8, Y1, Y3
	VSUBPD    Y2, Y0, Y4       // v′ − r (exact)
	VSUBPD    Y3, Y1, Y5
	VANDPD    Y8, Y4, Y4
	VANDPD    Y8, Y5, Y5
	VCMPPD    $0x11, Y9, Y4, Y4 // |v′ − r| < ½ − 2^−16 (LT_OQ: false for NaN)
	VCMPPD    $0x11, Y9, Y5, Y5
	VANDPD    Y8, Y0, Y0        // |v′|
	VANDPD    Y8, Y1, Y1
	VCMPPD    $0x11, Y10, Y0, Y0 // |v′| < 2^29
	VCMPPD    $0x11, Y10, Y1, Y1
	VANDPD    Y0, Y4, Y4
	VANDPD    Y1, Y5, Y5
	VANDPD    Y5, Y4, Y4
	VMOVMSKPD Y4, AX
	CMPL      AX, $0xf
	JNE       r2fail
	VMULPD    (R9), Y2, Y2      // r·M = acc·M0·2^−shift (exact)
	VMULPD    32(R9), Y3, Y3
	VROUNDPD  $8, Y2, Y2        // RoundShift: half to even
	VROUNDPD  $8, Y3, Y3
	VADDPD    Y11, Y2, Y2       // −0 → +0
	VADDPD    Y11, Y3, Y3
	VMAXPD    Y12, Y2, Y2       // clamp(· + Z, q_min, q_max) − Z
	VMAXPD    Y12, Y3, Y3
	VMINPD    Y13, Y2, Y2
	VMINPD    Y13, Y3, Y3
	VCVTPD2PSY Y2, X2           // float32(q − Z) (exact)
	VCVTPD2PSY Y3, X3
	VINSERTF128 $1, X3, Y2, Y2
	VMULPS    Y14, Y2, Y2       // S·(q − Z)
	CMPQ      CX, $8
	JLT       r2storepartial
	VMOVUPS   Y2, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	ADDQ      R10, R8
	ADDQ      R10, R9
	SUBQ      $8, CX
	JG        r2loop
	JMP       r2end

r2partial:
	MOVQ        CX, AX // the run's last CX < 8 elements
	SHLQ        $2, AX
	NEGQ        AX
	LEAQ        rqmask<>+32(SB), DX
	ADDQ        AX, DX
	VMOVDQU     (DX), Y15   // CX lanes of ones
	VMASKMOVPS  (SI), Y15, Y0 // lanes past the run: 0
	VEXTRACTF128 $1, Y0, X1
	VCVTPS2PD   X0, Y0
	VCVTPS2PD   X1, Y1
	JMP         r2block

r2storepartial:
	VMASKMOVPS Y2, Y15, (DI) // only the run's lanes
	LEAQ       (SI)(CX*4), SI
	LEAQ       (DI)(CX*4), DI

r2end:
	ADDQ $64, BX // the next run's channel
	MOVQ ch+64(FP), AX
	SHLQ $6, AX
	CMPQ BX, AX
	JLT  r2next
	XORQ BX, BX

r2next:
	DECQ R14
	JNZ  r2run

r2done:
	SUBQ R11, SI
	SHRQ $2, SI
	MOVQ SI, done+88(FP)
	VZEROUPPER
	RET

r2fail:
	SUBQ R11, SI
	SHRQ $2, SI
	MOVQ SI, done+88(FP)
	VZEROUPPER
	RET

// func addAVX2(dst, a, b *float32, n int, t *[16][4]uint64)
// t: rows of 32 bytes: S_a, a_lo, a_hi, S_b, b_lo, b_hi, S_o (float32
// bits at the row's start), then 4 lanes each of M0a, n − na, M0b,
// n − nb, n, 2^(n−1) − 1, lo − Z, hi − Z and 1 (int64).
TEXT ·addAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         b+16(FP), BX
	MOVQ         n+24(FP), CX
	MOVQ         t+32(FP), AX
	VBROADCASTSS 0(AX), Y8    // S_a
	VBROADCASTSS 32(AX), Y9   // a_lo
	VBROADCASTSS 64(AX), Y10  // a_hi
	VBROADCASTSS 96(AX), Y11  // S_b
	VBROADCASTSS 128(AX), Y12 // b_lo
	VBROADCASTSS 160(AX), Y13 // b_hi
	VBROADCASTSS 192(AX), Y14 // S_o
	VPXOR        Y15, Y15, Y15 // 0
	SHRQ         $3, CX
	JZ           add2done

add2loop:
	VMOVUPS    (SI), Y0
	VDIVPS     Y8, Y0, Y0    // a / S_a (IEEE, as DIVSS)
	VMAXPS     Y9, Y0, Y0    // max(u, lo); lo when u is NaN
	VMINPS     Y10, Y0, Y0   // min(·, hi)
	VROUNDPS   $8, Y0, Y0    // half to even: quant.RoundClamp
	VCVTTPS2DQ Y0, Y0        // da
	VMOVUPS    (BX), Y1
	VDIVPS     Y11, Y1, Y1   // b / S_b
	VMAXPS     Y12, Y1, Y1
	VMINPS     Y13, Y1, Y1
	VROUNDPS   $8, Y1, Y1
	VCVTTPS2DQ Y1, Y1        // db
	VEXTRACTI128 $1, Y0, X2
	VPMOVSXDQ  X0, Y0        // da, elements 0–3, as int64
	VPMOVSXDQ  X2, Y2        // elements 4–7
	VEXTRACTI128 $1, Y1, X3
	VPMOVSXDQ  X1, Y1        // db, elements 0–3
	VPMOVSXDQ  X3, Y3        // elements 4–7
	VPMULDQ    224(AX), Y0, Y0 // da·M0a (exact)
	VPMULDQ    224(AX), Y2, Y2
	VPSLLVQ    256(AX), Y0, Y0 // ·2^(n−na): da·A
	VPSLLVQ    256(AX), Y2, Y2
	VPMULDQ    288(AX), Y1, Y1 // db·M0b
	VPMULDQ    288(AX), Y3, Y3
	VPSLLVQ    320(AX), Y1, Y1 // db·B
	VPSLLVQ    320(AX), Y3, Y3
	VPADDQ     Y1, Y0, Y0      // p (|p| < 2^62)
	VPADDQ     Y3, Y2, Y2
	VPSRLVQ    352(AX), Y0, Y4 // bit n of p: (p >> n) & 1
	VPSRLVQ    352(AX), Y2, Y5
	VPAND      480(AX), Y4, Y4
	VPAND      480(AX), Y5, Y5
	VPADDQ     384(AX), Y0, Y0 // p + 2^(n−1) − 1
	VPADDQ     384(AX), Y2, Y2
	VPADDQ     Y4, Y0, Y0
	VPADDQ     Y5, Y2, Y2
	VPCMPGTQ   Y0, Y15, Y4     // m = sign of the sum (all ones where < 0)
	VPCMPGTQ   Y2, Y15, Y5
	VPXOR      Y4, Y0, Y0      // arithmetic shift by n: m ^ ((· ^ m) >>> n)
	VPXOR      Y5, Y2, Y2
	VPSRLVQ    352(AX), Y0, Y0
	VPSRLVQ    352(AX), Y2, Y2
	VPXOR      Y4, Y0, Y0      // quant.RoundShift: half to even
	VPXOR      Y5, Y2, Y2
	VMOVDQU    416(AX), Y6     // lo − Z
	VMOVDQU    448(AX), Y7     // hi − Z
	VPCMPGTQ   Y0, Y6, Y4      // lo − Z > v
	VPCMPGTQ   Y2, Y6, Y5
	VBLENDVPD  Y4, Y6, Y0, Y0  // max(v, lo − Z)
	VBLENDVPD  Y5, Y6, Y2, Y2
	VPCMPGTQ   Y7, Y0, Y4      // v > hi − Z
	VPCMPGTQ   Y7, Y2, Y5
	VBLENDVPD  Y4, Y7, Y0, Y0  // clamp(v + Z, lo, hi) − Z
	VBLENDVPD  Y5, Y7, Y2, Y2
	VSHUFPS    $0x88, Y2, Y0, Y0 // low halves: elements 0 1 4 5 2 3 6 7
	VPERMPD    $0xd8, Y0, Y0     // 0 1 2 3 4 5 6 7
	VCVTDQ2PS  Y0, Y0          // float32(q − Z)
	VMULPS     Y14, Y0, Y0     // S_o·(q − Z)
	VMOVUPS    Y0, (DI)
	ADDQ       $32, SI
	ADDQ       $32, BX
	ADDQ       $32, DI
	DECQ       CX
	JNZ        add2loop

add2done:
	VZEROUPPER
	RET
