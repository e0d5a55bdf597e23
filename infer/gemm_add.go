package infer

// The residual add fused into the epilogue of the convolution that
// produces one of its operands. No floating point may appear in this
// file (TestKernelsUseNoFloat).

import "fmt"

// addPanelLanes is the size of an add32 panel: 14 vectors of 16 dword
// lanes (8 int64s each),
//
//	0 Al   1 Ah   2 Bl   3 Bh   4 Kl   5 Kh   6 0xfff   7 2^k
//	8 2^(k−1) − 1   9 1   10 k   11 z   12 lo   13 hi
//
// each in every lane, for the kernels' epilogue (addEpilogue in
// gemm_gen_conv.go) with the operands in the kernel's order.
const addPanelLanes = 14 * 8

// add32 is an add layer's function in 32-bit lanes, the fused epilogue's
// form: quant.RequantizeAdd's single rounding of
//
//	p = ua·A + ub·B + K   (addVec: A, B < 2^31, |K| < 2^41)
//
// with A = Ah·2^12 + Al, B = Bh·2^12 + Bl, K = Kh·2^12 + Kl (Al, Bl, Kl
// in [0, 2^12)) computed as requant32 does acc·M0:
//
//	L = ua·Al + ub·Bl + Kl              (0 ≤ L < 2^22)
//	T = ua·Ah + ub·Bh + Kh + (L >> 12)  (p = T·2^12 + (L mod 2^12))
//	q = (T + 2^(k−1) − 1 + c) >> k,  k = n − 12,
//	c = 1 if L mod 2^12 ≠ 0 or bit k of T is set
//
// then + z and the clamp. It needs n in [13, 42] and |T| below 2^30
// (ua·Ah, ub·Bh < 2^27, |Kh| < 2^29), so that no lane overflows.
type add32 struct {
	al, ah, bl, bh, kl, kh, k, z, lo, hi int32
}

// newAdd32 returns v's 32-bit form, or nil where it does not hold.
func newAdd32(v *addVec) *add32 {
	if v.n < 13 || v.n > 42 || v.k>>12 >= 1<<29 || v.k>>12 < -(1<<29) {
		return nil
	}
	return &add32{al: int32(v.a & 0xfff), ah: int32(v.a >> 12), bl: int32(v.b & 0xfff), bh: int32(v.b >> 12),
		kl: int32(v.k & 0xfff), kh: int32(v.k >> 12), k: int32(v.n - 12), z: int32(v.z), lo: int32(v.lo), hi: int32(v.hi)}
}

// apply is the epilogue's arithmetic on one pair: its reference twin.
func (v *add32) apply(ua, ub uint8) uint8 {
	a, b := int32(ua), int32(ub)
	l := a*v.al + b*v.bl + v.kl
	t := a*v.ah + b*v.bh + v.kh + l>>12
	c := int32(0)
	if l&0xfff != 0 || t&(1<<v.k) != 0 {
		c = 1
	}
	q := (t+(1<<(v.k-1))-1+c)>>v.k + v.z
	return uint8(min(max(q, v.lo), v.hi))
}

// fusedAdd is an add layer run in the epilogue of the convolution just
// before it, which produces one of its operands (buildPlan: fuseAdds).
// The convolution's requantized bytes are never stored: each goes into
// the add with the shortcut's byte at the same position, and the add's
// bytes are written to the add's output.
type fusedAdd struct {
	// short is the add's other operand (a value index, −1 the input).
	short int
	// panel is the add's add32 panel with the shortcut as the first
	// operand.
	panel []int64
	// vec is the same arithmetic for the reference twin (addFusedRef).
	vec *add32
}

// newFusedAdd returns the fused form of add c whose operand conv (0 or
// 1) the convolution produces, or nil if the add has no 32-bit form
// (add32) or, which its derivation rules out, that form differs from
// c's table on any of the 65,536 operand pairs.
func newFusedAdd(c *addConsts, conv, short int) *fusedAdd {
	if c.vec == nil {
		return nil
	}
	o := *c.vec
	if conv == 0 { // the convolution is the first operand: swap
		o.a, o.b = c.vec.b, c.vec.a
	}
	v := newAdd32(&o)
	if v == nil {
		return nil
	}
	for us := range 256 {
		for uc := range 256 {
			i := us<<8 | uc // the table's index: the first operand high
			if conv == 0 {
				i = uc<<8 | us
			}
			if v.apply(uint8(us), uint8(uc)) != c.table[i] {
				return nil
			}
		}
	}
	p := make([]int64, addPanelLanes)
	for i, x := range []int32{v.al, v.ah, v.bl, v.bh, v.kl, v.kh, 0xfff, 1 << v.k, 1<<(v.k-1) - 1, 1, v.k, v.z, v.lo, v.hi} {
		for j := range 8 {
			p[8*i+j] = int64(uint64(uint32(x)) | uint64(uint32(x))<<32)
		}
	}
	return &fusedAdd{short: short, panel: p, vec: v}
}

// gemmConvPackedQA is gemmConvPackedQ with the residual add fused: row
// r's requantized byte of channel j is the second operand of the add
// whose first is sa[r·ldd + j], and the add's byte (fa's arithmetic)
// goes to dst[r·ldd + j]. Its reference twin is gemmConvPacked,
// requantU8 and addFusedRef (TestGemmConvAddFusedMatchesUnfused). It
// panics (Go bounds check) rather than let a kernel touch memory outside
// the slices.
func gemmConvPackedQA(ks *convQAKernelSet, dst []uint8, ldd int, u []uint8, ldu int, pw *packedWeights, n, segs, segStride int, rq []int64, sa []uint8, fa *fusedAdd) {
	if n == 0 {
		return
	}
	if segs < 1 || pw.kp%segs != 0 || (pw.kp/segs)%4 != 0 || segStride < pw.kp/segs || ldd < pw.m || len(rq) < pw.mp/16*rqLanes || len(fa.panel) < addPanelLanes {
		panic(fmt.Sprintf("infer: gemmConvPackedQA: %d segments with stride %d do not tile a row of %d bytes in 4-byte groups (ldd %d, %d channels, %d constants)", segs, segStride, pw.kp, ldd, pw.m, len(rq)))
	}
	seg := pw.kp / segs
	_ = u[(n-1)*ldu+(segs-1)*segStride+seg-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	_ = sa[(n-1)*ldd+pw.m-1]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.fn[rr-1][pp-1](&u[r*ldu], ldu, &pw.w[q*ldw], ldw, &pw.bias[16*q], &dst[r*ldd+16*q], ldd, seg/4, segs, segStride-seg, &rq[q*rqLanes], &sa[r*ldd+16*q], &fa.panel[0])
		}
	}
}

// addFusedRef is the fused add's reference twin on one row of m bytes:
// dst[j] = the add of short[j] and conv[j] (conv: the convolution's
// requantized bytes).
func addFusedRef(dst, short, conv []uint8, fa *fusedAdd) {
	for j := range conv {
		dst[j] = fa.vec.apply(short[j], conv[j])
	}
}
