package fakequant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// specials are the values where a vector kernel could part from its
// scalar twin: NaN, ±Inf, ±0, subnormals, the largest float32s.
var specials = []float32{
	float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
	math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1e-39, -1e-39,
	math.MaxFloat32, -math.MaxFloat32,
}

// kernelInput returns n values for scale s and integer bounds [lo, hi]:
// specials, exact ties (k+½)·S around zero and both clamp boundaries with
// their float32 neighbours, and random values over twice the grid.
func kernelInput(rng *rand.Rand, n int, s float32, lo, hi int32) []float32 {
	x := append([]float32(nil), specials...)
	for _, k := range []int32{lo - 1, lo, hi - 1, hi, -1, 0, 1, 2} {
		for _, f := range []float32{(float32(k) + 0.5) * s, float32(k) * s} {
			x = append(x, f, math.Nextafter32(f, float32(math.Inf(1))), math.Nextafter32(f, float32(math.Inf(-1))))
		}
	}
	for len(x) < n {
		x = append(x, float32(rng.Float64()*2-1)*2*float32(max(-lo, hi)+1)*s)
	}
	rng.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
	return x[:n]
}

// withLevel runs f with the kernels forced onto level lv.
func withLevel(lv int, f func()) {
	old := level
	level = lv
	defer func() { level = old }()
	f()
}

// vectorLevels are the vector levels this machine runs, best first. A test
// comparing vector kernels with their scalar twins skips without one (the
// purego build): there is nothing to compare.
func vectorLevels(t *testing.T) []int {
	t.Helper()
	lv := slices.DeleteFunc(availableLevels(), func(l int) bool { return l == levelGo })
	if len(lv) == 0 {
		t.Skip("no vector kernel in this build: nothing to compare with the scalar twins")
	}
	return lv
}

// TestLevels: the levels form one ordered choice, best first, Go last,
// and the kernels run at the best one unless a test forces another.
func TestLevels(t *testing.T) {
	lv := availableLevels()
	if lv[len(lv)-1] != levelGo || !slices.IsSortedFunc(lv, func(a, b int) int { return b - a }) || len(slices.Compact(slices.Clone(lv))) != len(lv) {
		t.Fatalf("levels %v: want distinct, best first, Go last", lv)
	}
	if level != lv[0] {
		t.Fatalf("kernels at level %d, want the best available %d", level, lv[0])
	}
	withLevel(levelGo, func() {
		if level != levelGo {
			t.Fatal("withLevel did not force the level")
		}
	})
	if level != lv[0] {
		t.Fatal("the forced level outlived withLevel")
	}
}

func sameBits(t *testing.T, what string, got, want, in []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d (x=%v): %v (%#x), scalar twin %v (%#x)", what, i, in[i], got[i],
				math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestFakeQuantizeKernel: fakeQuantize gives quant.FakeQuantize's bits at
// every level this machine runs, the Go level included (its scalar
// twins), per tensor and per channel on the first and the
// last axis, for both schemes and bit-widths 2, 8, 16, and 32 bits
// symmetric (a bias: the exact path).
func TestFakeQuantizeKernel(t *testing.T) {
	for _, lv := range availableLevels() {
		withLevel(lv, func() { checkFakeQuantize(t, lv) })
	}
}

func checkFakeQuantize(t *testing.T, lv int) {
	rng := rand.New(rand.NewPCG(12, 1))
	for _, bits := range []int{2, 8, 16, 32} {
		for _, sch := range []quant.Scheme{quant.Symmetric, quant.Affine} {
			if bits == 32 && sch == quant.Affine {
				continue // 32 bits: biases, symmetric
			}
			qmin, qmax := quant.QRange(bits, sch)
			// 300 channels (lenet300's widest row: a ragged tail of 4),
			// 13 rows; scales from 1e-3 up, zero points across the grid.
			for _, tc := range []struct {
				shape []int
				axis  int
			}{{[]int{13, 300}, 1}, {[]int{300, 13}, 0}, {[]int{3, 7, 5}, -1}, {[]int{1, 9}, 1}} {
				n := 1
				for _, d := range tc.shape {
					n *= d
				}
				ch := 1
				if tc.axis >= 0 {
					ch = tc.shape[tc.axis]
				}
				p := &quant.Params{Bits: bits, Scheme: sch, Axis: tc.axis, Scale: make([]float32, ch), Zero: make([]int32, ch)}
				for c := range ch {
					p.Scale[c] = float32(math.Pow(10, -3+3*rng.Float64()))
					if sch == quant.Affine {
						p.Zero[c] = qmin + int32(rng.IntN(int(qmax-qmin)+1))
					}
				}
				if tc.axis < 0 {
					p.Axis = 0
				}
				src := kernelInput(rng, n, p.Scale[0], qmin-p.Zero[0], qmax-p.Zero[0])
				want, got := make([]float32, n), make([]float32, n)
				quant.FakeQuantize(want, src, tc.shape, p)
				fakeQuantize(got, src, tc.shape, p)
				sameBits(t, fmt.Sprintf("fakeQuantize level %d", lv), got, want, src)
			}
		}
	}
}

// divisionClip is the clipped gradient as the estimator defines it: dy
// where ulo < x/S < uhi (float32 division), else +0.
func divisionClip(dx, dy, x []float32, p func(i int) (s, ulo, uhi float32)) {
	for i, v := range x {
		s, ulo, uhi := p(i)
		if u := v / s; u > ulo && u < uhi {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// TestPassBounds: the thresholds are exact, checked against the division
// on the 9 float32s around each (both sides must flip exactly there), for
// scales from float32's smallest normal to 1e30 and the bounds of 2-, 8-
// and 16-bit grids, symmetric and affine; a case with an empty interval
// admits nothing.
func TestPassBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 7))
	scales := []float32{math.SmallestNonzeroFloat32 * (1 << 23), quant.MinScale, 1e-3, 0.0173, 1, 3, 1e30}
	for range 200 {
		scales = append(scales, float32(math.Pow(10, -7+9*rng.Float64())))
	}
	bounds := [][2]int32{{-1, 1}, {-127, 127}, {0, 255}, {-200, 55}, {-32767, 32767}}
	for _, s := range scales {
		for _, b := range bounds {
			ulo, uhi := float32(b[0])-0.5, float32(b[1])+0.5
			if b[0]%2 == 0 {
				ulo = math.Nextafter32(ulo, negInf)
			}
			if b[1]%2 == 0 {
				uhi = math.Nextafter32(uhi, posInf)
			}
			tlo, thi := PassBounds(s, ulo, uhi)
			for _, c := range []float32{tlo, thi} {
				if c != c || math.IsInf(float64(c), 0) {
					t.Fatalf("S=%v [%v, %v]: threshold %v", s, ulo, uhi, c)
				}
				v := c
				for range 4 {
					v = math.Nextafter32(v, negInf)
				}
				for range 9 {
					u := v / s
					if want, got := u > ulo && u < uhi, v >= tlo && v <= thi; want != got {
						t.Fatalf("S=%v (%v, %v): x=%v (u=%v) passes %v, thresholds [%v, %v] say %v", s, ulo, uhi, v, u, want, tlo, thi, got)
					}
					v = math.Nextafter32(v, posInf)
				}
			}
		}
	}
	if tlo, _ := PassBounds(1, 3, 2); tlo == tlo {
		t.Fatalf("empty interval (3, 2): tlo %v, want NaN", tlo)
	}
}

// TestKernelTwins drives the vector kernels directly against their scalar
// twins, one scale per run and one per lane, at every length 0…40 (the
// ragged tails) and on values built around each lane's own grid.
func TestKernelTwins(t *testing.T) {
	for _, lv := range vectorLevels(t) {
		withLevel(lv, func() { checkKernelTwins(t) })
	}
}

func checkKernelTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2))
	for n := 0; n <= 40; n++ {
		for _, g := range [][2]int32{{-127, 127}, {-17, 238}, {0, 255}, {-1, 1}, {-32767, 32767}} {
			lo, hi := g[0], g[1]
			s := float32(math.Pow(10, -4+4*rng.Float64()))
			x := kernelInput(rng, n+len(specials)+48, s, lo, hi)[:n]
			dy := make([]float32, n)
			for i := range dy {
				dy[i] = float32(rng.NormFloat64())
				if i%5 == 0 {
					dy[i] = -dy[i] * 0 // −0 gradients pass as −0
				}
			}
			want, got := make([]float32, n), make([]float32, n)
			fqRunGo(want, x, s, lo, hi)
			fqRun(got, x, s, lo, hi)
			sameBits(t, "fqRun", got, want, x)

			ulo, uhi := float32(lo)-0.5, math.Nextafter32(float32(hi)+0.5, 1e9)
			divisionClip(want, dy, x, func(int) (float32, float32, float32) { return s, ulo, uhi })
			tlo, thi := PassBounds(s, ulo, uhi)
			PassGrad(got, dy, x, tlo, thi)
			sameBits(t, "PassGrad", got, want, x)

			// Per lane: each element its own scale and grid.
			ss, fl, fh, ul, uh := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range n {
				ss[i] = float32(math.Pow(10, -4+4*rng.Float64()))
				z := int32(rng.IntN(5)) - 2
				fl[i], fh[i] = float32(lo-z), float32(hi-z)
				ul[i], uh[i] = fl[i]-0.5, fh[i]+0.5
				if i%2 == 0 {
					ul[i] = math.Nextafter32(ul[i], -1e9)
				}
				if i%4 == 0 { // an exact tie or boundary of this lane's grid
					x[i] = (fl[i] + float32(i%8)/8) * ss[i]
				}
			}
			fqLanesGo(want, x, ss, fl, fh)
			fqLanes(got, x, ss, fl, fh)
			sameBits(t, "fqLanes", got, want, x)
			divisionClip(want, dy, x, func(i int) (float32, float32, float32) { return ss[i], ul[i], uh[i] })
			tl, th := make([]float32, n), make([]float32, n)
			for i := range n {
				tl[i], th[i] = PassBounds(ss[i], ul[i], uh[i])
			}
			PassGradLanes(got, dy, x, tl, th)
			sameBits(t, "PassGradLanes", got, want, x)
		}
	}
}

// TestMinMaxTwins: MinMaxRun and MinMaxLanes give their loops' bits (of
// equal extremes the first stays: −0 versus +0 decides which encoding)
// and the same NaN report, at every length 0…70, 100 and 300 and from incoming
// extremes that are ±0, ±Inf or ordinary values.
func TestMinMaxTwins(t *testing.T) {
	for _, lv := range vectorLevels(t) {
		withLevel(lv, func() { checkMinMaxTwins(t) })
	}
}

// nextWidth steps through the widths 0…70, then 100 and 300 (lenet300's
// first layer).
func nextWidth(n int) int {
	switch {
	case n < 70:
		return n + 1
	case n < 100:
		return 100
	case n < 300:
		return 300
	}
	return n + 1
}

func checkMinMaxTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 6))
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	starts := [][2]float32{{inf, -inf}, {0, negZero}, {negZero, 0}, {0.25, 0.5}, {-3, 3}}
	pick := func(mode int) float32 {
		switch r := rng.IntN(10); {
		case r < 3:
			return []float32{0, negZero}[rng.IntN(2)]
		case r == 3 && mode == 1:
			return specials[rng.IntN(len(specials))]
		case mode == 2:
			return max(0, float32(rng.NormFloat64())) // ReLU outputs
		default:
			return float32(rng.NormFloat64())
		}
	}
	for n := 0; n <= 300; n = nextWidth(n) {
		for mode := range 3 {
			for _, st := range starts {
				x := make([]float32, n)
				for i := range x {
					x[i] = pick(mode)
				}
				wmn, wmx, wnan := minMaxRunGo(x, st[0], st[1])
				gmn, gmx, gnan := MinMaxRun(x, st[0], st[1])
				if math.Float32bits(gmn) != math.Float32bits(wmn) || math.Float32bits(gmx) != math.Float32bits(wmx) || gnan != wnan {
					t.Fatalf("MinMaxRun n=%d from %v: %v %v %v, loop %v %v %v (x=%v)", n, st, gmn, gmx, gnan, wmn, wmx, wnan, x)
				}
			}
			// Lanes: rows of n channels, 1 or 3 (row by row) or enough
			// for blocks of lcm(n, 8) (folded copies, zeros run again);
			// from 8 channels on, strips of 32 and 8 lanes, the last
			// overlapping.
			for _, rows := range []int{1, 3, 17, 40} {
				x := make([]float32, rows*n)
				for i := range x {
					x[i] = pick(mode)
				}
				wmn, wmx := make([]float32, n), make([]float32, n)
				for c := range n {
					wmn[c], wmx[c] = starts[c%len(starts)][0], starts[c%len(starts)][1]
				}
				gmn, gmx := append([]float32(nil), wmn...), append([]float32(nil), wmx...)
				wnan := false
				for r := range rows {
					if minMaxLanesGo(wmn, wmx, x[r*n:(r+1)*n]) {
						wnan = true
					}
				}
				gnan := MinMaxLanes(gmn, gmx, x)
				if gnan != wnan {
					t.Fatalf("MinMaxLanes n=%d rows=%d: NaN %v, loop %v", n, rows, gnan, wnan)
				}
				for c := range n {
					if math.Float32bits(gmn[c]) != math.Float32bits(wmn[c]) || math.Float32bits(gmx[c]) != math.Float32bits(wmx[c]) {
						t.Fatalf("MinMaxLanes n=%d rows=%d lane %d: [%v %v], loop [%v %v]", n, rows, c, gmn[c], gmx[c], wmn[c], wmx[c])
					}
				}
			}
		}
	}
}
