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
