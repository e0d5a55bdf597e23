package fakequant_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// runGraph builds y = Σ w ⊙ fakequant(x) and returns fakequant(x) and ∂y/∂x.
func runGraph(t *testing.T, st *fakequant.State, x, w []float32, shape ...int) (fwd, grad []float32) {
	t.Helper()
	return runGraphOf(t, x, w, shape, func(xn *G.Node) (*G.Node, error) { return fakequant.New(xn, st) })
}

// runGraphOf builds y = Σ w ⊙ fq(x), fq = build(x), and returns fq(x) and ∂y/∂x.
func runGraphOf(t *testing.T, x, w []float32, shape []int, build func(*G.Node) (*G.Node, error)) (fwd, grad []float32) {
	t.Helper()
	g := G.NewGraph()
	xn := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), x...)))))
	wn := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), w...)))))
	fq, err := build(xn)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := G.HadamardProd(fq, wn)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := G.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(sum, xn); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(xn))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gv, err := xn.Grad()
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), fq.Value().Data().([]float32)...), append([]float32(nil), gv.Data().([]float32)...)
}

func TestOpForwardAndClippedGradient(t *testing.T) {
	// S = 1, 8-bit symmetric: the grid is −127…127, so 127.4 passes and
	// 127.6 is clipped (rounds to 128); −0.6 rounds to −1.
	st := &fakequant.State{Name: "t", Bits: 8, Axis: -1, Estimator: ste.Clipped{}}
	if err := st.SetParams(&quant.Params{Bits: 8, Scale: []float32{1}, Zero: []int32{0}}); err != nil {
		t.Fatal(err)
	}
	st.SetEnabled(true)
	x := []float32{0.4, -0.6, 127.4, 127.6, -127.6, 3}
	w := []float32{1, 2, 3, 4, 5, 6}
	fwd, grad := runGraph(t, st, x, w, 2, 3)
	wantF := []float32{0, -1, 127, 127, -127, 3}
	wantG := []float32{1, 2, 3, 0, 0, 6} // w where not clipped
	for i := range x {
		if fwd[i] != wantF[i] || grad[i] != wantG[i] {
			t.Fatalf("element %d (x=%v): forward %v grad %v, want %v %v", i, x[i], fwd[i], grad[i], wantF[i], wantG[i])
		}
	}
}

func TestOpDisabledIsIdentity(t *testing.T) {
	st := &fakequant.State{Name: "t", Bits: 8, Axis: -1, Estimator: ste.Clipped{}}
	x := []float32{0.123, -7.5, 1e6}
	fwd, grad := runGraph(t, st, x, []float32{1, 1, 1}, 3)
	for i := range x {
		if fwd[i] != x[i] || grad[i] != 1 {
			t.Fatalf("disabled node changed %v to %v (grad %v)", x[i], fwd[i], grad[i])
		}
	}
}

func TestOpObserverSetsParams(t *testing.T) {
	st := &fakequant.State{Name: "t", Bits: 8, Axis: -1, Estimator: ste.Clipped{}, Observer: &calibrate.MinMax{}}
	st.SetEnabled(true)
	st.SetObserving(true)
	// Observed range [−1, 2.54]: S = 2.54/127 = 0.02.
	fwd, _ := runGraph(t, st, []float32{-1, 2.54, 0.03}, []float32{1, 1, 1}, 3)
	p := st.Params()
	if d := p.Scale[0] - 0.02; d > 1e-8 || d < -1e-8 {
		t.Fatalf("scale %v, want 0.02", p.Scale[0])
	}
	// 0.03/0.02 = 1.5 rounds to 2 → 0.04.
	if d := fwd[2] - 0.04; d > 1e-7 || d < -1e-7 {
		t.Fatalf("fake-quant of 0.03 = %v, want 0.04", fwd[2])
	}
	// Unobserved and without parameters: a clear error, not a panic.
	st2 := &fakequant.State{Name: "fresh", Bits: 8, Axis: -1, Estimator: ste.Clipped{}}
	st2.SetEnabled(true)
	g := G.NewGraph()
	xn := G.NewVector(g, tensor.Float32, G.WithShape(2), G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2}))))
	fq, _ := fakequant.New(xn, st2)
	_ = fq
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err == nil {
		t.Fatal("forward without parameters succeeded")
	}
}

// TestNewRefusesIncompleteState: a nil state or one without an estimator
// is an error, not a panic.
func TestNewRefusesIncompleteState(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 1, G.WithShape(2), G.WithName("x"))
	for _, tc := range []struct {
		name string
		s    *fakequant.State
	}{
		{"nil", nil},
		{"no estimator", &fakequant.State{Name: "s"}},
	} {
		if _, err := fakequant.New(x, tc.s); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestOpClippedGradientWhenUnclipped: through the graph, the gradient is
// the estimator's own Backward bit for bit whether the forward pass
// clipped nothing (a weight measured by its min/max observer: the
// backward copies) or something (a frozen or lagging range, LSQ): then
// the mask applies. Layouts: a Linear weight (channels last), channels
// first, per tensor.
func TestOpClippedGradientWhenUnclipped(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 21))
	for _, tc := range []struct {
		shape []int
		axis  int
	}{{[]int{13, 300}, 1}, {[]int{6, 15}, 0}, {[]int{5, 9}, -1}} {
		n := tc.shape[0] * tc.shape[1]
		x, w := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], w[i] = float32(rng.NormFloat64())*0.1, float32(rng.NormFloat64())
		}
		for _, c := range []struct {
			name    string
			est     fakequant.Estimator
			obs     calibrate.Kind
			freeze  bool // observe 0.6·x, then freeze: x clips
			clipped bool
		}{
			{"clipped, min/max observing", ste.Clipped{}, calibrate.KindMinMax, false, false},
			{"clipped, frozen", ste.Clipped{}, calibrate.KindMinMax, true, true},
			{"clipped, moving average", ste.Clipped{}, calibrate.KindEMA, true, true},
			{"lsq, frozen", ste.LSQ{}, calibrate.KindMinMax, true, true},
		} {
			what := fmt.Sprintf("shape %v axis %d, %s", tc.shape, tc.axis, c.name)
			obs, err := calibrate.New(c.obs, 8, quant.Symmetric)
			if err != nil {
				t.Fatal(err)
			}
			st := &fakequant.State{Name: "w", Bits: 8, Axis: tc.axis, Estimator: c.est, Observer: obs}
			st.SetEnabled(true)
			st.SetObserving(true)
			if c.freeze {
				small := make([]float32, n)
				for i, v := range x {
					small[i] = 0.6 * v
				}
				runGraph(t, st, small, w, tc.shape...)
				st.SetObserving(false)
				st.TakeScaleGrad()
			}
			_, grad := runGraph(t, st, x, w, tc.shape...)
			p := st.Params()
			want := make([]float32, n)
			var ds []float64
			if c.est.LearnsScale() {
				ds = make([]float64, len(p.Scale))
			}
			c.est.Backward(want, w, x, quant.LayoutOf(p, tc.shape), p, ds)
			zeros := 0
			for i := range want {
				if math.Float32bits(grad[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: element %d (x=%v): gradient %v, the estimator's %v", what, i, x[i], grad[i], want[i])
				}
				if want[i] == 0 {
					zeros++
				}
			}
			if c.clipped != (zeros > 0) {
				t.Fatalf("%s: %d elements clipped, want clipping %v (the case tests nothing)", what, zeros, c.clipped)
			}
			if ds != nil {
				got := st.TakeScaleGrad()
				for i := range ds {
					if got[i] != ds[i] {
						t.Fatalf("%s: scale gradient %d: %v, want %v", what, i, got[i], ds[i])
					}
				}
			}
		}
	}
}

// TestOpGradientPassedAsValue: where the clipped estimator passes ∂L/∂r̂
// unchanged (a weight measured by its min/max observer), the node's
// gradient is ∂L/∂r̂'s value itself, not a copy, and equals the
// estimator's Backward bit for bit, over two runs of one machine. It is a
// copy where that value is shared: two fake-quant nodes whose gradients
// are one node (an addition passes its gradient to both summands), a
// reader of ∂L/∂r̂ added to the graph later (a third run, on a new
// machine), or when something was clipped.
func TestOpGradientPassedAsValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shape := []int{6, 20}
	n := shape[0] * shape[1]
	for _, tc := range []struct {
		name            string
		shared, clipped bool
	}{
		{"one reader, observing", false, false},
		{"one reader, frozen range clips", false, true},
		{"gradient shared by two nodes", true, false},
	} {
		newState := func() *fakequant.State {
			obs, err := calibrate.New(calibrate.KindMinMax, 8, quant.Symmetric)
			if err != nil {
				t.Fatal(err)
			}
			st := &fakequant.State{Name: "w", Bits: 8, Axis: 1, Estimator: ste.Clipped{}, Observer: obs}
			st.SetEnabled(true)
			st.SetObserving(true)
			return st
		}
		g := G.NewGraph()
		var xs, fqs G.Nodes
		var states []*fakequant.State
		vals := make([][]float32, 2)
		for i := range vals {
			vals[i] = make([]float32, n)
			for j := range vals[i] {
				vals[i][j] = float32(rng.NormFloat64())
			}
		}
		for i := range 1 + btoi(tc.shared) {
			st := newState()
			if tc.clipped {
				// Observe a narrower tensor, then freeze: x clips.
				small := make([]float32, n)
				for j, v := range vals[i] {
					small[j] = 0.5 * v
				}
				runGraph(t, st, small, small, shape...)
				st.SetObserving(false)
			}
			x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(shape...), G.WithName(fmt.Sprint("x", i)),
				G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals[i]))))
			fq, err := fakequant.New(x, st)
			if err != nil {
				t.Fatal(err)
			}
			xs, fqs, states = append(xs, x), append(fqs, fq), append(states, st)
		}
		in := fqs[0]
		if tc.shared {
			in = G.Must(G.Add(fqs[0], fqs[1]))
		}
		// softmax's gradient op owns its value (ReturnsPtr is false).
		sm := G.Must(G.SoftMax(in))
		wn := G.NewTensor(g, tensor.Float32, 2, G.WithShape(shape...), G.WithName("w"),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals[0]))))
		loss := G.Must(G.Sum(G.Must(G.HadamardProd(sm, wn))))
		grads, err := G.Grad(loss, xs...)
		if err != nil {
			t.Fatal(err)
		}
		// ∂L/∂r̂: the gradient node's input other than x.
		for i := range xs {
			for it := g.From(grads[i].ID()); it.Next(); {
				if c := it.Node().(*G.Node); c != xs[i] {
					grads = append(grads, c)
				}
			}
		}
		if len(grads) != 2*len(xs) {
			t.Fatalf("%s: %d gradient inputs found, want %d", tc.name, len(grads)-len(xs), len(xs))
		}
		vm := G.NewTapeMachine(g)
		for run := range 3 {
			if run == 2 {
				// A reader of ∂L/∂r̂ added to the graph: a new machine
				// copies.
				vm.Close()
				for i := range states {
					G.Must(G.Sum(grads[len(states)+i]))
				}
				vm = G.NewTapeMachine(g)
				tc.shared = true
			}
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			for i, st := range states {
				dx := grads[i].Value().Data().([]float32)
				dy := grads[len(states)+i].Value().Data().([]float32)
				p := st.Params()
				want := make([]float32, n)
				ste.Clipped{}.Backward(want, dy, vals[i], quant.LayoutOf(p, shape), p, nil)
				zeros := 0
				for j := range want {
					if math.Float32bits(dx[j]) != math.Float32bits(want[j]) {
						t.Fatalf("%s, run %d, node %d: element %d: gradient %v, the estimator's %v", tc.name, run, i, j, dx[j], want[j])
					}
					if want[j] == 0 {
						zeros++
					}
				}
				if tc.clipped != (zeros > 0) {
					t.Fatalf("%s: %d elements clipped, want clipping %v (the case tests nothing)", tc.name, zeros, tc.clipped)
				}
				if alias, wantAlias := &dx[0] == &dy[0], !tc.clipped && !tc.shared; alias != wantAlias {
					t.Fatalf("%s, run %d, node %d: gradient is ∂L/∂r̂'s value: %v, want %v", tc.name, run, i, alias, wantAlias)
				}
			}
			vm.Reset()
		}
		vm.Close()
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
