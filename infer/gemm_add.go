package infer

// The residual add fused into the epilogue of the convolution that
// produces one of its operands. No floating point may appear in this
// file (TestKernelsUseNoFloat).

import "fmt"

// addPanelLanes is the size of an addW panel: 8 vectors of 16 dword
// lanes (8 int64s each),
//
//	0 Al | Bl<<16   1 Ah | Bh<<16   2 Kl   3 Kh   4 s   5 z   6 lo   7 hi
//
// each in every lane (the pairs as two signed 16-bit words), for the
// kernels' epilogue (addEpilogue in gemm_gen_conv.go) with the operands
// in the kernel's order.
const addPanelLanes = 8 * 8

// addW is an add layer's function in the fused epilogue's form:
// quant.RequantizeAdd's single rounding of
//
//	p = ua·A + ub·B + K   (addVec: 0 ≤ A, B < 2^31, |K| < 2^41)
//
// rounded half up, in 16-bit products: with A = Ah·2^16 + Al, B =
// Bh·2^16 + Bl (Al, Bl, Ah, Bh signed 16-bit words) and K + 2^(n−1) =
// Kh·2^16 + Kl (0 ≤ Kl < 2^16),
//
//	L = ua·Al + ub·Bl + Kl               (|L| < 2^24: one VPMADDWD)
//	T = ua·Ah + ub·Bh + Kh + (L >> 16)   (one VPMADDWD)
//	q = T >> s,  s = n − 16
//
// is floor((p + 2^(n−1)) / 2^n) (p + 2^(n−1) = T·2^16 + L mod 2^16,
// whose low 16 bits cannot carry past a multiple of 2^n), then + Z and
// the clamp. Half up differs from half to even only on a tie, so the
// form is kept only where it equals the add's table on all 65,536
// operand pairs (newFusedAdd); it needs n ≥ 16, Ah and Bh in int16 and T
// in int32.
type addW struct {
	al, ah, bl, bh, kl, kh, s, z, lo, hi int32
}

// newAddW returns v's word form, or nil where it does not fit (its
// exactness is newFusedAdd's check).
func newAddW(v *addVec) *addW {
	if v.n < 16 || v.n > 46 {
		return nil
	}
	split := func(x int64) (h, l int64) { // x = h·2^16 + l, l a signed word
		l = (x+1<<15)&0xffff - 1<<15
		return (x - l) >> 16, l
	}
	ah, al := split(v.a)
	bh, bl := split(v.b)
	k := v.k + 1<<(v.n-1)
	kh, kl := k>>16, k&0xffff
	word := func(x int64) bool { return x >= -(1<<15) && x < 1<<15 }
	// |T| ≤ 255·(|Ah| + |Bh|) + |Kh| + 2^8: Kh below 2^30 keeps it in int32.
	if !word(ah) || !word(bh) || kh >= 1<<30 || kh < -(1<<30) {
		return nil
	}
	return &addW{al: int32(al), ah: int32(ah), bl: int32(bl), bh: int32(bh), kl: int32(kl), kh: int32(kh), s: int32(v.n - 16), z: int32(v.z), lo: int32(v.lo), hi: int32(v.hi)}
}

// apply is the epilogue's arithmetic on one pair: its reference twin.
func (v *addW) apply(ua, ub uint8) uint8 {
	a, b := int32(ua), int32(ub)
	l := a*v.al + b*v.bl + v.kl
	t := a*v.ah + b*v.bh + v.kh + l>>16
	return uint8(min(max(t>>v.s+v.z, v.lo), v.hi))
}

// fusedAdd is an add layer run in the epilogue of the convolution just
// before it, which produces one of its operands (buildPlan: fuseAdds).
// The convolution's requantized bytes are never stored: each goes into
// the add with the shortcut's byte at the same position, and the add's
// bytes are written to the add's output.
type fusedAdd struct {
	// short is the add's other operand (a value index, −1 the input).
	short int
	// panel is the add's addW panel with the shortcut as the first
	// operand.
	panel []int64
	// vec is the same arithmetic for the reference twin (addFusedRef).
	vec *addW
}

// newFusedAdd returns the fused form of add c whose operand conv (0 or
// 1) the convolution produces, or nil if the add has no word form (addW)
// or that form differs from c's table on any of the 65,536 operand
// pairs (a tie, rounded half up): then the add runs on its own.
func newFusedAdd(c *addConsts, conv, short int) *fusedAdd {
	v := exactAddW(c, conv == 0) // the convolution first: swap
	if v == nil {
		return nil
	}
	p := make([]int64, addPanelLanes)
	for i, x := range v.dwords() {
		for j := range 8 {
			p[8*i+j] = int64(uint64(uint32(x)) | uint64(uint32(x))<<32)
		}
	}
	return &fusedAdd{short: short, panel: p, vec: v}
}

// exactAddW returns add c's word form (addW) with its operands swapped
// if swap (the second operand first), or nil if c has none or it differs
// from c's table on any of the 65,536 operand pairs (a tie, rounded half
// up where the table rounds half to even).
func exactAddW(c *addConsts, swap bool) *addW {
	if c.vec == nil {
		return nil
	}
	o := *c.vec
	if swap {
		o.a, o.b = c.vec.b, c.vec.a
	}
	v := newAddW(&o)
	if v == nil {
		return nil
	}
	for u1 := range 256 {
		for u2 := range 256 {
			i := u1<<8 | u2 // the table's index: the first operand high
			if swap {
				i = u2<<8 | u1
			}
			if v.apply(uint8(u1), uint8(u2)) != c.table[i] {
				return nil
			}
		}
	}
	return v
}

// dwords is v's constants as its kernels read them: Al | Bl<<16,
// Ah | Bh<<16, Kl, Kh, s, z, lo, hi.
func (v *addW) dwords() [8]int32 {
	words := func(l, h int32) int32 { return int32(uint32(uint16(l)) | uint32(h)<<16) }
	return [8]int32{words(v.al, v.bl), words(v.ah, v.bh), v.kl, v.kh, v.s, v.z, v.lo, v.hi}
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
