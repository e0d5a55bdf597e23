//go:build linux && amd64 && !purego

package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pageStartFloats returns a function giving the first n float32s of a
// buffer of at least size floats that an inaccessible page precedes: a
// kernel reading before such a slice faults (pageEndFloats' mirror).
func pageStartFloats(t *testing.T, size int) func(n int) []float32 {
	t.Helper()
	all := guardedFloats(t, size, true)
	return func(n int) []float32 { return all[:n] }
}

// TestDW8PageGuards runs the direct AVX2 depthwise kernel on every
// dw8Geoms geometry with the input image (and at stride 2 the buffer of
// its phase planes, which the kernel reads) starting just after an
// inaccessible page, then ending just before one, and the outputs ending
// just before one: the masked loads of padding columns (before the
// first column, past the last) and of padding rows must touch no memory
// outside the image, the stores none past the outputs. The outputs must
// equal Depthwise's bit for bit.
func TestDW8PageGuards(t *testing.T) {
	defer atAVX2()()
	if DWKernel() != "avx2" {
		t.Skip("the AVX2 depthwise kernels do not run here")
	}
	r := rand.New(rand.NewPCG(8, 62))
	const most = 1 << 16
	head, tail, out := pageStartFloats(t, most), pageEndFloats(t, most), pageEndFloats(t, most)
	bufHead, bufTail := pageStartFloats(t, 4*most), pageEndFloats(t, 4*most)
	for gi, g := range dw8Geoms() {
		size, P := g.C*g.H*g.W, g.OH*g.OW
		if size > most || g.C*P > most {
			t.Fatalf("%+v: larger than the guarded buffers", g)
		}
		ep := epilogues(r, g.C)[gi%4]
		lo, hi := ep.bounds()
		w := randMat(r, g.C*g.K*g.K)
		p := newDW8Plan(g)
		groups := (g.C + 3) / 4
		w4, b4 := make([]float32, groups*4*g.K*g.K), make([]float32, groups*4)
		dw8Weights(w4, b4, w, ep.Bias, g)
		img := randMat(r, size)
		want := make([]float32, g.C*P)
		Depthwise(want, img, w, g, &ep)
		for k, src := range [][]float32{head(size), tail(size)} {
			copy(src, img)
			dst := out(g.C * P)
			buf := bufHead(p.buf)
			if k == 1 {
				buf = bufTail(p.buf)
			}
			dw8(dst, src, p, w4, b4, buf, lo, hi)
			for i := range want {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v: output %d = %v, Depthwise gives %v", g, i, dst[i], want[i])
				}
			}
		}
	}
}
