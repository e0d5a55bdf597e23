package fakequant_test

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// fixedState is an enabled per-tensor 8-bit state with parameters (s, z).
func fixedState(t *testing.T, name string, scheme quant.Scheme, s float32, z int32) *fakequant.State {
	t.Helper()
	st := &fakequant.State{Name: name, Bits: 8, Scheme: scheme, Axis: -1, Estimator: ste.Clipped{}}
	if err := st.SetParams(&quant.Params{Bits: 8, Scheme: scheme, Scale: []float32{s}, Zero: []int32{z}}); err != nil {
		t.Fatal(err)
	}
	st.SetEnabled(true)
	return st
}

func tensorNode(g *G.ExprGraph, name string, v []float32, shape ...int) *G.Node {
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), v...)))))
}

// runAdd builds L = Σ w ⊙ add(a, b) and returns the sum and ∂L/∂a, ∂L/∂b.
func runAdd(t *testing.T, st *fakequant.State, a, b, w []float32) (fwd, da, db []float32) {
	t.Helper()
	n := len(a)
	g := G.NewGraph()
	an, bn, wn := tensorNode(g, "a", a, 1, n), tensorNode(g, "b", b, 1, n), tensorNode(g, "w", w, 1, n)
	y, err := fakequant.NewAdd(an, bn, st)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := G.HadamardProd(y, wn)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := G.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(sum, an, bn); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(an, bn))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	ga, _ := an.Grad()
	gb, _ := bn.Grad()
	return append([]float32(nil), y.Value().Data().([]float32)...),
		append([]float32(nil), ga.Data().([]float32)...), append([]float32(nil), gb.Data().([]float32)...)
}

func TestAddHandComputed(t *testing.T) {
	// S_a = 0.5, S_b = 0.25, S_o = 1 (all powers of two: M_a = 1/2, M_b =
	// 1/4 exactly), symmetric: q = clamp(round(da/2 + db/4), −127, 127).
	sa := fixedState(t, "a", quant.Symmetric, 0.5, 0)
	sb := fixedState(t, "b", quant.Symmetric, 0.25, 0)
	so := fixedState(t, "o", quant.Symmetric, 1, 0)
	so.Add = &[2]*fakequant.State{sa, sb}
	// (da, db) → da/2 + db/4 → half-even:
	// (3, 2) → 2 → 2; (1, 0) → 0.5 → 0; (3, 0) → 1.5 → 2; (1, 2) → 1 → 1;
	// (−1, 0) → −0.5 → 0 (−0 as a float); (−3, 0) → −1.5 → −2;
	// (127, 127) → 95.25 → 95; (−127, −127) → −95.25 → −95.
	da := []float32{3, 1, 3, 1, -1, -3, 127, -127}
	db := []float32{2, 0, 0, 2, 0, 0, 127, -127}
	want := []float32{2, 0, 2, 1, 0, -2, 95, -95}
	a, b, w := make([]float32, len(da)), make([]float32, len(da)), make([]float32, len(da))
	for i := range da {
		a[i], b[i], w[i] = 0.5*da[i], 0.25*db[i], 1
	}
	got, _, _ := runAdd(t, so, a, b, w)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("da=%v db=%v: %v, want %v", da[i], db[i], got[i], want[i])
		}
	}
	// A fused ReLU raises the clamp's low end to z_o = 0.
	so.ReLU = true
	got, _, _ = runAdd(t, so, a, b, w)
	for i := range want {
		if e := max(want[i], 0); got[i] != e {
			t.Errorf("ReLU: da=%v db=%v: %v, want %v", da[i], db[i], got[i], e)
		}
	}
	// An affine output, S_o = 0.5, z_o = 10, grid 0…255.
	ao := fixedState(t, "o2", quant.Affine, 0.5, 10)
	ao.Add = &[2]*fakequant.State{sa, sb}
	// M_a = 1, M_b = 1/2: (127, 127) → 190.5 → 190, + 10 = 200 → 95;
	// (−127, −127) → −190.5 → −190 + 10 < 0 → q = 0 → −5.
	got, _, _ = runAdd(t, ao, a[6:], b[6:], w[6:])
	if got[0] != 95 || got[1] != -5 {
		t.Errorf("affine output: %v, want [95 −5]", got)
	}
}

// addOracle is clamp(z + round_half_even(da·Ma + db·Mb), lo, hi) on exact
// rationals, Ma and Mb the float32 quotients S_a/S_o and S_b/S_o.
func addOracle(da, db int32, ma, mb float32, z, lo, hi int32) int32 {
	v := new(big.Rat).Mul(big.NewRat(int64(da), 1), new(big.Rat).SetFloat64(float64(ma)))
	v.Add(v, new(big.Rat).Mul(big.NewRat(int64(db), 1), new(big.Rat).SetFloat64(float64(mb))))
	// floor(v + 1/2), then back to even on an exact tie.
	h := new(big.Rat).Add(v, big.NewRat(1, 2))
	f := new(big.Int).Div(h.Num(), h.Denom()) // Euclidean: floor for a positive denominator
	if h.IsInt() && f.Bit(0) == 1 {
		f.Sub(f, big.NewInt(1))
	}
	r := f.Int64() + int64(z)
	return int32(min(max(r, int64(lo)), int64(hi)))
}

func TestAddMatchesOracle(t *testing.T) {
	// Random scales and integer inputs; the simulation must give the
	// oracle's integer for every element.
	rng := rand.New(rand.NewPCG(13, 1))
	for trial := range 50 {
		s1, s2, s3 := 0.001+rng.Float32()*0.1, 0.001+rng.Float32()*0.1, 0.001+rng.Float32()*0.1
		sa := fixedState(t, "a", quant.Symmetric, s1, 0)
		sb := fixedState(t, "b", quant.Affine, s2, int32(rng.IntN(256)))
		so := fixedState(t, "o", quant.Affine, s3, int32(rng.IntN(256)))
		so.Add = &[2]*fakequant.State{sa, sb}
		so.ReLU = trial%2 == 1
		n := 64
		a, b := make([]float32, n), make([]float32, n)
		da, db := make([]int32, n), make([]int32, n)
		zb := sb.Params().Zero[0]
		for i := range n {
			da[i] = int32(rng.IntN(255) - 127)
			db[i] = int32(rng.IntN(256)) - zb
			a[i], b[i] = s1*float32(da[i]), s2*float32(db[i])
		}
		got := make([]float32, n)
		if err := so.AddForward(got, a, b, []int{1, n}); err != nil {
			t.Fatal(err)
		}
		zo := so.Params().Zero[0]
		lo := int32(0)
		if so.ReLU {
			lo = zo
		}
		for i := range n {
			q := addOracle(da[i], db[i], s1/s3, s2/s3, zo, lo, 255)
			if want := s3 * float32(q-zo); got[i] != want {
				t.Fatalf("trial %d element %d: %v, oracle %v (q %d)", trial, i, got[i], want, q)
			}
		}
	}
}

func TestAddGradientAndDisabled(t *testing.T) {
	sa := fixedState(t, "a", quant.Symmetric, 1, 0)
	sb := fixedState(t, "b", quant.Symmetric, 1, 0)
	so := fixedState(t, "o", quant.Symmetric, 1, 0)
	so.Add, so.ReLU = &[2]*fakequant.State{sa, sb}, true
	// Sums: −2 (ReLU cuts), 3 (passes), 200 (clipped: above 127.5), 0
	// (ReLU: the gradient at 0 is 0, as PyTorch's).
	a := []float32{-1, 1, 100, 0}
	b := []float32{-1, 2, 100, 0}
	w := []float32{1, 2, 3, 4}
	fwd, ga, gb := runAdd(t, so, a, b, w)
	wantF := []float32{0, 3, 127, 0}
	wantG := []float32{0, 2, 0, 0}
	for i := range a {
		if fwd[i] != wantF[i] || ga[i] != wantG[i] || gb[i] != wantG[i] {
			t.Fatalf("element %d: forward %v grads %v %v, want %v %v", i, fwd[i], ga[i], gb[i], wantF[i], wantG[i])
		}
	}
	// Disabled: float sum with ReLU; the observer sees it.
	so.SetEnabled(false)
	so.Observer = &calibrate.MinMax{}
	so.SetObserving(true)
	a = []float32{-1, 1.25, 100.5, 0}
	fwd, ga, _ = runAdd(t, so, a, b, w)
	wantF = []float32{0, 3.25, 200.5, 0}
	wantG = []float32{0, 2, 3, 0}
	for i := range a {
		if fwd[i] != wantF[i] || ga[i] != wantG[i] {
			t.Fatalf("disabled element %d: forward %v grad %v, want %v %v", i, fwd[i], ga[i], wantF[i], wantG[i])
		}
	}
	_, hi, err := so.Observer.Range()
	if err != nil || hi[0] != 200.5 {
		t.Fatalf("observer range top %v (%v), want 200.5", hi, err)
	}
}

func TestMeanHandComputed(t *testing.T) {
	// S = 0.5, z = 0, H·W = 4: the mean of integers k is RoundDiv(Σk, 4),
	// half to even: Σ 2 → 0.5 → 0; 6 → 1.5 → 2; −2 → 0; −6 → −2; 7 → 1.75 → 2.
	in := fixedState(t, "in", quant.Symmetric, 0.5, 0)
	st := &fakequant.State{Name: "gap", Estimator: ste.Clipped{}, MeanOf: in}
	st.SetEnabled(true)
	ks := [][4]float32{{0, 0, 1, 1}, {1, 2, 3, 0}, {-1, -1, 0, 0}, {-3, -3, 0, 0}, {7, 0, 0, 0}}
	want := []float32{0, 1, 0, -1, 1} // S·m
	x := make([]float32, 0, 20)
	for _, k := range ks {
		for _, v := range k {
			x = append(x, 0.5*v)
		}
	}
	g := G.NewGraph()
	xn := tensorNode(g, "x", x, 1, 5, 2, 2)
	wn := tensorNode(g, "w", []float32{1, 2, 3, 4, 5}, 1, 5)
	y, err := fakequant.NewMean(xn, st)
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := G.HadamardProd(y, wn)
	sum, _ := G.Sum(prod)
	if _, err := G.Grad(sum, xn); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(xn))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := y.Value().Data().([]float32)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("channel %d: mean %v, want %v", i, got[i], want[i])
		}
	}
	// ∂L/∂x = w_c / (H·W).
	gx, _ := xn.Grad()
	for i, v := range gx.Data().([]float32) {
		if e := float32(i/4+1) / 4; v != e {
			t.Fatalf("gradient %d: %v, want %v", i, v, e)
		}
	}
	if p := st.Params(); p == nil || p.Scale[0] != 0.5 {
		t.Errorf("mean parameters %v, want the input's", p)
	}
	// Disabled: the float mean.
	st.SetEnabled(false)
	out := make([]float32, 5)
	if err := st.MeanForward(out, x, []int{1, 5, 2, 2}); err != nil {
		t.Fatal(err)
	}
	if out[4] != 0.875 {
		t.Errorf("float mean %v, want 3.5/4", out[4])
	}
}

func TestReLU6Clamp(t *testing.T) {
	// S = 0.1 symmetric: Hi = min(127, round(6/0.1)) = 60 (6/0.1 = 60 in float32).
	if hi := fakequant.ClampHi(6, 0.1, 0, 127); hi != 60 {
		t.Fatalf("ClampHi = %d, want 60", hi)
	}
	// S = 6/127 gives round(127.00001…) = 127: the grid top stays.
	if hi := fakequant.ClampHi(6, 0.05, 0, 127); hi != 120 {
		t.Fatalf("ClampHi(S=0.05) = %d, want 120", hi)
	}
	if hi := fakequant.ClampHi(6, 0.01, 0, 127); hi != 127 {
		t.Fatalf("ClampHi(S=0.01) = %d, want 127 (q_max)", hi)
	}
	st := fixedState(t, "r6", quant.Symmetric, 0.1, 0)
	st.Max = 6
	x := []float32{7, 6.04, 5.96, 3.05, 0}
	fwd, grad := runGraph(t, st, x, []float32{1, 1, 1, 1, 1}, 5)
	// 7 → 70 clamped to 60; 6.04 → 60; 5.96 → 60; 3.05 → 30.499… → 30.
	wantQ := []float32{60, 60, 60, 30, 0}
	wantG := []float32{0, 0, 1, 1, 1} // zero where x ≥ 6
	for i := range x {
		if fwd[i] != 0.1*wantQ[i] || grad[i] != wantG[i] {
			t.Fatalf("x=%v: %v grad %v, want %v grad %v", x[i], fwd[i], grad[i], 0.1*wantQ[i], wantG[i])
		}
	}
	// Requantizing path: accumulator scale 0.01, acc = 700 → requant 70 → 60.
	bias := fixedState(t, "b", quant.Symmetric, 0.01, 0)
	bias.Bits = 32
	st.AccOf = bias
	fwd, _ = runGraph(t, st, []float32{7, 2.5, 2.51}, []float32{1, 1, 1}, 1, 3)
	// 2.5/0.01 = 250 → 25 exactly; 2.51 → 251 → 25.1 → 25.
	if fwd[0] != 6 || fwd[1] != 2.5 || fwd[2] != 2.5 {
		t.Fatalf("requantized ReLU6: %v, want [6 2.5 2.5]", fwd)
	}
	// Disabled: min(x, 6); the observer sees min(x, 6).
	st2 := &fakequant.State{Name: "r6f", Bits: 8, Axis: -1, Estimator: ste.Clipped{}, Observer: &calibrate.MinMax{}, Max: 6}
	st2.SetObserving(true)
	fwd, grad = runGraph(t, st2, []float32{9, 1}, []float32{1, 1}, 2)
	if fwd[0] != 6 || fwd[1] != 1 || grad[0] != 0 || grad[1] != 1 {
		t.Fatalf("disabled ReLU6: %v grad %v", fwd, grad)
	}
	if _, hi, _ := st2.Observer.Range(); hi[0] != 6 {
		t.Fatalf("observer saw %v, want max 6", hi)
	}
}
