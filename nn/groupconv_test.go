package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The reference twin of the grouped convolution: the formulas of
// groupconv.go as plain nested loops in float64. Each result comes with
// Σ|term| over its terms, which bounds the fast float32 path's error.

type gshape struct{ n, c, h, w, out, k, s, p, groups int }

func (s gshape) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_out%d_k%d_s%d_p%d_g%d", s.n, s.c, s.h, s.w, s.out, s.k, s.s, s.p, s.groups)
}

func (s gshape) geom() gconvGeom {
	return newGconvGeom(s.n, s.c, s.h, s.w, s.out, s.k, s.s, s.p, s.groups)
}

// grefTerms calls f(n, o, c, i, j, oh, ow, ih, iw) for every term of the
// convolution: x[n][c][ih][iw] meets W[o][c mod C/G][i][j] in y[n][o][oh][ow].
func grefTerms(g *gconvGeom, f func(n, o, c, i, j, oh, ow, ih, iw int)) {
	for n := 0; n < g.n; n++ {
		for o := 0; o < g.out; o++ {
			gr := o / g.og
			for cc := 0; cc < g.cg; cc++ {
				c := gr*g.cg + cc
				for oh := 0; oh < g.oh; oh++ {
					for ow := 0; ow < g.ow; ow++ {
						for i := 0; i < g.k; i++ {
							for j := 0; j < g.k; j++ {
								ih, iw := oh*g.s+i-g.p, ow*g.s+j-g.p
								if ih >= 0 && ih < g.h && iw >= 0 && iw < g.w {
									f(n, o, c, i, j, oh, ow, ih, iw)
								}
							}
						}
					}
				}
			}
		}
	}
}

func (g *gconvGeom) xi(n, c, ih, iw int) int { return ((n*g.c+c)*g.h+ih)*g.w + iw }
func (g *gconvGeom) yi(n, o, oh, ow int) int { return ((n*g.out+o)*g.oh+oh)*g.ow + ow }
func (g *gconvGeom) wi(o, c, i, j int) int   { return ((o*g.cg+c%g.cg)*g.k+i)*g.k + j }
func (g *gconvGeom) sizes() (x, w, y, b int) {
	return g.n * g.c * g.h * g.w, g.out * g.cg * g.k * g.k, g.n * g.out * g.oh * g.ow, g.out
}

func grefForward(g *gconvGeom, x, w, b []float32) (y, abs []float64) {
	_, _, ny, _ := g.sizes()
	y, abs = make([]float64, ny), make([]float64, ny)
	if b != nil {
		for q := range y {
			o := q / (g.oh * g.ow) % g.out
			y[q], abs[q] = float64(b[o]), math.Abs(float64(b[o]))
		}
	}
	grefTerms(g, func(n, o, c, i, j, oh, ow, ih, iw int) {
		t := float64(w[g.wi(o, c, i, j)]) * float64(x[g.xi(n, c, ih, iw)])
		y[g.yi(n, o, oh, ow)] += t
		abs[g.yi(n, o, oh, ow)] += math.Abs(t)
	})
	return y, abs
}

func grefGradX(g *gconvGeom, w, dy []float32) (dx, abs []float64) {
	nx, _, _, _ := g.sizes()
	dx, abs = make([]float64, nx), make([]float64, nx)
	grefTerms(g, func(n, o, c, i, j, oh, ow, ih, iw int) {
		t := float64(w[g.wi(o, c, i, j)]) * float64(dy[g.yi(n, o, oh, ow)])
		dx[g.xi(n, c, ih, iw)] += t
		abs[g.xi(n, c, ih, iw)] += math.Abs(t)
	})
	return dx, abs
}

func grefGradW(g *gconvGeom, x, dy []float32) (dw, abs []float64) {
	_, nw, _, _ := g.sizes()
	dw, abs = make([]float64, nw), make([]float64, nw)
	grefTerms(g, func(n, o, c, i, j, oh, ow, ih, iw int) {
		t := float64(x[g.xi(n, c, ih, iw)]) * float64(dy[g.yi(n, o, oh, ow)])
		dw[g.wi(o, c, i, j)] += t
		abs[g.wi(o, c, i, j)] += math.Abs(t)
	})
	return dw, abs
}

func grefGradB(g *gconvGeom, dy []float32) (db, abs []float64) {
	db, abs = make([]float64, g.out), make([]float64, g.out)
	for q, v := range dy {
		o := q / (g.oh * g.ow) % g.out
		db[o] += float64(v)
		abs[o] += math.Abs(float64(v))
	}
	return db, abs
}

// gconvGamma is γ_m = m·u/(1−m·u), u = 2⁻²⁴: a float32 sum of m terms, in any
// order and with or without fused multiply-adds, is within γ_{m−1}·Σ|term|
// of the exact sum (Higham, "Accuracy and stability of numerical
// algorithms", 2002, §3.1 and §4.2).
func gconvGamma(m int) float64 {
	u := math.Ldexp(1, -24)
	return float64(m) * u / (1 - float64(m)*u)
}

// gconvCheck fails if got differs from want by more than γ_m·abs anywhere.
func gconvCheck(t *testing.T, what string, got []float32, want, abs []float64, m int) {
	t.Helper()
	for q := range want {
		if d := math.Abs(float64(got[q]) - want[q]); !(d <= gconvGamma(m)*abs[q]) {
			t.Fatalf("%s[%d] = %g, reference %g (Σ|term| %g, bound %g)", what, q, got[q], want[q], abs[q], gconvGamma(m)*abs[q])
		}
	}
}

func gconvRand(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// gshapes: depthwise (the hot case, square and ragged, strides 1 to 3,
// pads 0 to 2, K 1, 3 and 5), channel multipliers, general groups and
// groups = 1, including K = 1 at stride 2 (dx phases without taps),
// pad ≥ K (outputs that see only padding) and a 1×1 output.
var gshapes = []gshape{
	{2, 4, 7, 9, 4, 3, 1, 1, 4},
	{2, 3, 8, 8, 3, 3, 2, 1, 3},
	{1, 5, 11, 6, 5, 5, 2, 2, 5},
	{3, 2, 5, 5, 2, 1, 1, 0, 2},
	{2, 3, 6, 7, 3, 1, 2, 0, 3},
	{1, 2, 5, 4, 2, 1, 1, 2, 2},
	{2, 3, 9, 9, 3, 5, 1, 0, 3},
	{1, 4, 28, 28, 4, 3, 1, 1, 4},
	{2, 4, 14, 13, 4, 3, 2, 1, 4},
	{1, 2, 11, 10, 2, 5, 3, 2, 2},
	{1, 2, 3, 3, 2, 3, 1, 0, 2},
	{2, 3, 7, 7, 6, 3, 1, 1, 3},
	{1, 2, 8, 9, 6, 3, 2, 1, 2},
	{2, 4, 7, 8, 6, 3, 1, 1, 2},
	{1, 6, 9, 9, 4, 5, 2, 2, 2},
	{2, 6, 5, 6, 9, 3, 2, 0, 3},
	{2, 3, 6, 6, 4, 3, 1, 1, 1},
	{1, 2, 7, 7, 3, 3, 2, 2, 1},
	{1, 2, 6, 5, 2, 2, 3, 1, 1},
	// Stacks of images per kernel call (stackFloats) with a short last
	// stack: 13 = 12 + 1 images of 7×7 (9×9 padded); 70 = 64 + 6 of 4×4
	// with K = 1, no padding (no zero rows between stacked images).
	{13, 2, 7, 7, 2, 3, 1, 1, 2},
	{13, 2, 7, 7, 4, 3, 2, 1, 2},
	{70, 2, 4, 4, 2, 1, 1, 0, 2},
	{70, 2, 4, 4, 2, 1, 1, 0, 1},
	// Stride 2 on one-column and one-row images (dx phases missing).
	{2, 2, 5, 1, 2, 1, 2, 0, 2},
	{1, 2, 1, 6, 2, 3, 2, 1, 2},
	{2, 2, 3, 1, 4, 3, 2, 1, 2},
}

// TestGroupConvMatchesReference: forward and the three gradients of the
// fast path against the float64 reference, for every shape, each within
// γ_m·Σ|term| with m the length of the fast path's longest chain of
// additions: bias + C/G·K² terms for y; Out/G·K² for dx; for dW a plane of
// stack of planes (fwdLen: rows padded to the phase width, zero terms
// included) then one sum per stack, at most N; OH·OW then N for db.
func TestGroupConvMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 1))
	for _, s := range gshapes {
		t.Run(s.String(), func(t *testing.T) {
			g := s.geom()
			gc := &gconv{g: g}
			nx, nw, ny, nb := g.sizes()
			x, w, b, dy := gconvRand(r, nx), gconvRand(r, nw), gconvRand(r, nb), gconvRand(r, ny)
			for _, bias := range [][]float32{b, nil} {
				y := gconvRand(r, ny) // garbage: every element must be written
				gc.forward(y, x, w, bias)
				want, abs := grefForward(&g, x, w, bias)
				gconvCheck(t, "y", y, want, abs, g.cg*g.k*g.k+1)
			}
			dx := gconvRand(r, nx)
			gc.gradX(dx, w, dy)
			want, abs := grefGradX(&g, w, dy)
			gconvCheck(t, "dx", dx, want, abs, g.og*g.k*g.k)
			dw := gconvRand(r, nw)
			gc.gradW(dw, x, dy)
			want, abs = grefGradW(&g, x, dy)
			gconvCheck(t, "dW", dw, want, abs, g.fwdLen(g.stack)+g.n)
			db := gconvRand(r, nb)
			g.gradB(db, dy)
			want, abs = grefGradB(&g, dy)
			gconvCheck(t, "db", db, want, abs, g.oh*g.ow+g.n)
		})
	}
}

// TestGroupConvReferenceByHand anchors the reference on a case worked by
// hand: x = 1…9 as a 3×3 image, a 2×2 kernel [[1, 2], [3, 4]], stride 1,
// no padding, bias 10: y = 10 + (1+4+12+20, 2+6+15+24, 4+10+21+32,
// 5+12+24+36) = 47, 57, 77, 87.
func TestGroupConvReferenceByHand(t *testing.T) {
	g := gshape{1, 1, 3, 3, 1, 2, 1, 0, 1}.geom()
	y, _ := grefForward(&g, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, []float32{1, 2, 3, 4}, []float32{10})
	if fmt.Sprint(y) != "[47 57 77 87]" {
		t.Fatalf("reference y = %v, want [47 57 77 87]", y)
	}
}

// TestGroupConvMatchesDense: a grouped convolution is the ordinary one
// with a block-diagonal kernel (zero between groups), so the reference
// must agree with convNode's im2col + GEMM forward (an independent
// implementation) run on that kernel, within the same bound (C·K² + 1
// terms, the zeros adding nothing).
func TestGroupConvMatchesDense(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 2))
	for _, s := range gshapes {
		g := s.geom()
		nx, nw, ny, nb := g.sizes()
		x, w, b := gconvRand(r, nx), gconvRand(r, nw), gconvRand(r, nb)
		kk := g.k * g.k
		dense := make([]float32, g.out*g.c*kk)
		for o := 0; o < g.out; o++ {
			for cc := 0; cc < g.cg; cc++ {
				c := o/g.og*g.cg + cc
				copy(dense[(o*g.c+c)*kk:][:kk], w[(o*g.cg+cc)*kk:][:kk])
			}
		}
		cv := &conv{g: convGeom{n: g.n, c: g.c, h: g.h, w: g.w, cout: g.out, k: g.k, s: g.s, p: g.p, oh: g.oh, ow: g.ow}}
		y := make([]float32, ny)
		cv.forward(y, x, dense, b)
		want, abs := grefForward(&g, x, w, b)
		gconvCheck(t, s.String()+" dense y", y, want, abs, g.c*kk+1)
	}
}

// TestGroupConvDeterministic: the split over cores never cuts a sum, so
// results are bit-identical for any GOMAXPROCS (a shape big enough for
// par.For to split: 4·8 planes of 28×28).
func TestGroupConvDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	s := gshape{4, 8, 28, 28, 8, 3, 1, 1, 8}
	g := s.geom()
	gc := &gconv{g: g}
	r := rand.New(rand.NewPCG(13, 3))
	nx, nw, ny, nb := g.sizes()
	x, w, b, dy := gconvRand(r, nx), gconvRand(r, nw), gconvRand(r, nb), gconvRand(r, ny)
	run := func(procs int) [][]float32 {
		runtime.GOMAXPROCS(procs)
		y, dx, dw, db := make([]float32, ny), make([]float32, nx), make([]float32, nw), make([]float32, nb)
		gc.forward(y, x, w, b)
		gc.gradX(dx, w, dy)
		gc.gradW(dw, x, dy)
		g.gradB(db, dy)
		return [][]float32{y, dx, dw, db}
	}
	one, three := run(1), run(3)
	for i := range one {
		for q := range one[i] {
			if math.Float32bits(one[i][q]) != math.Float32bits(three[i][q]) {
				t.Fatalf("output %d element %d: %g with 1 core, %g with 3", i, q, one[i][q], three[i][q])
			}
		}
	}
}

// TestGroupConvNodeGradients builds L = Σ y ⊙ c in a Gorgonia graph and
// checks ∂L/∂x, ∂L/∂W, ∂L/∂b at sampled elements against central
// differences of L computed with the float64 reference. L is linear in
// each input, so the difference with step 1 is exact up to float64
// rounding; the graph's float32 gradients carry the float32 sums' error,
// at most γ_m·Σ|term| with m ≤ 200 terms here (1.2e-5 of Σ|term|), and
// Σ|term| stays below 50× the gradient's largest element for these
// N(0, 1) data, so 1e-3 of that element bounds the difference.
func TestGroupConvNodeGradients(t *testing.T) {
	for _, s := range []gshape{
		{2, 3, 6, 5, 3, 3, 2, 1, 3},
		{2, 4, 5, 5, 6, 3, 1, 1, 2},
		{1, 2, 5, 6, 4, 1, 1, 0, 1},
	} {
		for _, withBias := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v_bias%v", s, withBias), func(t *testing.T) {
				r := rand.New(rand.NewPCG(13, 4))
				g := s.geom()
				nx, nw, ny, nb := g.sizes()
				x, w, b, c := gconvRand(r, nx), gconvRand(r, nw), gconvRand(r, nb), gconvRand(r, ny)
				if !withBias {
					b = nil
				}
				gr := G.NewGraph()
				mk := func(name string, v []float32, shape ...int) *G.Node {
					return G.NewTensor(gr, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name),
						G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), v...)))))
				}
				xn := mk("x", x, g.n, g.c, g.h, g.w)
				wn := mk("w", w, g.out, g.cg, g.k, g.k)
				var bn *G.Node
				wrt := G.Nodes{xn, wn}
				if b != nil {
					bn = mk("b", b, g.out)
					wrt = append(wrt, bn)
				}
				y, err := groupConvNode("t", xn, wn, bn, g.s, g.p, g.groups, true)
				if err != nil {
					t.Fatal(err)
				}
				prod, err := G.HadamardProd(y, mk("c", c, g.n, g.out, g.oh, g.ow))
				if err != nil {
					t.Fatal(err)
				}
				loss, err := G.Sum(prod)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := G.Grad(loss, wrt...); err != nil {
					t.Fatal(err)
				}
				vm := G.NewTapeMachine(gr, G.BindDualValues(wrt...))
				defer vm.Close()
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				lossOf := func() float64 {
					y, _ := grefForward(&g, x, w, b)
					var l float64
					for q, v := range y {
						l += v * float64(c[q])
					}
					return l
				}
				for k, p := range [][]float32{x, w, b} {
					if p == nil {
						continue
					}
					gv, err := wrt[k].Grad()
					if err != nil {
						t.Fatal(err)
					}
					grad := gv.Data().([]float32)
					var big float64
					for _, v := range grad {
						big = math.Max(big, math.Abs(float64(v)))
					}
					for trial := 0; trial < 12; trial++ {
						e := r.IntN(len(p))
						v := p[e]
						p[e] = v + 1
						lp := lossOf()
						p[e] = v - 1
						lm := lossOf()
						p[e] = v
						fd := (lp - lm) / 2
						if d := math.Abs(float64(grad[e]) - fd); d > 1e-3*big {
							t.Errorf("input %d element %d: gradient %g, finite difference %g", k, e, grad[e], fd)
						}
					}
				}
			})
		}
	}
}

// TestGroupConvNodeNoXGrad: with xGrad false the graph has no gradient
// for x (a first layer), and bad shapes are errors, not panics.
func TestGroupConvNodeErrors(t *testing.T) {
	gr := G.NewGraph()
	x := G.NewTensor(gr, tensor.Float32, 4, G.WithShape(2, 4, 6, 6), G.WithName("x"))
	w := G.NewTensor(gr, tensor.Float32, 4, G.WithShape(4, 2, 3, 3), G.WithName("w"))
	b := G.NewTensor(gr, tensor.Float32, 1, G.WithShape(4), G.WithName("b"))
	for _, tc := range []struct {
		stride, pad, groups int
		bias                *G.Node
	}{
		{1, 1, 4, b},  // W has 2 input channels per group, 4 groups give 1
		{1, 1, 3, b},  // 4 channels do not split into 3 groups
		{0, 1, 2, b},  // stride 0
		{1, -1, 2, b}, // negative pad
		{1, 1, 2, w},  // bias not 1-D
	} {
		if _, err := groupConvNode("bad", x, w, tc.bias, tc.stride, tc.pad, tc.groups, true); err == nil {
			t.Errorf("%+v: no error", tc)
		}
	}
	y, err := groupConvNode("ok", x, w, nil, 1, 1, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Shape(); !got.Eq(tensor.Shape{2, 4, 6, 6}) {
		t.Fatalf("shape %v", got)
	}
	loss, err := G.Sum(y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(loss, w); err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(loss, x); err == nil {
		t.Error("x has a gradient with xGrad false")
	}
}
