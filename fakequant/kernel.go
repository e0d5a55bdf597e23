package fakequant

import "github.com/tinyqat/tinyqat/quant"

// The per-element loops of the fake-quant forward pass and of the clipped
// straight-through gradient, with a vector kernel (kernel_amd64.s) where
// the CPU has one. Each kernel is bit for bit its scalar twin below: the
// same IEEE float32 division x/S, and the same integer rounding and clamp
// (kernel_test.go compares them on NaN, ±Inf, ties, −0, subnormals and
// both clamp boundaries). The purego build tag forces the scalar loops.

// fakeQuantize is quant.FakeQuantize on the vector kernel where one
// applies (grids of at most 2^24 steps); results are identical.
func fakeQuantize(dst, src []float32, shape []int, p *Params) {
	if !vectorized || len(src) == 0 {
		quant.FakeQuantize(dst, src, shape, p)
		return
	}
	l := LayoutOf(p, shape)
	qmin, qmax := p.QRange()
	if int64(qmax)-int64(qmin) > 1<<24 {
		quant.FakeQuantize(dst, src, shape, p) // 32-bit grids: the exact path
		return
	}
	_ = dst[len(src)-1]
	if l.Channels > 1 && l.Inner == 1 {
		// Channels on the last axis (a Linear weight): one row at a time,
		// each lane with its channel's parameters.
		ch := l.Channels
		s, lo, hi := make([]float32, ch), make([]float32, ch), make([]float32, ch)
		for c := range ch {
			s[c], lo[c], hi[c] = p.Scale[c], float32(qmin-p.Zero[c]), float32(qmax-p.Zero[c])
		}
		for start := 0; start < len(src); start += ch {
			fqLanes(dst[start:start+ch], src[start:start+ch], s, lo, hi)
		}
		return
	}
	l.Runs(len(src), func(lo, hi, c int) {
		fqRun(dst[lo:hi], src[lo:hi], p.Scale[c], qmin-p.Zero[c], qmax-p.Zero[c])
	})
}

// fqRunGo is the scalar twin: dst[i] = s·clip(round(src[i]/s), lo, hi).
func fqRunGo(dst, src []float32, s float32, lo, hi int32) {
	for i, r := range src {
		dst[i] = s * float32(quant.RoundClamp(r/s, lo, hi))
	}
}

// fqLanesGo is the scalar twin with one (s, lo, hi) per element.
func fqLanesGo(dst, src, s, lo, hi []float32) {
	for i, r := range src {
		dst[i] = s[i] * float32(quant.RoundClamp(r/s[i], int32(lo[i]), int32(hi[i])))
	}
}

// ClipGrad writes dy[i] into dx[i] where the quotient u = x[i]/s lies in
// the open interval (ulo, uhi), and +0 elsewhere (NaN quotients included):
// the clipped straight-through gradient of one run of elements sharing S.
func ClipGrad(dx, dy, x []float32, s, ulo, uhi float32) {
	if n := len(x); n > 0 {
		_, _ = dx[n-1], dy[n-1]
		clipRun(dx[:n], dy[:n], x, s, ulo, uhi)
	}
}

// ClipGradLanes is ClipGrad with one (s, ulo, uhi) per element (a row of a
// tensor whose channels are on the last axis); all slices have len(x).
func ClipGradLanes(dx, dy, x, s, ulo, uhi []float32) {
	if n := len(x); n > 0 {
		_, _, _, _, _ = dx[n-1], dy[n-1], s[n-1], ulo[n-1], uhi[n-1]
		clipLanes(dx[:n], dy[:n], x, s[:n], ulo[:n], uhi[:n])
	}
}

// clipRunGo is ClipGrad's scalar twin.
func clipRunGo(dx, dy, x []float32, s, ulo, uhi float32) {
	for i, v := range x {
		if u := v / s; u > ulo && u < uhi {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// clipLanesGo is ClipGradLanes's scalar twin.
func clipLanesGo(dx, dy, x, s, ulo, uhi []float32) {
	for i, v := range x {
		if u := v / s[i]; u > ulo[i] && u < uhi[i] {
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
	for start := 0; start+ch <= len(x); start += ch {
		if minMaxLanes(mn, mx, x[start:start+ch]) {
			nan = true
		}
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
