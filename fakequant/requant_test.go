package fakequant

import (
	"math/rand/v2"
	"testing"
)

func TestRequantFakeQuantizeMatchesInteger(t *testing.T) {
	// y is the float image of exact accumulators; RequantFakeQuantize must
	// reproduce the integer pipeline S·(Requantize(acc) − Z) bit for bit.
	rng := rand.New(rand.NewPCG(9, 9))
	accScale := []float32{3.1e-5, 7.7e-6, 1.2e-4}
	p := &Params{Bits: 8, Scheme: Affine, Scale: []float32{0.043}, Zero: []int32{17}}
	shape := []int{4, 3, 5} // (N, C, inner)
	acc := make([]int32, 60)
	y := make([]float32, 60)
	for i := range acc {
		c := (i / 5) % 3
		acc[i] = int32(rng.IntN(1<<20) - 1<<19)
		y[i] = float32(float64(acc[i]) * float64(accScale[c]))
	}
	got := make([]float32, 60)
	if err := RequantFakeQuantize(got, y, shape, p, accScale); err != nil {
		t.Fatal(err)
	}
	for i := range acc {
		c := (i / 5) % 3
		m0, sh, _ := QuantizeMultiplier(accScale[c], p.Scale[0])
		q := Requantize(acc[i], m0, sh, 17, 0, 255)
		if want := p.Scale[0] * float32(q-17); got[i] != want {
			t.Fatalf("element %d: %v, integer pipeline %v", i, got[i], want)
		}
	}
	if err := RequantFakeQuantize(got, y, []int{60}, p, accScale); err == nil {
		t.Error("no channel axis accepted")
	}
}
