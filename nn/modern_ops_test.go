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

// rowSum, the reference of gradB's plane sums (its former loop), returns Σ x in four partial sums, element i in sum i mod 4,
// added as (s0+s1)+(s2+s3): four chains of additions instead of one, whose
// latency bounded the single sum. The order depends on the length alone.
func rowSum(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		s0, s1, s2, s3 = s0+xx[0], s1+xx[1], s2+xx[2], s3+xx[3]
	}
	for ; i < len(x); i++ {
		switch i % 4 {
		case 0:
			s0 += x[i]
		case 1:
			s1 += x[i]
		default:
			s2 += x[i]
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// TestGradBMatchesRowSums: gradB (f32.RowSums, eight planes side by
// side) gives the bits of its former loop, rowSum per plane added in
// image order, on the resnet8-mlperf plane sizes and ragged ones.
func TestGradBMatchesRowSums(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, g := range []convGeom{
		{n: 9, c: 1, h: 32, w: 32, cout: 16, k: 3, s: 1, p: 1},
		{n: 3, c: 1, h: 8, w: 8, cout: 64, k: 3, s: 1, p: 1},
		{n: 17, c: 1, h: 5, w: 3, cout: 3, k: 1, s: 1, p: 0},
	} {
		g := g.done()
		dy := randF32(r, g.n*g.cout*g.hw())
		for i := range dy {
			dy[i] *= float32(math.Exp2(float64(r.IntN(16) - 8))) // mixed magnitudes: order matters
		}
		want := make([]float32, g.cout)
		for o := range want {
			for n := 0; n < g.n; n++ {
				want[o] += rowSum(dy[(n*g.cout+o)*g.hw():][:g.hw()])
			}
		}
		db := make([]float32, g.cout)
		cv := &conv{g: g}
		for range 2 { // the second on cv's reused scratch
			cv.gradB(db, dy)
			for o := range db {
				if math.Float32bits(db[o]) != math.Float32bits(want[o]) {
					t.Fatalf("%v: db[%d] = %v, the rowSum loop gives %v", g, o, db[o], want[o])
				}
			}
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
