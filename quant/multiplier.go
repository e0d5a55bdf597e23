package quant

import (
	"errors"
	"fmt"
	"math"
)

// Multiplier bounds: M0 is a 24-bit mantissa (float32's), shift a right
// shift in [MinShift, MaxShift], so M = M0·2^−shift ∈ [2^−40, 2^23).
const (
	MinM0    = 1 << 23
	MaxM0    = 1<<24 - 1
	MinShift = 1
	MaxShift = 63
)

// OutputScale is the real requantization multiplier of an output channel,
// computed exactly as ONNX Runtime computes it for QGemm, QLinearMatMul and
// QLinearConv: in float32, (S_x·S_w[c]) / S_y, the product rounded to
// float32 first. accScale is the float32 product S_x·S_w[c] (the bias
// scale).
func OutputScale(accScale, outScale float32) float32 { return accScale / outScale }

// SplitMultiplier holds a positive normal float32 multiplier m exactly as
// an integer mantissa M0 ∈ [2^23, 2^24) and a right shift:
// m = M0 · 2^−shift. It fails for m outside [2^−40, 2^23) (or not finite):
// such layers are out of any useful range (every output would round to 0,
// or the product could overflow).
// ErrMultiplier is wrapped by the errors of a requantization multiplier
// that has no exact integer form (not positive, not finite, subnormal, or
// outside [2^−40, 2^23)).
var ErrMultiplier = errors.New("quant: requantization multiplier has no integer form")

func SplitMultiplier(m float32) (m0, shift int32, err error) {
	if !(m > 0) || !IsFinite(m) {
		return 0, 0, fmt.Errorf("%w: %v is not positive and finite", ErrMultiplier, m)
	}
	b := math.Float32bits(m)
	exp := int32(b>>23) & 0xff
	if exp == 0 {
		return 0, 0, fmt.Errorf("%w: %v is subnormal", ErrMultiplier, m)
	}
	m0, shift = int32(b&(1<<23-1)|1<<23), 150-exp // m = M0·2^(exp−127−23)
	if shift < MinShift || shift > MaxShift {
		return 0, 0, fmt.Errorf("%w: %v is outside [2^−40, 2^23)", ErrMultiplier, m)
	}
	return m0, shift, nil
}

// QuantizeMultiplier is SplitMultiplier(OutputScale(accScale, outScale)):
// the exact integer form of the multiplier ONNX Runtime uses.
func QuantizeMultiplier(accScale, outScale float32) (m0, shift int32, err error) {
	return SplitMultiplier(OutputScale(accScale, outScale))
}
