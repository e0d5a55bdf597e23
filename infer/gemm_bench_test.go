package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemm measures the kernels alone on lenet300's first layer
// (rows × 300 channels × 784), every level of this CPU, one goroutine.
func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const m, k = 300, 784
	w := make([]int8, m*k)
	for i := range w {
		w[i] = int8(rng.IntN(255) - 127)
	}
	for _, lv := range availableLevels() {
		for _, rng := range []struct {
			name   string
			lo, hi int32
		}{{"u7", 0, 127}, {"u8", -127, 127}} {
			pw := packWeights(w, make([]int32, m), m, k, rng.lo, rng.hi, 0, lv)
			for _, n := range []int{1, 64} {
				u := make([]uint8, n*pw.kp)
				c := make([]int32, n*pw.mp)
				b.Run(fmt.Sprintf("%s/%s/rows=%d", lv.name, rng.name, n), func(b *testing.B) {
					for b.Loop() {
						gemmPacked(lv, c, pw.mp, u, pw.kp, pw, n)
					}
					b.ReportMetric(float64(b.N*n*m*k)/float64(b.Elapsed().Nanoseconds()), "GMAC/s")
				})
			}
		}
	}
}
