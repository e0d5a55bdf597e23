package infer

// The 32-bit exact requantization of the fused kernels' epilogue. No
// floating point may appear in this file (TestKernelsUseNoFloat).

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
		set := func(vec, j int, x int32) { // dword lane j of vector vec
			i := vec*8 + j/2
			sh := 32 * uint(j%2)
			v[i] = int64(uint64(v[i])&^(0xffffffff<<sh) | uint64(uint32(x))<<sh)
		}
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
