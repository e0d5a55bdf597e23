package f32

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkConvIm2col runs one layer of 64 images through the implicit
// (wide image) and the column-plane paths, side by side, whatever
// useIm2col picks (its constants were set from these).
func BenchmarkConvIm2col(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ c, hw, m, k, pad int }{
		{64, 4, 64, 3, 1}, {32, 7, 32, 3, 1}, {32, 7, 64, 3, 1}, {16, 14, 16, 3, 1}, {64, 8, 64, 3, 1}, {20, 12, 50, 5, 0}, {1, 28, 20, 5, 0},
	} {
		o := c.hw + 2*c.pad - c.k + 1
		g := ConvGeom{C: c.c, H: c.hw, W: c.hw, K: c.k, Stride: 1, Pad: c.pad, OH: o, OW: o}
		n := 64
		size, P := g.C*g.H*g.W, g.OH*g.OW
		src := randMat(r, n*size)
		pw := PackA(randMat(r, c.m*g.C*g.K*g.K), c.m, g.C*g.K*g.K)
		dst := make([]float32, n*c.m*P)
		ep := Epilogue{ReLU: true}
		for _, path := range []string{"implicit", "im2col"} {
			b.Run(fmt.Sprintf("%dx%dx%d-m%d-k%d/%s", c.c, c.hw, c.hw, c.m, c.k, path), func(b *testing.B) {
				for b.Loop() {
					if path == "im2col" {
						convIm2col(dst, c.m*P, src, size, n, g, pw, &ep, nil)
					} else {
						convWide(dst, c.m*P, src, size, n, g, pw, &ep, nil)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*n), "µs/img")
			})
		}
	}
}
