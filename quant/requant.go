package quant

// Requantization, integer only: the runtime's kernels and the
// simulation's requantizing nodes both call (or are tested against) these.
// No floating point may appear in this file (TestRequantUsesNoFloat).

import "math/bits"

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

// RequantizeAdd is the integer residual addition
//
//	clamp(zOut + round(da·M0a·2^−na + db·M0b·2^−nb), lo, hi)
//
// with one rounding, half to even, computed exactly (da, db are inputs
// minus their zero points; (M0a, na), (M0b, nb) are SplitMultiplier forms
// of the real quotients S_a/S_out and S_b/S_out, as the exporter rounds them).
//
// It is exact for every int32 da, db, every M0 < 2^24 and every pair of
// shifts in [1, 63]: with n = max(na, nb) the sum is
// (da·M0a·2^(n−na) + db·M0b·2^(n−nb)) / 2^n, whose numerator needs up to
// 55 + 62 bits, so it is held in 128 bits (two's complement, hi:lo) and
// rounded once by roundShift128. The rounded value is below 2^55 in
// magnitude (each term is below 2^54), so it fits int64.
func RequantizeAdd(da, db, m0a, na, m0b, nb, zOut, lo, hi int32) int32 {
	n := max(na, nb)
	ahi, alo := shl128(int64(da)*int64(m0a), uint(n-na))
	bhi, blo := shl128(int64(db)*int64(m0b), uint(n-nb))
	l, carry := bits.Add64(alo, blo, 0)
	h := ahi + bhi + int64(carry)
	v := roundShift128(h, l, uint(n)) + int64(zOut)
	return int32(min(max(v, int64(lo)), int64(hi)))
}

// shl128 is p·2^d as a 128-bit two's complement integer (hi, lo), d in
// [0, 63].
func shl128(p int64, d uint) (int64, uint64) {
	if d == 0 {
		return p >> 63, uint64(p)
	}
	return p >> (64 - d), uint64(p) << d
}

// roundShift128 is round((hi:lo) / 2^s), half to even, for s in [1, 63],
// when the result fits int64: floor by an arithmetic shift of the 128-bit
// value, then up by one when the remainder exceeds half of 2^s, or equals
// it and the floor is odd.
func roundShift128(hi int64, lo uint64, s uint) int64 {
	q := int64(lo>>s | uint64(hi)<<(64-s)) // low 64 bits of the floor: the floor itself
	r := lo & (1<<s - 1)
	half := uint64(1) << (s - 1)
	if r > half || r == half && q&1 == 1 {
		q++
	}
	return q
}

// RoundDiv is n/d rounded to the nearest integer, half to even, for d > 0
// (it panics otherwise: a caller's bug, the runtime validates its
// divisors). No intermediate overflows for any int64 n and d > 0.
func RoundDiv(n, d int64) int64 {
	if d <= 0 {
		panic("quant: RoundDiv by a divisor ≤ 0")
	}
	q, r := n/d, n%d
	if r < 0 { // floor division: 0 ≤ r < d
		q--
		r += d
	}
	if up := d - r; r > up || r == up && q&1 == 1 {
		q++
	}
	return q
}
