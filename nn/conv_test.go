package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// convGeoms are the convolution shapes the kernel tests run: strides 1
// and 2, paddings 0 to 2, kernels 1 to 5, planes narrower than a panel
// and wider, outputs of one pixel, odd sizes everywhere.
var convGeoms = []convGeom{
	{n: 3, c: 2, h: 9, w: 11, cout: 5, k: 3, s: 2, p: 1},
	{n: 2, c: 3, h: 32, w: 32, cout: 16, k: 3, s: 1, p: 1},
	{n: 2, c: 4, h: 8, w: 8, cout: 7, k: 1, s: 2, p: 0},
	{n: 5, c: 1, h: 7, w: 5, cout: 3, k: 5, s: 1, p: 2},
	{n: 4, c: 2, h: 13, w: 37, cout: 13, k: 3, s: 1, p: 0},
	{n: 3, c: 3, h: 6, w: 6, cout: 4, k: 3, s: 3, p: 2},
	{n: 2, c: 2, h: 3, w: 3, cout: 2, k: 3, s: 1, p: 0},
	{n: 65, c: 2, h: 4, w: 4, cout: 3, k: 2, s: 1, p: 1}, // two groups, the second ragged
	{n: 3, c: 5, h: 6, w: 7, cout: 13, k: 1, s: 1, p: 0},
	{n: 2, c: 3, h: 5, w: 4, cout: 2, k: 2, s: 1, p: 3},  // padding past K: not direct
	{n: 3, c: 4, h: 8, w: 8, cout: 5, k: 1, s: 2, p: 0},  // a 1×1 stride-2 shortcut
	{n: 2, c: 2, h: 10, w: 9, cout: 3, k: 2, s: 3, p: 3}, // stride 3, padding past K
}

func (g convGeom) done() convGeom {
	g.oh = (g.h+2*g.p-g.k)/g.s + 1
	g.ow = (g.w+2*g.p-g.k)/g.s + 1
	return g
}

func (g convGeom) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_o%d_k%d_s%d_p%d", g.n, g.c, g.h, g.w, g.cout, g.k, g.s, g.p)
}

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestPackPixelRunsMatchesPixelRows: the run-at-a-time packing writes
// exactly what the pixel-at-a-time twin writes (copies: bit for bit), for
// panel widths of the micro-kernels (6, 12, 16, 32) and odd ones, at
// offsets that start panels and depths mid-row, mid-image and mid-tap.
func TestPackPixelRunsMatchesPixelRows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range convGeoms {
		g := g.done()
		t.Run(g.String(), func(t *testing.T) {
			x := randF32(r, g.n*g.c*g.h*g.w)
			pixels, ckk := g.n*g.hw(), g.ckk()
			for _, w := range []int{1, 6, 7, 12, 16, 32, 64} {
				for trial := 0; trial < 8; trial++ {
					// A group of images from n0 (forward's groups of groupSize).
					n0 := r.IntN(g.n)
					pt := patches{g: &g, x: x, n0: n0, pixelRows: true}
					pixels := pixels - n0*g.hw()
					r0, p0 := r.IntN(pixels), r.IntN(ckk)
					rows, depth := 1+r.IntN(pixels-r0), 1+r.IntN(ckk-p0)
					size := (rows + w - 1) / w * w * depth
					got, want := make([]float32, size), make([]float32, size)
					for i := range got {
						got[i], want[i] = float32(math.NaN()), float32(math.NaN()) // every element must be written
					}
					pt.packPixelRuns(got, r0, p0, rows, depth, w)
					pt.packPixelRows(want, r0, p0, rows, depth, w)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("n0 %d, w %d, rows [%d,+%d), depth [%d,+%d): element %d is %v, want %v", n0, w, r0, rows, p0, depth, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// refConv is the convolution and its gradients from their definitions,
// each element a float64 sum with the float64 sum of the terms' absolute
// values beside it (for the rounding bound) and its term count.
type refConv struct {
	y, dx, dw, db            []float64
	yAbs, dxAbs, dwAbs       []float64
	yTerms, dxTerms, dwTerms int
}

func newRefConv(g convGeom, x, w, b, dy []float32) *refConv {
	rc := &refConv{
		y: make([]float64, g.n*g.cout*g.hw()), yAbs: make([]float64, g.n*g.cout*g.hw()),
		dx: make([]float64, len(x)), dxAbs: make([]float64, len(x)),
		dw: make([]float64, len(w)), dwAbs: make([]float64, len(w)), db: make([]float64, g.cout),
		yTerms: g.ckk() + 1, dwTerms: g.n * g.hw(),
	}
	// Terms of one dx element: at most Cout·⌈K/S⌉² taps.
	rc.dxTerms = g.cout * ((g.k + g.s - 1) / g.s) * ((g.k + g.s - 1) / g.s)
	for n := 0; n < g.n; n++ {
		for o := 0; o < g.cout; o++ {
			for oh := 0; oh < g.oh; oh++ {
				for ow := 0; ow < g.ow; ow++ {
					yi := ((n*g.cout+o)*g.oh+oh)*g.ow + ow
					rc.y[yi], rc.yAbs[yi] = float64(b[o]), math.Abs(float64(b[o]))
					rc.db[o] += float64(dy[yi])
					for c := 0; c < g.c; c++ {
						for i := 0; i < g.k; i++ {
							for j := 0; j < g.k; j++ {
								ih, iw := oh*g.s+i-g.p, ow*g.s+j-g.p
								if ih < 0 || iw < 0 || ih >= g.h || iw >= g.w {
									continue
								}
								xi := ((n*g.c+c)*g.h+ih)*g.w + iw
								wi := ((o*g.c+c)*g.k+i)*g.k + j
								p := float64(w[wi]) * float64(x[xi])
								rc.y[yi] += p
								rc.yAbs[yi] += math.Abs(p)
								q := float64(w[wi]) * float64(dy[yi])
								rc.dx[xi] += q
								rc.dxAbs[xi] += math.Abs(q)
								r := float64(dy[yi]) * float64(x[xi])
								rc.dw[wi] += r
								rc.dwAbs[wi] += math.Abs(r)
							}
						}
					}
				}
			}
		}
	}
	return rc
}

// checkBound fails unless every got[i] is within (terms + ⌈terms/256⌉ + 1)·u·abs[i]
// of want[i] (u = 2⁻²⁴): the first-order bound on a float32 sum of terms
// products in any order, with or without fused multiply-adds (Higham,
// Accuracy and Stability of Numerical Algorithms, §3.1), when f32 sums
// them in blocks of 256 and adds the block sums (and the bias) to the
// result, plus 1e-30 for exact zeros.
func checkBound(t *testing.T, what string, got []float32, want, abs []float64, terms int) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	terms += (terms+255)/256 + 1
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > float64(terms)*u*abs[i]+1e-30 || math.IsNaN(d) {
			t.Fatalf("%s[%d] = %v, want %v (bound %g·Σ|terms| = %g)", what, i, got[i], want[i], float64(terms)*u, float64(terms)*u*abs[i])
		}
	}
}

// TestConvKernelsMatchDefinition: the forward pass, the input gradient by
// both paths (the convolution of dy at stride 1 and col2im), the weight and
// bias gradients, against the definitions summed in float64, within the
// float32 rounding bound of each sum.
func TestConvKernelsMatchDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range convGeoms {
		g := g.done()
		t.Run(g.String(), func(t *testing.T) {
			x := randF32(r, g.n*g.c*g.h*g.w)
			w := randF32(r, g.cout*g.ckk())
			b := randF32(r, g.cout)
			dy := randF32(r, g.n*g.cout*g.hw())
			ref := newRefConv(g, x, w, b, dy)
			cv := &conv{g: g, packed: true}
			y := make([]float32, len(dy))
			cv.forward(y, x, w, b)
			checkBound(t, "y (packed)", y, ref.y, ref.yAbs, ref.yTerms)
			dx := make([]float32, len(x))
			cv.gradXCol(dx, w, dy)
			checkBound(t, "dx (col2im)", dx, ref.dx, ref.dxAbs, ref.dxTerms)
			if g.useGradXConv() {
				clear(dx)
				cv.gradXConv(dx, w, dy)
				checkBound(t, "dx (conv, packed)", dx, ref.dx, ref.dxAbs, ref.dxTerms)
			}
			if g.s > 1 || g.p < g.k {
				// The direct path, on whatever kernel this CPU has (f32's
				// portable one where no assembly kernel exists), twice:
				// the second run reuses the padded scratch.
				for range 2 {
					clear(y)
					(&direct{}).run(&g, y, x, w, b)
					checkBound(t, "y (direct)", y, ref.y, ref.yAbs, ref.yTerms)
				}
				// Without keep (an inference graph) run leaves nothing
				// for gradW to reuse.
				ic := &conv{g: g}
				ic.dirY.run(&g, y, x, w, b)
				if ic.dirY.fresh || len(ic.dirY.groups) != 1 {
					t.Fatalf("inference layout: fresh %v, %d scratch groups", ic.dirY.fresh, len(ic.dirY.groups))
				}
				dc := &conv{g: g}
				dc.dirY.keep = true
				for range 2 {
					clear(y)
					dc.dirY.run(&g, y, x, w, b)
					checkBound(t, "y (direct, reused)", y, ref.y, ref.yAbs, ref.yTerms)
				}
				dw := make([]float32, len(w))
				for range 2 {
					// After run on x: gradW reads run's layout.
					clear(dw)
					if !dc.dirY.fresh {
						t.Fatal("run left no fresh layout")
					}
					dc.dirY.gradW(&g, dw, x, dy)
					checkBound(t, "dW (direct, run's layout)", dw, ref.dw, ref.dwAbs, ref.dwTerms)
					// Not fresh any more: gradW lays x out itself.
					clear(dw)
					dc.dirY.gradW(&g, dw, x, dy)
					checkBound(t, "dW (direct)", dw, ref.dw, ref.dwAbs, ref.dwTerms)
					dc.dirY.run(&g, y, x, w, b)
				}
				// After run on another input, gradW on x must not read
				// run's layout.
				x2 := make([]float32, len(x))
				for i := range x2 {
					x2[i] = -x[i]
				}
				dc.dirY.run(&g, y, x2, w, b)
				clear(dw)
				dc.dirY.gradW(&g, dw, x, dy)
				checkBound(t, "dW (direct, after run on another input)", dw, ref.dw, ref.dwAbs, ref.dwTerms)
				if g.s > 1 {
					for range 2 {
						for i := range dx {
							dx[i] = float32(math.NaN()) // every element must be written
						}
						dc.phX.gradX(&g, dx, w, dy)
						checkBound(t, "dx (phases)", dx, ref.dx, ref.dxAbs, ref.dxTerms)
					}
				}
				if g.useGradXConv() {
					clear(dx)
					dc.gradXConv(dx, w, dy)
					gt := dc.gT
					clear(dx)
					dc.dirX.run(&gt, dx, dy, dc.wT, nil)
					checkBound(t, "dx (conv, direct)", dx, ref.dx, ref.dxAbs, ref.dxTerms)
				}
			}
			dw := make([]float32, len(w))
			cv.gradW(dw, x, dy)
			checkBound(t, "dW (packed)", dw, ref.dw, ref.dwAbs, ref.dwTerms)
			db := make([]float32, g.cout)
			g.gradB(db, dy)
			dbAbs := make([]float64, g.cout)
			for i := range dy {
				dbAbs[i/g.hw()%g.cout] += math.Abs(float64(dy[i]))
			}
			checkBound(t, "db", db, ref.db, dbAbs, g.n*g.hw())
		})
	}
}

// benchConvGeoms are the convolutions of resnet8-mlperf and lenet5 (3×32×32) at batch 128.
var benchConvGeoms = []convGeom{
	{n: 128, c: 16, h: 32, w: 32, cout: 16, k: 3, s: 1, p: 1}, // resnet8-mlperf stack1
	{n: 128, c: 16, h: 32, w: 32, cout: 32, k: 3, s: 2, p: 1}, // stack2.conv1
	{n: 128, c: 32, h: 16, w: 16, cout: 32, k: 3, s: 1, p: 1}, // stack2.conv2
	{n: 128, c: 64, h: 8, w: 8, cout: 64, k: 3, s: 1, p: 1},   // stack3.conv2
	{n: 128, c: 20, h: 14, w: 14, cout: 50, k: 5, s: 1, p: 0}, // lenet5 conv2
}

// benchConvGeomsMNIST are the convolutions of resnet8 (1×28×28) at batch 64.
var benchConvGeomsMNIST = []convGeom{
	{n: 64, c: 1, h: 28, w: 28, cout: 16, k: 3, s: 1, p: 1},  // conv1
	{n: 64, c: 16, h: 28, w: 28, cout: 16, k: 3, s: 2, p: 1}, // layer1.conv1
	{n: 64, c: 16, h: 28, w: 28, cout: 16, k: 1, s: 2, p: 0}, // layer1.down
	{n: 64, c: 16, h: 14, w: 14, cout: 16, k: 3, s: 1, p: 1}, // layer1.conv2
	{n: 64, c: 16, h: 14, w: 14, cout: 32, k: 3, s: 2, p: 1}, // layer2.conv1
	{n: 64, c: 16, h: 14, w: 14, cout: 32, k: 1, s: 2, p: 0}, // layer2.down
	{n: 64, c: 32, h: 7, w: 7, cout: 32, k: 3, s: 1, p: 1},   // layer2.conv2
	{n: 64, c: 32, h: 7, w: 7, cout: 64, k: 3, s: 2, p: 1},   // layer3.conv1
	{n: 64, c: 32, h: 7, w: 7, cout: 64, k: 1, s: 2, p: 0},   // layer3.down
	{n: 64, c: 64, h: 4, w: 4, cout: 64, k: 3, s: 1, p: 1},   // layer3.conv2
}

// BenchmarkConvPasses times each pass of the convolutions above, gradX
// by col2im beside the path training takes.
func BenchmarkConvPasses(b *testing.B) { benchConvPasses(b, benchConvGeoms) }

// BenchmarkConvPassesMNIST is BenchmarkConvPasses on resnet8's MNIST convolutions.
func BenchmarkConvPassesMNIST(b *testing.B) { benchConvPasses(b, benchConvGeomsMNIST) }

func benchConvPasses(b *testing.B, geoms []convGeom) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, g := range geoms {
		g := g.done()
		x := randF32(r, g.n*g.c*g.h*g.w)
		w := randF32(r, g.cout*g.ckk())
		bias := randF32(r, g.cout)
		dy := randF32(r, g.n*g.cout*g.hw())
		y := make([]float32, len(dy))
		dx := make([]float32, len(x))
		dw := make([]float32, len(w))
		cv := &conv{g: g}
		passes := []struct {
			name string
			f    func()
		}{
			{"forward", func() { cv.forward(y, x, w, bias) }},
			{"gradW", func() { cv.gradW(dw, x, dy) }},
			{"gradX-col2im", func() { cv.gradXCol(dx, w, dy) }},
			{"gradX", func() { cv.gradX(dx, w, dy) }}, // the path training takes
		}
		for _, p := range passes {
			b.Run(g.String()+"/"+p.name, func(b *testing.B) {
				p.f()
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p.f()
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			})
		}
	}
}

// TestDirectLayoutSkipsUnusedPhases: a 1×1 stride-2 convolution's layout
// copies only the rows its one tap reads (phase row 0): the planes of
// phase row 1 stay zero, and the output is still the definition's.
func TestDirectLayoutSkipsUnusedPhases(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := convGeom{n: 3, c: 4, h: 8, w: 8, cout: 5, k: 1, s: 2, p: 0}.done()
	x := randF32(r, g.n*g.c*g.h*g.w)
	w := randF32(r, g.cout*g.ckk())
	b := randF32(r, g.cout)
	dy := randF32(r, g.n*g.cout*g.hw())
	ref := newRefConv(g, x, w, b, dy)
	d := &direct{keep: true}
	y := make([]float32, len(dy))
	d.run(&g, y, x, w, b)
	checkBound(t, "y (direct)", y, ref.y, ref.yAbs, ref.yTerms)
	dg := g.dlay(g.n)
	xp := d.groups[0].xp
	for c := 0; c < g.c; c++ {
		for ph := 2; ph < 4; ph++ { // phase rows a = 1: (1, 0), (1, 1)
			for i, v := range xp[(c*4+ph)*dg.plane:][:dg.plane] {
				if v != 0 {
					t.Fatalf("channel %d phase %d: element %d = %v, want the unread plane left zero", c, ph, i, v)
				}
			}
		}
	}
	dw := make([]float32, len(w))
	d.gradW(&g, dw, x, dy)
	checkBound(t, "dW (direct)", dw, ref.dw, ref.dwAbs, ref.dwTerms)
}

// TestLayoutPatchesMatchPatches: the weight gradient's patch operand read
// from the forward pass's padded layout (layoutPatches, where the direct
// weight gradient does not pay) packs patches' elements bit for bit, for
// any block, so gradW gives the packed path's bits; it is used only on a
// fresh layout of the same x (then consumed).
func TestLayoutPatchesMatchPatches(t *testing.T) {
	if !f32.OffsetsFast() {
		t.Skip("no direct convolution in this build (purego or no assembly offsets kernel): no layout to reuse")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, g := range []convGeom{
		{n: 5, c: 3, h: 4, w: 4, cout: 6, k: 3, s: 1, p: 1},
		{n: 4, c: 2, h: 7, w: 7, cout: 5, k: 3, s: 2, p: 1},
		{n: 3, c: 2, h: 9, w: 8, cout: 4, k: 5, s: 1, p: 0},
		{n: 3, c: 4, h: 7, w: 7, cout: 3, k: 1, s: 2, p: 0},
	} {
		g := g.done()
		x := randF32(r, g.n*g.c*g.h*g.w)
		w := randF32(r, g.cout*g.ckk())
		dy := randF32(r, g.n*g.cout*g.hw())
		cv := &conv{g: g}
		cv.dirY.keep = true
		y := make([]float32, len(dy))
		cv.forward(y, x, w, nil)
		if _, ok := cv.dirY.layoutPatches(&g, x[1:]); ok {
			t.Fatalf("%v: layout offered for another x", g)
		}
		lp, ok := cv.dirY.layoutPatches(&g, x)
		if !ok {
			t.Fatalf("%v: no layout after a direct forward pass", g)
		}
		if _, again := cv.dirY.layoutPatches(&g, x); again {
			t.Fatalf("%v: layout offered twice", g)
		}
		pt := patches{g: &g, x: x}
		rows, depth := g.ckk(), g.n*g.hw()
		for _, blk := range [][4]int{{0, 0, rows, depth}, {1, 3, rows - 1, depth - 5}, {rows / 2, depth / 3, rows - rows/2, depth / 2}} {
			for _, wd := range []int{4, 16} {
				n := (blk[2] + wd - 1) / wd * wd * blk[3]
				a, b := make([]float32, n), make([]float32, n)
				for i := range a {
					a[i], b[i] = -1, -2
				}
				lp.Pack(a, blk[0], blk[1], blk[2], blk[3], wd)
				pt.Pack(b, blk[0], blk[1], blk[2], blk[3], wd)
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("%v block %v w %d: element %d = %v, patches' %v", g, blk, wd, i, a[i], b[i])
					}
				}
			}
		}
		// gradW after forward takes the layout (or the direct path);
		// the packed path's bits where it is the same GEMM.
		if g.useDirectGradW() {
			continue
		}
		dw, ref := make([]float32, len(w)), make([]float32, len(w))
		cv.forward(y, x, w, nil)
		cv.gradW(dw, x, dy)
		if cv.dirY.fresh {
			t.Fatalf("%v: gradW left the layout fresh", g)
		}
		pk := &conv{g: g, packed: true}
		pk.gradW(ref, x, dy)
		for i := range dw {
			if math.Float32bits(dw[i]) != math.Float32bits(ref[i]) {
				t.Fatalf("%v: dW[%d] = %v, the packed path's %v", g, i, dw[i], ref[i])
			}
		}
	}
}

// TestGradXPointwiseMatchesPhases: the input gradient of a 1×1 stride-2
// convolution image by image (gradXPointwise) gives the phases' bits
// (phased.gradX, the same GEMM sums) and zeros at the pixels no tap
// reaches, whatever dx held before; odd sizes leave a last row and column
// of zeros; dy too short to read past its last image takes a padded copy.
func TestGradXPointwiseMatchesPhases(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, g := range []convGeom{
		{n: 3, c: 4, h: 8, w: 8, cout: 5, k: 1, s: 2, p: 0},
		{n: 2, c: 3, h: 7, w: 9, cout: 6, k: 1, s: 2, p: 0},
		{n: 5, c: 16, h: 28, w: 28, cout: 16, k: 1, s: 2, p: 0},
		{n: 1, c: 2, h: 3, w: 3, cout: 2, k: 1, s: 2, p: 0},
	} {
		g := g.done()
		if !g.pointwiseS2() {
			t.Fatalf("%v: not pointwise", g)
		}
		x := randF32(r, g.n*g.c*g.h*g.w)
		w := randF32(r, g.cout*g.ckk())
		dy := randF32(r, g.n*g.cout*g.hw())
		ref := newRefConv(g, x, w, make([]float32, g.cout), dy)
		got, want := randF32(r, len(x)), make([]float32, len(x))
		var ph, phRef phased
		ph.gradXPointwise(&g, got, w, dy)
		phRef.gradX(&g, want, w, dy)
		checkBound(t, "dx (pointwise)", got, ref.dx, ref.dxAbs, ref.dxTerms)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v: dx[%d] = %v, the phases' %v", g, i, got[i], want[i])
			}
		}
	}
}
