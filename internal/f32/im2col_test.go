package f32

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestConvIm2colEqualsConvImage: the explicit im2col path (convIm2col,
// forced here whatever useIm2col says) gives bit for bit what ConvImage
// gives on each image alone — the same products summed in the same KC
// blocks in the same order — at every kernel level, on the stride-1
// ragged shapes of TestConvMatchesReference (kernels 3 and 5, padding 0
// to 2, odd sizes, one-pixel maps) with 1 to 11 images (several im2col
// chunks for the larger shapes), strided inputs and outputs, and writes nothing
// between the images' outputs. The levels whose kernels read in place
// run once more packing the panels.
func TestConvIm2colEqualsConvImage(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 7))
	tested := 0
	// Every level, and each one that reads in place also packing (its
	// im2colMat.Pack against the in-place offsets).
	lvs := convLevels()
	for _, lv := range convLevels() {
		if lv.kern.fastOff && lv.kern.fo != nil {
			packed := lv
			packed.kern.fastOff = false
			lvs = append(lvs, packed)
		}
	}
	for _, lv := range lvs {
		for gi, g := range convGeoms() {
			if g.K == 1 || g.Stride != 1 {
				continue
			}
			m := []int{1, 7, 12, 16, 17, 33}[gi%6]
			n := []int{1, 2, 5, 11}[gi%4]
			ep := epilogues(r, m)[gi%4]
			size, P := g.C*g.H*g.W, g.OH*g.OW
			srcStride, dstStride := size+3, m*P+5
			src := randMat(r, n*srcStride)
			pw := packWeights(lv, randMat(r, m*g.C*g.K*g.K), m, g.C*g.K*g.K, lv.kern.mr)
			got := make([]float32, n*dstStride)
			for i := range got {
				got[i] = guardVal
			}
			convIm2col(got, dstStride, src, srcStride, n, g, pw, &ep, nil)
			want := make([]float32, m*P)
			for s := 0; s < n; s++ {
				convImageRef(want, src[s*srcStride:s*srcStride+size], g, pw, &ep)
				out := got[s*dstStride : (s+1)*dstStride]
				if !slices.Equal(out[:m*P], want) {
					t.Fatalf("%s %+v m=%d n=%d: image %d differs from ConvImage", levelName(lv), g, m, n, s)
				}
				for _, v := range out[m*P:] {
					if v != guardVal {
						t.Fatalf("%s %+v m=%d n=%d: wrote between the outputs of images %d and %d", levelName(lv), g, m, n, s, s+1)
					}
				}
			}
			tested++
		}
	}
	if tested == 0 {
		t.Fatal("no shape tested")
	}
}

// TestUseIm2col: the cost rule picks the column planes where
// BenchmarkConvIm2col measured them faster (resnet8's 64→64 layer at
// 4×4, lenet5's conv2) and keeps the wide image where it measured them
// slower or even, for large maps, few channels, other strides and 1×1
// kernels.
func TestUseIm2col(t *testing.T) {
	geom := func(c, hw, k, s, p int) ConvGeom {
		o := (hw+2*p-k)/s + 1
		return ConvGeom{C: c, H: hw, W: hw, K: k, Stride: s, Pad: p, OH: o, OW: o}
	}
	for _, c := range []struct {
		g    ConvGeom
		m    int
		want bool
	}{
		{geom(64, 4, 3, 1, 1), 64, true},
		{geom(20, 12, 5, 1, 0), 50, true},
		{geom(64, 4, 3, 1, 1), 8, false}, // few channels: the copy costs more
		{geom(32, 7, 3, 1, 1), 32, false},
		{geom(32, 7, 3, 1, 1), 64, false},
		{geom(64, 8, 3, 1, 1), 64, false},
		{geom(16, 14, 3, 1, 1), 16, false},
		{geom(1, 28, 5, 1, 0), 20, false},
		{geom(32, 7, 3, 2, 1), 64, false},
		{geom(64, 4, 1, 1, 0), 64, false},
	} {
		if got := useIm2col(c.g, c.m); got != c.want {
			t.Errorf("useIm2col(%+v, %d) = %v, want %v", c.g, c.m, got, c.want)
		}
	}
	// A single image: column planes where they fill fewer 32-pixel
	// panels (measured faster on these), not at 14×14 or 7×7.
	for _, c := range []struct {
		g    ConvGeom
		want bool
	}{
		{geom(1, 28, 5, 1, 0), true},
		{geom(1, 28, 3, 1, 1), true},
		{geom(64, 8, 3, 1, 1), true},
		{geom(3, 32, 3, 1, 1), true},
		{geom(20, 12, 5, 1, 0), true},
		{geom(16, 14, 3, 1, 1), false},
		{geom(32, 7, 3, 1, 1), false},
		{geom(32, 7, 3, 2, 1), false},
		{geom(64, 4, 1, 1, 0), false},
	} {
		if got := useIm2col1(c.g); got != c.want {
			t.Errorf("useIm2col1(%+v) = %v, want %v", c.g, got, c.want)
		}
	}
}

// convImageRef is ConvImage of one unpadded image src: padded, and split
// into phase planes at stride 2, as the batch convolutions' reference.
func convImageRef(want, src []float32, g ConvGeom, pw *Packed, ep *Epilogue) {
	hp, wp := g.Padded()
	img := make([]float32, g.C*hp*wp)
	PadImage(img, src, g.C, g.H, g.W, g.Pad)
	in, phased := img, false
	if g.Stride == 2 {
		in, phased = make([]float32, g.PhaseSize()), true
		SplitPhases(in, img, g)
	}
	ConvImage(want, in, g, phased, pw, ep)
}

// TestIm2colPlaneEqualsGo: the masked-copy column planes (im2colPlane,
// where it runs) equal im2colPlaneGo's float for float, on row lengths
// OW of 1 to 32 (and 33, which it leaves to the Go loop), kernels 1 to
// 5, padding 0 to 2, one to five images with strided inputs, every
// channel and tap — and neither writes outside the plane.
func TestIm2colPlaneEqualsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 9))
	ran := 0
	for _, w := range []int{1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 34} {
		for _, kp := range [][2]int{{1, 0}, {3, 1}, {3, 0}, {5, 2}, {5, 0}, {2, 1}} {
			g := ConvGeom{C: 2, H: 1 + w%4, W: w, K: kp[0], Stride: 1, Pad: kp[1]}
			if g.H+2*g.Pad < g.K || g.W+2*g.Pad < g.K {
				continue
			}
			g.OH, g.OW = g.H+2*g.Pad-g.K+1, g.W+2*g.Pad-g.K+1
			hp, _ := g.Padded()
			for _, k := range []int{1, 2, 5} {
				N := k * g.OW
				srcStride := g.C*g.H*g.W + 3
				src := randMat(r, k*srcStride)
				for ci := 0; ci < g.C; ci++ {
					for kx := 0; kx < g.K; kx++ {
						a, b := max(0, g.Pad-kx), min(g.OW, g.W+g.Pad-kx)
						want := make([]float32, hp*N+2)
						got := make([]float32, hp*N+2)
						for i := range got {
							got[i], want[i] = guardVal, guardVal
						}
						im2colPlaneGo(want[1:1+hp*N], src, srcStride, k, ci, kx, N, g, a, b)
						if im2colPlane(got[1:1+hp*N], src, srcStride, k, ci, kx, N, g, a, b) {
							ran++
						} else {
							if im2colRowsHere(g.OW) && a < b {
								t.Fatalf("%+v: masked copy did not run", g)
							}
							im2colPlaneGo(got[1:1+hp*N], src, srcStride, k, ci, kx, N, g, a, b)
						}
						if !slices.Equal(got, want) {
							t.Fatalf("%+v, %d images, channel %d, tap %d: planes differ\n got %v\nwant %v", g, k, ci, kx, got, want)
						}
					}
				}
			}
		}
	}
	if im2colRowsHere(1) && ran == 0 {
		t.Fatal("the masked copy never ran")
	}
	t.Logf("%d planes by the masked copy", ran)
}
