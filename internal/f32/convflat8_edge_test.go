package f32

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestFlat8Edges: the AVX2 flat kernel (ConvFlatImages and
// ConvFlatImagesProj on flat8, whatever flat8Faster says) against
// ConvImages (ConvImagesProj) bit for bit, with NaN and ±Inf among the
// inputs, on geometries flat8Geoms lacks: kernels of 2, 4 and 7; pad 0
// to 3 (at stride 2 also pad 2 of a 3×3 and a 1×1 with pad 1: output
// rows and columns past ⌈W/2⌉, all padding); rows of 1, 2, 16 and 17
// floats; planes of exactly 8, 16 and 24 pixels and columns of one
// pixel; 270 depths (a last kc block of 14) at stride 2; projections of
// rows wider than 32 floats (DWSplit2's split), of 1×1 planes and
// whose depths cross a kc block (252 + 9); 6 and
// 7 images (three at a time twice, then one) with image strides far
// larger than an image; only 4 output channels. Nothing is written
// between or past the outputs. Its Go twin (flat8Go) against the
// definition summed in float64, and where ConvImages runs on the Go
// GEMM kernel (-tags purego, or no AVX2) against it bit for bit (the
// same products, rounded, in the same kc blocks), on these geometries
// and flat8Geoms'.
func TestFlat8Edges(t *testing.T) {
	defer atAVX2()()
	r := rand.New(rand.NewPCG(8, 101))
	cases := []struct {
		g          ConvGeom
		m, n       int
		pc, ph, pw int
	}{
		{g: ConvGeom{C: 2, H: 9, W: 10, K: 7, Stride: 1, Pad: 3}, m: 4, n: 7},
		{g: ConvGeom{C: 3, H: 8, W: 8, K: 2, Stride: 2}, m: 8, n: 6},
		{g: ConvGeom{C: 3, H: 9, W: 8, K: 4, Stride: 2, Pad: 1}, m: 4, n: 4},
		{g: ConvGeom{C: 2, H: 7, W: 6, K: 3, Stride: 2, Pad: 2}, m: 4, n: 7},
		{g: ConvGeom{C: 2, H: 5, W: 4, K: 1, Stride: 2, Pad: 1}, m: 12, n: 5},
		{g: ConvGeom{C: 1, H: 11, W: 13, K: 7, Stride: 2, Pad: 3}, m: 4, n: 3},
		{g: ConvGeom{C: 2, H: 3, W: 2, K: 3, Stride: 2, Pad: 1}, m: 4, n: 2},
		{g: ConvGeom{C: 3, H: 1, W: 4, K: 3, Stride: 2, Pad: 1}, m: 4, n: 7},
		{g: ConvGeom{C: 5, H: 13, W: 16, K: 3, Stride: 2, Pad: 1}, m: 4, n: 7},
		{g: ConvGeom{C: 5, H: 12, W: 17, K: 3, Stride: 2, Pad: 1}, m: 4, n: 7},
		{g: ConvGeom{C: 4, H: 6, W: 30, K: 5, Stride: 2, Pad: 2}, m: 4, n: 4},
		{g: ConvGeom{C: 30, H: 9, W: 9, K: 3, Stride: 2, Pad: 1}, m: 8, n: 4},
		{g: ConvGeom{C: 1, H: 1, W: 8, K: 3, Stride: 1, Pad: 1}, m: 4, n: 7},
		{g: ConvGeom{C: 3, H: 8, W: 1, K: 3, Stride: 1, Pad: 1}, m: 4, n: 5},
		{g: ConvGeom{C: 4, H: 4, W: 4, K: 5, Stride: 1, Pad: 2}, m: 4, n: 6},
		{g: ConvGeom{C: 3, H: 3, W: 8, K: 3, Stride: 1, Pad: 1}, m: 4, n: 7},
		{g: ConvGeom{C: 1, H: 24, W: 1, K: 1, Stride: 1}, m: 4, n: 1},
		{g: ConvGeom{C: 260, H: 3, W: 3, K: 1, Stride: 1}, m: 4, n: 7},
		{g: ConvGeom{C: 3, H: 20, W: 20, K: 3, Stride: 1, Pad: 1}, m: 4, n: 7, pc: 2, ph: 40, pw: 39},
		{g: ConvGeom{C: 2, H: 17, W: 17, K: 3, Stride: 1, Pad: 1}, m: 8, n: 4, pc: 3, ph: 33, pw: 34},
		{g: ConvGeom{C: 2, H: 1, W: 1, K: 3, Stride: 1, Pad: 1}, m: 4, n: 7, pc: 3, ph: 1, pw: 2},
		{g: ConvGeom{C: 28, H: 3, W: 1, K: 3, Stride: 1, Pad: 1}, m: 4, n: 7, pc: 9, ph: 5, pw: 1},
		{g: ConvGeom{C: 2, H: 3, W: 8, K: 3, Stride: 1, Pad: 1}, m: 4, n: 6, pc: 1, ph: 6, pw: 16},
	}
	for i, g := range flat8Geoms() {
		cases = append(cases, struct {
			g          ConvGeom
			m, n       int
			pc, ph, pw int
		}{g: g, m: 4 * (1 + i%4), n: 1 + i%7})
	}
	goGEMM := DWKernel() == "go" // ConvImages on the Go GEMM kernel
	for ci, tc := range cases {
		g := sized(tc.g)
		m, n := tc.m, tc.n
		fan, size, P := g.C*g.K*g.K+tc.pc, g.C*g.H*g.W, g.OH*g.OW
		psize := tc.pc * tc.ph * tc.pw
		ss, ps, ds := size+1000+ci, psize+700, m*P+300
		ep := epilogues(r, m)[ci%4]
		w := randMat(r, m*fan)
		a := newFlat8(g, m, w, &ep, 0)
		var pr *Proj
		if tc.pc > 0 {
			a = newFlat8Proj(g, m, w, &ep, tc.pc, tc.ph, tc.pw)
			pr = &Proj{Src: flat8Inputs(r, n, psize, ps, false), SrcStride: ps, C: tc.pc, H: tc.ph, W: tc.pw, Stride: 2}
		}
		if a == nil {
			t.Fatalf("%+v with %+v: not taken", g, tc)
		}
		name := fmt.Sprintf("%+v m=%d n=%d proj=%d×%d×%d", g, m, n, tc.pc, tc.ph, tc.pw)
		t.Run(fmt.Sprintf("%d/go", ci), func(t *testing.T) {
			defer setDWLevel(0)()
			src := flat8Inputs(r, n, size, ss, false)
			got := guarded((n-1)*ds + m*P)
			flat8Images(got, ds, src, ss, n, a, pr)
			checkFlatDef(t, got, ds, src, ss, n, g, m, w, &ep, pr)
			if !goGEMM {
				return
			}
			want := guarded(len(got))
			if pr != nil {
				ConvImagesProj(want, ds, src, ss, n, g, PackA(w, m, fan), &ep, pr)
			} else {
				ConvImages(want, ds, src, ss, n, g, PackA(w, m, fan), &ep)
			}
			sameFlat(t, name+" (Go)", got, want, ds, m*P)
		})
		if !flat8Here() {
			continue
		}
		f := a.conv()
		for _, specials := range []bool{false, true} {
			x := flat8Inputs(r, n, size, ss, specials)
			got, want := guarded(n*ds), guarded(n*ds)
			if pr != nil {
				pr.Src = flat8Inputs(r, n, psize, ps, specials)
				ConvFlatImagesProj(got, ds, x, ss, n, f, pr)
				ConvImagesProj(want, ds, x, ss, n, g, PackA(w, m, fan), &ep, pr)
			} else {
				ConvFlatImages(got, ds, x, ss, n, f)
				ConvImages(want, ds, x, ss, n, g, PackA(w, m, fan), &ep)
			}
			sameFlat(t, fmt.Sprintf("%s specials=%v", name, specials), got, want, ds, m*P)
		}
	}
}

// TestFlat8Faster pins flat8Faster to its comment's ladder: every
// measured layer is taken (resnet8-mlperf's 32×32 layers of 3 and 16
// channels too, for batch 1) but 32 channels of 3×3 on 32×32 (0.86×),
// and 32×32 planes of 288 depths or more are declined unless of one
// channel (two channels of 13×13 are not).
func TestFlat8Faster(t *testing.T) {
	for _, c := range []struct {
		C, H, K, stride int
		want            bool
	}{
		{1, 28, 3, 1, true}, {16, 28, 3, 2, true}, {16, 14, 3, 1, true}, {16, 14, 3, 2, true},
		{32, 7, 3, 1, true}, {32, 7, 3, 2, true}, {64, 4, 3, 1, true}, {1, 28, 3, 2, true},
		{16, 14, 1, 1, true}, {32, 7, 1, 1, true}, {64, 4, 1, 1, true}, {3, 32, 3, 1, true},
		{16, 32, 3, 1, true}, {16, 32, 3, 2, true}, {32, 16, 3, 1, true}, {32, 16, 3, 2, true},
		{64, 8, 3, 1, true}, {16, 16, 3, 2, true}, {32, 8, 3, 2, true}, {3, 28, 3, 1, true},
		{16, 28, 3, 1, true}, {3, 16, 3, 1, true}, {31, 32, 3, 1, true}, {288, 32, 1, 1, false},
		{32, 32, 3, 1, false}, {64, 32, 3, 1, false}, {12, 32, 5, 1, false}, {1, 32, 17, 1, true},
		{64, 64, 3, 2, false}, {64, 64, 3, 1, false}, {32, 64, 3, 2, false}, {2, 32, 13, 1, false},
	} {
		pad := c.K / 2
		g := ConvGeom{C: c.C, H: c.H, W: c.H, K: c.K, Stride: c.stride, Pad: pad}
		g.OH = (c.H+2*pad-c.K)/c.stride + 1
		g.OW = g.OH
		if got := flat8Faster(g); got != c.want {
			t.Errorf("%+v: flat8Faster = %v, want %v", g, got, c.want)
		}
	}
}
