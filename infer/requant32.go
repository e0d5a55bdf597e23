package infer

// The 32-bit exact requantization of the fused kernels' epilogue. No
// floating point may appear in this file (TestKernelsUseNoFloat).

import "github.com/tinyqat/tinyqat/quant"

// The 64-bit form (requantStore) multiplies acc·M0 in 64-bit lanes, 8 at
// a time. When every |acc| of a layer is below 2^18 (accBound) and every
// shift n is in [13, 42], the same single rounding is computed in 32-bit
// lanes, 16 at a time, with M0 = Mh·2^12 + Ml (Mh, Ml < 2^12):
//
//	T   = acc·Mh + floor(acc·Ml / 2^12)     (|T| < 2^30)
//	rem = acc·Ml mod 2^12                    (acc·M0 = T·2^12 + rem)
//	q   = (T + 2^(k−1) − 1 + c) >> k,  k = n − 12,
//	c   = 1 if rem ≠ 0 or bit k of T is set
//
// Writing T = Q·2^k + R: below the half (R < 2^(k−1)) the fraction
// (R + rem/2^12)/2^k stays below ½ and q = Q; above it (R > 2^(k−1)) q =
// Q + 1; at R = 2^(k−1) the value is past the half if rem ≠ 0 (q = Q + 1)
// and a tie otherwise, rounded to even: Q + 1 exactly when Q is odd
// (bit k of T). That is quant.RoundShift(acc·M0, n), half to even, then
// + Z and the clamp as before. requant32 is its reference twin
// (TestRequant32MatchesRequantize), and TestFused32MatchesUnfused runs
// the kernels on both forms.

// requant32 is the 32-bit form on one value: the reference twin of the
// kernels' epilogue (gemm_gen.go, requant32Store).
func requant32(acc, m0, n, z, lo, hi int32) int32 {
	ml, mh, k := m0&0xfff, m0>>12, n-12
	p := acc * ml
	t := acc*mh + p>>12
	c := int32(0)
	if p&0xfff != 0 || t&(1<<k) != 0 {
		c = 1
	}
	q := (t+(1<<(k-1))-1+c)>>k + z
	return min(max(q, lo), hi)
}

// accBound is the largest |acc| of pw's channels on unsigned inputs in
// [0, umax]: |bias| + umax·Σ|w|.
func accBound(pw *packedWeights, umax int32) int64 {
	sums := make([]int64, pw.mp)
	for i, v := range pw.w {
		c := i/(16*pw.kp)*16 + i%64/4
		sums[c] += int64(iabs(int32(v)))
	}
	b := int64(0)
	for c, s := range sums {
		b = max(b, int64(iabs(pw.bias[c]))+int64(umax)*s)
	}
	return b
}

// dwAccBound is accBound for a depthwise layer's c channels.
func dwAccBound(d *dwWeights, umax int32) int64 {
	c := len(d.bias)
	b := int64(0)
	for ch := 0; ch < c; ch++ {
		s := int64(0)
		for t := ch; t < len(d.w); t += c {
			s += int64(iabs(d.w[t]))
		}
		b = max(b, int64(iabs(d.bias[ch]))+int64(umax)*s)
	}
	return b
}

// enableRequant32 sets the 32-bit form's constants in rq (vectors 13–21
// of each panel, newRequantPanels) and its flag, if the form is exact
// for this layer: every |acc| below 2^18 (bound) and every shift in
// [13, 42]. lo and hi are newRequantPanels' (Z is its vector 10). It reports whether it
// did; rq is unchanged otherwise (the kernels keep the 64-bit form).
func enableRequant32(rq []int64, m0, shift []int32, lo, hi int32, bound int64) bool {
	if rq == nil || bound >= 1<<18 {
		return false
	}
	for _, n := range shift {
		if n < 13 || n > 42 {
			return false
		}
	}
	for q := 0; q < len(rq)/rqLanes; q++ {
		v := rq[q*rqLanes : (q+1)*rqLanes]
		set := func(vec, j int, x int32) { setLane(v, vec, j, x) }
		for j := 0; j < 16; j++ {
			c := 16*q + j
			ml, mh, k := int32(0), int32(0), int32(1)
			if c < len(m0) {
				ml, mh, k = m0[c]&0xfff, m0[c]>>12, shift[c]-12
			}
			set(13, j, ml)
			set(14, j, mh)
			set(15, j, k)
			set(16, j, 1<<(k-1)-1)
			set(17, j, 1<<k)
			set(18, j, 0xfff)
			set(19, j, lo)
			set(20, j, hi)
			set(21, j, 1)
		}
		v[12*8+1] = 1
	}
	return true
}

// The clamped form. The output is clamp(f(acc), lo, hi) with f(acc) =
// RoundShift(acc·M0, n) + Z non-decreasing in acc, so every accumulator
// below L, the least with f(L) ≥ lo, gives lo, and every one above H, the
// greatest with f(H) ≤ hi, gives hi. Where f(L) = lo and f(H) = hi
// exactly (f steps by at most 1 when M0 < 2^n), clamping acc to [L, H]
// first gives the same bytes, with no clamp after: f maps [L, H] into
// [lo, hi]. L and H lie about 2^(n−23)·(|lo − Z| + 1) from 0, which is
// small for the multipliers layers have (|acc| up to 0.1–0.4 M where the
// accumulators reach 1–8 M), and on [L, H]:
//
//   - no product acc·M0 is a tie (an odd multiple of 2^(n−1)) when
//     2^(n−1−t) > max(|L|, |H|), t the trailing zero bits of M0: a tie
//     needs acc an odd multiple of 2^(n−1−t). Without ties, rounding half
//     to even is rounding half up: q = floor((acc·M0 + 2^(n−1)) / 2^n).
//   - with M0 = Mh·2^12 + Ml as in requant32 and T = acc·Mh + floor(acc·Ml
//     / 2^12) = floor(acc·M0 / 2^12), that is q = floor((T + 2^(k−1)) /
//     2^k), k = n − 12 (the low 12 bits of acc·M0 add less than 1 to an
//     integer numerator), and with Z folded in
//
//	f(acc) = (T + C) >> k,  C = 2^(k−1) + Z·2^k,
//
// computed in 32-bit lanes when |acc·Ml|, |acc·Mh| and T + C fit int32
// over [L, H] (T is monotone: its ends bound it).
//
// A layer's accumulators never leave [−bound, bound] (accBound), so the
// ends are taken inside it: L = −bound needs no f(L) = lo (no
// accumulator lies below), nor H = bound f(H) = hi. requantClamp is the
// reference twin of the kernels' epilogue (requantClampStore in
// gemm_gen_conv.go), TestRequantClampMatchesRequantize checks it with
// quant.Requantize, TestFusedClampMatchesUnfused the kernels.

// requantClamp is the clamped form on one value, in the kernels' int32
// arithmetic: l, h the clamp of acc, ml and mh the halves of M0, c and k
// the rounding constant (Z folded in) and shift.
func requantClamp(acc, l, h, ml, mh, c, k int32) int32 {
	a := min(max(acc, l), h)
	return (a*mh + (a*ml)>>12 + c) >> k
}

// clampForm is one channel's clamped form: requantClamp's constants.
type clampForm struct{ l, h, ml, mh, c, k int32 }

// newClampForm returns the clamped form of a channel (M0, n, and u-space
// Z, lo, hi as newRequantPanels takes them) whose accumulators lie in
// [−bound, bound], or false where one of the conditions above fails.
func newClampForm(m0, n, z, lo, hi int32, bound int64) (clampForm, bool) {
	if m0 <= 0 || n < 13 || n > 42 || bound < 0 || bound >= 1<<31 || lo > hi {
		return clampForm{}, false
	}
	f := func(acc int64) int64 { return quant.RoundShift(acc*int64(m0), n) + int64(z) }
	// first is the least acc in [a, b] with ok(acc), b+1 if none
	// (ok monotone: false then true).
	first := func(a, b int64, ok func(int64) bool) int64 {
		for a <= b {
			mid := a + (b-a)/2
			if ok(mid) {
				b = mid - 1
			} else {
				a = mid + 1
			}
		}
		return a
	}
	l := first(-bound, bound, func(a int64) bool { return f(a) >= int64(lo) })
	h := first(-bound, bound, func(a int64) bool { return f(a) > int64(hi) }) - 1
	if l > h || (l > -bound && f(l) != int64(lo)) || (h < bound && f(h) != int64(hi)) {
		return clampForm{}, false
	}
	amax := max(-l, h, l, -h)
	t := int64(0)
	for v := m0; v&1 == 0; v >>= 1 {
		t++
	}
	if d := int64(n) - 1 - t; d >= 0 && d < 40 && int64(1)<<d <= amax {
		return clampForm{}, false // a tie is possible
	}
	ml, mh, k := int64(m0&0xfff), int64(m0>>12), int64(n-12)
	c := int64(1)<<(k-1) + int64(z)<<k
	fits := func(v int64) bool { return v >= -(1<<31) && v < 1<<31 }
	tl, th := (l*int64(m0))>>12, (h*int64(m0))>>12
	if !fits(amax*ml) || !fits(amax*mh) || !fits(c) || !fits(tl+c) || !fits(th+c) || !fits(l*mh) || !fits(h*mh) {
		return clampForm{}, false
	}
	return clampForm{l: int32(l), h: int32(h), ml: int32(ml), mh: int32(mh), c: int32(c), k: int32(k)}, true
}

// enableRequantClamp sets the clamped form's constants in rq (vectors
// 22–27 of each panel, newRequantPanels) and its flag (lane 2 of vector
// 12), if every channel has the form (newClampForm) for accumulators in
// [−bound, bound]; z, lo and hi are newRequantPanels'. It reports
// whether it did; rq is unchanged otherwise. The other forms' constants
// stay, for kernels that take only those (the depthwise ones).
func enableRequantClamp(rq []int64, m0, shift []int32, z, lo, hi int32, bound int64) bool {
	if rq == nil {
		return false
	}
	forms := make([]clampForm, len(m0))
	for c := range m0 {
		var ok bool
		if forms[c], ok = newClampForm(m0[c], shift[c], z, lo, hi, bound); !ok {
			return false
		}
	}
	for q := 0; q < len(rq)/rqLanes; q++ {
		v := rq[q*rqLanes : (q+1)*rqLanes]
		for j := 0; j < 16; j++ {
			cf := clampForm{k: 1} // a padding channel: 0, masked out
			if c := 16*q + j; c < len(m0) {
				cf = forms[c]
			}
			for i, x := range []int32{cf.l, cf.h, cf.ml, cf.mh, cf.c, cf.k} {
				setLane(v, 22+i, j, x)
			}
		}
		v[12*8+2] = 1
	}
	return true
}

// setLane sets dword lane j of vector vec of a panel's constants v.
func setLane(v []int64, vec, j int, x int32) {
	i := vec*8 + j/2
	sh := 32 * uint(j%2)
	v[i] = int64(uint64(v[i])&^(0xffffffff<<sh) | uint64(uint32(x))<<sh)
}
