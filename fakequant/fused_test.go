package fakequant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestAddKTwin: the int64 loop of the residual addition (addK.run, at
// every kernel level this machine has: the AVX-512 or AVX2 kernel and
// the scalar loop) gives, bit for bit, its 128-bit definition (addK.runGo, quant.RequantizeAdd)
// on random summands with specials, ties of the final rounding (small
// shifts), both clamps, 8- and 16-bit grids and shifts up to the widest
// the int64 form admits; parameters outside it are marked wide.
func TestAddKTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	type grid struct{ lo, hi int32 }
	grids := []grid{{-127, 127}, {-128, 127}, {-200, 55}, {-32767, 32767}}
	ran := 0
	for trial := range 400 {
		ga, gb := grids[rng.IntN(len(grids))], grids[rng.IntN(len(grids))]
		k := &addK{
			sa: 0.001 + rng.Float32(), sb: 0.001 + rng.Float32(), so: 0.01 + rng.Float32(),
			aLo: ga.lo, aHi: ga.hi, bLo: gb.lo, bHi: gb.hi,
			m0a: 1<<23 | rng.Int32N(1<<23), m0b: 1<<23 | rng.Int32N(1<<23),
			zo: rng.Int32N(256) - 128,
		}
		switch trial % 4 {
		case 0: // small shifts: many exact ties
			k.na, k.nb = 1+rng.Int32N(3), 1+rng.Int32N(3)
			k.m0a, k.m0b = 1+rng.Int32N(8), 1+rng.Int32N(8)
		case 1: // the exporter's usual range
			k.na, k.nb = 20+rng.Int32N(20), 20+rng.Int32N(20)
		default: // up to the extremes
			k.na, k.nb = 1+rng.Int32N(63), 1+rng.Int32N(63)
		}
		k.lo, k.hi = -128, 127
		if trial%3 == 0 {
			k.lo, k.hi = k.zo, min(127, k.zo+40) // a ReLU (and a ReLU6-like top)
		}
		k.terms()
		if d := max(k.na, k.nb) - min(k.na, k.nb); d > 37 && !k.wide {
			t.Fatalf("trial %d: shifts %d, %d not marked wide", trial, k.na, k.nb)
		}
		if k.wide {
			continue
		}
		ran++
		n := []int{1, 7, 8, 9, 15, 16, 17, 63, 64, 65}[trial%10] + rng.IntN(3)*8
		a, b := make([]float32, n), make([]float32, n)
		for i := range n {
			a[i] = k.sa * (float32(rng.IntN(int(ga.hi-ga.lo)+60)+int(ga.lo)-30) + float32(rng.IntN(3))*0.5)
			b[i] = k.sb * (float32(rng.IntN(int(gb.hi-gb.lo)+60)+int(gb.lo)-30) + float32(rng.IntN(3))*0.5)
			if rng.IntN(8) == 0 {
				a[i] = specials[rng.IntN(len(specials))]
			}
			if rng.IntN(8) == 0 {
				b[i] = specials[rng.IntN(len(specials))]
			}
		}
		want := make([]float32, n)
		k.runGo(want, a, b)
		for _, lv := range availableLevels() {
			got := make([]float32, n)
			withLevel(lv, func() { k.run(got, a, b) })
			for i := range n {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("level %d trial %d element %d (a %v, b %v, k %+v): %v, definition %v", lv, trial, i, a[i], b[i], *k, got[i], want[i])
				}
			}
		}
	}
	if ran < 200 {
		t.Fatalf("only %d of 400 trials in the int64 form", ran)
	}
}

// refAddSum is the residual addition's float sum as first written: a + b,
// then the ReLU (t < 0 → 0) and the Max clamp (t > Max → Max).
func refAddSum(a, b []float32, relu bool, mx float32) []float32 {
	v := make([]float32, len(a))
	for i := range v {
		t := a[i] + b[i]
		if relu && t < 0 {
			t = 0
		}
		if mx > 0 && t > mx {
			t = mx
		}
		v[i] = t
	}
	return v
}

// copyEstimator passes ∂L/∂r̂ through unchanged (an estimator with no
// mask of its own, so the addition's ReLU/ReLU6 mask is what is tested).
type copyEstimator struct{}

func (copyEstimator) Name() string      { return "copy" }
func (copyEstimator) LearnsScale() bool { return false }
func (copyEstimator) Backward(dx, dy, _ []float32, _ quant.Layout, _ *quant.Params, _ []float64) {
	copy(dx, dy)
}

// TestAddSumAndMaskTwins: the residual addition's float sum (State.addSum,
// the sum kernel at every level) and its backward mask (addBackward, a
// PassGrad on the sum) give, bit for bit, the loops they replaced, with
// NaN, ±Inf, ±0, subnormals and values at and next to 0 and Max.
func TestAddSumAndMaskTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	edges := []float32{0, float32(math.Copysign(0, -1)), 6, math.Nextafter32(6, 0), math.Nextafter32(6, 7), 3, -3}
	edges = append(edges, specials...)
	for trial := range 80 {
		n := []int{1, 7, 8, 9, 15, 16, 17, 63, 64, 65}[trial%10] + rng.IntN(3)*8
		a, b, dy := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range n {
			a[i], b[i], dy[i] = float32(rng.NormFloat64()*4), float32(rng.NormFloat64()*4), float32(rng.NormFloat64())
			switch rng.IntN(4) {
			case 0:
				a[i], b[i] = edges[rng.IntN(len(edges))], 0
			case 1:
				a[i], b[i] = edges[rng.IntN(len(edges))], edges[rng.IntN(len(edges))]
			}
		}
		for _, c := range []struct {
			relu bool
			mx   float32
		}{{false, 0}, {true, 0}, {true, 6}, {false, 6}} {
			s := &State{Name: "o", ReLU: c.relu, Max: c.mx, Estimator: copyEstimator{}}
			want := refAddSum(a, b, c.relu, c.mx)
			wantG := make([]float32, n)
			for i := range n {
				v := a[i] + b[i]
				if !((c.relu && !(v > 0)) || (c.mx > 0 && !(v < c.mx))) {
					wantG[i] = dy[i]
				}
			}
			for _, lv := range availableLevels() {
				got, gotG := make([]float32, n), make([]float32, n)
				withLevel(lv, func() {
					s.addSum(got, a, b)
					s.addBackward(gotG, dy, a, b, []int{1, n}, make([]float32, n))
				})
				for i := range n {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("level %d relu %v max %v: sum of %v and %v is %v, want %v", lv, c.relu, c.mx, a[i], b[i], got[i], want[i])
					}
					if math.Float32bits(gotG[i]) != math.Float32bits(wantG[i]) {
						t.Fatalf("level %d relu %v max %v: gradient at %v + %v is %v, want %v", lv, c.relu, c.mx, a[i], b[i], gotG[i], wantG[i])
					}
				}
			}
		}
	}
}

// TestReLU6ClampAndMaskTwins: a ReLU6 output's clamp min(x, Max) (the
// disabled forward pass and what the observer sees: clampMax at every
// level) and its backward mask (zero where !(x < Max), one PassGrad)
// give, bit for bit, the loops they replaced.
func TestReLU6ClampAndMaskTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	edges := append([]float32{6, math.Nextafter32(6, 0), math.Nextafter32(6, 7), 0, -1}, specials...)
	for trial := range 40 {
		n := []int{1, 7, 8, 9, 15, 16, 17, 63, 64, 65}[trial%10] + rng.IntN(3)*8
		x, dy := make([]float32, n), make([]float32, n)
		for i := range n {
			x[i], dy[i] = float32(rng.NormFloat64()*5), float32(rng.NormFloat64())
			if rng.IntN(3) == 0 {
				x[i] = edges[rng.IntN(len(edges))]
			}
		}
		want, wantG := make([]float32, n), make([]float32, n)
		for i, v := range x {
			want[i], wantG[i] = v, dy[i]
			if v > 6 {
				want[i] = 6
			}
			if !(v < 6) {
				wantG[i] = 0
			}
		}
		s := &State{Name: "relu6", Max: 6, Estimator: copyEstimator{}} // disabled, not observing
		for _, lv := range availableLevels() {
			got, gotG := make([]float32, n), make([]float32, n)
			var err error
			withLevel(lv, func() {
				err = s.forward(got, x, []int{1, n})
				s.backward(gotG, dy, x, []int{1, n})
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(gotG[i]) != math.Float32bits(wantG[i]) {
					t.Fatalf("level %d: x %v: forward %v, gradient %v; want %v, %v", lv, x[i], got[i], gotG[i], want[i], wantG[i])
				}
			}
		}
	}
}

// TestSharedParams: the passes read parameter sets without copying them,
// so a published set never changes (StepScale replaces it), and a bias's
// derived parameters follow every change of its input's and weight's.
func TestSharedParams(t *testing.T) {
	set := func(s *State, scales ...float32) {
		t.Helper()
		p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Axis: -1, Scale: scales, Zero: make([]int32, len(scales))}
		if len(scales) > 1 {
			p.Axis = 0
		}
		if err := s.SetParams(p); err != nil {
			t.Fatal(err)
		}
	}
	in, w := &State{Name: "in"}, &State{Name: "w"}
	bias := &State{Name: "b", BiasOf: &[2]*State{in, w}}
	set(in, 0.5)
	set(w, 0.25, 2)
	check := func(want ...float32) {
		t.Helper()
		p := bias.Params()
		if p == nil || len(p.Scale) != len(want) {
			t.Fatalf("bias parameters %+v, want scales %v", p, want)
		}
		for c := range want {
			if p.Scale[c] != want[c] {
				t.Fatalf("bias scales %v, want %v", p.Scale, want)
			}
		}
	}
	check(0.125, 1)
	held := in.current()
	in.StepScale([]float64{0.25}) // S_in 0.5 → 0.25
	if held.Scale[0] != 0.5 {
		t.Fatalf("StepScale changed a published parameter set: %v", held.Scale)
	}
	check(0.0625, 0.5)
	set(w, 4, 8)
	check(1, 2)
	if bias.Params() == bias.current() {
		t.Fatal("Params returned the shared set, not a copy")
	}
}

// TestFirstAbove: PassBounds's written-out walk finds, whenever it
// reports success, the threshold of the generic search (firstTrue), from
// guesses above and below it; it reports success on most inputs.
func TestFirstAbove(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	found, down := 0, 0
	const n = 20000
	for i := range n {
		s := float32(math.Pow(10, -8+12*rng.Float64()))
		u := float32(rng.IntN(600)-300) + []float32{-0.5, 0.5, 0}[i%3]
		if i%5 == 0 {
			u = math.Nextafter32(u, float32(rng.IntN(2)*2-1))
		}
		got, ok := firstAbove(s, u)
		if !ok {
			continue
		}
		found++
		if (u*s)/s > u {
			down++
		}
		want := firstTrue(func(x float32) bool { return x/s > u }, u*s)
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("S=%v u=%v: %v, search %v", s, u, got, want)
		}
	}
	if found < n*9/10 || down < n/40 {
		t.Fatalf("walk succeeded %d of %d times, %d from above", found, n, down)
	}
}
