package fakequant

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// srdhmRef computes round(a·b / 2^31), half away from zero, with big integers.
func srdhmRef(a, b int32) int32 {
	p := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(b)))
	r := new(big.Rat).SetFrac(p, new(big.Int).Lsh(big.NewInt(1), 31))
	f, _ := r.Float64()
	v := math.Round(f) // exact: |f| < 2^31, and ties are representable
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(v)
}

func TestSRDHM(t *testing.T) {
	// Hand values: 2^30·2^30/2^31 = 2^29; 3·2^30/2^31 = 1.5 → 2; −1.5 → −2.
	cases := [][3]int32{{1 << 30, 1 << 30, 1 << 29}, {3, 1 << 30, 2}, {-3, 1 << 30, -2}, {math.MinInt32, math.MinInt32, math.MaxInt32}, {1, 1, 0}}
	for _, c := range cases {
		if got := srdhm(c[0], c[1]); got != c[2] {
			t.Errorf("srdhm(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 200000; i++ {
		a, b := int32(rng.Uint32()), int32(rng.Uint32())
		if i%3 == 0 {
			a >>= rng.IntN(31)
		}
		if got, want := srdhm(a, b), srdhmRef(a, b); got != want {
			t.Fatalf("srdhm(%d, %d) = %d, want %d", a, b, got, want)
		}
	}
}

func TestRDivPOT(t *testing.T) {
	// 5/2 = 2.5 → 3, −5/2 → −3, 7/4 = 1.75 → 2, −6/4 = −1.5 → −2, 6/4 → 2.
	cases := [][3]int32{{5, 1, 3}, {-5, 1, -3}, {7, 2, 2}, {-6, 2, -2}, {6, 2, 2}, {-7, 2, -2}, {100, 0, 100}}
	for _, c := range cases {
		if got := rdivpot(c[0], uint(c[1])); got != c[2] {
			t.Errorf("rdivpot(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 200000; i++ {
		x, e := int32(rng.Uint32()), uint(rng.IntN(32))
		want := int32(math.Round(float64(x) / math.Ldexp(1, int(e))))
		if got := rdivpot(x, e); got != want {
			t.Fatalf("rdivpot(%d, %d) = %d, want %d", x, e, got, want)
		}
	}
}

func TestQuantizeMultiplier(t *testing.T) {
	cases := []struct {
		m        float64
		m0, shft int32
	}{
		{0.5, 1 << 30, 0},        // 0.5 = 2^30·2^−31
		{0.75, 3 << 29, 0},       // 0.75·2^31
		{1.5, 3 << 29, -1},       // a left shift for M ≥ 1
		{0.25, 1 << 30, 1},       // 2^30·2^−31·2^−1
		{1 - 1e-12, 1 << 30, -1}, // rounds up to 2^31, renormalised
		{math.Ldexp(1, -20), 1 << 30, 19},
	}
	for _, c := range cases {
		m0, s, err := QuantizeMultiplier(c.m)
		if err != nil || m0 != c.m0 || s != c.shft {
			t.Errorf("QuantizeMultiplier(%v) = %d, %d, %v; want %d, %d", c.m, m0, s, err, c.m0, c.shft)
		}
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1), math.Ldexp(1, -40)} {
		if _, _, err := QuantizeMultiplier(bad); err == nil {
			t.Errorf("QuantizeMultiplier(%v) accepted", bad)
		}
	}
	// The fixed-point product is within one unit of the real product.
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 100000; i++ {
		m := math.Exp(rng.Float64()*16 - 12) // 6e-6 … 55
		m0, s, err := QuantizeMultiplier(m)
		if err != nil {
			t.Fatal(err)
		}
		acc := int32(rng.IntN(1<<22) - 1<<21)
		got := float64(MultiplyByQuantizedMultiplier(acc, m0, s))
		if want := float64(acc) * m; math.Abs(want) < 1<<30 && math.Abs(got-want) > 1 {
			t.Fatalf("acc %d · M %v = %v, fixed point gives %v", acc, m, want, got)
		}
	}
}

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
		m0, sh, _ := QuantizeMultiplier(float64(accScale[c]) / float64(p.Scale[0]))
		q := Requantize(acc[i], m0, sh, 17, 0, 255)
		if want := p.Scale[0] * float32(q-17); got[i] != want {
			t.Fatalf("element %d: %v, integer pipeline %v", i, got[i], want)
		}
	}
	if err := RequantFakeQuantize(got, y, []int{60}, p, accScale); err == nil {
		t.Error("no channel axis accepted")
	}
}
