package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// everyKernel runs a convolution of g (m outputs, weights w, epilogue ep)
// and a depthwise one (weights wd, epilogue epd) of the n images in src
// (size floats apart) on every path this machine has, and hands each
// result to check: the what, the outputs (n images ds apart, except
// where n1 says only image i1 ran), the number of output planes and
// whether the result is depthwise. Conv and Depthwise run on image i1
// alone; DepthwiseImages on i1 alone and on all n; ConvFlatImages and
// DepthwiseFlat on the last image and on all n, with each AVX-512
// kernel (flatRows 0 and 16). m a multiple of 16 reaches the AVX-512
// flat convolution, of 4 the AVX2 one.
func everyKernel(g ConvGeom, src []float32, n, i1, m int, w []float32, ep Epilogue, wd []float32, epd Epilogue,
	check func(what string, got []float32, ds, n, first, planes int, depthwise bool)) {
	size, P := g.C*g.H*g.W, g.OH*g.OW
	one := src[i1*size : (i1+1)*size]
	for _, lv := range convLevels() {
		pw := packWeights(lv, w, m, g.C*g.K*g.K, lv.kern.mr)
		got := make([]float32, n*m*P)
		ConvImages(got, m*P, src, size, n, g, pw, &ep)
		check(fmt.Sprintf("ConvImages %s %+v", levelName(lv), ep), got, m*P, n, 0, m, false)
		hp, wp := g.Padded()
		img := make([]float32, g.C*hp*wp)
		PadImage(img, one, g.C, g.H, g.W, g.Pad)
		got = make([]float32, m*P)
		Conv(got, P, P, pw, Patches{Img: img, G: g}, &ep)
		check(fmt.Sprintf("Conv %s %+v", levelName(lv), ep), got, m*P, 1, i1, m, false)
	}
	for _, l := range dwLevels() {
		restore := setDWLevel(l)
		for _, rows := range []int{0, 16} { // flatRows 16: the AVX-512 one-chunk kernels
			flatRows = rows
			if f := flatForTest(g, m, w, &ep, 0, 0, 0); f != nil {
				for _, k := range []int{1, n} {
					got := make([]float32, k*m*P)
					ConvFlatImages(got, m*P, src[(n-k)*size:], size, k, f)
					check(fmt.Sprintf("ConvFlatImages of %d, level %d, flatRows %d, %+v", k, l, rows, ep), got, m*P, k, n-k, m, false)
				}
			}
			if f := NewDWFlat(g, wd, &epd); f != nil {
				for _, k := range []int{1, n} {
					got := make([]float32, k*g.C*P)
					DepthwiseFlat(got, g.C*P, src[(n-k)*size:], size, k, f)
					check(fmt.Sprintf("DepthwiseFlat of %d, level %d, flatRows %d, %+v", k, l, rows, epd), got, g.C*P, k, n-k, g.C, true)
				}
			}
		}
		flatRows = 0
		got := make([]float32, g.C*P)
		Depthwise(got, one, wd, g, &epd)
		check(fmt.Sprintf("Depthwise level %d %+v", l, epd), got, g.C*P, 1, i1, g.C, true)
		got = make([]float32, g.C*P)
		DepthwiseImages(got, g.C*P, one, size, 1, wd, g, &epd)
		check(fmt.Sprintf("DepthwiseImages of 1, level %d %+v", l, epd), got, g.C*P, 1, i1, g.C, true)
		got = make([]float32, n*g.C*P)
		DepthwiseImages(got, g.C*P, src, size, n, wd, g, &epd)
		check(fmt.Sprintf("DepthwiseImages of %d, level %d %+v", n, l, epd), got, g.C*P, n, 0, g.C, true)
		restore()
	}
}

// kernelGeoms are everyKernel's geometries: stride 1 and 2, kernels of
// 1, 3 and 5, a 3-channel stem, planes of 7 to 16 rows.
func kernelGeoms() []ConvGeom {
	gs := []ConvGeom{
		{C: 3, H: 9, W: 9, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 16, W: 16, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 16, W: 16, K: 3, Stride: 2, Pad: 1},
		{C: 17, H: 7, W: 11, K: 5, Stride: 1, Pad: 2},
		{C: 8, H: 8, W: 8, K: 1, Stride: 1, Pad: 0},
		{C: 32, H: 8, W: 8, K: 3, Stride: 2, Pad: 1},
	}
	for i := range gs {
		gs[i] = sized(gs[i])
	}
	return gs
}

// TestNaNPassesEveryKernel: a NaN input makes NaN exactly the outputs
// that read it, as Go's arithmetic, max and min do, on every path this
// machine has (everyKernel: convolutions at every kernel level, the flat
// kernels at every depthwise level, depthwise convolutions of one image
// and of four — DepthwiseFlat's four-image kernel —), Linear at every
// level and 2×2 max-pooling, with every epilogue: after a ReLU too (the
// vector kernels' max(x, 0) once turned a NaN into 0, so an overflow
// inside a model gave finite outputs on AMD64 and NaN in the Go build).
// The NaN sits at a random position of one image in each geometry; the
// kernel tests plant NaN at every operand position.
func TestNaNPassesEveryKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(77, 1))
	nan := float32(math.NaN())
	// reads reports whether output (oy, ox) of g reads input (y, x).
	reads := func(g ConvGeom, oy, ox, y, x int) bool {
		dy, dx := y+g.Pad-oy*g.Stride, x+g.Pad-ox*g.Stride
		return dy >= 0 && dy < g.K && dx >= 0 && dx < g.K
	}
	const n = 4
	for gi, g := range kernelGeoms() {
		size, P := g.C*g.H*g.W, g.OH*g.OW
		i0, c0, y0, x0 := gi%n, r.IntN(g.C), r.IntN(g.H), r.IntN(g.W)
		src := randMat(r, n*size)
		src[i0*size+(c0*g.H+y0)*g.W+x0] = nan
		// check: image i of the result is image first+i of src.
		check := func(what string, got []float32, ds, n, first, planes int, depthwise bool) {
			t.Helper()
			for i := 0; i < n; i++ {
				for o := 0; o < planes; o++ {
					for p := 0; p < P; p++ {
						v := got[i*ds+o*P+p]
						want := first+i == i0 && (!depthwise || o == c0) && reads(g, p/g.OW, p%g.OW, y0, x0)
						if (v != v) != want {
							t.Fatalf("%s %+v: image %d output %d pixel %d = %v; the NaN at channel %d (%d, %d) of image %d reaches it: %v", what, g, first+i, o, p, v, c0, y0, x0, i0, want)
						}
					}
				}
			}
		}
		for ei, ep := range epilogues(r, 33) {
			m := []int{16, 12, 32, 33}[(gi+ei)%4]
			everyKernel(g, src, n, i0, m, randMat(r, m*g.C*g.K*g.K), ep, randMat(r, g.C*g.K*g.K), epilogues(r, g.C)[ei], check)
		}
		if g.H%2 == 0 && g.W%2 == 0 {
			pg := ConvGeom{C: g.C, H: g.H, W: g.W, K: 2, Stride: 2, OH: g.H / 2, OW: g.W / 2}
			got := make([]float32, g.C*pg.OH*pg.OW)
			MaxPool(got, src[i0*size:(i0+1)*size], pg)
			for o := 0; o < g.C; o++ {
				for p := 0; p < pg.OH*pg.OW; p++ {
					v := got[o*pg.OH*pg.OW+p]
					if want := o == c0 && reads(pg, p/pg.OW, p%pg.OW, y0, x0); (v != v) != want {
						t.Fatalf("MaxPool %+v: plane %d pixel %d = %v with the NaN at channel %d (%d, %d)", pg, o, p, v, c0, y0, x0)
					}
				}
			}
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

// TestReLUZeroIsPositive: after a ReLU every kernel gives +0 where Go's
// max(v, 0) does, also when the sum v is −0 — products that underflow
// (1e-25 · −1e-25) make an FMA return −0, and a bias of −0 keeps it —
// where VMAXPS alone returns −0 (its second source on a tie of zeros).
// Go's own loops (multiply, then add to +0) sum to +0; the vector
// kernels' epilogues add lo's sign after the max.
func TestReLUZeroIsPositive(t *testing.T) {
	const n = 4
	for _, g := range kernelGeoms() {
		size := g.C * g.H * g.W
		const m = 16
		src := slices.Repeat([]float32{1e-25}, n*size)
		w, wd := slices.Repeat([]float32{-1e-25}, m*g.C*g.K*g.K), slices.Repeat([]float32{-1e-25}, g.C*g.K*g.K)
		bias, biasD := slices.Repeat([]float32{negZero}, m), slices.Repeat([]float32{negZero}, g.C)
		for _, max := range []float32{0, 6} {
			ep, epd := Epilogue{Bias: bias, ReLU: true, Max: max}, Epilogue{Bias: biasD, ReLU: true, Max: max}
			everyKernel(g, src, n, 1, m, w, ep, wd, epd, func(what string, got []float32, ds, n, first, planes int, depthwise bool) {
				t.Helper()
				for i := 0; i < n; i++ {
					for j, v := range got[i*ds : i*ds+planes*g.OH*g.OW] {
						if math.Float32bits(v) != 0 {
							t.Fatalf("%s %+v: image %d output %d = %v (%#x), want +0", what, g, first+i, j, v, math.Float32bits(v))
						}
					}
				}
			})
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
