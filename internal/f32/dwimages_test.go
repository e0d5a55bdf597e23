package f32

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDepthwiseImagesEqualsDepthwise: DepthwiseImages (a channel of
// several images side by side in one wide padded plane, one DWSum) gives
// bit for bit what Depthwise gives on each image alone, on the ragged
// shapes of TestConvMatchesReference with 1 to 70 images (one and
// several wide planes), strided inputs and outputs; it writes nothing
// between the images' outputs.
func TestDepthwiseImagesEqualsDepthwise(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 5))
	for gi, g := range convGeoms() {
		n := []int{1, 2, 5, 11, 70}[gi%5]
		if g.C*g.H*g.W*n > 20000 {
			n = 3
		}
		ep := epilogues(r, g.C)[gi%4]
		size, P := g.C*g.H*g.W, g.OH*g.OW
		srcStride, dstStride := size+3, g.C*P+5
		src := randMat(r, n*srcStride)
		w := randMat(r, g.C*g.K*g.K)
		got := make([]float32, n*dstStride)
		for i := range got {
			got[i] = guardVal
		}
		DepthwiseImages(got, dstStride, src, srcStride, n, w, g, &ep)
		want := make([]float32, g.C*P)
		for s := 0; s < n; s++ {
			Depthwise(want, src[s*srcStride:s*srcStride+size], w, g, &ep)
			out := got[s*dstStride : (s+1)*dstStride]
			if !slices.Equal(out[:g.C*P], want) {
				t.Fatalf("%+v n=%d: image %d differs from Depthwise", g, n, s)
			}
			for _, v := range out[g.C*P:] {
				if v != guardVal {
					t.Fatalf("%+v n=%d: wrote between the outputs of images %d and %d", g, n, s, s+1)
				}
			}
		}
	}
}
