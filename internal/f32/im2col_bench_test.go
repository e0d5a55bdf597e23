package f32

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkConvIm2col runs one layer of 64 images through the implicit
// (wide image) and the explicit im2col paths, side by side.
func BenchmarkConvIm2col(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ c, hw, m, s int }{{64, 4, 64, 1}, {32, 7, 32, 1}, {16, 14, 16, 1}} {
		o := (c.hw+2-3)/c.s + 1
		g := ConvGeom{C: c.c, H: c.hw, W: c.hw, K: 3, Stride: c.s, Pad: 1, OH: o, OW: o}
		n := 64
		size, P := g.C*g.H*g.W, g.OH*g.OW
		src := randMat(r, n*size)
		pw := PackA(randMat(r, c.m*g.C*9), c.m, g.C*9)
		dst := make([]float32, n*c.m*P)
		ep := Epilogue{ReLU: true}
		for _, path := range []string{"implicit", "im2col"} {
			b.Run(fmt.Sprintf("%dx%dx%d-m%d-s%d/%s", c.c, c.hw, c.hw, c.m, c.s, path), func(b *testing.B) {
				for b.Loop() {
					if path == "im2col" {
						convIm2col(dst, c.m*P, src, size, n, g, pw, &ep)
					} else {
						convWide(dst, c.m*P, src, size, n, g, pw, &ep)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N*n), "µs/img")
			})
		}
	}
}
