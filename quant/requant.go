package quant

// Requantization, integer only: the runtime's kernels and the
// simulation's requantizing nodes both call (or are tested against) these.
// No floating point may appear in this file (TestRequantUsesNoFloat).

// RoundShift is round(p / 2^shift), half to even, for shift in [1, 63] and
// |p| < 2^62: floor((p + 2^(shift−1) − 1 + odd) / 2^shift), where odd is the
// lowest bit of floor(p / 2^shift). Below a tie the remainder plus
// 2^(shift−1) − 1 + odd stays under 2^shift; above it reaches 2^shift; on a
// tie (remainder exactly 2^(shift−1)) it reaches 2^shift only when the
// floor is odd, which rounds to the even neighbour.
func RoundShift(p int64, shift int32) int64 {
	s := uint(shift)
	return (p + (1<<(s-1) - 1) + (p>>s)&1) >> s
}

// Requantize is clamp(round(acc·M0 / 2^shift) + zOut, lo, hi) with one
// rounding, half to even: acc·M0 is exact in int64 (|acc| < 2^31, M0 <
// 2^24), and RoundShift rounds it once. m0 and shift come from
// SplitMultiplier (M0 < 2^24, shift in [1, 63]).
func Requantize(acc, m0, shift, zOut, lo, hi int32) int32 {
	v := RoundShift(int64(acc)*int64(m0), shift) + int64(zOut)
	return int32(min(max(v, int64(lo)), int64(hi)))
}

// API CONTRACT (skeleton by the lead; the quant/infer helper implements
// these, integer only, with math/big oracle tests).

// RequantizeAdd is the integer residual addition
//
//	clamp(zOut + round(da·M0a·2^−na + db·M0b·2^−nb), lo, hi)
//
// with one rounding, half to even, computed exactly (da, db are inputs
// minus their zero points; (M0a, na), (M0b, nb) are SplitMultiplier forms
// of the float32 quotients S_a/S_out and S_b/S_out).
func RequantizeAdd(da, db, m0a, na, m0b, nb, zOut, lo, hi int32) int32 {
	panic("quant: RequantizeAdd not implemented yet")
}

// RoundDiv is n/d rounded to the nearest integer, half to even, for d > 0.
func RoundDiv(n, d int64) int64 { panic("quant: RoundDiv not implemented yet") }
