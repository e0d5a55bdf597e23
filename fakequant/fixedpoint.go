package fakequant

// Fixed-point requantization, integer only (gemmlowp's fixedpoint.h, with
// ties away from zero for both signs). The integer runtime (package infer)
// calls these in its kernels, and the simulation's requantizing nodes call
// them too, so the two cannot round differently. No floating point may
// appear in this file (infer's TestKernelsUseNoFloat scans it).

import "math/bits"

const (
	minInt32 = -1 << 31
	maxInt32 = 1<<31 - 1
)

// srdhm is SaturatingRoundingDoublingHighMul: round(a·b / 2^31), half away
// from zero, saturating the one overflow case a = b = −2^31. (gemmlowp's
// nudge of 1 − 2^30 for negative products rounds negative ties toward
// zero; here both signs round ties away from zero, the rule of fakequant.)
func srdhm(a, b int32) int32 {
	if a == minInt32 && b == minInt32 {
		return maxInt32
	}
	// |ab| rounded half up, sign restored: branch-free, since the sign of
	// activations is unpredictable.
	ab := int64(a) * int64(b)
	sign := ab >> 63 // 0 or −1
	abs := (ab ^ sign) - sign
	r := (abs + 1<<30) >> 31
	return int32((r ^ sign) - sign)
}

// rdivpot is RoundingDivideByPOT: round(x / 2^exp), half away from zero, for
// exp in [0, 31].
func rdivpot(x int32, exp uint) int32 {
	if exp == 0 {
		return x
	}
	v := int64(x)
	sign := v >> 63
	abs := (v ^ sign) - sign
	r := (abs + 1<<(exp-1)) >> exp
	return int32((r ^ sign) - sign)
}

// shlSat is x·2^n saturated to int32, for n in [0, 31].
func shlSat(x int32, n uint) int32 {
	if n == 0 || x == 0 {
		return x
	}
	if x > 0 {
		if bits.Len32(uint32(x))+int(n) > 31 {
			return maxInt32
		}
	} else if bits.Len32(uint32(^x))+int(n) > 31 {
		return minInt32
	}
	return x << n
}

// MultiplyByQuantizedMultiplier is acc·M0·2^−31·2^−shift with the rounding
// above; shift may be negative (a left shift, for M ≥ 1). shift must be in
// [−31, 31].
func MultiplyByQuantizedMultiplier(acc, m0, shift int32) int32 {
	if shift < 0 {
		return srdhm(shlSat(acc, uint(-shift)), m0)
	}
	return rdivpot(srdhm(acc, m0), uint(shift))
}

// Requantize is clamp(zOut + MultiplyByQuantizedMultiplier(acc, m0, shift), lo, hi).
func Requantize(acc, m0, shift, zOut, lo, hi int32) int32 {
	v := int64(MultiplyByQuantizedMultiplier(acc, m0, shift)) + int64(zOut)
	return int32(min(max(v, int64(lo)), int64(hi)))
}
