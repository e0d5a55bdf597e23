package fakequant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// requantHard returns n inputs for accumulator scales accs (element i
// of channel chOf(i)) that stress the float64 shortcut: ordinary values,
// near-ties (y/S_acc within a few float32 steps of a half-integer) and
// exact ties (a power-of-two S_acc), NaN, ±Inf, ±0, values around
// 2^29·S_acc (the float64 bound) and 2^31·S_acc (the int32 clamp), and
// huge ones. Each kind appears with probability about 1/40, so many
// blocks of 8 hold one and most do not.
func requantHard(rng *rand.Rand, n int, accs []float32, chOf func(int) int) []float32 {
	y := make([]float32, n)
	for i := range y {
		sa := float64(accs[chOf(i)])
		switch rng.IntN(160) {
		case 0:
			y[i] = float32(math.NaN())
		case 1:
			y[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
		case 2:
			y[i] = float32(math.Copysign(0, -1))
		case 3, 4, 5, 6: // near or at a half-integer quotient
			k := float64(rng.IntN(4000) - 2000)
			v := float32((k + 0.5) * sa)
			for range rng.IntN(5) - 2 + 2 {
				v = math.Nextafter32(v, float32(math.Inf(2*rng.IntN(2)-1)))
			}
			y[i] = v
		case 7: // around the float64 bound 2^29
			v := float32(math.Ldexp(sa, 29) * (1 + (rng.Float64()-0.5)*1e-6))
			y[i] = float32(1-2*rng.IntN(2)) * v
		case 8: // around the int32 clamp
			y[i] = float32(math.Ldexp(sa, 31)*(1+(rng.Float64()-0.5)*1e-6)) * float32(1-2*rng.IntN(2))
		case 9:
			y[i] = float32(1e30 * (1 - 2*float64(rng.IntN(2))))
		default:
			y[i] = float32(rng.NormFloat64() * 300 * sa)
		}
	}
	return y
}

// TestRequantAVX2Hard: RequantFakeQuantize at every level this machine
// runs (the AVX2 kernel, requantRunsAVX2 with its blocks left to Go,
// where there is no AVX-512) against the reference loop, bit for bit,
// on requantHard's inputs: the three layouts (per-channel runs of every
// length 0–17 and 49, 64, 1 to 5 channels; rows of 1–17 channels, one
// per lane; one shared scale), power-of-two and other accumulator
// scales, 8- and 4-bit grids (symmetric and affine), and nothing past
// dst's end written.
func TestRequantAVX2Hard(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 31))
	const guard = 0x7fc0dead
	grids := []*quant.Params{
		{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{6.0 / 127}, Zero: []int32{0}},
		{Bits: 8, Scheme: quant.Affine, Scale: []float32{0.037}, Zero: []int32{-17}},
		{Bits: 4, Scheme: quant.Affine, Scale: []float32{0.41}, Zero: []int32{3}},
		{Bits: 16, Scheme: quant.Symmetric, Scale: []float32{1e-4}, Zero: []int32{0}},
	}
	for _, lv := range vectorLevels(t) {
		for gi, p := range grids {
			for _, pow2 := range []bool{false, true} {
				accsOf := func(ch int) []float32 {
					a := make([]float32, ch)
					for c := range a {
						if pow2 {
							a[c] = float32(math.Ldexp(1, -8-rng.IntN(6)))
						} else {
							a[c] = float32(1e-3 * (0.3 + rng.Float64()))
						}
					}
					return a
				}
				check := func(name string, shape []int, accs []float32, chOf func(int) int) {
					t.Helper()
					n := 1
					for _, d := range shape {
						n *= d
					}
					y := requantHard(rng, n, accs, chOf)
					want := make([]float32, n)
					if err := requantFakeQuantizeRef(want, y, shape, p, accs); err != nil {
						t.Fatal(err)
					}
					buf := make([]float32, n+16)
					for i := range buf {
						buf[i] = math.Float32frombits(guard)
					}
					var err error
					withLevel(lv, func() { err = RequantFakeQuantize(buf[:n], y, shape, p, accs) })
					if err != nil {
						t.Fatal(err)
					}
					for i := range n {
						if math.Float32bits(buf[i]) != math.Float32bits(want[i]) {
							t.Fatalf("level %d grid %d pow2 %v %s %v: y[%d] = %v (S_acc %v) gives %v, reference %v",
								lv, gi, pow2, name, shape, i, y[i], accs[chOf(i)], buf[i], want[i])
						}
					}
					for i := n; i < len(buf); i++ {
						if math.Float32bits(buf[i]) != guard {
							t.Fatalf("level %d %s %v: dst[%d] past the end written", lv, name, shape, i)
						}
					}
				}
				for _, inner := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 49, 64} {
					for ch := 1; ch <= 5; ch++ {
						accs := accsOf(ch)
						check("runs", []int{3, ch, inner}, accs, func(i int) int { return (i / inner) % ch })
						check("shared", []int{3, ch, inner}, accs[:1], func(int) int { return 0 })
					}
				}
				for ch := 1; ch <= 17; ch++ {
					accs := accsOf(ch)
					check("rows", []int{5, ch}, accs, func(i int) int { return i % ch })
				}
			}
		}
	}
}
