package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkRequantU8 requantizes the accumulators of one GEMM call of the
// benchmark models' convolutions (512 rows of 16, 32 or 64 channels) at
// every boundary level, in ns per output value.
func BenchmarkRequantU8(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, m := range []int{16, 32, 64} {
		const n = 512
		acc := make([]int32, n*m)
		for i := range acc {
			acc[i] = rng.Int32N(1<<20) - 1<<19
		}
		m0, shift := make([]int32, m), make([]int32, m)
		for c := range m0 {
			m0[c], shift[c] = 1<<23+rng.Int32N(1<<23), 28+rng.Int32N(4)
		}
		dst := make([]uint8, n*m)
		for _, vec := range boundaryLevels() {
			b.Run(fmt.Sprintf("m=%d/level=%v", m, vec), func(b *testing.B) {
				withLevel(vec, func() {
					for b.Loop() {
						requantU8(dst, acc, n, m, m, m0, shift, 3, 0, 255, m)
					}
				})
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*m), "ns/value")
			})
		}
	}
}
