package calibrate

import (
	"math"

	"github.com/tinyqat/tinyqat/quant"
)

// Bins is the histogram resolution.
const Bins = 2048

// Histogram accumulates a histogram per channel over a symmetric range
// [−A, A) that doubles whenever a value falls outside it; doubling merges
// bin pairs into the central half, so counts are never re-estimated. From
// it, Range returns percentiles, or the MSE-optimal clipping range when MSE
// is set.
type Histogram struct {
	Percentile float64 // in (50, 100]; used when MSE is false
	MSE        bool
	Bits       int
	Scheme     quant.Scheme

	h    []hist
	seen bool
}

type hist struct {
	a      float64 // half-width of the range
	counts []float64
	lo, hi float64 // exact extremes seen
}

func (h *hist) add(v float64) {
	if h.a == 0 {
		h.a = math.Max(math.Abs(v), 1e-30)
		h.a = math.Pow(2, math.Ceil(math.Log2(h.a)))
	}
	for math.Abs(v) >= h.a {
		h.grow()
	}
	i := int((v + h.a) / (2 * h.a) * Bins)
	i = min(max(i, 0), Bins-1)
	h.counts[i]++
}

// grow doubles the range: bins 2k and 2k+1 become bin Bins/4 + k.
func (h *hist) grow() {
	merged := make([]float64, Bins)
	for k := 0; k < Bins/2; k++ {
		merged[Bins/4+k] = h.counts[2*k] + h.counts[2*k+1]
	}
	h.counts = merged
	h.a *= 2
}

func (o *Histogram) Observe(x []float32, shape []int, axis int) error {
	if len(x) == 0 {
		return nil
	}
	if err := checkFinite(x); err != nil {
		return err
	}
	ch := numChannels(shape, axis)
	if !o.seen || len(o.h) != ch {
		o.h = make([]hist, ch)
		for c := range o.h {
			o.h[c] = hist{counts: make([]float64, Bins), lo: math.Inf(1), hi: math.Inf(-1)}
		}
		o.seen = true
	}
	channels(len(x), shape, axis, func(lo, hi, c int) {
		h := &o.h[c]
		for _, v := range x[lo:hi] {
			f := float64(v)
			h.lo, h.hi = math.Min(h.lo, f), math.Max(h.hi, f)
			h.add(f)
		}
	})
	return nil
}

func (o *Histogram) Reset() { o.h, o.seen = nil, false }

func (o *Histogram) Range() ([]float32, []float32, error) {
	if !o.seen {
		return nil, nil, ErrNoSamples
	}
	lo, hi := make([]float64, len(o.h)), make([]float64, len(o.h))
	for c := range o.h {
		if o.MSE {
			lo[c], hi[c] = o.h[c].mseRange(o.Bits, o.Scheme)
		} else {
			lo[c], hi[c] = o.h[c].percentiles(o.Percentile)
		}
	}
	return toF32(lo), toF32(hi), nil
}

// center is the midpoint of bin i.
func (h *hist) center(i int) float64 { return -h.a + float64((float64(i)+0.5)*2*h.a/Bins) }

// percentiles returns the (100−p)-th and p-th percentiles, linearly
// interpolated within bins and bounded by the exact extremes.
func (h *hist) percentiles(p float64) (float64, float64) {
	total := 0.0
	for _, n := range h.counts {
		total += n
	}
	q := func(frac float64) float64 {
		target := frac * total
		acc := 0.0
		for i, n := range h.counts {
			if acc+n >= target && n > 0 {
				left := -h.a + float64(float64(i)*2*h.a/Bins)
				return left + float64((target-acc)/n*2*h.a/Bins)
			}
			acc += n
		}
		return h.a
	}
	lo := math.Max(h.lo, q(1-p/100))
	hi := math.Min(h.hi, q(p/100))
	return math.Min(lo, hi), math.Max(lo, hi)
}

// mseRange searches clipping ranges f·[lo, hi], f = 0.01 … 1, for the one
// whose grid gives the least expected squared error over the bin centres.
func (h *hist) mseRange(bits int, s quant.Scheme) (float64, float64) {
	qmin, qmax := quant.QRange(bits, s)
	bestF, bestErr := 1.0, math.Inf(1)
	for k := 1; k <= 100; k++ {
		f := float64(k) / 100
		scale, zero, err := quant.ScaleZero(bits, s, float32(f*h.lo), float32(f*h.hi))
		if err != nil {
			continue
		}
		var e float64
		for i, n := range h.counts {
			if n == 0 {
				continue
			}
			v := float32(h.center(i))
			r := float64(scale) * float64(quant.QuantizeValue(v, scale, zero, qmin, qmax)-zero)
			d := float64(v) - r
			e += float64(n * d * d)
		}
		if e < bestErr {
			bestErr, bestF = e, f
		}
	}
	return bestF * h.lo, bestF * h.hi
}
