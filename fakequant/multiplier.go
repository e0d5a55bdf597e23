package fakequant

import (
	"fmt"
	"math"
)

// QuantizeMultiplier splits a positive real multiplier into M0 ∈ [2^30, 2^31)
// and a right shift n with M ≈ M0 · 2^−31 · 2^−n (n < 0 shifts left).
func QuantizeMultiplier(m float64) (m0, shift int32, err error) {
	if !(m > 0) || math.IsInf(m, 0) {
		return 0, 0, fmt.Errorf("multiplier %v is not positive and finite", m)
	}
	frac, exp := math.Frexp(m) // m = frac·2^exp, frac ∈ [0.5, 1)
	q := math.Round(frac * (1 << 31))
	if q == 1<<31 {
		q /= 2
		exp++
	}
	if -exp > 31 || exp > 31 {
		return 0, 0, fmt.Errorf("multiplier %v outside [2^−31, 2^31]", m)
	}
	return int32(q), int32(-exp), nil
}
