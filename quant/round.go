package quant

import "math"

// Round is the one rounding rule: round half to even (ONNX QuantizeLinear,
// IEEE 754's default rounding, x86's CVTPS2DQ).
func Round(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

// roundMagic is 2^52 + 2^51: adding it to a float64 of magnitude below 2^51
// leaves no fraction bits, so the addition itself rounds to an integer with
// the float64 default rounding, half to even; subtracting it back is exact.
const roundMagic = 1<<52 + 1<<51

// RoundClamp is clip(Round(v), lo, hi), for |lo|, |hi| ≤ 2^24. It avoids
// math.RoundToEven's bit manipulation and unpredictable branches: v is
// clamped into [lo−1, hi+1] (rarely taken branches), then rounded half to
// even by the magic-number addition in float64. NaN maps to lo.
func RoundClamp(v float32, lo, hi int32) int32 {
	f := float64(v)
	if f != f {
		return lo
	}
	if f > float64(hi)+1 {
		f = float64(hi) + 1
	} else if f < float64(lo)-1 {
		f = float64(lo) - 1
	}
	t := int32((f + roundMagic) - roundMagic)
	return min(max(t, lo), hi)
}
