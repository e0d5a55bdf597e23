package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowSums: RowSums gives each row the bits of rowSum4 (the scalar
// twin, and nn's former per-row sum), with the kernel this build has and
// without it, for row counts around the kernel's 8 and lengths around the
// four-lane edges; the sums are within (n+3)·u·Σ|x| of float64's.
func TestRowSums(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const u = 1.0 / (1 << 24)
	saved := rowSums8K
	defer func() { rowSums8K = saved }()
	for _, kern := range []struct {
		name string
		k    func(x *float32, stride, n4 int, lanes *[32]float32)
	}{{"build", saved}, {"portable", nil}} {
		rowSums8K = kern.k
		for _, rows := range []int{1, 7, 8, 9, 17} {
			for _, n := range []int{0, 1, 3, 4, 5, 17, 64, 1027} {
				stride := n + r.IntN(9)
				x := randMat(r, (rows-1)*stride+n)
				for i := range x {
					x[i] *= float32(math.Exp2(float64(r.IntN(20) - 10))) // mixed magnitudes: order matters
				}
				dst := make([]float32, rows)
				RowSums(dst, x, stride, n)
				for q := range dst {
					row := x[q*stride:][:n]
					if want := rowSum4(row); math.Float32bits(dst[q]) != math.Float32bits(want) {
						t.Fatalf("%s %d rows of %d: row %d = %v, rowSum4 gives %v", kern.name, rows, n, q, dst[q], want)
					}
					var ref, mag float64
					for _, v := range row {
						ref, mag = ref+float64(v), mag+math.Abs(float64(v))
					}
					if d := math.Abs(float64(dst[q]) - ref); d > float64(n+3)*u*mag+1e-30 {
						t.Fatalf("%s %d rows of %d: row %d = %v, float64 sum %v", kern.name, rows, n, q, dst[q], ref)
					}
				}
			}
		}
	}
}
