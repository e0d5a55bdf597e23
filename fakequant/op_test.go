package fakequant_test

import (
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
	g := G.NewGraph()
	xn := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), x...)))))
	wn := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("w"),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), w...)))))
	fq, err := fakequant.New(xn, st)
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
