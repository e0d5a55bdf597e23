package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The row kernels of bnTrain (four partial sums, z = (y − b)·rs
// recomputed in float32 by each) against their definitions summed in
// float64 over that z. A float32 sum of n terms in any order is
// within (n−1)·u·Σ|terms| of the exact sum (u = 2⁻²⁴; Higham, Accuracy
// and Stability of Numerical Algorithms, §3.1); each term here is itself
// rounded (a product, a difference, a scaled difference: at most three
// roundings, 3u relative), so the bound used is (n+3)·u·Σ|terms|, plus
// 1e-30 for zero rows. Elementwise outputs (out, d) are one expression per
// element, within 4u of the sum of their terms' magnitudes.

var rowLens = []int{0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 1024}

func within(t *testing.T, what string, n int, got float32, want, mag float64) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	if d := math.Abs(float64(got) - want); d > float64(n+3)*u*mag+1e-30 || math.IsNaN(d) {
		t.Fatalf("%s (n=%d): %v, want %v (error %g, bound %g)", what, n, got, want, d, float64(n+3)*u*mag)
	}
}

func TestBNRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range rowLens {
		y, g := randF32(r, n), randF32(r, n)
		for i := range y {
			y[i] = 3 + 2*y[i] // a mean far from 0, as before a batch norm
		}
		b, rs, mu := float32(2.5), float32(0.7), float32(0.3)
		a, b0, b1 := float32(1.3), float32(-0.2), float32(0.45)
		k, off := float32(0.8), float32(-0.1)
		// z as every kernel computes it: (y − b)·rs in float32.
		z := make([]float32, n)
		for i := range y {
			z[i] = (y[i] - b) * rs
		}

		var want, mag float64
		for _, v := range z {
			want, mag = want+float64(v), mag+math.Abs(float64(v))
		}
		within(t, "rowZSum", n, rowZSum(y, b, rs), want, mag)

		want, mag = 0, 0
		for _, v := range z {
			d := float64(v) - float64(mu)
			want, mag = want+d*d, mag+d*d
		}
		within(t, "rowSqDev", n, rowSqDev(y, b, rs, mu), want, mag)

		out := make([]float32, n)
		rowBNOut(out, y, b, rs, mu, k, off)
		for i := range out {
			wi := (float64(z[i])-float64(mu))*float64(k) + float64(off)
			wm := math.Abs((float64(z[i])-float64(mu))*float64(k)) + math.Abs(float64(off))
			if e := math.Abs(float64(out[i]) - wi); e > 4*wm/(1<<24) {
				t.Fatalf("rowBNOut out[%d] = %v, want %v", i, out[i], wi)
			}
		}

		s, dot := rowSumDot(g, y, b, rs, mu)
		var ws, ms, wd, md float64
		for i := range g {
			ws, ms = ws+float64(g[i]), ms+math.Abs(float64(g[i]))
			p := float64(g[i]) * (float64(z[i]) - float64(mu))
			wd, md = wd+p, md+math.Abs(p)
		}
		within(t, "rowSumDot sum", n, s, ws, ms)
		within(t, "rowSumDot dot", n, dot, wd, md)
		within(t, "rowSum", n, rowSum(g), ws, ms)

		d := make([]float32, n)
		sdz := rowBNGrad(d, g, y, a, b0, b1, b, rs, mu)
		want, mag = 0, 0
		for i := range d {
			di := float64(a)*float64(g[i]) + float64(b0) + float64(b1)*(float64(z[i])-float64(mu))
			dm := math.Abs(float64(a)*float64(g[i])) + math.Abs(float64(b0)) + math.Abs(float64(b1)*(float64(z[i])-float64(mu)))
			if e := math.Abs(float64(d[i]) - di); e > 4*dm/(1<<24) {
				t.Fatalf("rowBNGrad d[%d] = %v, want %v", i, d[i], di)
			}
			p := float64(d[i]) * float64(z[i])
			want, mag = want+p, mag+math.Abs(p)
		}
		within(t, "rowBNGrad", n, sdz, want, mag)
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
