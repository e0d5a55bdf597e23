package fakequant_test

import (
	"math"
	"testing"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
)

// TestRequantGraphGradient: through a graph, a requantized output
// observed by calibrate's moving-average min/max with the clipped
// estimator gets the estimator's own gradient, on a batch its range
// covers (nothing clipped: the backward copies) and on one beyond the
// lagging range (clipped: the mask zeroes the clipped elements).
func TestRequantGraphGradient(t *testing.T) {
	bias := &fakequant.State{Name: "b", Bits: 32, Scheme: quant.Symmetric, Axis: 0}
	if err := bias.SetParams(&quant.Params{Bits: 32, Scheme: quant.Symmetric, Scale: []float32{0.001, 0.003}, Zero: []int32{0, 0}}); err != nil {
		t.Fatal(err)
	}
	st := &fakequant.State{Name: "y", Bits: 8, Scheme: quant.Affine, Axis: -1, AccOf: bias,
		Observer: &calibrate.MinMax{Momentum: 0.5}, Estimator: ste.Clipped{}}
	st.SetEnabled(true)
	st.SetObserving(true)
	x := []float32{0, 0.7, 1.3, 0.2, 2, 0.05, 0.9, 1.1}
	w := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	for _, tc := range []struct {
		scale   float32
		clipped bool
	}{{1, false}, {3, true}} {
		xs := make([]float32, len(x))
		for i, v := range x {
			xs[i] = v * tc.scale
		}
		_, grad := runGraph(t, st, xs, w, 4, 2)
		p := st.Params()
		want := make([]float32, len(xs))
		ste.Clipped{}.Backward(want, w, xs, quant.LayoutOf(p, []int{4, 2}), p, nil)
		zeros := 0
		for i := range want {
			if math.Float32bits(grad[i]) != math.Float32bits(want[i]) {
				t.Fatalf("x scaled by %v: gradient %v, the estimator's %v", tc.scale, grad, want)
			}
			if want[i] == 0 {
				zeros++
			}
		}
		if (zeros > 0) != tc.clipped {
			t.Fatalf("x scaled by %v: %d elements masked, want clipped %v: the case checks nothing", tc.scale, zeros, tc.clipped)
		}
	}
}
