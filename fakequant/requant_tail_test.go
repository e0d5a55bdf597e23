package fakequant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestRequantStoresInside: the vector kernel's last, partial block
// stores only its lanes: on ragged runs (lengths 1 to 33, one shared and
// per-channel scales) the output is the reference loop's, bit for bit,
// NaN and ±Inf inputs included, and nothing past the end of dst is
// written.
func TestRequantStoresInside(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const guard = 0x7fc0dead // a NaN no kernel writes
	p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{6.0 / 127}, Zero: []int32{0}}
	hi := ClampHi(6, p.Scale[0], 0, 127)
	for l := 1; l <= 33; l++ {
		for _, ch := range []int{1, 3} {
			shape := []int{2, ch, l}
			n := 2 * ch * l
			y := make([]float32, n)
			for i := range y {
				switch rng.IntN(12) {
				case 0:
					y[i] = float32(math.NaN())
				case 1:
					y[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
				case 2:
					y[i] = 1e30
				default:
					y[i] = float32(rng.NormFloat64() * 4)
				}
			}
			acc := make([]float32, ch)
			for c := range acc {
				acc[c] = float32(1e-3 * (1 + rng.Float64()))
			}
			for _, accs := range [][]float32{acc[:1], acc} {
				want := make([]float32, n)
				if err := requantFakeQuantizeRef(want, y, shape, p, accs); err != nil {
					t.Fatal(err)
				}
				for i, v := range want { // the reference knows no ReLU6 top
					want[i] = min(v, p.Scale[0]*float32(hi))
				}
				buf := make([]float32, n+16)
				for i := range buf {
					buf[i] = math.Float32frombits(guard)
				}
				if err := requantFakeQuantize(buf[:n], y, shape, p, accs, hi); err != nil {
					t.Fatal(err)
				}
				for i := range n {
					if math.Float32bits(buf[i]) != math.Float32bits(want[i]) {
						t.Fatalf("length %d, %d scales: y[%d] = %v gives %v, want %v", l, len(accs), i, y[i], buf[i], want[i])
					}
				}
				for i := n; i < len(buf); i++ {
					if math.Float32bits(buf[i]) != guard {
						t.Fatalf("length %d, %d scales: dst[%d] past the end written: %v", l, len(accs), i, buf[i])
					}
				}
			}
		}
	}
}
