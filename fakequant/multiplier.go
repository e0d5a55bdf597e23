package fakequant

import "github.com/tinyqat/tinyqat/quant"

// QuantizeMultiplier is quant.QuantizeMultiplier: the exact integer form
// (M0 < 2^24, right shift) of the float32 multiplier accScale / outScale.
func QuantizeMultiplier(accScale, outScale float32) (m0, shift int32, err error) {
	return quant.QuantizeMultiplier(accScale, outScale)
}
