//go:build amd64 && !purego

package fakequant

import (
	"math"

	"golang.org/x/sys/cpu"
)

// availableLevels lists the kernel levels this CPU runs, best first; Go
// is always last. The AVX-512 level adds the AVX-512F kernels (fqAVX512,
// minMaxCols64AVX512, minMaxRunAVX512, requantAVX512, addAVX512,
// passAVX512, sumAVX512, clampAVX512) to the AVX2 ones.
func availableLevels() []int {
	var lv []int
	if cpu.X86.HasAVX2 && cpu.X86.HasAVX512F {
		lv = append(lv, levelAVX512)
	}
	if cpu.X86.HasAVX2 {
		lv = append(lv, levelAVX2)
	}
	return append(lv, levelGo)
}

// fqAVX2 is fqLanesGo on n (a multiple of 8) elements, 8 at a time; the
// parameter pointers advance by step bytes per 8 elements (32: one
// parameter per element; 0: the same 8 lanes for every block). Per lane:
// u = x/S (VDIVPS, IEEE like DIVSS); r = u rounded half to even
// (VROUNDPS mode 0; NaN stays NaN); max(r, lo) gives lo for a NaN r (the
// second operand), as RoundClamp does; clamping the rounded quotient to
// the integers [lo, hi] equals rounding the clamped one; the truncating
// conversion to int32 and back turns −0 into +0, as float32(int32) does;
// then S·q (VMULPS). It reports whether r equalled the clamped q in every
// lane (an ordered compare: false for NaN), that is, whether no element
// was clipped: fqLanesGo's report. With period > 0 the parameter
// pointers return to where they started after every period blocks of 8
// (parameters tiled over a multiple of 8 lanes, for any number of rows).
//
//go:noescape
func fqAVX2(dst, src, s, lo, hi *float32, n, step, period int) (unclipped bool)

// passAVX2 is passLanesGo on n (a multiple of 8) elements: dx = dy where
// tlo ≤ x ≤ thi (ordered compares: false for NaN), else +0 (a bitwise AND
// with the compare mask); the bounds advance as in fqAVX2.
//
//go:noescape
func passAVX2(dx, dy, x, tlo, thi *float32, n, step int)

// passAVX512 is passAVX2 16 lanes at a time (AVX-512F: the compares into
// a mask, a zero-masking load of dy): n a multiple of 16, the bounds
// advancing by step bytes (64 or 0) per 16 elements.
//
//go:noescape
func passAVX512(dx, dy, x, tlo, thi *float32, n, step int)

// fqAVX512 is fqAVX2 16 lanes at a time (AVX-512F: VRNDSCALEPS with the
// same rounding control as VROUNDPS, the compare into a mask): n a
// multiple of 16, the parameter pointers advancing by step bytes (64 or
// 0) per 16 elements and restarting after period blocks of 16.
//
//go:noescape
func fqAVX512(dst, src, s, lo, hi *float32, n, step, period int) (unclipped bool)

// vecLanes is the width of the widest fake-quantization kernel this level
// runs: fakeQuantize tiles per-lane parameters to a multiple of it.
func vecLanes() int {
	if level >= levelAVX512 {
		return 16
	}
	return 8
}

func fqRun(dst, src []float32, s float32, lo, hi int32) bool {
	ok := true
	if n := len(src) &^ 15; n > 0 && level >= levelAVX512 {
		fl, fh := float32(lo), float32(hi)
		p := [3][16]float32{}
		for i := range 16 {
			p[0][i], p[1][i], p[2][i] = s, fl, fh
		}
		_ = dst[n-1]
		ok = fqAVX512(&dst[0], &src[0], &p[0][0], &p[1][0], &p[2][0], n, 0, 0)
		dst, src = dst[n:], src[n:]
	}
	return fqRun8(dst, src, s, lo, hi) && ok
}

// fqRun8 is fqRun on the AVX2 kernel (8 lanes) and the scalar tail.
func fqRun8(dst, src []float32, s float32, lo, hi int32) bool {
	n := len(src) &^ 7
	ok := true
	if n > 0 && level >= levelAVX2 {
		fl, fh := float32(lo), float32(hi)
		p := [3][8]float32{}
		for i := range 8 {
			p[0][i], p[1][i], p[2][i] = s, fl, fh
		}
		ok = fqAVX2(&dst[0], &src[0], &p[0][0], &p[1][0], &p[2][0], n, 0, 0)
	} else {
		n = 0
	}
	return fqRunGo(dst[n:len(src)], src[n:], s, lo, hi) && ok
}

func fqLanes(dst, src, s, lo, hi []float32) bool {
	n := len(src) &^ 7
	ok := true
	if n > 0 && level >= levelAVX2 {
		ok = fqAVX2(&dst[0], &src[0], &s[0], &lo[0], &hi[0], n, 32, 0)
	} else {
		n = 0
	}
	return fqLanesGo(dst[n:len(src)], src[n:], s[n:], lo[n:], hi[n:]) && ok
}

// fqTiled is fqLanes over src, a multiple of len(s) (itself a multiple
// of 8) elements, with the parameters repeating every len(s).
func fqTiled(dst, src, s, lo, hi []float32) bool {
	p := len(s)
	if len(src) == 0 || p == 0 || p%8 != 0 || level < levelAVX2 {
		return fqTiledGo(dst, src, s, lo, hi)
	}
	_, _, _ = dst[len(src)-1], lo[p-1], hi[p-1]
	if p%16 == 0 && level >= levelAVX512 {
		return fqAVX512(&dst[0], &src[0], &s[0], &lo[0], &hi[0], len(src)/p*p, 64, p/16)
	}
	return fqAVX2(&dst[0], &src[0], &s[0], &lo[0], &hi[0], len(src)/p*p, 32, p/8)
}

func passRun(dx, dy, x []float32, tlo, thi float32) {
	if n := len(x) &^ 15; n > 0 && level >= levelAVX512 {
		p := [2][16]float32{}
		for i := range 16 {
			p[0][i], p[1][i] = tlo, thi
		}
		_, _ = dx[n-1], dy[n-1]
		passAVX512(&dx[0], &dy[0], &x[0], &p[0][0], &p[1][0], n, 0)
		dx, dy, x = dx[n:], dy[n:], x[n:]
	}
	n := len(x) &^ 7
	if n > 0 && level >= levelAVX2 {
		p := [2][8]float32{}
		for i := range 8 {
			p[0][i], p[1][i] = tlo, thi
		}
		passAVX2(&dx[0], &dy[0], &x[0], &p[0][0], &p[1][0], n, 0)
	} else {
		n = 0
	}
	passRunGo(dx[n:], dy[n:], x[n:], tlo, thi)
}

func passLanes(dx, dy, x, tlo, thi []float32) {
	if n := len(x) &^ 15; n > 0 && level >= levelAVX512 {
		_, _, _, _ = dx[n-1], dy[n-1], tlo[n-1], thi[n-1]
		passAVX512(&dx[0], &dy[0], &x[0], &tlo[0], &thi[0], n, 64)
		dx, dy, x, tlo, thi = dx[n:], dy[n:], x[n:], tlo[n:], thi[n:]
	}
	n := len(x) &^ 7
	if n > 0 && level >= levelAVX2 {
		passAVX2(&dx[0], &dy[0], &x[0], &tlo[0], &thi[0], n, 32)
	} else {
		n = 0
	}
	passLanesGo(dx[n:], dy[n:], x[n:], tlo[n:], thi[n:])
}

// requantAVX512 is requantOne on n ≥ 0 elements, 8 at a time (the last
// block masked: no element past n is read or written), with the
// parameter arrays advancing by step bytes per 8 elements (64: one per
// element, for a multiple of 8 elements covering n; 0: the same 8 lanes
// throughout). Per lane: v′ = y·(1/S_acc) (rcp holds 1/S_acc, rounded
// as Go's division rounds it); where v′ is farther than 2^−16 from every
// half-integer in all 8 lanes, v′ rounded half to even (VRNDSCALEPD mode
// 0), which is then math.Round(y/S_acc) (the two quotients differ by at
// most 2^−50·|v′|, and beyond |v′| = 2^32 both clamp alike); elsewhere
// (near-ties, NaN, ±Inf) the block follows requantOne's order: y/S_acc
// in float64 (VDIVPD, IEEE like DIVSD), math.Round as trunc(v) plus
// copysign(1, v) where |v − trunc(v)| ≥ ½ (the difference is exact).
// A block that took the shortcut in all its lanes with every |v′| < 2^29
// then requantizes in float64, exactly (requantRunsAVX512's float64
// steps): r·M with M = M0·2^−shift from mf (one float64 per lane, exact
// as M0 < 2^24) is acc·M0·2^−shift exactly (|acc·M0| < 2^53), rounded
// half to even as quant.RoundShift, −0 made +0, clamped to
// [q_min − Z, q_max − Z] as float64 (c[11], c[12]) and converted to
// float32. Other blocks: the int32 clamp (NaN to the minimum, the
// second operand of VMAXPD); acc·M0 in int64 (VPMULDQ, exact);
// quant.RoundShift with per-lane arithmetic shifts; the clamp to
// [q_min − Z, q_max − Z] (the clamp of q to [q_min, q_max], less Z).
// Both end with S·float32(q − Z). c holds the constants
// (getRequantK): the first 10 for the integer steps, c[10..12] (2^29,
// q_min − Z and q_max − Z as float64) for the float64 ones.
//
//go:noescape
func requantAVX512(dst, src *float32, sa, rcp *float64, m0, half, shift *int64, mf *float64, n, step int, c *[13]uint64)

// requantVec runs requantAVX512 (requantVecAVX2 without AVX-512) on all
// of src and returns len(src) (0 without AVX2, doing nothing). With lanes, the parameter slices
// hold one entry per element of src, and at least a multiple of 8
// covering it; without, 8 copies.
func requantVec(dst, src []float32, k *requantK, lanes bool) int {
	n := len(src)
	if n == 0 || level < levelAVX2 {
		return 0
	}
	if level < levelAVX512 {
		return requantVecAVX2(dst, src, k, lanes)
	}
	_ = dst[n-1]
	step := 0
	if lanes {
		step = 64
		m := (n + 7) &^ 7
		_, _, _, _, _, _ = k.sa[m-1], k.rcp[m-1], k.m0[m-1], k.half[m-1], k.shift[m-1], k.mf[m-1]
	}
	requantAVX512(&dst[0], &src[0], &k.sa[0], &k.rcp[0], &k.m0[0], &k.half[0], &k.shift[0], &k.mf[0], n, step, &k.c)
	return n
}

// requantRunsAVX512 is requantAVX512 on runs consecutive runs of inner
// elements, run r with channel (c0 + r) mod ch's 8 parameter lanes (set
// by requantK.channels): requantFakeQuantize's loop over a tensor's
// runs in one call, each run's last partial block masked as there. Its
// blocks of accumulators below 2^29 requantize in float64 (mf: the
// multipliers M0·2^−shift), exactly (see the assembly).
//
//go:noescape
func requantRunsAVX512(dst, src *float32, sa, rcp *float64, m0, half, shift *int64, mf *float64, inner, runs, c0, ch int, c *[13]uint64)

// requantRunsVec runs requantRunsAVX512 on the whole runs of inner
// elements of src, starting at channel 0 of ch (parameters set by
// requantK.channels), and returns the count of elements done (0 without
// AVX-512, doing nothing).
func requantRunsVec(dst, src []float32, k *requantK, inner, ch int) int {
	runs := 0
	if inner > 0 {
		runs = len(src) / inner
	}
	if runs == 0 || level < levelAVX2 {
		return 0
	}
	if level < levelAVX512 {
		return requantRunsVecAVX2(dst, src, k, inner, runs, ch)
	}
	n := runs * inner
	_, _ = dst[n-1], src[n-1]
	m := 8 * ch
	_, _, _, _, _, _ = k.bsa[m-1], k.brcp[m-1], k.bm0[m-1], k.bh[m-1], k.bs[m-1], k.bmf[m-1]
	requantRunsAVX512(&dst[0], &src[0], &k.bsa[0], &k.brcp[0], &k.bm0[0], &k.bh[0], &k.bs[0], &k.bmf[0], inner, runs, 0, ch, &k.c)
	return n
}

// requantRunsAVX2 is the float64 shortcut of requantRunsAVX512 with
// AVX2 (no VPSRAQ, no 64-bit clamps: the integer steps are left to Go):
// on runs runs of inner elements, the first starting first elements
// before its end, run r with the 8 lanes at rcp and mf plus
// 64·((c0 + r) mod ch) bytes, advancing by step bytes per block of 8
// inside a run (0 or 64), each 8-element block as two halves of 4
// float64 lanes. A block whose 8 quotients v′ = y·(1/S_acc) all lie
// farther than 2^−16 from every half-integer and below 2^29 in magnitude
// requantizes in float64, exactly (requantRunsAVX512's comment); the
// first block that does not (a near-tie, NaN, ±Inf, |v′| ≥ 2^29) stops
// the kernel unwritten, and done counts the elements before it (all of
// them when every block passed). A run's last partial block loads and
// stores only its lanes.
//
//go:noescape
func requantRunsAVX2(dst, src *float32, rcp, mf *float64, inner, runs, first, c0, ch, step int, c *[13]uint64) (done int)

// requantVecAVX2 is requantVec on requantRunsAVX2 (one run of len(src)
// elements), each block the kernel stops at requantized by requantOne
// (the lane's parameters) before the kernel resumes after it.
func requantVecAVX2(dst, src []float32, k *requantK, lanes bool) int {
	n := len(src)
	_ = dst[n-1]
	step, mask := 0, 7
	if lanes {
		step, mask = 64, -1
		m := (n + 7) &^ 7
		_, _, _, _, _ = k.sa[m-1], k.rcp[m-1], k.m0[m-1], k.shift[m-1], k.mf[m-1]
	}
	for pos := 0; pos < n; {
		p := pos & mask // blocks start at multiples of 8: the block's lanes
		if pos += requantRunsAVX2(&dst[pos], &src[pos], &k.rcp[p], &k.mf[p], n, 1, n-pos, 0, 1, step, &k.c); pos >= n {
			break
		}
		for e := min(pos+8, n); pos < e; pos++ {
			j := pos & mask
			dst[pos] = k.s * float32(requantOne(src[pos], k.sa[j], int32(k.m0[j]), int32(k.shift[j]), k.z, k.qmin, k.qmax)-k.z)
		}
	}
	return n
}

// requantRunsVecAVX2 is requantRunsVec on requantRunsAVX2 (channel
// parameters set by requantK.channels), each block the kernel stops at
// requantized by requantRun (its run's channel) before the kernel
// resumes after it. It returns runs·inner.
func requantRunsVecAVX2(dst, src []float32, k *requantK, inner, runs, ch int) int {
	n := runs * inner
	_, _ = dst[n-1], src[n-1]
	m := 8 * ch
	_, _ = k.brcp[m-1], k.bmf[m-1]
	_, _, _ = k.csa[ch-1], k.cm0[ch-1], k.cshift[ch-1]
	for pos := 0; pos < n; {
		r := pos / inner
		if pos += requantRunsAVX2(&dst[pos], &src[pos], &k.brcp[0], &k.bmf[0], inner, runs-r, (r+1)*inner-pos, r%ch, ch, 0, &k.c); pos >= n {
			break
		}
		r = pos / inner
		c, e := r%ch, min(pos+8, (r+1)*inner)
		requantRun(dst[pos:e], src[pos:e], k.csa[c], k.cm0[c], k.cshift[c], k.z, k.qmin, k.qmax, k.s)
		pos = e
	}
	return n
}

// minMaxLanesAVX2 is minMaxLanesGo on n (a multiple of 8) lanes: per
// lane, VMINPS(v, mn) is v < mn ? v : mn and VMAXPS(v, mx) is
// v > mx ? v : mx (the second operand on equality or NaN), the scalar
// loop's update exactly. It reports whether x held a NaN.
//
//go:noescape
func minMaxLanesAVX2(mn, mx, x *float32, n int) bool

// minMaxRunAVX2 runs 8 lanes of the same update over x[:n] (n a multiple
// of 8), lane i taking elements i, i+8, …, starting from mn and mx.
//
//go:noescape
func minMaxRunAVX2(mn, mx *[8]float32, x *float32, n int) bool

// minMaxCols32AVX2 is minMaxLanesGo on 32 lanes of rows rows, the rows
// stride bytes apart, lane by lane in row order (the extremes held in
// registers, stored once at the end); it reports whether the rows held a
// NaN there. minMaxCols8AVX2 is the same on 8 lanes.
//
//go:noescape
func minMaxCols32AVX2(mn, mx, x *float32, rows, stride int) bool

//go:noescape
func minMaxCols8AVX2(mn, mx, x *float32, rows, stride int) bool

// minMaxCols64AVX512 is minMaxCols32AVX2 on 64 lanes (AVX-512F).
//
//go:noescape
func minMaxCols64AVX512(mn, mx, x *float32, rows, stride int) bool

// minMaxCols is MinMaxLanes on the rows of x (len(x) a multiple of
// len(mn)) by strips of 64 (AVX-512), 32 and 8 lanes: each lane sees its
// elements in row order,
// as in the loop. A width that is not a multiple of 8 ends with the
// strip of its last 8 lanes, overlapping the one before: a lane run
// again from its extremes over the same elements keeps them bit for bit
// (no element is below the minimum, none above the maximum, NaN changes
// nothing). It reports done false (nothing done) without AVX2 or with
// fewer than 8 lanes.
func minMaxCols(mn, mx, x []float32) (nan, done bool) {
	ch := len(mn)
	if ch < 8 || level < levelAVX2 || len(x) < ch {
		return false, false
	}
	rows, stride := len(x)/ch, 4*ch
	_, _ = mx[ch-1], x[rows*ch-1]
	c := 0
	for ; c+64 <= ch && level >= levelAVX512; c += 64 {
		nan = minMaxCols64AVX512(&mn[c], &mx[c], &x[c], rows, stride) || nan
	}
	for ; c+32 <= ch; c += 32 {
		nan = minMaxCols32AVX2(&mn[c], &mx[c], &x[c], rows, stride) || nan
	}
	for ; c+8 <= ch; c += 8 {
		nan = minMaxCols8AVX2(&mn[c], &mx[c], &x[c], rows, stride) || nan
	}
	if c < ch {
		c = ch - 8
		nan = minMaxCols8AVX2(&mn[c], &mx[c], &x[c], rows, stride) || nan
	}
	return nan, true
}

func minMaxLanes(mn, mx, x []float32) bool {
	n := len(x) &^ 7
	nan := false
	if n > 0 && level >= levelAVX2 {
		nan = minMaxLanesAVX2(&mn[0], &mx[0], &x[0], n)
	} else {
		n = 0
	}
	return minMaxLanesGo(mn[n:], mx[n:], x[n:]) || nan
}

// minMaxRunAVX512 is minMaxRunAVX2 on 16 lanes (AVX-512F), n a multiple
// of 16.
//
//go:noescape
func minMaxRunAVX512(mn, mx *[16]float32, x *float32, n int) bool

func minMaxRunVec(x []float32) (vmn, vmx float32, n int, nan bool) {
	n = len(x) &^ 7
	if n == 0 || level < levelAVX2 {
		return float32(math.Inf(1)), float32(math.Inf(-1)), 0, false
	}
	inf, ninf := float32(math.Inf(1)), float32(math.Inf(-1))
	var mn, mx [16]float32
	for i := range 16 {
		mn[i], mx[i] = inf, ninf
	}
	// 16 lanes, then 8 of them over a last block of 8: the lanes hold
	// values only, so which lane sees an element does not matter.
	n16 := 0
	if level >= levelAVX512 {
		n16 = len(x) &^ 15
		if n16 > 0 {
			nan = minMaxRunAVX512(&mn, &mx, &x[0], n16)
		}
	}
	if n > n16 {
		nan = minMaxRunAVX2((*[8]float32)(mn[:8]), (*[8]float32)(mx[:8]), &x[n16], n-n16) || nan
	}
	vmn, vmx = inf, ninf
	for i := range 16 {
		vmn, vmx = min(vmn, mn[i]), max(vmx, mx[i]) // values only: no lane is NaN
	}
	return vmn, vmx, n, nan
}

// addAVX512 is addK.run on n (a multiple of 8) elements, 8 at a time: per
// summand the steps of fqAVX2 up to the integer (RoundClamp), then in
// int64 da·M0a·2^(n−na) + db·M0b·2^(n−nb) (VPMULDQ, exact, and a shift),
// quant.RoundShift by n as requantAVX512 does it, + Z, the clamp and
// S_o·float32(q − Z).
//
//go:noescape
func addAVX512(dst, a, b *float32, n int, c *[16]uint64)

// addAVX2 is addAVX512 with AVX2 (no 64-bit arithmetic shift, clamp or
// narrowing), on n (a multiple of 8) elements, 8 at a time as two halves
// of 4 int64 lanes (elements 0–3, then 4–7): the summands' integers as
// there; p = da·M0a·2^(n−na) + db·M0b·2^(n−nb) (VPMULDQ, exact, and
// VPSLLVQ); quant.RoundShift by n, its arithmetic shift written as
// m ^ ((x ^ m) >>> n) with m the sign mask of x (VPCMPGTQ against 0,
// then VPSRLVQ); the clamp to [lo − Z, hi − Z] (the clamp of · + Z to
// [lo, hi], less Z: exact, |·| < 2^62) by VPCMPGTQ and VBLENDVPD; the
// low halves of the lanes put back in element order (VSHUFPS, VPERMPD);
// S_o·float32(q − Z). t holds the constants, each over 32 bytes.
//
//go:noescape
func addAVX2(dst, a, b *float32, n int, t *[16][4]uint64)

// addVec runs addAVX512 (addAVX2 without AVX-512) on the largest
// multiple of 8 elements of a and returns how many it did (0 without
// AVX2).
func addVec(dst, a, b []float32, k *addK) int {
	n := len(a) &^ 7
	if n == 0 || level < levelAVX2 {
		return 0
	}
	_, _ = dst[n-1], b[n-1]
	c := k.addConsts()
	if level < levelAVX512 {
		// The AVX2 kernel takes its clamp as [lo − Z, hi − Z] and a 1.
		c[13], c[14], c[15] = uint64(int64(k.lo)-int64(k.zo)), uint64(int64(k.hi)-int64(k.zo)), 1
		var t [16][4]uint64
		for i, v := range c {
			t[i] = [4]uint64{v, v, v, v}
		}
		addAVX2(&dst[0], &a[0], &b[0], n, &t)
		return n
	}
	addAVX512(&dst[0], &a[0], &b[0], n, &c)
	return n
}

// addConsts is addAVX512's constant table: the scales and the grids'
// bounds as float32 bits, the multipliers and shifts, the rounding
// half, Z, lo and hi.
func (k *addK) addConsts() [16]uint64 {
	f := func(v int32) uint64 { return uint64(math.Float32bits(float32(v))) }
	return [16]uint64{
		uint64(math.Float32bits(k.sa)), f(k.aLo), f(k.aHi),
		uint64(math.Float32bits(k.sb)), f(k.bLo), f(k.bHi),
		uint64(math.Float32bits(k.so)),
		uint64(k.m0a), uint64(k.n - k.na), uint64(k.m0b), uint64(k.n - k.nb),
		uint64(k.n), uint64(int64(1)<<(k.n-1) - 1),
		uint64(int64(k.zo)), uint64(int64(k.lo)), uint64(int64(k.hi)),
	}
}

// sumAVX2 is sumGo on n (a multiple of 8) elements: t = a + b (VADDPS,
// IEEE like ADDSS), then VMAXPS(lo, t) is lo > t ? lo : t and VMINPS(hi, t)
// is hi < t ? hi : t, which keep t (NaN, or −0 against lo = +0) where the
// scalar loop keeps it.
//
//go:noescape
func sumAVX2(v, a, b *float32, n int, lo, hi float32)

// sumAVX512 is sumAVX2 16 at a time (AVX-512F), n a multiple of 16.
//
//go:noescape
func sumAVX512(v, a, b *float32, n int, lo, hi float32)

func sum(v, a, b []float32, lo, hi float32) {
	if n := len(a) &^ 15; n > 0 && level >= levelAVX512 {
		_, _ = v[n-1], b[n-1]
		sumAVX512(&v[0], &a[0], &b[0], n, lo, hi)
		v, a, b = v[n:], a[n:], b[n:]
	}
	n := len(a) &^ 7
	if n > 0 && level >= levelAVX2 {
		_, _ = v[n-1], b[n-1]
		sumAVX2(&v[0], &a[0], &b[0], n, lo, hi)
	} else {
		n = 0
	}
	sumGo(v[n:len(a)], a[n:], b[n:len(a)], lo, hi)
}

// clampAVX2 is clampMaxGo on n (a multiple of 8) elements: VMINPS(hi, x)
// is hi < x ? hi : x, which keeps a NaN x as the scalar loop does.
//
//go:noescape
func clampAVX2(dst, x *float32, n int, hi float32)

// clampAVX512 is clampAVX2 16 at a time (AVX-512F), n a multiple of 16.
//
//go:noescape
func clampAVX512(dst, x *float32, n int, hi float32)

func clampMax(dst, x []float32, hi float32) {
	if n := len(x) &^ 15; n > 0 && level >= levelAVX512 {
		_ = dst[n-1]
		clampAVX512(&dst[0], &x[0], n, hi)
		dst, x = dst[n:], x[n:]
	}
	n := len(x) &^ 7
	if n > 0 && level >= levelAVX2 {
		_ = dst[n-1]
		clampAVX2(&dst[0], &x[0], n, hi)
	} else {
		n = 0
	}
	clampMaxGo(dst[n:len(x)], x[n:], hi)
}

// qAVX2 is qRunGo on n (a multiple of 8) elements, 8 at a time: fqAVX2's
// steps up to the integer q (the same quotient, clamp and rounding), stored
// as int32.
//
//go:noescape
func qAVX2(dst *int32, src *float32, s, lo, hi float32, n int)

func qRun(dst []int32, src []float32, s float32, lo, hi int32) {
	n := len(src) &^ 7
	if n > 0 && level >= levelAVX2 {
		_ = dst[n-1]
		qAVX2(&dst[0], &src[0], s, float32(lo), float32(hi), n)
	} else {
		n = 0
	}
	qRunGo(dst[n:len(src)], src[n:], s, lo, hi)
}

// qSumRowsAVX512 sets sums[r] to the sum of qAVX2's integers over row r
// of rows rows of hw elements at src (qSumRowsGo's sums: integer
// addition, in any order).
//
//go:noescape
func qSumRowsAVX512(sums *int64, src *float32, rows, hw int, s, lo, hi float32)

// qSumRows is qSumRowsGo on the vector kernel; it reports false, doing
// nothing, without AVX-512.
func qSumRows(sums []int64, x []float32, hw int, s float32, lo, hi int32) bool {
	if level < levelAVX512 {
		return false
	}
	if rows := len(sums); rows > 0 && hw > 0 {
		_ = x[rows*hw-1]
		qSumRowsAVX512(&sums[0], &x[0], rows, hw, s, float32(lo), float32(hi))
	}
	return true
}
