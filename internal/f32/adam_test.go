package f32

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/internal/par"
)

// trainAdamLoop is train's Adam loop before this package (optim.go), the
// reference the kernel must match bit for bit so resumed runs stay identical.
// Every product is rounded explicitly (float32(…)), as train's loop does,
// so that GOAMD64=v3 cannot fuse it into a multiply-add.
func trainAdamLoop(w, g, m, v []float32, lr float64, t float64, wd float64) {
	c1 := 1 / (1 - math.Pow(0.9, t))
	c2 := 1 / (1 - math.Pow(0.999, t))
	b1, b2 := float32(0.9), float32(0.999)
	stepSize := float32(lr * c1)
	sc2 := float32(c2)
	eps := float32(1e-8)
	decay := float32(1 - lr*wd)
	for j := range w {
		gj := g[j]
		m[j] = float32(b1*m[j]) + float32((1-b1)*gj)
		v[j] = float32(b2*v[j]) + float32((1-b2)*gj*gj)
		w[j] = float32(w[j]*decay) - stepSize*m[j]/(float32(math.Sqrt(float64(v[j]*sc2)))+eps)
	}
}

func TestAdamBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 7, 8, 9, 63, 64, 65, 1000, par.MinWork/adamCost + 13} { // the last one is split over goroutines
		w, m, v := randMat(r, n), make([]float32, n), make([]float32, n)
		w2, m2, v2 := append([]float32(nil), w...), make([]float32, n), make([]float32, n)
		for step := 1; step <= 5; step++ {
			g := randMat(r, n)
			for i := range g {
				g[i] *= float32(math.Pow(10, float64(r.IntN(12)-8))) // gradients from 1e-8 to 1e3
			}
			if step == 3 {
				g[0] = 0 // v can stay 0 on the first element: √0 + eps
			}
			lr, wd := 3e-3, 1e-4
			trainAdamLoop(w, g, m, v, lr, float64(step), wd)
			Adam(w2, g, m2, v2, AdamCoef{Beta1: 0.9, Beta2: 0.999, Step: float32(lr / (1 - math.Pow(0.9, float64(step)))),
				Scale2: float32(1 / (1 - math.Pow(0.999, float64(step)))), Eps: 1e-8, Decay: float32(1 - lr*wd)})
			for i := range w {
				if math.Float32bits(w[i]) != math.Float32bits(w2[i]) || math.Float32bits(m[i]) != math.Float32bits(m2[i]) || math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
					t.Fatalf("n=%d step %d element %d: w %v/%v m %v/%v v %v/%v", n, step, i, w[i], w2[i], m[i], m2[i], v[i], v2[i])
				}
			}
		}
	}
}

func BenchmarkAdam(b *testing.B) {
	const n = 266610 // lenet300's parameter count
	r := rand.New(rand.NewPCG(1, 1))
	w, g, m, v := randMat(r, n), randMat(r, n), make([]float32, n), make([]float32, n)
	c := AdamCoef{Beta1: 0.9, Beta2: 0.999, Step: 3e-3, Scale2: 1, Eps: 1e-8, Decay: 1}
	b.Run("loop", func(b *testing.B) {
		for b.Loop() {
			trainAdamLoop(w, g, m, v, 3e-3, 1, 0)
		}
	})
	b.Run("kernel", func(b *testing.B) {
		for b.Loop() {
			Adam(w, g, m, v, c)
		}
	})
}

// TestAdamReadsNegativeZeroAsZero: a −0 gradient updates like +0 (the
// vector kernel and the scalar tail), even where β1·m is −0. 19 elements
// cover two vector blocks and a tail of 3.
func TestAdamReadsNegativeZeroAsZero(t *testing.T) {
	c := AdamCoef{Beta1: 0.9, Beta2: 0.999, Step: 1e-3, Scale2: 1, Eps: 1e-8, Decay: 1}
	negz := float32(math.Copysign(0, -1))
	run := func(g0 float32) (w, m, v []float32) {
		w, m, v = make([]float32, 19), make([]float32, 19), make([]float32, 19)
		g := make([]float32, 19)
		for i := range w {
			w[i], m[i], g[i] = 0, negz, g0
		}
		Adam(w, g, m, v, c)
		return w, m, v
	}
	w1, m1, v1 := run(negz)
	w2, m2, v2 := run(0)
	for i := range w1 {
		if math.Float32bits(w1[i]) != math.Float32bits(w2[i]) || math.Float32bits(m1[i]) != math.Float32bits(m2[i]) || math.Float32bits(v1[i]) != math.Float32bits(v2[i]) {
			t.Fatalf("element %d: −0 gives w %v m %v v %v, +0 gives %v %v %v", i, w1[i], m1[i], v1[i], w2[i], m2[i], v2[i])
		}
	}
}
