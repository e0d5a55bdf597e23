//go:build amd64 && !purego

package fakequant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestRequantAVX2Stops: requantRunsAVX2 itself (without AVX-512 the hot
// kernel) vectorizes the common case and stops exactly at the first
// block that fails its test. On runs of ordinary quotients it does
// every element (done = the total) with the reference's bits; with one
// hard value (a near-tie, an exact tie, NaN, ±Inf, |v′| ≥ 2^29) planted
// in run r at offset j, it returns the start of j's block, having
// written every element before it as the reference and none after.
func TestRequantAVX2Stops(t *testing.T) {
	if !hasLevel(levelAVX2) {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(5, 8))
	p := &quant.Params{Bits: 8, Scheme: quant.Affine, Scale: []float32{0.05}, Zero: []int32{-3}}
	s, z := p.Scale[0], p.Zero[0]
	qmin, qmax := p.QRange()
	const ch, runs = 3, 6
	accs := []float32{0x1p-9, 1.7e-3, 3.1e-4}
	k := getRequantK(s, z, qmin, qmax, ch)
	defer requantPool.Put(k)
	for c, a := range accs {
		var err error
		if k.cm0[c], k.cshift[c], err = quant.QuantizeMultiplier(a, s); err != nil {
			t.Fatal(err)
		}
		k.csa[c] = float64(a)
	}
	k.channels(k.csa, k.cm0, k.cshift)
	hard := func(sa float64) []float32 {
		return []float32{float32(37.5 * sa), math.Nextafter32(float32(-12.5*sa), 0), float32(math.NaN()),
			float32(math.Inf(-1)), float32(math.Ldexp(sa, 29) * 1.0001), float32(-math.Ldexp(sa, 30))}
	}
	for _, inner := range []int{1, 5, 8, 13, 16, 49} {
		n := runs * inner
		y := make([]float32, n)
		for i := range y {
			sa := float64(accs[(i/inner)%ch])
			for {
				y[i] = float32(rng.NormFloat64() * 200 * sa)
				if v := float64(y[i]) / sa; math.Abs(v-math.Round(v)) < 0.49 {
					break // no near-tie: the shortcut holds
				}
			}
		}
		want := make([]float32, n)
		if err := requantFakeQuantizeRef(want, y, []int{runs / ch, ch, inner}, p, accs); err != nil {
			t.Fatal(err)
		}
		run := func(y []float32) ([]float32, int) {
			got := make([]float32, n)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			d := requantRunsAVX2(&got[0], &y[0], &k.brcp[0], &k.bmf[0], inner, runs, inner, 0, ch, 0, &k.c)
			return got, d
		}
		got, d := run(y)
		if d != n {
			t.Fatalf("inner %d: ordinary quotients, done %d of %d", inner, d, n)
		}
		sameBits(t, fmt.Sprint("requantRunsAVX2 inner ", inner), got, want, y)
		for r := range runs {
			for j := 0; j < inner; j += 3 {
				for _, h := range hard(float64(accs[r%ch])) {
					yh := append([]float32(nil), y...)
					at := r*inner + j
					yh[at] = h
					got, d := run(yh)
					if stop := r*inner + j&^7; d != stop {
						t.Fatalf("inner %d: %v at run %d offset %d: done %d, want %d", inner, h, r, j, d, stop)
					}
					for i := range n {
						if i < d && math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("inner %d: element %d before the stop: %v, want %v", inner, i, got[i], want[i])
						}
						if i >= d && math.Float32bits(got[i]) != math.Float32bits(float32(math.NaN())) {
							t.Fatalf("inner %d: element %d at or past the stop %d written", inner, i, d)
						}
					}
				}
			}
		}
	}
}

func hasLevel(lv int) bool {
	for _, l := range availableLevels() {
		if l == lv {
			return true
		}
	}
	return false
}
