package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLinearStridedEqualsPacked: at every level with a strided 8-row
// kernel, Linear reading full panels of activations in place gives the
// same bits as Linear packing them (the same products in the same
// order), on ragged row counts, depths across KC blocks and a row stride
// wider than k.
func TestLinearStridedEqualsPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 1))
	tested := 0
	for _, lv := range levels() {
		if lv.strided8 == nil {
			continue
		}
		packed := lv
		packed.strided8 = nil
		for _, m := range []int{2, 8, 9, 15, 16, 17, 64, 130} {
			for _, k := range []int{1, 17, 256, 300, 784} {
				n := 33 + m%40
				ldx := k + 5
				x := randMat(r, m*ldx)
				w := randMat(r, n*k)
				ep := Epilogue{Bias: randMat(r, n), ReLU: m%2 == 0}
				a := make([]float32, m*n)
				b := make([]float32, m*n)
				Linear(a, n, x, ldx, m, packWeights(lv, w, n, k, lv.kern.nr), &ep)
				Linear(b, n, x, ldx, m, packWeights(packed, w, n, k, lv.kern.nr), &ep)
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("%s m=%d k=%d: y[%d] strided %v, packed %v", levelName(lv), m, k, i, a[i], b[i])
					}
				}
				tested++
			}
		}
	}
	if tested == 0 && activeLevel.strided8 != nil {
		t.Fatal("no strided level tested")
	}
	t.Logf("%d shapes", tested)
}

// TestFirstNonFinite compares FirstNonFinite with the definition on
// lengths around the vector width, with NaN, ±Inf, the largest finite
// values and the smallest subnormals at every position, and none.
func TestFirstNonFinite(t *testing.T) {
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800001)}
	good := []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 0, float32(math.Copysign(0, -1))}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 784} {
		x := make([]float32, n)
		for i := range x {
			x[i] = good[i%len(good)]
		}
		if got := FirstNonFinite(x); got != -1 {
			t.Fatalf("n=%d finite: got %d, want -1", n, got)
		}
		for pos := 0; pos < n; pos++ {
			for bi, v := range bad {
				x[pos] = v
				if pos+3 < n {
					x[pos+3] = bad[(bi+1)%len(bad)]
				}
				if got := FirstNonFinite(x); got != pos {
					t.Fatalf("n=%d %v at %d: got %d", n, v, pos, got)
				}
				x[pos] = good[pos%len(good)]
				if pos+3 < n {
					x[pos+3] = good[(pos+3)%len(good)]
				}
			}
		}
	}
}
