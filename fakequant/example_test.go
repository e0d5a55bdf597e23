package fakequant_test

import (
	"fmt"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
)

// Quantizing a tensor symmetrically to 8 bits: the range [−1, 1] gives
// S = 1/127; ties round half to even and out-of-range values clip to
// ±127 (the restricted range).
func ExampleQuantize() {
	s, z, _ := quant.ScaleZero(8, quant.Symmetric, -1, 1)
	p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{s}, Zero: []int32{z}}
	x := []float32{-1, -0.25, 0, 0.004, 0.25, 3}
	q := make([]int32, len(x))
	quant.Quantize(q, x, []int{len(x)}, p)
	fmt.Println(q)
	// Output: [-127 -32 0 1 32 127]
}

// A requantization multiplier M = S_acc/S_y, computed in float32 as ONNX
// Runtime does, is held exactly as its 24-bit mantissa M0 and a right
// shift; the integer runtime rounds acc·M0/2^shift once, half to even.
func ExampleQuantizeMultiplier() {
	m0, shift, _ := quant.QuantizeMultiplier(0.0123, 1)
	fmt.Println(m0, shift) // float32(0.0123) = 13207024 · 2^−30
	// 1000 · 0.0123 = 12.3 → 12
	fmt.Println(fakequant.Requantize(1000, m0, shift, 0, -127, 127))
	// Output:
	// 13207024 30
	// 12
}
