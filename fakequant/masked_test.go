package fakequant_test

import (
	"math"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
	G "gorgonia.org/gorgonia"
)

// runMasked is runGraph with NewMasked (extremes as given) in place of
// New; it also returns take.
func runMasked(t *testing.T, st *fakequant.State, x, w []float32, extremes func([]float32) (float32, float32, bool)) (grad []float32, take func() (float32, bool)) {
	t.Helper()
	_, grad = runGraphOf(t, x, w, []int{len(x)}, func(xn *G.Node) (*G.Node, error) {
		fq, tk, err := fakequant.NewMasked(xn, st, extremes)
		take = tk
		return fq, err
	})
	return grad, take
}

// TestNewMaskedHandsOver: with the clipped estimator, a NewMasked node's
// gradient is ∂L/∂r̂ unmasked and take hands over the mask's top; where
// x > 0 and x ≤ that top it is New's gradient, and New's is +0 elsewhere
// on x > 0 (ReLU6's top, the grid's edge). With an estimator that learns
// the scale, the node masks itself (New's gradient, take false). take
// before the gradient op ran panics. An observer that takes extremes
// records the ones given instead of scanning x.
func TestNewMaskedHandsOver(t *testing.T) {
	x := []float32{-1, 0, 0.01, 1, 2.9, 3, 3.1, 5.99, 6, 6.5, 9, 12, -0.01, 4, 7, 0.5, 2}
	w := make([]float32, len(x))
	for i := range w {
		w[i] = float32(i) + 0.25
	}
	p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{8.0 / 127}, Zero: []int32{0}}
	state := func(est fakequant.Estimator) *fakequant.State {
		st := &fakequant.State{Name: "a", Bits: 8, Scheme: quant.Symmetric, Axis: -1, Estimator: est, Max: 6}
		if err := st.SetParams(p); err != nil {
			t.Fatal(err)
		}
		st.SetEnabled(true)
		return st
	}
	for _, est := range []fakequant.Estimator{ste.Clipped{}, ste.LSQ{}} {
		_, want := runGraph(t, state(est), x, w, len(x))
		got, take := runMasked(t, state(est), x, w, nil)
		thi, ok := take()
		if ok != !est.LearnsScale() {
			t.Fatalf("%s: handed over %v", est.Name(), ok)
		}
		if !ok {
			if !slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
				t.Fatalf("%s: gradient %v, New's %v", est.Name(), got, want)
			}
			continue
		}
		_, ehi := ste.Clipped{}.PassBounds(p, 0)
		if top := min(math.Nextafter32(6, float32(math.Inf(-1))), ehi); thi != top {
			t.Fatalf("mask top %v, want %v", thi, top)
		}
		masked := 0
		for i, v := range x {
			if got[i] != w[i] {
				t.Fatalf("x=%v: gradient %v, want ∂L/∂r̂ = %v unmasked", v, got[i], w[i])
			}
			if v > 0 {
				g := got[i]
				if v > thi {
					g, masked = 0, masked+1
				}
				if math.Float32bits(g) != math.Float32bits(want[i]) {
					t.Fatalf("x=%v: masked gradient %v, New's %v", v, g, want[i])
				}
			}
		}
		if masked < 3 {
			t.Fatalf("%d values above the mask's top: the test has nothing to mask", masked)
		}
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("take before the gradient op ran did not panic")
			}
		}()
		_, take := runMasked(t, state(ste.Clipped{}), x, w, nil)
		take()
		take()
	}()

	// Observing with a min/max observer: the extremes given, not x's.
	st := state(ste.Clipped{})
	st.Observer = &calibrate.MinMax{}
	st.SetObserving(true)
	runMasked(t, st, x, w, func(v []float32) (float32, float32, bool) { return -2, 4, len(v) == len(x) })
	ref := state(ste.Clipped{})
	ref.Observer = &calibrate.MinMax{}
	ref.SetObserving(true)
	runGraph(t, ref, []float32{-2, 4}, []float32{1, 1}, 2)
	if a, b := st.Params(), ref.Params(); a.Scale[0] != b.Scale[0] || a.Zero[0] != b.Zero[0] {
		t.Fatalf("parameters %v/%v after the extremes −2, 4; observing them gives %v/%v", a.Scale, a.Zero, b.Scale, b.Zero)
	}
}
