package fakequant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// gridBounds are the open bounds of the quotients x/S that round (half to
// even) into [lo, hi]: the clipped estimator's (ste's clipBounds).
func gridBounds(lo, hi int32) (float32, float32) {
	l, h := float32(lo)-0.5, float32(hi)+0.5
	if lo%2 == 0 {
		l = math.Nextafter32(l, negInf)
	}
	if hi%2 == 0 {
		h = math.Nextafter32(h, posInf)
	}
	return l, h
}

// noneClipped is the definition of the kernels' report: every x/S
// (float32 division) inside its grid's open bounds, none NaN.
func noneClipped(x []float32, p func(i int) (s float32, lo, hi int32)) bool {
	for i, v := range x {
		s, lo, hi := p(i)
		ulo, uhi := gridBounds(lo, hi)
		if u := v / s; !(u > ulo && u < uhi) {
			return false
		}
	}
	return true
}

// TestUnclippedReport: fqRun, fqLanes (every level) and fakeQuantize
// report "nothing clipped" exactly when the definition holds, on inputs
// inside the grid (true), and with one element put on each value where
// the report could err: the ties and neighbours of both grid edges, the
// specials (NaN, ±Inf, the largest float32s); at every position of a
// vector block (16 and 8 lanes) and of the scalar tail. The outputs stay
// the twins' bits.
func TestUnclippedReport(t *testing.T) {
	for _, lv := range availableLevels() {
		withLevel(lv, func() { checkUnclippedReport(t, lv) })
	}
}

func checkUnclippedReport(t *testing.T, lv int) {
	rng := rand.New(rand.NewPCG(21, 3))
	for _, g := range [][2]int32{{-127, 127}, {-17, 238}, {0, 255}, {-1, 1}, {-8, 7}, {-2, 1}} {
		lo, hi := g[0], g[1]
		s := float32(math.Pow(10, -3+3*rng.Float64()))
		var odd []float32 // values whose report is decided at an edge
		odd = append(odd, specials...)
		for _, k := range []int32{lo - 1, lo, hi, hi + 1} {
			for _, f := range []float32{(float32(k) - 0.5) * s, (float32(k) + 0.5) * s, float32(k) * s} {
				odd = append(odd, f, math.Nextafter32(f, posInf), math.Nextafter32(f, negInf))
			}
		}
		for _, n := range []int{1, 7, 8, 9, 16, 21, 24, 31, 33} {
			x := make([]float32, n)
			for i := range x {
				x[i] = (float32(lo) + float32(rng.Float64())*float32(hi-lo)) * s
			}
			in := func(int) (float32, int32, int32) { return s, lo, hi }
			check := func(what string, x []float32) {
				t.Helper()
				want := noneClipped(x, in)
				got, ref := make([]float32, n), make([]float32, n)
				gotOK, refOK := fqRun(got, x, s, lo, hi), fqRunGo(ref, x, s, lo, hi)
				sameBits(t, what, got, ref, x)
				if gotOK != want || refOK != want {
					t.Fatalf("level %d grid [%d, %d] %s: fqRun reports unclipped %v, fqRunGo %v, want %v (x=%v, S=%v)", lv, lo, hi, what, gotOK, refOK, want, x, s)
				}
				// The same per lane, every lane its own parameters.
				ss, fl, fh := make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range n {
					ss[i], fl[i], fh[i] = s, float32(lo), float32(hi)
				}
				gotOK, refOK = fqLanes(got, x, ss, fl, fh), fqLanesGo(ref, x, ss, fl, fh)
				sameBits(t, what, got, ref, x)
				if gotOK != want || refOK != want {
					t.Fatalf("level %d grid [%d, %d] %s: fqLanes reports unclipped %v, fqLanesGo %v, want %v", lv, lo, hi, what, gotOK, refOK, want)
				}
			}
			check("inside", x)
			if !noneClipped(x, in) {
				t.Fatalf("grid [%d, %d]: the inside input clips: the test checks nothing", lo, hi)
			}
			for _, pos := range []int{0, n / 2, n - 1} {
				for _, v := range odd {
					y := append([]float32(nil), x...)
					y[pos] = v
					check(fmt.Sprintf("x[%d] = %v", pos, v), y)
				}
			}
		}
	}
	// fakeQuantize over whole tensors: a Linear weight (channels last,
	// lenet300's 300 lanes: tiled blocks and a row tail), a per-channel
	// convolution weight and a per-tensor one; each measured by its own
	// min/max (nothing clipped), then with one element beyond its range.
	for _, tc := range []struct {
		shape []int
		axis  int
	}{{[]int{13, 300}, 1}, {[]int{2, 3}, 1}, {[]int{6, 3, 5}, 0}, {[]int{4, 9}, -1}} {
		n, ch := 1, 1
		for _, d := range tc.shape {
			n *= d
		}
		if tc.axis >= 0 {
			ch = tc.shape[tc.axis]
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64()) * 0.1
		}
		for _, sch := range []quant.Scheme{quant.Symmetric, quant.Affine} {
			p := measured(t, x, tc.shape, tc.axis, ch, sch)
			l := quant.LayoutOf(p, tc.shape)
			qmin, qmax := p.QRange()
			in := func(i int) (float32, int32, int32) {
				c := l.Channel(i)
				return p.Scale[c], qmin - p.Zero[c], qmax - p.Zero[c]
			}
			for _, y := range [][]float32{x, withElem(x, n/2, 2*x[n/2]+float32(math.Copysign(1, float64(x[n/2]))))} {
				want := noneClipped(y, in)
				got, ref := make([]float32, n), make([]float32, n)
				ok := fakeQuantize(got, y, tc.shape, p)
				quant.FakeQuantize(ref, y, tc.shape, p)
				sameBits(t, "fakeQuantize", got, ref, y)
				if ok != want {
					t.Fatalf("level %d shape %v axis %d %v: fakeQuantize reports unclipped %v, want %v", lv, tc.shape, tc.axis, sch, ok, want)
				}
				if &y[0] == &x[0] && !want {
					t.Fatalf("shape %v %v: a tensor clips against its own min/max range", tc.shape, sch)
				}
			}
		}
	}
}

// measured returns the 8-bit parameters of x's own per-channel (or per
// tensor) min/max range.
func measured(t *testing.T, x []float32, shape []int, axis, ch int, sch quant.Scheme) *quant.Params {
	t.Helper()
	mn, mx := make([]float32, ch), make([]float32, ch)
	for c := range mn {
		mn[c], mx[c] = posInf, negInf
	}
	pl := &quant.Params{Axis: max(axis, 0), Scale: make([]float32, ch)}
	l := quant.LayoutOf(pl, shape)
	for i, v := range x {
		c := 0
		if axis >= 0 {
			c = l.Channel(i)
		}
		mn[c], mx[c] = min(mn[c], v), max(mx[c], v)
	}
	p, err := quant.FromRanges(8, sch, axis, mn, mx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func withElem(x []float32, i int, v float32) []float32 {
	y := append([]float32(nil), x...)
	y[i] = v
	return y
}

// countingClipped is a clipped estimator (the division's mask) that
// counts its Backward calls and passes unclipped inputs unchanged.
type countingClipped struct{ calls *int }

func (countingClipped) Name() string          { return "counting" }
func (countingClipped) LearnsScale() bool     { return false }
func (countingClipped) PassesUnclipped() bool { return true }
func (e countingClipped) Backward(dx, dy, x []float32, l quant.Layout, p *quant.Params, _ []float64) {
	*e.calls++
	qmin, qmax := p.QRange()
	divisionClip(dx, dy, x, func(i int) (float32, float32, float32) {
		c := l.Channel(i)
		ulo, uhi := gridBounds(qmin-p.Zero[c], qmax-p.Zero[c])
		return p.Scale[c], ulo, uhi
	})
}

// TestBackwardCopiesOnlyUnclipped: the backward pass skips the estimator
// (copies) only with the report of a forward pass that clipped nothing,
// made with the current parameters; a clipping pass, parameters replaced
// since, or no report run the estimator, whose mask then applies.
func TestBackwardCopiesOnlyUnclipped(t *testing.T) {
	calls := 0
	s := &State{Name: "w", Bits: 8, Axis: -1, Estimator: countingClipped{&calls}, Observer: &countingObserver{}}
	s.SetEnabled(true)
	s.SetObserving(true)
	x := []float32{-0.5, 0.25, 1, 0.125, -0.3, 0.7, 0.9, -0.1, 0.6}
	dy := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	shape := []int{len(x)}
	dst, dx := make([]float32, len(x)), make([]float32, len(x))
	p, err := s.forwardPass(dst, x, shape)
	if err != nil || p == nil {
		t.Fatalf("a tensor measured by its own min/max: report %v, %v; want its parameters", p, err)
	}
	s.backwardPass(dx, dy, x, shape, p)
	if calls != 0 || !slicesEqual(dx, dy) {
		t.Fatalf("nothing clipped: %d estimator calls, dx %v; want 0 calls, dx = dy", calls, dx)
	}
	// Frozen: twice x clips where |2x| > 1 (the range is [−0.5, 1]).
	s.SetObserving(false)
	x2 := make([]float32, len(x))
	for i, v := range x {
		x2[i] = 2 * v
	}
	if p2, err := s.forwardPass(dst, x2, shape); err != nil || p2 != nil {
		t.Fatalf("clipping pass: report %v, %v; want nil", p2, err)
	}
	// Even a (wrong) report of the current parameters on a clipping x
	// would copy: the backward trusts the report; the op hands it only
	// for the input it was made on. Without it the mask applies.
	s.backwardPass(dx, dy, x2, shape, nil)
	if calls != 1 || dx[2] != 0 || dx[1] != dy[1] {
		t.Fatalf("clipped: %d calls, dx %v; want the mask (dx[2] = 0)", calls, dx)
	}
	// A report made with parameters since replaced is not used.
	old := s.current()
	if err := s.SetParams(&quant.Params{Bits: 8, Scale: []float32{0.001}, Zero: []int32{0}}); err != nil {
		t.Fatal(err)
	}
	s.backwardPass(dx, dy, x, shape, old)
	if calls != 2 || dx[2] != 0 {
		t.Fatalf("stale report: %d calls, dx %v; want the estimator with the new parameters", calls, dx)
	}
}

// TestOpTakesPassOnce: the gradient op gets the forward report only for
// the input it was made on, and once.
func TestOpTakesPassOnce(t *testing.T) {
	op := &fakeQuantOp{}
	p := &quant.Params{Bits: 8, Scale: []float32{1}, Zero: []int32{0}}
	x, y := make([]float32, 4), make([]float32, 4)
	op.setPass(p, x)
	if op.takePass(y) != nil {
		t.Fatal("report taken for another input")
	}
	op.setPass(p, x)
	if op.takePass(x[:3]) != nil {
		t.Fatal("report taken for a shorter input")
	}
	op.setPass(p, x)
	if op.takePass(x) != p || op.takePass(x) != nil {
		t.Fatal("report not taken exactly once")
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
