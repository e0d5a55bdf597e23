package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestNaNPassesEveryKernel: a NaN input makes NaN exactly the outputs
// that read it, as Go's arithmetic, max and min do, on every path this
// machine runs — convolutions (Conv, ConvImages at every kernel level,
// ConvFlatImages at every depthwise level), depthwise convolutions
// (Depthwise, DepthwiseImages of one and of three images, DepthwiseFlat),
// Linear at every level and 2×2 max-pooling — with every epilogue:
// after a ReLU too (the vector kernels' max(x, 0) once turned a NaN
// into 0, so an overflow inside a model gave plausible outputs instead
// of NaN on AMD64 and NaN in the Go build).
func TestNaNPassesEveryKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(77, 1))
	nan := float32(math.NaN())
	// reads reports whether output (oy, ox) of g reads input (y, x).
	reads := func(g ConvGeom, oy, ox, y, x int) bool {
		dy, dx := y+g.Pad-oy*g.Stride, x+g.Pad-ox*g.Stride
		return dy >= 0 && dy < g.K && dx >= 0 && dx < g.K
	}
	// check compares the planes of n images (ds apart; m planes of
	// OH×OW each) with the NaN planted at (c0, y0, x0) of image i0;
	// depthwise: only plane c0 reads it.
	check := func(what string, got []float32, ds, n, m int, g ConvGeom, i0, c0, y0, x0 int, depthwise bool) {
		t.Helper()
		P := g.OH * g.OW
		for i := 0; i < n; i++ {
			for o := 0; o < m; o++ {
				for p := 0; p < P; p++ {
					v := got[i*ds+o*P+p]
					want := i == i0 && (!depthwise || o == c0) && reads(g, p/g.OW, p%g.OW, y0, x0)
					if (v != v) != want {
						t.Fatalf("%s %+v: image %d output %d pixel %d = %v; the NaN at channel %d (%d, %d) of image %d should reach it: %v", what, g, i, o, p, v, c0, y0, x0, i0, want)
					}
				}
			}
		}
	}
	geoms := []ConvGeom{
		{C: 3, H: 9, W: 9, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 16, W: 16, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 16, W: 16, K: 3, Stride: 2, Pad: 1},
		{C: 17, H: 7, W: 11, K: 5, Stride: 1, Pad: 2},
		{C: 8, H: 8, W: 8, K: 1, Stride: 1, Pad: 0},
		{C: 32, H: 8, W: 8, K: 3, Stride: 2, Pad: 1},
	}
	for gi := range geoms {
		g := &geoms[gi]
		g.OH, g.OW = (g.H+2*g.Pad-g.K)/g.Stride+1, (g.W+2*g.Pad-g.K)/g.Stride+1
	}
	const n = 3
	for gi, g := range geoms {
		size, P := g.C*g.H*g.W, g.OH*g.OW
		i0, c0, y0, x0 := gi%n, r.IntN(g.C), r.IntN(g.H), r.IntN(g.W)
		src := randMat(r, n*size)
		src[i0*size+(c0*g.H+y0)*g.W+x0] = nan
		one := src[i0*size : (i0+1)*size]
		for ei, ep := range epilogues(r, 33) {
			m := []int{4, 12, 16, 33}[(gi+ei)%4]
			w := randMat(r, m*g.C*g.K*g.K)
			for _, lv := range convLevels() {
				pw := packWeights(lv, w, m, g.C*g.K*g.K, lv.kern.mr)
				got := make([]float32, n*m*P)
				ConvImages(got, m*P, src, size, n, g, pw, &ep)
				check(fmt.Sprintf("ConvImages %s %+v", levelName(lv), ep), got, m*P, n, m, g, i0, c0, y0, x0, false)
				hp, wp := g.Padded()
				img := make([]float32, g.C*hp*wp)
				PadImage(img, one, g.C, g.H, g.W, g.Pad)
				got = make([]float32, m*P)
				Conv(got, P, P, pw, Patches{Img: img, G: g}, &ep)
				check(fmt.Sprintf("Conv %s %+v", levelName(lv), ep), got, m*P, 1, m, g, 0, c0, y0, x0, false)
			}
			for _, l := range dwLevels() {
				restore := setDWLevel(l)
				if f := flatForTest(g, m, w, &ep, 0, 0, 0); f != nil {
					got := make([]float32, n*m*P)
					ConvFlatImages(got, m*P, src, size, n, f)
					check(fmt.Sprintf("ConvFlatImages level %d %+v", l, ep), got, m*P, n, m, g, i0, c0, y0, x0, false)
				}
				wd := randMat(r, g.C*g.K*g.K)
				epd := epilogues(r, g.C)[ei]
				got := make([]float32, g.C*P)
				Depthwise(got, one, wd, g, &epd)
				check(fmt.Sprintf("Depthwise level %d %+v", l, epd), got, g.C*P, 1, g.C, g, 0, c0, y0, x0, true)
				for _, k := range []int{1, n} {
					from := min(i0, n-k)
					got = make([]float32, k*g.C*P)
					DepthwiseImages(got, g.C*P, src[from*size:], size, k, wd, g, &epd)
					check(fmt.Sprintf("DepthwiseImages of %d, level %d %+v", k, l, epd), got, g.C*P, k, g.C, g, i0-from, c0, y0, x0, true)
				}
				if f := NewDWFlat(g, wd, &epd); f != nil {
					got = make([]float32, n*g.C*P)
					DepthwiseFlat(got, g.C*P, src, size, n, f)
					check(fmt.Sprintf("DepthwiseFlat level %d %+v", l, epd), got, g.C*P, n, g.C, g, i0, c0, y0, x0, true)
				}
				restore()
			}
		}
		if g.H%2 == 0 && g.W%2 == 0 {
			pg := ConvGeom{C: g.C, H: g.H, W: g.W, K: 2, Stride: 2, OH: g.H / 2, OW: g.W / 2}
			got := make([]float32, g.C*pg.OH*pg.OW)
			MaxPool(got, one, pg)
			check("MaxPool", got, g.C*pg.OH*pg.OW, 1, g.C, pg, 0, c0, y0, x0, true)
		}
	}
	// Linear: a NaN in row i0 of X makes row i0 of Y NaN, every column.
	for _, lv := range levels() {
		for _, mk := range [][3]int{{1, 7, 5}, {9, 64, 17}, {13, 300, 40}} {
			m, k, nOut := mk[0], mk[1], mk[2]
			for _, ep := range epilogues(r, nOut) {
				x := randMat(r, m*k)
				i0 := r.IntN(m)
				x[i0*k+r.IntN(k)] = nan
				y := make([]float32, m*nOut)
				Linear(y, nOut, x, k, m, packWeights(lv, randMat(r, nOut*k), nOut, k, lv.kern.nr), &ep)
				for i := 0; i < m; i++ {
					for j := 0; j < nOut; j++ {
						if v := y[i*nOut+j]; (v != v) != (i == i0) {
							t.Fatalf("Linear %s m=%d k=%d n=%d %+v: y[%d][%d] = %v with the NaN in row %d", levelName(lv), m, k, nOut, ep, i, j, v, i0)
						}
					}
				}
			}
		}
	}
}

// BenchmarkMaxPool: 2×2 stride-2 max-pooling of lenet5's, resnet-like
// and wide planes (the NaN-passing comparisons included).
func BenchmarkMaxPool(b *testing.B) {
	for _, g := range []ConvGeom{
		{C: 6, H: 24, W: 24}, {C: 16, H: 8, W: 8}, {C: 32, H: 32, W: 32},
	} {
		g.K, g.Stride, g.OH, g.OW = 2, 2, g.H/2, g.W/2
		b.Run(fmt.Sprintf("%dx%dx%d", g.C, g.H, g.W), func(b *testing.B) {
			src := randMat(rand.New(rand.NewPCG(1, 2)), g.C*g.H*g.W)
			dst := make([]float32, g.C*g.OH*g.OW)
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				MaxPool(dst, src, g)
			}
		})
	}
}
