package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowSum: gradB's row sum (four partial sums) against the definition
// summed in float64, within (n+3)·u·Σ|x| (u = 2⁻²⁴: n−1 additions in
// some order), for lengths around the four-lane edges. The batch
// normalization's row kernels are f32's (f32.TestBNRowKernels).
func TestRowSum(t *testing.T) {
	const u = 1.0 / (1 << 24)
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 1024} {
		x := randF32(r, n)
		var want, mag float64
		for _, v := range x {
			want, mag = want+float64(v), mag+math.Abs(float64(v))
		}
		got := rowSum(x)
		if d := math.Abs(float64(got) - want); d > float64(n+3)*u*mag+1e-30 {
			t.Fatalf("rowSum (n=%d) = %v, want %v", n, got, want)
		}
	}
}

// TestAddActs: the residual addition with and without its ReLU, NaN passed.
func TestAddActs(t *testing.T) {
	a := []float32{1, -2, 3, float32(math.NaN()), -0.5}
	b := []float32{-3, 1, 0.5, 1, 0.25}
	y := make([]float32, len(a))
	addActs(y, a, b, true)
	for i, want := range []float32{0, 0, 3.5, float32(math.NaN()), 0} {
		if y[i] != want && !(math.IsNaN(float64(want)) && math.IsNaN(float64(y[i]))) {
			t.Errorf("relu: y[%d] = %v, want %v", i, y[i], want)
		}
	}
	addActs(y, a, b, false)
	for i := range y {
		if want := a[i] + b[i]; y[i] != want && !math.IsNaN(float64(want)) {
			t.Errorf("no relu: y[%d] = %v, want %v", i, y[i], want)
		}
	}
}
