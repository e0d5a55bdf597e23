package fakequant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

func TestRequantFakeQuantizeMatchesInteger(t *testing.T) {
	// y is the float image of exact accumulators; RequantFakeQuantize must
	// reproduce the integer pipeline S·(Requantize(acc) − Z) bit for bit.
	rng := rand.New(rand.NewPCG(9, 9))
	accScale := []float32{3.1e-5, 7.7e-6, 1.2e-4}
	p := &quant.Params{Bits: 8, Scheme: quant.Affine, Scale: []float32{0.043}, Zero: []int32{17}}
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
		m0, sh, _ := quant.QuantizeMultiplier(accScale[c], p.Scale[0])
		q := Requantize(acc[i], m0, sh, 17, 0, 255)
		if want := p.Scale[0] * float32(q-17); got[i] != want {
			t.Fatalf("element %d: %v, integer pipeline %v", i, got[i], want)
		}
	}
	if err := RequantFakeQuantize(got, y, []int{60}, p, accScale); err == nil {
		t.Error("no channel axis accepted")
	}
}

// TestRequantFakeQuantizeMatchesRef: the hoisted loops give the reference
// loop's bits on (N, C) and (N, C, H, W) outputs, per-channel and single
// accumulator scales, on accumulator images, ties of the accumulator
// rounding ((k+½)·S_acc), values beyond int32 accumulators, NaN, ±Inf, ±0
// and subnormals, at every level this machine runs.
func TestRequantFakeQuantizeMatchesRef(t *testing.T) {
	for _, lv := range availableLevels() {
		withLevel(lv, func() { checkRequantMatchesRef(t, lv) })
	}
}

func checkRequantMatchesRef(t *testing.T, lv int) {
	rng := rand.New(rand.NewPCG(12, 5))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
		float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, 1e30, -1e30}
	for si, shape := range [][]int{{64, 10}, {64, 300}, {3, 6, 5, 5}, {2, 4, 3}} {
		n, ch := 1, shape[1]
		for _, d := range shape {
			n *= d
		}
		for _, perCh := range []bool{true, false} {
			for _, sch := range []quant.Scheme{quant.Symmetric, quant.Affine} {
				acc := make([]float32, ch)
				for c := range acc {
					acc[c] = float32(math.Pow(10, -6+3*rng.Float64()))
					if c%2 == 0 { // a power of two: (k+½)·S_acc and its quotient are exact ties
						acc[c] = float32(math.Ldexp(1, -12-c%5))
					}
					if c%4 == 1 {
						// 49·2^−j: (k+½)·S_acc is still exact in float32 and its
						// quotient an exact tie, but 1/S_acc is inexact and
						// y·(1/S_acc) often lands beside the tie.
						acc[c] = float32(math.Ldexp(49, -14-c%5))
					}
				}
				if !perCh { // one scale: a power of two or 49·2^−j
					acc = acc[si%2 : si%2+1]
				}
				p := &quant.Params{Bits: 8, Scheme: sch, Scale: []float32{0.05}, Zero: []int32{0}}
				if sch == quant.Affine {
					p.Zero[0] = 131
				}
				inner := n / shape[0] / ch
				y := make([]float32, n)
				for i := range y {
					c := 0
					if perCh {
						c = (i / inner) % ch
					}
					k := float64(rng.IntN(1<<16) - 1<<15)
					switch i % 5 {
					case 0:
						y[i] = specials[(i/5)%len(specials)]
					case 1:
						y[i] = float32((k + 0.5) * float64(acc[c]))
					default:
						y[i] = float32(k*float64(acc[c])) * (1 + float32(rng.NormFloat64())*1e-7)
					}
				}
				want, got := make([]float32, n), make([]float32, n)
				if err := requantFakeQuantizeRef(want, y, shape, p, acc); err != nil {
					t.Fatal(err)
				}
				if err := RequantFakeQuantize(got, y, shape, p, acc); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("level %d %v per-channel %v: element %d (y=%v): %v, reference %v", lv, shape, perCh, i, y[i], got[i], want[i])
					}
				}
				// In place (dst = src): the same bits.
				copy(got, y)
				if err := RequantFakeQuantize(got, got, shape, p, acc); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("level %d %v per-channel %v in place: element %d (y=%v): %v, reference %v", lv, shape, perCh, i, y[i], got[i], want[i])
					}
				}
			}
		}
	}
}
