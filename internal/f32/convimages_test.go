package f32

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestConvImagesEqualsConvImage: ConvImages (several images side by side
// in one wide padded image, one GEMM) gives bit for bit what ConvImage
// gives on each image alone (padded, and split into phase planes for
// stride 2), at every kernel level, on the ragged shapes of
// TestConvMatchesReference with 1 to 40 images (so 1 to several GEMM
// calls), strided inputs and outputs; it writes nothing between the
// images' outputs.
func TestConvImagesEqualsConvImage(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 3))
	for _, lv := range convLevels() {
		t.Run(levelName(lv), func(t *testing.T) {
			for gi, g := range convGeoms() {
				m := []int{1, 7, 12, 16, 17, 33}[gi%6]
				n := []int{1, 2, 5, 11, 40}[gi%5]
				if g.C*g.H*g.W*n > 20000 {
					n = 3
				}
				ep := epilogues(r, m)[gi%4]
				size, P := g.C*g.H*g.W, g.OH*g.OW
				srcStride, dstStride := size+3, m*P+5
				src := randMat(r, n*srcStride)
				w := randMat(r, m*g.C*g.K*g.K)
				pw := packWeights(lv, w, m, g.C*g.K*g.K, lv.kern.mr)
				got := make([]float32, n*dstStride)
				for i := range got {
					got[i] = guardVal
				}
				ConvImages(got, dstStride, src, srcStride, n, g, pw, &ep)
				want := make([]float32, m*P)
				for s := 0; s < n; s++ {
					convImageRef(want, src[s*srcStride:s*srcStride+size], g, pw, &ep)
					out := got[s*dstStride : (s+1)*dstStride]
					if !slices.Equal(out[:m*P], want) {
						t.Fatalf("%+v m=%d n=%d: image %d differs from ConvImage", g, m, n, s)
					}
					for _, v := range out[m*P:] {
						if v != guardVal {
							t.Fatalf("%+v m=%d n=%d: wrote between the outputs of images %d and %d", g, m, n, s, s+1)
						}
					}
				}
			}
		})
	}
}

// TestConvInPlaceEqualsPacked: at every level whose kernel takes row
// offsets, Conv reading the full panels of a rowPatches operand in place
// gives the same bits as packing them (the same products in the same
// order), through ConvImages and ConvImage on the ragged shapes (stride 1,
// stride 2 on phase planes, stride 2 packed) with 1 to 11 images.
func TestConvInPlaceEqualsPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 4))
	tested := 0
	for _, lv := range convLevels() {
		if !lv.kern.fastOff || lv.kern.fo == nil {
			continue
		}
		packed := lv
		packed.kern.fastOff = false
		for gi, g := range convGeoms() {
			m := []int{1, 8, 12, 16, 17, 33}[gi%6]
			n := []int{1, 2, 5, 11}[gi%4]
			ep := epilogues(r, m)[gi%4]
			size, P, k := g.C*g.H*g.W, g.OH*g.OW, g.C*g.K*g.K
			src := randMat(r, n*size)
			w := randMat(r, m*k)
			a := make([]float32, n*m*P)
			b := make([]float32, n*m*P)
			ConvImages(a, m*P, src, size, n, g, packWeights(lv, w, m, k, lv.kern.mr), &ep)
			ConvImages(b, m*P, src, size, n, g, packWeights(packed, w, m, k, lv.kern.mr), &ep)
			if !slices.Equal(a, b) {
				t.Fatalf("%s %+v m=%d n=%d: in place differs from packed", levelName(lv), g, m, n)
			}
			tested++
		}
	}
	if tested == 0 && activeLevel.kern.fastOff {
		t.Fatal("no level read in place")
	}
	t.Logf("%d shapes", tested)
}

// TestSubsampledPointwise: a 1×1 convolution of stride 2 or 3 without
// padding (ConvImages subsamples the images and runs a pointwise GEMM)
// gives bit for bit what ConvImage gives on the image itself (Patches,
// the strided im2col): the same C products summed in the same order.
// Ragged shapes: odd and even sizes, one-pixel rows and columns, channel
// counts not multiples of 16, enough images for several subsampled
// batches (subsampledFloats), strided inputs and outputs.
func TestSubsampledPointwise(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 3))
	for _, lv := range convLevels() {
		for i, c := range []struct{ c, h, w, s, m, n int }{
			{1, 1, 1, 2, 1, 1}, {3, 7, 5, 2, 7, 3}, {17, 14, 14, 2, 33, 5}, {16, 28, 28, 2, 16, 25},
			{5, 9, 1, 2, 12, 2}, {4, 10, 11, 3, 17, 4}, {33, 7, 7, 2, 64, 5},
		} {
			g := ConvGeom{C: c.c, H: c.h, W: c.w, K: 1, Stride: c.s}
			g.OH, g.OW = (g.H-1)/g.Stride+1, (g.W-1)/g.Stride+1
			ep := epilogues(r, c.m)[i%4]
			size, P := g.C*g.H*g.W, g.OH*g.OW
			srcStride, dstStride := size+1, c.m*P+3
			src := randMat(r, c.n*srcStride)
			pw := packWeights(lv, randMat(r, c.m*g.C), c.m, g.C, lv.kern.mr)
			got := make([]float32, c.n*dstStride)
			for j := range got {
				got[j] = guardVal
			}
			ConvImages(got, dstStride, src, srcStride, c.n, g, pw, &ep)
			want := make([]float32, c.m*P)
			for s := 0; s < c.n; s++ {
				ConvImage(want, src[s*srcStride:s*srcStride+size], g, false, pw, &ep)
				out := got[s*dstStride : (s+1)*dstStride]
				if !slices.Equal(out[:c.m*P], want) {
					t.Fatalf("%s %+v m=%d: image %d differs from ConvImage", levelName(lv), g, c.m, s)
				}
				for _, v := range out[c.m*P:] {
					if v != guardVal {
						t.Fatalf("%s %+v: wrote between the outputs of images %d and %d", levelName(lv), g, s, s+1)
					}
				}
			}
		}
	}
}
