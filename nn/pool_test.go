package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPool2x2MatchesArgmax: the 2×2 fast path picks the same element as
// the general loop, with ties (values from {−2,…,2}, zeros of both signs)
// and NaNs.
func TestPool2x2MatchesArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	g := poolGeom{planes: 3, h: 8, w: 9, k: 2, s: 2, oh: 4, ow: 4}
	x := make([]float32, g.planes*g.h*g.w)
	for i := range x {
		x[i] = float32(r.IntN(5) - 2)
		if x[i] == 0 && r.IntN(2) == 0 {
			x[i] = float32(math.Copysign(0, -1))
		}
		if r.IntN(40) == 0 {
			x[i] = float32(math.NaN())
		}
	}
	y := make([]float32, g.planes*g.oh*g.ow)
	idx := make([]int32, len(y))
	g.forward(y, idx, x)
	for p := 0; p < g.planes; p++ {
		plane := x[p*g.h*g.w:][:g.h*g.w]
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				o := p*g.oh*g.ow + oh*g.ow + ow
				want := p*g.h*g.w + g.argmax(plane, oh, ow)
				if int(idx[o]) != want || math.Float32bits(y[o]) != math.Float32bits(x[want]) {
					t.Fatalf("plane %d window (%d,%d): index %d value %v, want %d %v", p, oh, ow, idx[o], y[o], want, x[want])
				}
			}
		}
	}
	dy := make([]float32, len(y))
	for i := range dy {
		dy[i] = float32(i + 1)
	}
	dx := make([]float32, len(x))
	g.backward(dx, idx, dy)
	var sum float32
	for _, v := range dx {
		sum += v
	}
	// Windows do not overlap: every output gradient lands once, Σ 1..48 = 1176.
	if sum != 1176 {
		t.Fatalf("backward routed %v of 1176", sum)
	}
}

// BenchmarkPool2x2 is lenet5's first pooling at batch 64 (20 planes of 24×24 per image).
func BenchmarkPool2x2(b *testing.B) {
	g := poolGeom{planes: 64 * 20, h: 24, w: 24, k: 2, s: 2, oh: 12, ow: 12}
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, g.planes*g.h*g.w)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, g.planes*g.oh*g.ow)
	idx := make([]int32, len(y))
	for b.Loop() {
		g.forward(y, idx, x)
	}
}
