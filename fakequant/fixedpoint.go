package fakequant

// No floating point may appear in this file (infer's TestKernelsUseNoFloat
// scans it).

import "github.com/tinyqat/tinyqat/quant"

// Requantize is quant.Requantize: clamp(round(acc·M0 / 2^shift) + zOut,
// lo, hi), rounded once, half to even.
func Requantize(acc, m0, shift, zOut, lo, hi int32) int32 {
	return quant.Requantize(acc, m0, shift, zOut, lo, hi)
}
