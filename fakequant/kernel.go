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
