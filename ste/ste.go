package ste

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
)

// Kind names a gradient estimator.
type Kind string

const (
	KindSTE     Kind = "ste"     // straight through
	KindClipped Kind = "clipped" // straight through inside the clipping range
	KindLSQ     Kind = "lsq"     // learned step size
)

// Kinds lists the estimators that ByName knows.
var Kinds = []Kind{KindSTE, KindClipped, KindLSQ}

// ByName returns the estimator of that kind.
func ByName(kind Kind) (fakequant.Estimator, error) {
	switch kind {
	case KindSTE:
		return STE{}, nil
	case KindClipped, "":
		return Clipped{}, nil
	case KindLSQ:
		return LSQ{}, nil
	}
	return nil, fmt.Errorf("ste: unknown estimator %q (known: %v)", kind, Kinds)
}

// STE passes the gradient through unchanged.
type STE struct{}

func (STE) Name() string      { return "ste" }
func (STE) LearnsScale() bool { return false }

// Identity reports that Backward is a copy of ∂L/∂r̂ (fakequant skips
// deriving the parameters for it).
func (STE) Identity() bool { return true }
func (STE) Backward(dx, dy, _ []float32, _ quant.Layout, _ *quant.Params, _ []float64) {
	copy(dx, dy)
}

// Clipped passes the gradient where the forward pass did not clip.
type Clipped struct{}

func (Clipped) Name() string      { return "clipped" }
func (Clipped) LearnsScale() bool { return false }

// PassesUnclipped reports that where the forward pass clipped no element
// (every round(x/S) inside the grid, none NaN), Backward is a copy of
// ∂L/∂r̂: its mask, the same bounds, passes everything. fakequant then
// copies (a weight just measured by its min/max observer is never
// clipped) instead of deriving and applying the mask.
func (Clipped) PassesUnclipped() bool { return true }
func (Clipped) Backward(dx, dy, x []float32, l quant.Layout, p *quant.Params, _ []float64) {
	// The forward pass clipped exactly the elements with round(x/S)
	// outside [q_min − Z, q_max − Z] (round half to even, with x/S the
	// same float32 quotient): see clipBounds. PassBounds turns the open
	// interval of quotients into one of x, so no element is divided.
	if l.Channels > 1 && l.Inner == 1 {
		// Channels on the last axis (a Linear weight): walk rows, each
		// lane with its channel's interval.
		tlo, thi := make([]float32, l.Channels), make([]float32, l.Channels)
		for c := range tlo {
			tlo[c], thi[c] = Clipped{}.PassBounds(p, c)
		}
		fakequant.PassGradLanes(dx, dy, x, tlo, thi)
		return
	}
	forRuns(len(x), l, func(lo, hi, c int) {
		tlo, thi := Clipped{}.PassBounds(p, c)
		fakequant.PassGrad(dx[lo:hi], dy[lo:hi], x[lo:hi], tlo, thi)
	})
}

// PassBounds returns the interval [tlo, thi] of x in which Backward
// passes channel c's gradient (fakequant.PassBounds of the quotients
// that round inside the grid): Backward is fakequant.PassGrad with these
// bounds on each run of the channel, so fakequant can merge it with
// another mask.
func (Clipped) PassBounds(p *quant.Params, c int) (tlo, thi float32) {
	qmin, qmax := p.QRange()
	ulo, uhi := clipBounds(qmin-p.Zero[c], qmax-p.Zero[c])
	return fakequant.PassBounds(p.Scale[c], ulo, uhi)
}

// clippedGo is Clipped.Backward's scalar reference (its loop before the
// vector kernels): ∂L/∂x = ∂L/∂r̂ where ulo < x/S < uhi, else 0.
func clippedGo(dx, dy, x []float32, l quant.Layout, p *quant.Params) {
	qmin, qmax := p.QRange()
	for i, v := range x {
		c := l.Channel(i)
		zlo, zhi := clipBounds(qmin-p.Zero[c], qmax-p.Zero[c])
		if u := v / p.Scale[c]; u > zlo && u < zhi {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// clipBounds returns the open interval of quotients u = x/S whose rounding
// (half to even, quant.Round) lands in [lo, hi]: round(u) ≥ lo ⇔ u > lo − ½,
// except that the tie lo − ½ rounds to lo (inside) when lo is even; and
// symmetrically at hi + ½. The bounds are moved out by one float32 ulp
// where the tie belongs inside, so the caller can use strict comparisons.
func clipBounds(lo, hi int32) (float32, float32) {
	l := float32(lo) - 0.5
	if lo%2 == 0 { // the tie lo − ½ rounds to the even lo: inside
		l = math.Nextafter32(l, float32(math.Inf(-1)))
	}
	h := float32(hi) + 0.5
	if hi%2 == 0 { // the tie hi + ½ rounds to the even hi: inside
		h = math.Nextafter32(h, float32(math.Inf(1)))
	}
	return l, h
}

// forRuns calls f for each run [lo, hi) of elements sharing channel c.
func forRuns(n int, l quant.Layout, f func(lo, hi, c int)) {
	if l.Channels == 1 {
		f(0, n, 0)
		return
	}
	for lo := 0; lo < n; lo += l.Inner {
		f(lo, lo+l.Inner, (lo/l.Inner)%l.Channels)
	}
}

// LSQ is the learned step size estimator: clipped STE for x and a gradient
// for each scale, so that the scales train with the weights.
type LSQ struct{}

func (LSQ) Name() string      { return "lsq" }
func (LSQ) LearnsScale() bool { return true }
func (LSQ) Backward(dx, dy, x []float32, l quant.Layout, p *quant.Params, dScale []float64) {
	qmin, qmax := p.QRange()
	perScale := len(x) / max(1, l.Channels)
	forRuns(len(x), l, func(lo, hi, c int) {
		s, z := p.Scale[c], p.Zero[c]
		lo32, hi32 := qmin-z, qmax-z
		ulo, uhi := clipBounds(lo32, hi32)
		var ds float64
		for i := lo; i < hi; i++ {
			u := x[i] / s
			switch {
			case !(u > ulo):
				dx[i] = 0
				ds += float64(dy[i]) * float64(lo32)
			case !(u < uhi):
				dx[i] = 0
				ds += float64(dy[i]) * float64(hi32)
			default:
				dx[i] = dy[i]
				ds += float64(float64(dy[i]) * (float64(quant.RoundClamp(u, lo32, hi32)) - float64(u)))
			}
		}
		if dScale != nil {
			dScale[c] += ds * GradScale(perScale, int(qmax-z))
		}
	})
}

// GradScale is LSQ's g = 1/√(N·Q_p) (Esser et al. 2019, §2.2).
func GradScale(n, qp int) float64 {
	return 1 / math.Sqrt(float64(max(1, n))*float64(max(1, qp)))
}
