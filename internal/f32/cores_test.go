package f32

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkGemmCores runs training-sized products with up to GOMAXPROCS
// goroutines: `-cpu 1,2` shows how the split scales on this machine
// (fc1 is lenet300's first layer at batch 64, conv2 lenet5's second
// convolution as one 50×(64·8·8)×500 product).
func BenchmarkGemmCores(b *testing.B) {
	for _, s := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"fc1fwd", false, false, 64, 300, 784},
		{"fc1dW", true, false, 784, 300, 64},
		{"conv2fwd", false, false, 50, 4096, 500},
	} {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			lda, ldb := s.k, s.n
			if s.tA {
				lda = s.m
			}
			if s.tB {
				ldb = s.k
			}
			x, y, c := randMat(r, s.m*s.k), randMat(r, s.k*s.n), make([]float32, s.m*s.n)
			b.SetBytes(int64(2 * s.m * s.n * s.k)) // MB/s reads as MFLOP/s
			for b.Loop() {
				GemmThreads(s.tA, s.tB, s.m, s.n, s.k, x, lda, y, ldb, c, s.n, false, runtime.GOMAXPROCS(0))
			}
		})
	}
}
