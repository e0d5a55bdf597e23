package fakequant

import (
	"math"

	"github.com/tinyqat/tinyqat/quant"
)

// requantFakeQuantizeRef is RequantFakeQuantize's reference: its loop
// before the per-channel constants were hoisted (one closure call and
// channel lookup per run).
func requantFakeQuantizeRef(dst, src []float32, shape []int, p *quant.Params, accScale []float32) error {
	ch := shape[1]
	inner := 1
	for _, d := range shape[2:] {
		inner *= d
	}
	s, z := p.Scale[0], p.Zero[0]
	qmin, qmax := p.QRange()
	m0, shift := make([]int32, len(accScale)), make([]int32, len(accScale))
	for c, sa := range accScale {
		var err error
		if m0[c], shift[c], err = quant.QuantizeMultiplier(sa, s); err != nil {
			return err
		}
	}
	l := quant.Layout{Inner: inner, Channels: ch}
	if len(accScale) == 1 {
		l.Channels = 1
	}
	l.Runs(len(src), func(lo, hi, c int) {
		sa := float64(accScale[c])
		for i := lo; i < hi; i++ {
			a := math.Round(float64(src[i]) / sa)
			if !(a > math.MinInt32) {
				a = math.MinInt32
			} else if a > math.MaxInt32 {
				a = math.MaxInt32
			}
			q := quant.Requantize(int32(a), m0[c], shift[c], z, qmin, qmax)
			dst[i] = s * float32(q-z)
		}
	})
	return nil
}
