package fakequant

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/quant"
)

// RequantFakeQuantize is the fake quantization of a layer output that
// reproduces the integer runtime's requantization exactly. For an element
// of channel c (axis 1) with value y, accumulator scale S_acc[c] = S_x·S_w[c]
// and output parameters (S, Z):
//
//	acc = round(y / S_acc[c])                         (the int32 accumulator)
//	q   = clamp(round(acc · M0[c] / 2^n[c]) + Z, q_min, q_max)   (quant.Requantize)
//	ŷ   = S · (q − Z)
//
// with M0[c], n[c] = quant.QuantizeMultiplier(S_acc[c], S), the multiplier
// the exported model stores (one rounding, half to even). When y is the float image of an exact integer
// accumulation, acc recovers it and ŷ is bit for bit what the integer
// runtime produces; the float32 accumulation of the graph leaves only the
// rare case where its rounding error crosses half an accumulator step.
func RequantFakeQuantize(dst, src []float32, shape []int, p *Params, accScale []float32) error {
	if len(shape) < 2 {
		return fmt.Errorf("fakequant: requantization needs a channel axis, shape %v", shape)
	}
	if p.PerChannel() {
		return fmt.Errorf("fakequant: requantized outputs are per tensor")
	}
	ch := shape[1]
	if len(accScale) != ch && len(accScale) != 1 {
		return fmt.Errorf("fakequant: %d accumulator scales for %d channels", len(accScale), ch)
	}
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
			a := math.Round(float64(src[i]) / sa) // recovers the exact integer accumulator
			if !(a > math.MinInt32) {             // NaN too
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
