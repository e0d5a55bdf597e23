package fakequant_test

import (
	"fmt"

	"github.com/tinyqat/tinyqat/fakequant"
)

// Quantizing a tensor symmetrically to 8 bits: the range [−1, 1] gives
// S = 1/127; ties round away from zero and out-of-range values clip to
// ±127 (the restricted range).
func ExampleQuantize() {
	s, z, _ := fakequant.ScaleZero(8, fakequant.Symmetric, -1, 1)
	p := &fakequant.Params{Bits: 8, Scheme: fakequant.Symmetric, Scale: []float32{s}, Zero: []int32{z}}
	x := []float32{-1, -0.25, 0, 0.004, 0.25, 3}
	q := make([]int32, len(x))
	fakequant.Quantize(q, x, []int{len(x)}, p)
	fmt.Println(q)
	// Output: [-127 -32 0 1 32 127]
}

// A requantization multiplier M = S_x·S_w/S_y becomes a 31-bit fixed-point
// number and a shift, which the integer runtime applies to int32
// accumulators.
func ExampleQuantizeMultiplier() {
	m0, shift, _ := fakequant.QuantizeMultiplier(0.0123)
	fmt.Println(m0, shift) // M0 = round(0.0123 · 2^37) = 1690499128, n = 6
	// 1000 · 0.0123 = 12.3 → 12
	fmt.Println(fakequant.MultiplyByQuantizedMultiplier(1000, m0, shift))
	// Output:
	// 1690499128 6
	// 12
}
