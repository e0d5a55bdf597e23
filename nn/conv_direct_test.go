package nn

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// TestDirectRunSlices: run computes a group's GEMM a few images' columns
// at a time (runSlice); each column's sum does not depend on the others,
// so y has the bits of one GEMM over the whole group's columns copied out
// with the bias (run before slicing), here with 8 images in 3 slices.
func TestDirectRunSlices(t *testing.T) {
	if !f32.OffsetsFast() {
		t.Skip("no direct convolution in this build (purego or no assembly offsets kernel)")
	}
	r := rand.New(rand.NewPCG(21, 22))
	g := convGeom{n: 8, c: 16, h: 32, w: 32, cout: 16, k: 3, s: 1, p: 1}.done()
	x := randF32(r, g.n*g.c*g.h*g.w)
	w := randF32(r, g.cout*g.ckk())
	b := randF32(r, g.cout)
	dg := g.dlay(g.n)
	if per := max(1, runSlice/(4*g.cout*dg.step*dg.wq)); per >= g.n {
		t.Fatalf("%d images per slice: one slice, the test would test nothing", per)
	}
	y := make([]float32, g.n*g.cout*g.hw())
	(&direct{}).run(&g, y, x, w, b)

	var ref direct
	dg, pd := ref.layout(&g, x, 0, g.n)
	tmp := make([]float32, g.cout*dg.cols)
	f32.GemmOffsets(g.cout, dg.cols, g.ckk(), w, g.ckk(), pd.xp, pd.off, tmp, dg.cols, false, 1)
	want := make([]float32, len(y))
	for m := 0; m < g.n; m++ {
		for o := 0; o < g.cout; o++ {
			f32.AddBiasRows(want[(m*g.cout+o)*g.hw():], g.ow, tmp[o*dg.cols+m*dg.step*dg.wq:], dg.wq, g.oh, g.ow, b[o])
		}
	}
	for i := range y {
		if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
			t.Fatalf("y[%d] = %v, one GEMM over the group gives %v", i, y[i], want[i])
		}
	}
}

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
