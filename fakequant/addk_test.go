package fakequant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddKTwin: the int64 loop of the residual addition (addK.run) gives,
// bit for bit, its 128-bit definition (addK.runGo, quant.RequantizeAdd)
// on random summands with specials, ties of the final rounding (small
// shifts), both clamps, 8- and 16-bit grids and shifts up to the widest
// the int64 form admits; parameters outside it are marked wide.
func TestAddKTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	type grid struct{ lo, hi int32 }
	grids := []grid{{-127, 127}, {-128, 127}, {-200, 55}, {-32767, 32767}}
	ran := 0
	for trial := range 400 {
		ga, gb := grids[rng.IntN(len(grids))], grids[rng.IntN(len(grids))]
		k := &addK{
			sa: 0.001 + rng.Float32(), sb: 0.001 + rng.Float32(), so: 0.01 + rng.Float32(),
			aLo: ga.lo, aHi: ga.hi, bLo: gb.lo, bHi: gb.hi,
			m0a: 1<<23 | rng.Int32N(1<<23), m0b: 1<<23 | rng.Int32N(1<<23),
			zo: rng.Int32N(256) - 128,
		}
		switch trial % 4 {
		case 0: // small shifts: many exact ties
			k.na, k.nb = 1+rng.Int32N(3), 1+rng.Int32N(3)
			k.m0a, k.m0b = 1+rng.Int32N(8), 1+rng.Int32N(8)
		case 1: // the exporter's usual range
			k.na, k.nb = 20+rng.Int32N(20), 20+rng.Int32N(20)
		default: // up to the extremes
			k.na, k.nb = 1+rng.Int32N(63), 1+rng.Int32N(63)
		}
		k.lo, k.hi = -128, 127
		if trial%3 == 0 {
			k.lo, k.hi = k.zo, min(127, k.zo+40) // a ReLU (and a ReLU6-like top)
		}
		k.terms()
		if d := max(k.na, k.nb) - min(k.na, k.nb); d > 37 && !k.wide {
			t.Fatalf("trial %d: shifts %d, %d not marked wide", trial, k.na, k.nb)
		}
		if k.wide {
			continue
		}
		ran++
		n := 1 + rng.IntN(70)
		a, b := make([]float32, n), make([]float32, n)
		for i := range n {
			a[i] = k.sa * (float32(rng.IntN(int(ga.hi-ga.lo)+60)+int(ga.lo)-30) + float32(rng.IntN(3))*0.5)
			b[i] = k.sb * (float32(rng.IntN(int(gb.hi-gb.lo)+60)+int(gb.lo)-30) + float32(rng.IntN(3))*0.5)
			if rng.IntN(8) == 0 {
				a[i] = specials[rng.IntN(len(specials))]
			}
			if rng.IntN(8) == 0 {
				b[i] = specials[rng.IntN(len(specials))]
			}
		}
		got, want := make([]float32, n), make([]float32, n)
		k.run(got, a, b)
		k.runGo(want, a, b)
		for i := range n {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("trial %d element %d (a %v, b %v, k %+v): %v, definition %v", trial, i, a[i], b[i], *k, got[i], want[i])
			}
		}
	}
	if ran < 200 {
		t.Fatalf("only %d of 400 trials in the int64 form", ran)
	}
}
