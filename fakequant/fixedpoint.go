package fakequant

import "github.com/tinyqat/tinyqat/quant"

// Requantize is quant.Requantize. It is the one forwarder left (see
// TestNoQuantAliases): infer's kernel tests still call it; they should
// call quant.Requantize, and then this file goes.
func Requantize(acc, m0, shift, zOut, lo, hi int32) int32 {
	return quant.Requantize(acc, m0, shift, zOut, lo, hi)
}
