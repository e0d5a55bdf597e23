package fakequant

import (
	"math"
	"sync"

	"github.com/tinyqat/tinyqat/quant"
)

// The per-element loops of the fake-quant forward pass, of the clipped
// straight-through gradient and of the min/max observer, with a vector kernel (kernel_amd64.s) where
// the CPU has one. Each kernel is bit for bit its scalar twin below: the
// same IEEE float32 division x/S, and the same integer rounding and clamp
// (kernel_test.go compares them on NaN, ±Inf, ties, −0, subnormals and
// both clamp boundaries). The purego build tag forces the scalar loops.

// The CPU levels of the vector kernels: one choice, made once at start-up
// (level, the best of availableLevels); tests force each level the
// machine has.
const (
	levelGo     = iota // the scalar loops
	levelAVX2          // the AVX2 kernels
	levelAVX512        // the AVX2 kernels and the AVX-512F ones (fqAVX512, minMaxCols64AVX512, requantAVX512, addAVX512, passAVX512, sumAVX512, clampAVX512, minMaxRunAVX512)
)

// level is the level the kernels run at (tests force it).
var level = availableLevels()[0]

// fakeQuantize is quant.FakeQuantize on the vector kernel where one
// applies (grids of at most 2^24 steps); results are identical. It
// reports whether it clipped no element: whether round(x/S) (half to
// even, the float32 quotient) lay in [q_min − Z, q_max − Z] for every x,
// none NaN. That is exactly where a clipped straight-through estimator
// passes the gradient (its bounds are the same), so when it reports true
// such an estimator passes every element. Grids wider than 2^24 steps are
// not checked: it reports false.
func fakeQuantize(dst, src []float32, shape []int, p *quant.Params) (unclipped bool) {
	l := quant.LayoutOf(p, shape)
	qmin, qmax := p.QRange()
	if int64(qmax)-int64(qmin) > 1<<24 {
		// 32-bit grids: the exact path.
		if l.Inner == 1 && l.Channels == len(src) {
			// A bias, one element per channel: quant.FakeQuantize's runs
			// of one element, without a call per run.
			_ = dst[len(src)-1]
			for i, r := range src {
				s, z := p.Scale[i], p.Zero[i]
				dst[i] = s * float32(quant.QuantizeValue(r, s, z, qmin, qmax)-z)
			}
			return false
		}
		quant.FakeQuantize(dst, src, shape, p)
		return false
	}
	if len(src) == 0 {
		return true
	}
	_ = dst[len(src)-1]
	ok := true
	if l.Channels > 1 && l.Inner == 1 {
		// Channels on the last axis (a Linear weight): one row at a time,
		// each lane with its channel's parameters.
		ch := l.Channels
		// The lanes tiled to a multiple of the kernel's width (8 or 16:
		// lcm(ch, width) ≥ ch) cover whole rows with no scalar tail; the
		// first ch are the lanes.
		pl := lanePeriodOf(ch, vecLanes())
		buf := floatPool.get(3 * pl)
		defer floatPool.put(buf)
		ts, tlo, thi := (*buf)[:pl], (*buf)[pl:2*pl], (*buf)[2*pl:]
		for c := range ch {
			ts[c], tlo[c], thi[c] = p.Scale[c], float32(qmin-p.Zero[c]), float32(qmax-p.Zero[c])
		}
		start := 0
		if level >= levelAVX2 && pl <= len(src) {
			tile(ts, ch)
			tile(tlo, ch)
			tile(thi, ch)
			start = len(src) / pl * pl
			ok = fqTiled(dst[:start], src[:start], ts, tlo, thi)
		}
		s, lo, hi := ts[:ch], tlo[:ch], thi[:ch]
		for ; start < len(src); start += ch {
			ok = fqLanes(dst[start:start+ch], src[start:start+ch], s, lo, hi) && ok
		}
		return ok
	}
	l.Runs(len(src), func(lo, hi, c int) {
		ok = fqRun(dst[lo:hi], src[lo:hi], p.Scale[c], qmin-p.Zero[c], qmax-p.Zero[c]) && ok
	})
	return ok
}

// fqRunGo is the scalar twin: dst[i] = s·clip(round(src[i]/s), lo, hi);
// it reports whether no element was clipped (round(src[i]/s) in [lo, hi],
// not NaN).
func fqRunGo(dst, src []float32, s float32, lo, hi int32) bool {
	ok := true
	for i, r := range src {
		u := r / s
		q := quant.RoundClamp(u, lo, hi)
		dst[i] = s * float32(q)
		if !(u >= float32(lo) && u <= float32(hi)) { // rare: at or past an edge
			ok = ok && quant.Round(u) == float32(q)
		}
	}
	return ok
}

// qRunGo writes the integers of fqRunGo: dst[i] = clip(round(src[i]/s),
// lo, hi).
func qRunGo(dst []int32, src []float32, s float32, lo, hi int32) {
	dst = dst[:len(src)]
	for i, r := range src {
		dst[i] = quant.RoundClamp(r/s, lo, hi)
	}
}

// qSumRowsGo sets sums[r] to Σ clip(round(x[i]/s), lo, hi) over row r,
// x[r·hw:(r+1)·hw]: qSumRows's twin.
func qSumRowsGo(sums []int64, x []float32, hw int, s float32, lo, hi int32) {
	for r := range sums {
		var sum int64
		for _, v := range x[r*hw : (r+1)*hw] {
			sum += int64(quant.RoundClamp(v/s, lo, hi))
		}
		sums[r] = sum
	}
}

// fqTiledGo is fqTiled's scalar twin: fqLanesGo on each block of
// len(s) elements of src (a multiple of len(s)).
func fqTiledGo(dst, src, s, lo, hi []float32) bool {
	ok := true
	for start := 0; start+len(s) <= len(src); start += len(s) {
		ok = fqLanesGo(dst[start:start+len(s)], src[start:start+len(s)], s, lo, hi) && ok
	}
	return ok
}

// fqLanesGo is the scalar twin with one (s, lo, hi) per element.
func fqLanesGo(dst, src, s, lo, hi []float32) bool {
	ok := true
	for i, r := range src {
		u := r / s[i]
		q := quant.RoundClamp(u, int32(lo[i]), int32(hi[i]))
		dst[i] = s[i] * float32(q)
		if !(u >= lo[i] && u <= hi[i]) {
			ok = ok && quant.Round(u) == float32(q)
		}
	}
	return ok
}

// PassBounds returns the float32 interval [tlo, thi] of the x whose
// quotient u = x/S (float32 division) lies in the open interval (ulo, uhi):
// for every x that is not NaN, ulo < x/S < uhi ⇔ tlo ≤ x ≤ thi. The
// correctly rounded quotient is monotone in x, so each side of the
// interval is one threshold; it is found next to ulo·S by stepping one
// float32 at a time (bisection if that takes long). With no such x, tlo
// is NaN and the interval admits nothing. S must be positive and finite
// and ulo < uhi finite, as a clipped estimator's are.
func PassBounds(s, ulo, uhi float32) (tlo, thi float32) {
	// The threshold is almost always within a few float32 of the guess:
	// step there with the comparisons written out (firstTrue's walk
	// without its function calls), else search.
	tlo, ok := firstAbove(s, ulo)
	if !ok {
		tlo = firstTrue(func(x float32) bool { return x/s > ulo }, ulo*s)
	}
	// The greatest x with x/s < uhi is −(the least y with y/s > −uhi).
	thi, ok = firstAbove(s, -uhi)
	if thi = -thi; !ok {
		thi = lastTrue(func(x float32) bool { return x/s < uhi }, uhi*s)
	}
	if tlo != tlo || thi != thi || tlo > thi {
		return float32(math.NaN()), float32(math.NaN())
	}
	return tlo, thi
}

var (
	posInf = float32(math.Inf(1))
	negInf = float32(math.Inf(-1))
)

// firstAbove returns the least float32 x with x/s > u, found by
// stepping from u·s, and whether it was found within 8 steps.
func firstAbove(s, u float32) (float32, bool) {
	t := u * s
	if t != t {
		return 0, false
	}
	if t/s > u {
		for range 8 {
			p := math.Nextafter32(t, negInf)
			if p == t || !(p/s > u) {
				return t, true
			}
			t = p
		}
		return 0, false
	}
	for range 8 {
		n := math.Nextafter32(t, posInf)
		if n == t {
			return 0, false
		}
		if t = n; t/s > u {
			return t, true
		}
	}
	return 0, false
}

// firstTrue returns the least float32 x with f(x) for f monotone
// (false … false true … true over −Inf … +Inf), starting near guess;
// NaN when f is false everywhere.
func firstTrue(f func(float32) bool, guess float32) float32 {
	if guess == guess {
		t := guess
		for range 64 {
			if f(t) {
				p := math.Nextafter32(t, negInf)
				if p == t || !f(p) {
					return t
				}
				t = p
			} else {
				n := math.Nextafter32(t, posInf)
				if n == t {
					break
				}
				t = n
			}
		}
	}
	// Bisection over the ordered encodings.
	lo, hi := orderKey(negInf), orderKey(posInf)
	if !f(posInf) {
		return float32(math.NaN())
	}
	if f(negInf) {
		return negInf
	}
	for hi-lo > 1 { // f(lo) false, f(hi) true
		mid := lo + (hi-lo)/2
		if f(fromKey(mid)) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return fromKey(hi)
}

// lastTrue is firstTrue mirrored: the greatest x with f(x), for f
// true … true false … false.
func lastTrue(f func(float32) bool, guess float32) float32 {
	return -firstTrue(func(x float32) bool { return f(-x) }, -guess)
}

// orderKey maps float32 encodings (not NaN) to integers in their order,
// −0 just below +0.
func orderKey(x float32) uint32 {
	b := math.Float32bits(x)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

func fromKey(k uint32) float32 {
	if k&(1<<31) != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}

// PassGrad writes dy[i] into dx[i] where tlo ≤ x[i] ≤ thi, and +0
// elsewhere (NaN included): with PassBounds, the clipped straight-through
// gradient of one run of elements sharing S, without a division.
func PassGrad(dx, dy, x []float32, tlo, thi float32) {
	if n := len(x); n > 0 {
		_, _ = dx[n-1], dy[n-1]
		passRun(dx[:n], dy[:n], x, tlo, thi)
	}
}

// PassGradLanes is PassGrad with one (tlo, thi) per lane, for x made of
// rows of len(tlo) lanes (a tensor whose channels are on the last axis);
// dx and dy have len(x), thi has len(tlo).
func PassGradLanes(dx, dy, x, tlo, thi []float32) {
	ch, n := len(tlo), len(x)
	if n == 0 || ch == 0 {
		return
	}
	_, _, _ = dx[n-1], dy[n-1], thi[ch-1]
	start, p := 0, lanePeriod(ch)
	if level >= levelAVX2 && p <= n {
		buf := floatPool.get(2 * p)
		defer floatPool.put(buf)
		tl, th := (*buf)[:p], (*buf)[p:]
		copy(tl, tlo)
		copy(th, thi[:ch])
		tile(tl, ch)
		tile(th, ch)
		for ; start+p <= n; start += p {
			passLanes(dx[start:start+p], dy[start:start+p], x[start:start+p], tl, th)
		}
	}
	for ; start+ch <= n; start += ch {
		passLanes(dx[start:start+ch], dy[start:start+ch], x[start:start+ch], tlo, thi[:ch])
	}
}

// lanePeriod is lcm(ch, 8): the length of whole rows of ch lanes that
// the 8-wide kernels cover without a tail.
func lanePeriod(ch int) int { return lanePeriodOf(ch, 8) }

// lanePeriodOf is lcm(ch, w), for the w-wide kernels.
func lanePeriodOf(ch, w int) int {
	g, b := ch, w
	for b != 0 {
		g, b = b, g%b
	}
	return ch / g * w
}

// tile repeats t's first ch elements over all of t (len(t) a multiple of
// ch).
func tile(t []float32, ch int) {
	for i := ch; i < len(t); i += ch {
		copy(t[i:i+ch], t[:ch])
	}
}

// slicePool keeps scratch slices of T between passes, so that a pass
// over a weight or an activation allocates nothing once warm.
type slicePool[T any] struct{ p sync.Pool }

// get returns a scratch slice of n values (contents undefined).
func (s *slicePool[T]) get(n int) *[]T {
	if b, ok := s.p.Get().(*[]T); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]T, n)
	return &b
}

func (s *slicePool[T]) put(b *[]T) { s.p.Put(b) }

// floatPool holds the scratch of the lane kernels' tiled parameters.
var floatPool slicePool[float32]

// passRunGo is PassGrad's scalar twin.
func passRunGo(dx, dy, x []float32, tlo, thi float32) {
	for i, v := range x {
		if v >= tlo && v <= thi {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// passLanesGo is PassGradLanes's scalar twin.
func passLanesGo(dx, dy, x, tlo, thi []float32) {
	for i, v := range x {
		if v >= tlo[i] && v <= thi[i] {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// MinMaxLanes updates per lane, over the rows of x (each len(mn) long; a
// tensor whose channels are on the last axis), mn[c] to v where v < mn[c]
// and mx[c] to v where v > mx[c], in row order; NaNs change nothing. It
// reports whether x held a NaN. len(mx) must be len(mn), and len(x) a
// multiple of it.
func MinMaxLanes(mn, mx, x []float32) (nan bool) {
	ch := len(mn)
	if ch == 0 {
		return false
	}
	mx = mx[:ch]
	if nan, done := minMaxCols(mn, mx, x[:len(x)/ch*ch]); done {
		return nan
	}
	start := 0
	if p := lanePeriod(ch); p > ch && level >= levelAVX2 && 2*p <= len(x) {
		// Rows narrower than 8 lanes (wider ones went by strips of
		// lanes, minMaxCols), whose width is not 8: the kernel runs over
		// blocks of lcm(ch, 8) elements (r = p/ch rows) with no scalar
		// tail, into r copies of the extremes, copy j taking the rows
		// j, j+r, …; then the copies are folded in order.
		start = len(x) / p * p
		nan = minMaxTiled(mn, mx, x[:start], p)
	}
	for ; start+ch <= len(x); start += ch {
		if minMaxLanes(mn, mx, x[start:start+ch]) {
			nan = true
		}
	}
	return nan
}

// minMaxTiled is MinMaxLanes over x (a multiple of p = lcm(len(mn), 8)
// elements) by blocks of p. Folding the copies, each the loop over its
// rows, gives the loop's value; of equal extremes the loop keeps the
// first in row order, which the fold may not: only zeros have two
// encodings, so a lane whose extreme is zero runs the loop again.
func minMaxTiled(mn, mx, x []float32, p int) (nan bool) {
	ch := len(mn)
	buf := floatPool.get(2 * p)
	defer floatPool.put(buf)
	tmn, tmx := (*buf)[:p], (*buf)[p:]
	for j := 0; j < p; j += ch {
		copy(tmn[j:j+ch], mn)
		copy(tmx[j:j+ch], mx)
	}
	for start := 0; start < len(x); start += p {
		if minMaxLanes(tmn, tmx, x[start:start+p]) {
			nan = true
		}
	}
	for c := range ch {
		lo, hi := mn[c], mx[c]
		for j := c; j < p; j += ch {
			if tmn[j] < lo {
				lo = tmn[j]
			}
			if tmx[j] > hi {
				hi = tmx[j]
			}
		}
		if lo == 0 || hi == 0 {
			lo, hi = mn[c], mx[c]
			for i := c; i < len(x); i += ch {
				if v := x[i]; v < lo {
					lo = v
				}
				if v := x[i]; v > hi {
					hi = v
				}
			}
		}
		mn[c], mx[c] = lo, hi
	}
	return nan
}

// MinMaxRun returns what the loop
//
//	for _, v := range x { if v < mn { mn = v }; if v > mx { mx = v } }
//
// leaves in mn and mx, bit for bit (of equal extremes, such as −0 and +0,
// the first one stays), and whether x held a NaN.
func MinMaxRun(x []float32, mn, mx float32) (float32, float32, bool) {
	vmn, vmx, n, nan := minMaxRunVec(x)
	if n == 0 {
		return minMaxRunGo(x, mn, mx)
	}
	// The vector part gave the extreme values; the tail is scanned.
	tmn, tmx, tnan := minMaxRunGo(x[n:], vmn, vmx)
	// The loop keeps the first element equal to the run's extreme, if it
	// beats the incoming one; only zeros have two encodings of a value.
	if tmn < mn {
		mn = firstEqual(x, tmn)
	}
	if tmx > mx {
		mx = firstEqual(x, tmx)
	}
	return mn, mx, nan || tnan
}

// firstEqual returns the first element of x equal to v (v itself when v
// is not zero: a nonzero value has one encoding).
func firstEqual(x []float32, v float32) float32 {
	if v != 0 {
		return v
	}
	for _, e := range x {
		if e == 0 {
			return e
		}
	}
	return v
}

// minMaxRunGo is MinMaxRun's scalar twin: the loop itself.
func minMaxRunGo(x []float32, mn, mx float32) (float32, float32, bool) {
	nan := false
	for _, v := range x {
		if v < mn {
			mn = v
		}
		if v > mx {
			mx = v
		}
		if v != v {
			nan = true
		}
	}
	return mn, mx, nan
}

// minMaxLanesGo is the scalar twin of one row of MinMaxLanes.
func minMaxLanesGo(mn, mx, x []float32) bool {
	nan := false
	for c, v := range x {
		if v < mn[c] {
			mn[c] = v
		}
		if v > mx[c] {
			mx[c] = v
		}
		if v != v {
			nan = true
		}
	}
	return nan
}

// sumGo writes into v the sums a[i] + b[i], each raised to lo where
// lo > t and lowered to hi where hi < t (NaN kept): with lo = 0 a ReLU,
// with hi = Max a ReLU6's top; −Inf and +Inf leave the sum as it is.
func sumGo(v, a, b []float32, lo, hi float32) {
	v, b = v[:len(a)], b[:len(a)]
	for i := range a {
		t := a[i] + b[i]
		if lo > t {
			t = lo
		}
		if hi < t {
			t = hi
		}
		v[i] = t
	}
}

// clampMaxGo writes into c (len(x)) x with every element above max
// replaced by max (NaN kept).
func clampMaxGo(c, x []float32, max float32) {
	c = c[:len(x)]
	for i, v := range x {
		if v > max {
			v = max
		}
		c[i] = v
	}
}
