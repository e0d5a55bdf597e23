package f32

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFlat8Ladder times ConvImages (ConvImagesProj) and the AVX2
// flat kernel (ConvFlatImages, ConvFlatImagesProj) on the same 64
// images, alternately in every iteration, on the models' layer shapes
// (C, H = W, K, stride, m; "+p": a fused stride-2 projection of c
// channels of 2H×2W), and reports each one's fastest batch in G MAC/s
// (the products the convolution defines, padding excluded from none)
// and their ratio (flat/wide: > 1 where the flat kernel is faster).
func BenchmarkFlat8Ladder(b *testing.B) {
	if v := os.Getenv("FLAT8_N"); v != "" {
		flat8LadderN, _ = strconv.Atoi(v)
	}
	if !flat8Here() {
		b.Skip("the AVX2 flat kernel does not run here")
	}
	r := rand.New(rand.NewPCG(8, 99))
	n := flat8LadderN
	for _, s := range []struct{ c, h, k, stride, m, pc int }{
		{1, 28, 3, 1, 16, 0}, {16, 28, 3, 2, 16, 0}, {16, 14, 3, 1, 16, 0}, {16, 14, 3, 2, 32, 0},
		{32, 7, 3, 1, 32, 0}, {32, 7, 3, 2, 64, 0}, {64, 4, 3, 1, 64, 0},
		{3, 32, 3, 1, 16, 0}, {16, 32, 3, 1, 16, 0}, {16, 16, 3, 2, 32, 0}, {32, 16, 3, 1, 32, 0},
		{32, 8, 3, 2, 64, 0}, {64, 8, 3, 1, 64, 0}, {16, 32, 3, 2, 32, 0}, {32, 16, 3, 2, 64, 0},
		{1, 28, 3, 2, 16, 0}, {16, 14, 1, 1, 32, 0}, {32, 7, 1, 1, 64, 0}, {64, 4, 1, 1, 64, 0},
		{3, 28, 3, 1, 16, 0}, {16, 28, 3, 1, 16, 0}, {32, 32, 3, 1, 32, 0}, {3, 16, 3, 1, 16, 0},
		{16, 14, 3, 1, 16, 16}, {32, 7, 3, 1, 32, 16}, {64, 4, 3, 1, 64, 32},
		{32, 16, 3, 1, 32, 16}, {64, 8, 3, 1, 64, 32},
	} {
		pad := s.k / 2
		g := ConvGeom{C: s.c, H: s.h, W: s.h, K: s.k, Stride: s.stride, Pad: pad}
		g.OH, g.OW = (g.H+2*pad-g.K)/g.Stride+1, (g.W+2*pad-g.K)/g.Stride+1
		name := fmt.Sprintf("%d,%d,%d,%d,%d", s.c, s.h, s.k, s.stride, s.m)
		size, P := g.C*g.H*g.W, g.OH*g.OW
		fan := g.C*g.K*g.K + s.pc
		w := randMat(r, s.m*fan)
		ep := &Epilogue{Bias: randMat(r, s.m), ReLU: true}
		src, dst := randMat(r, n*size), make([]float32, n*s.m*P)
		pw := PackA(w, s.m, fan)
		var pr *Proj
		var a *flat8
		if s.pc > 0 {
			name += fmt.Sprintf("+p%d", s.pc)
			pr = &Proj{Src: randMat(r, n*s.pc*4*P), SrcStride: s.pc * 4 * P, C: s.pc, H: 2 * g.OH, W: 2 * g.OW, Stride: 2}
			a = newFlat8Proj(g, s.m, w, ep, s.pc, 2*g.OH, 2*g.OW)
		} else {
			a = newFlat8(g, s.m, w, ep, 0)
		}
		f := a.conv()
		b.Run(name, func(b *testing.B) {
			wide, flat := time.Duration(1<<62), time.Duration(1<<62)
			for b.Loop() {
				t0 := time.Now()
				if pr != nil {
					ConvImagesProj(dst, s.m*P, src, size, n, g, pw, ep, pr)
				} else {
					ConvImages(dst, s.m*P, src, size, n, g, pw, ep)
				}
				t1 := time.Now()
				if pr != nil {
					ConvFlatImagesProj(dst, s.m*P, src, size, n, f, pr)
				} else {
					ConvFlatImages(dst, s.m*P, src, size, n, f)
				}
				t2 := time.Now()
				wide, flat = min(wide, t1.Sub(t0)), min(flat, t2.Sub(t1))
			}
			macs := float64(n * s.m * P * fan)
			b.ReportMetric(macs/wide.Seconds()/1e9, "wide-GMAC/s")
			b.ReportMetric(macs/flat.Seconds()/1e9, "flat-GMAC/s")
			b.ReportMetric(wide.Seconds()/flat.Seconds(), "flat/wide")
		})
	}
}

// flat8LadderN is the ladder's batch.
var flat8LadderN = 64
