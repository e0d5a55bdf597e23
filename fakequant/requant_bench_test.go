package fakequant

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// BenchmarkRequant is RequantFakeQuantize on a batch-normalized ReLU
// output of mobilenet-tiny's shapes (batch 64), per-channel accumulator
// scales, ReLU6's clamp.
func BenchmarkRequant(b *testing.B) {
	for _, sh := range [][]int{{64, 32, 14, 14}, {64, 64, 7, 7}, {1, 32, 64, 196}, {1, 32, 1, 196}} {
		n := sh[0] * sh[1] * sh[2] * sh[3]
		rng := rand.New(rand.NewPCG(1, 2))
		y, dst := make([]float32, n), make([]float32, n)
		for i := range y {
			y[i] = max(float32(rng.NormFloat64()), 0)
		}
		acc := make([]float32, sh[1])
		for c := range acc {
			acc[c] = float32(1e-4 * (1 + rng.Float64()))
		}
		p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{6.0 / 127}, Zero: []int32{0}}
		hi := ClampHi(6, p.Scale[0], 0, 127)
		b.Run(fmt.Sprint(sh[1], "x", sh[2], "x", sh[3]), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				if err := requantFakeQuantize(dst, y, sh, p, acc, hi); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdd is the residual addition's int64 loop (addK.run: the
// vector kernel and the scalar tail) on two 8-bit summands of resnet8's
// shapes (batch 64, 16×32×32 and 64×8×8), with a ReLU.
func BenchmarkAdd(b *testing.B) {
	for _, n := range []int{64 * 16 * 32 * 32, 64 * 64 * 8 * 8} {
		rng := rand.New(rand.NewPCG(3, 4))
		a, c, dst := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], c[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		k := &addK{sa: 4.0 / 127, sb: 3.0 / 127, so: 6.0 / 127, aLo: -127, aHi: 127, bLo: -127, bHi: 127, zo: -128, lo: -128, hi: 127}
		var err error
		if k.m0a, k.na, err = quant.QuantizeMultiplier(k.sa, k.so); err != nil {
			b.Fatal(err)
		}
		if k.m0b, k.nb, err = quant.QuantizeMultiplier(k.sb, k.so); err != nil {
			b.Fatal(err)
		}
		k.terms()
		if k.wide {
			b.Fatal("wide parameters")
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				k.run(dst, a, c)
			}
		})
	}
}
