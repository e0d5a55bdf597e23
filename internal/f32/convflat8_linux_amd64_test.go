//go:build linux && amd64 && !purego

package f32

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestFlat8PageGuards runs the AVX2 flat kernel (flat8Run) on every
// flat8Geoms geometry, and on fused projections, with its inputs (the
// images, their phase planes at stride 2, their skewed copies; a
// projection's subsampled planes) starting just after an inaccessible
// page, then ending just before one, and its outputs ending just before
// one, three images at a time (slots chunk j of the three) and image by
// image (slots three chunks of one): the masked loads of padding (before
// the first column or row, past the last) must touch no memory outside
// the inputs, the stores none past the outputs. The outputs must equal
// ConvImages' (ConvImagesProj's) bit for bit. And the split into phase
// planes (flat8Split) of an image after, then before, an inaccessible
// page must equal flat8Phases' (DWSplit2's) planes, its subsampled
// planes flat8Sub's.
func TestFlat8PageGuards(t *testing.T) {
	defer atAVX2()()
	if !flat8Here() {
		t.Skip("the AVX2 flat kernel does not run here")
	}
	r := rand.New(rand.NewPCG(8, 71))
	type tcase struct {
		g          ConvGeom
		pc, ph, pw int
	}
	var cases []tcase
	for _, g := range flat8Geoms() {
		cases = append(cases, tcase{g: g})
	}
	for _, g := range []ConvGeom{
		{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1, OH: 14, OW: 14},
		{C: 64, H: 4, W: 4, K: 3, Stride: 1, Pad: 1, OH: 4, OW: 4},
		{C: 3, H: 2, W: 3, K: 3, Stride: 1, Pad: 1, OH: 2, OW: 3},
	} {
		cases = append(cases, tcase{g, 5, 2*g.OH - 1, 2 * g.OW})
	}
	for ci, tc := range cases {
		g := tc.g
		m := []int{4, 16, 12}[ci%3]
		ep := epilogues(r, m)[ci%4]
		fan := g.C*g.K*g.K + tc.pc
		w := randMat(r, m*fan)
		a := newFlat8(g, m, w, &ep, 0)
		if tc.pc > 0 {
			a = newFlat8Proj(g, m, w, &ep, tc.pc, tc.ph, tc.pw)
		}
		size, in, out := g.C*g.H*g.W, a.inSize(), m*a.P
		psize, sub := tc.pc*tc.ph*tc.pw, tc.pc*a.P
		imgs, pimgs := randMat(r, 3*size), randMat(r, 3*max(psize, 1))
		want := make([]float32, 3*out)
		if tc.pc > 0 {
			pr := &Proj{Src: pimgs, SrcStride: psize, C: tc.pc, H: tc.ph, W: tc.pw, Stride: 2}
			ConvImagesProj(want, out, imgs, size, 3, g, PackA(w, m, fan), &ep, pr)
		} else {
			ConvImages(want, out, imgs, size, 3, g, PackA(w, m, fan), &ep)
		}
		if g.Stride == 2 || tc.pc > 0 {
			// The split's masked loads of the image's rows.
			sg, ps, ph := g, a.ps, 2
			if tc.pc > 0 {
				sg, ps, ph = a.pg, a.P, 1
			}
			n := sg.C * sg.H * sg.W
			x := imgs
			if tc.pc > 0 {
				x = pimgs
			}
			x = x[:n]
			want := make([]float32, sg.C*ph*ph*ps+16)
			if ph == 2 {
				flat8Phases(want, x, sg, ps)
			} else {
				flat8Sub(want[:sg.C*ps], x, sg, new([]float32))
			}
			for k, img := range [][]float32{guardedFloats(t, n, true)[:n], guardedFloats(t, n, false)} {
				img = img[len(img)-n:] // after the page, before the page
				copy(img, x)
				got := make([]float32, len(want)) // cells no input lands in are not compared
				if !flat8Split(got, img, sg, ps, ph) {
					if sg.W <= 32 {
						t.Fatalf("%+v: flat8Split does not run", sg)
					}
					continue
				}
				for c := 0; c < sg.C*ph*ph; c++ {
					for r := 0; r < (sg.H+1)/2; r++ {
						for x := 0; x < (sg.W+1)/2; x++ {
							if i := c*ps + r*sg.OW + x; r*2+c%(ph*ph)/ph < sg.H && 2*x+c%ph < sg.W && got[i] != want[i] {
								t.Fatalf("%+v guard %d: plane %d (%d,%d) = %v, want %v", sg, k, c, r, x, got[i], want[i])
							}
						}
					}
				}
			}
		}
		gap := max(in, sub)
		heads, tails := guardedFloats(t, 3*gap, true), guardedFloats(t, 3*gap, false)
		subH, subT := guardedFloats(t, 3*gap, true), guardedFloats(t, 3*gap, false)
		outs := guardedFloats(t, 3*out, false)
		for k, mode := range []string{"head", "tail"} {
			x, y := heads[:3*gap], subT[len(subT)-3*gap:]
			if k == 1 {
				x, y = tails[len(tails)-3*gap:], subH[:3*gap]
			}
			for _, three := range []bool{true, false} {
				var srcs, dsts, subs [3][]float32
				dst := outs[len(outs)-3*out:]
				for i := range 3 {
					j := i
					if !three {
						j = 2 * k // image 0 at the head, 2 at the tail
					}
					srcs[i], dsts[i] = x[j*gap:][:in], dst[j*out:][:out]
					a.input(srcs[i], imgs[j*size:(j+1)*size])
					if tc.pc > 0 {
						subs[i] = y[j*gap:][:sub]
						pg := a.pg
						dwSub2Go(subs[i], pimgs[j*psize:(j+1)*psize], pg)
					}
				}
				tasks := a.byImage
				if !three {
					tasks = a.one
				}
				clear(dst)
				flat8Run(dsts, srcs, subs, tasks, a, make([]flat8Rec, len(a.recs)))
				if three {
					sameFlat(t, fmt.Sprintf("%+v %s three", tc, mode), dst, want, out, out)
				} else {
					j := 2 * k
					sameFlat(t, fmt.Sprintf("%+v %s one", tc, mode), dst[j*out:(j+1)*out], want[j*out:(j+1)*out], out, out)
				}
			}
		}
	}
}
