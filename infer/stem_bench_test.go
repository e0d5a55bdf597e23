package infer

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkStem times stemImage (thread CPU time: the host may be
// loaded) on lenet5's first layer (5×5, 1→20, 28×28 in) and on 3×3 ones
// of 1 and 3 channels (20 and 24 outputs).
func BenchmarkStem(b *testing.B) {
	for _, s := range []struct {
		name                    string
		c, k, st, oc, w, oh, ow int
	}{{"lenet5", 1, 5, 1, 20, 28, 24, 24}, {"c1k3oc20", 1, 3, 1, 20, 30, 28, 28}, {"c3k3oc24", 3, 3, 1, 24, 34, 32, 32}} {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			t := s.k * s.k * s.c
			wt := make([]int8, s.oc*t)
			for i := range wt {
				wt[i] = int8(rng.IntN(256) - 128)
			}
			m0, shift, bias := make([]int32, s.oc), make([]int32, s.oc), make([]int32, s.oc)
			for i := range m0 {
				m0[i], shift[i] = 1<<23+rng.Int32N(1<<23), 32
			}
			bound := int64(0)
			for ch := 0; ch < s.oc; ch++ {
				sum := int64(0)
				for _, v := range wt[ch*t : (ch+1)*t] {
					sum += 255 * int64(iabs(int32(v)))
				}
				bound = max(bound, sum)
			}
			sp := newStemPlan(s.c, s.k, s.st, s.w, s.oh, s.ow, s.oc, wt, bias, m0, shift, 10, 0, 255, bound)
			if sp == nil {
				b.Fatal("no plan")
			}
			h := (s.oh-1)*s.st + s.k
			img := make([]uint8, h*s.w*s.c+stemSlack(sp))
			dst := make([]uint8, s.oh*s.ow*s.oc)
			tile := make([]uint32, stemTileLen(sp))
			b.SetBytes(int64(s.oh * s.ow * s.oc * t))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				stemImage(sp, dst, img, tile)
			}
			b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
