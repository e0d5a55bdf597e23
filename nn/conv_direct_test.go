package nn

import (
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
