package nn

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// TestDirectGradWAlignedRows: the weight gradient's A operand (dy, read
// by f32.DotRows a row at a time) has its rows on 64-byte boundaries,
// whether it is the input gradient's layout of dy (stride 1: the first
// pixel of every channel plane) or dy spread by gradW (stride 2), and the
// gradient is still the definition's.
func TestDirectGradWAlignedRows(t *testing.T) {
	if !f32.OffsetsFast() || !f32.DotRowsFast() {
		t.Skip("no direct weight gradient in this build")
	}
	r := rand.New(rand.NewPCG(23, 24))
	aligned := func(p *float32) bool { return uintptr(unsafe.Pointer(p))%64 == 0 }
	for _, g := range []convGeom{
		{n: 5, c: 3, h: 9, w: 7, cout: 6, k: 3, s: 1, p: 1},
		{n: 4, c: 2, h: 9, w: 9, cout: 5, k: 3, s: 2, p: 1},
		// More than one group of images (64 a group), the last smaller:
		// dy's spread copy is reused for a group of another size (found
		// in review: no test had more than 64 images on this path).
		{n: 66, c: 2, h: 16, w: 16, cout: 3, k: 3, s: 2, p: 1},
	} {
		g := g.done()
		x := randF32(r, g.n*g.c*g.h*g.w)
		w := randF32(r, g.cout*g.ckk())
		b := randF32(r, g.cout)
		dy := randF32(r, g.n*g.cout*g.hw())
		ref := newRefConv(g, x, w, b, dy)
		cv := &conv{g: g}
		cv.dirY.keep = true
		if g.useGradXConv() {
			cv.dirX.keep, cv.dirY.dyFrom = true, &cv.dirX
		}
		y := make([]float32, len(dy))
		dx := make([]float32, len(x))
		dw := make([]float32, len(w))
		cv.forward(y, x, w, b)
		cv.gradX(dx, w, dy)
		if g.useGradXConv() {
			gT := cv.gT
			dT := gT.dlay(g.n)
			if !cv.dirX.fresh || dT.plane%16 != 0 || !aligned(&cv.dirX.groups[0].xp[gT.p*dT.wq+gT.p]) {
				t.Fatalf("%v: the layout of dy (plane %d) does not start its channels on cache lines", g, dT.plane)
			}
		}
		cv.gradW(dw, x, dy)
		checkBound(t, "dW (direct)", dw, ref.dw, ref.dwAbs, ref.dwTerms)
		if !g.useGradXConv() {
			if ld := len(cv.dirY.dyp) / g.cout; ld%16 != 0 || !aligned(&cv.dirY.dyp[0]) {
				t.Fatalf("%v: dy spread with row stride %d, not on cache lines", g, ld)
			}
		}
	}
}

// TestDirectRunInPlace: where the output rows are whole tiles wide, run
// writes y in place (f32.OffsetTiles, then the bias) with the bits of one
// GEMM over the layout's columns copied out with the bias (the path of
// other widths), with and without a bias, at stride 1 and 2, with an
// edge panel of output channels.
func TestDirectRunInPlace(t *testing.T) {
	if !f32.OffsetsFast() {
		t.Skip("no direct convolution in this build (purego or no assembly offsets kernel)")
	}
	r := rand.New(rand.NewPCG(27, 28))
	for _, g := range []convGeom{
		{n: 3, c: 4, h: 5, w: 32, cout: 5, k: 3, s: 1, p: 1},
		{n: 2, c: 3, h: 6, w: 64, cout: 9, k: 3, s: 2, p: 1},
		// Output rows of two and four tiles: each tile of a row lands at
		// its own columns (found in review: rows of one tile only left
		// the tile offset untested).
		{n: 2, c: 3, h: 4, w: 64, cout: 5, k: 3, s: 1, p: 1},
		{n: 1, c: 2, h: 3, w: 128, cout: 3, k: 3, s: 1, p: 1},
	} {
		g := g.done()
		x := randF32(r, g.n*g.c*g.h*g.w)
		w := randF32(r, g.cout*g.ckk())
		var probe f32.OffsetTiles
		if nr := probe.PackA(g.cout, g.ckk(), w, g.ckk()); g.ow%nr != 0 {
			t.Fatalf("%v: output rows of %d, tiles of %d: not the in-place path", g, g.ow, nr)
		}
		for _, b := range [][]float32{nil, randF32(r, g.cout)} {
			y := make([]float32, g.n*g.cout*g.hw())
			(&direct{}).run(&g, y, x, w, b)
			var ref direct
			dg, pd := ref.layout(&g, x, 0, g.n)
			tmp := make([]float32, g.cout*dg.cols)
			f32.GemmOffsets(g.cout, dg.cols, g.ckk(), w, g.ckk(), pd.xp, pd.off, tmp, dg.cols, false, 1)
			for m := 0; m < g.n; m++ {
				for o := 0; o < g.cout; o++ {
					dst, src := y[(m*g.cout+o)*g.hw():][:g.hw()], tmp[o*dg.cols+m*dg.step*dg.wq:]
					for oh := 0; oh < g.oh; oh++ {
						for ow := 0; ow < g.ow; ow++ {
							want := src[oh*dg.wq+ow]
							if b != nil {
								want += b[o]
							}
							if got := dst[oh*g.ow+ow]; math.Float32bits(got) != math.Float32bits(want) {
								t.Fatalf("%v bias=%v: y[%d][%d][%d][%d] = %v, the GEMM's column gives %v", g, b != nil, m, o, oh, ow, got, want)
							}
						}
					}
				}
			}
		}
	}
}
