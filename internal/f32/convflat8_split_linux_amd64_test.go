//go:build linux && amd64 && !purego

package f32

import (
	"math/rand/v2"
	"testing"
)

// TestFlat8SplitGuards: flat8Split writes nothing past the room its doc
// claims (phases 2: C·4·ps floats, ps a phase plane of ⌈H/2⌉ rows of OW
// plus the stores' room as newFlat8 computes it; phases 1: C·OH·OW + 16
// floats) nor before it: its dst ends just before an inaccessible page,
// then starts just after one; the source image too. Every cell of a
// phase plane (subsampled plane) that holds an input pixel equals
// flat8Phases' (DWSplit2's). Rows of 2 to 32 floats, odd and even
// heights.
func TestFlat8SplitGuards(t *testing.T) {
	defer atAVX2()()
	if !flat8Here() {
		t.Skip("the AVX2 flat kernel does not run here")
	}
	r := rand.New(rand.NewPCG(8, 111))
	for _, c := range []struct{ C, H, W, phases int }{
		{1, 1, 2, 2}, {2, 3, 3, 2}, {3, 5, 8, 2}, {2, 7, 9, 2}, {1, 4, 15, 2}, {2, 5, 16, 2},
		{3, 3, 17, 2}, {1, 6, 24, 2}, {2, 9, 31, 2}, {1, 2, 32, 2}, {16, 14, 14, 2}, {16, 28, 28, 2},
		{1, 1, 1, 1}, {2, 3, 2, 1}, {3, 5, 9, 1}, {1, 4, 16, 1}, {2, 7, 17, 1}, {3, 6, 32, 1}, {16, 28, 28, 1},
	} {
		var sg ConvGeom
		var ps int
		if c.phases == 2 {
			g := ConvGeom{C: c.C, H: c.H, W: c.W, K: 3, Stride: 2, Pad: 1, OH: (c.H-1)/2 + 1, OW: (c.W-1)/2 + 1}
			a := newFlat8(g, 4, make([]float32, 4*9*c.C), &Epilogue{}, 0)
			sg, ps = g, a.ps
		} else {
			sg = ConvGeom{C: c.C, H: c.H, W: c.W, K: 1, Stride: 2, OH: (c.H-1)/2 + 1, OW: (c.W-1)/2 + 1}
			ps = sg.OH * sg.OW
		}
		n := c.C * c.H * c.W
		need := c.C * c.phases * c.phases * ps
		if c.phases == 1 {
			need += 16
		}
		x := randMat(r, n)
		want := make([]float32, need)
		if c.phases == 2 {
			flat8Phases(want, x, sg, ps)
		} else {
			flat8Sub(want[:need-16], x, sg, new([]float32))
		}
		for k := range 4 {
			img := guardedFloats(t, n, k%2 == 0)
			if k%2 == 0 {
				img = img[:n]
			} else {
				img = img[len(img)-n:]
			}
			copy(img, x)
			dst := guardedFloats(t, need, k < 2)
			if k < 2 {
				dst = dst[:need]
			} else {
				dst = dst[len(dst)-need:]
			}
			if !flat8Split(dst, img, sg, ps, c.phases) {
				t.Fatalf("%+v: flat8Split does not run", c)
			}
			for p := 0; p < c.C*c.phases*c.phases; p++ {
				a, b := p%(c.phases*c.phases)/c.phases, p%c.phases
				for y := 0; 2*y+a < c.H; y++ {
					for z := 0; 2*z+b < c.W; z++ {
						if i := p*ps + y*sg.OW + z; dst[i] != want[i] {
							t.Fatalf("%+v guard %d: plane %d (%d,%d) = %v, want %v", c, k, p, y, z, dst[i], want[i])
						}
					}
				}
			}
		}
	}
}
