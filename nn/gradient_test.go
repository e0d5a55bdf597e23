package nn

import (
	"math"
	"math/rand/v2"

	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gradRun is a graph with loss L = Σ out ⊙ c and its parameter gradients.
type gradRun struct {
	m    *Model
	net  *Net
	vm   G.VM
	x    *tensor.Dense
	c    []float32
	grad G.Nodes
}

func newGradRun(t *testing.T, m *Model, train bool, q Quantizer, x, c []float32, batch int) *gradRun {
	t.Helper()
	build := m.Build
	if train {
		build = m.BuildTrain
	}
	net, err := build(batch, q)
	if err != nil {
		t.Fatal(err)
	}
	ct := G.NewTensor(net.G, tensor.Float32, 2, G.WithShape(batch, m.Classes), G.WithName("c"),
		G.WithValue(tensor.New(tensor.WithShape(batch, m.Classes), tensor.WithBacking(c))))
	prod, err := G.HadamardProd(net.Out, ct)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := G.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, net.Params...)
	if err != nil {
		t.Fatal(err)
	}
	r := &gradRun{m: m, net: net, c: c, grad: grads, vm: G.NewTapeMachine(net.G)}
	r.x = tensor.New(tensor.WithShape(batch, m.In.C, m.In.H, m.In.W), tensor.WithBacking(append([]float32(nil), x...)))
	t.Cleanup(func() { r.vm.Close() })
	return r
}

// run runs the graph once; it returns L (summed in float64 from the
// float32 logits) and, if grads, copies of the parameter gradients.
func (r *gradRun) run(t *testing.T, grads bool) (float64, [][]float32) {
	t.Helper()
	if err := G.Let(r.net.X, r.x); err != nil {
		t.Fatal(err)
	}
	defer r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var l float64
	for i, v := range r.net.Out.Value().Data().([]float32) {
		l += float64(v) * float64(r.c[i])
	}
	var gs [][]float32
	if grads {
		for _, g := range r.grad {
			gs = append(gs, append([]float32(nil), g.Value().Data().([]float32)...))
		}
	}
	return l, gs
}

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s
}

// perturb gives the BN parameters and running statistics non-trivial
// values (γ ≠ 1, β ≠ 0, μ ≠ 0, var ≠ 1), so every term of the fold counts.
func perturb(m *Model, r *rand.Rand) {
	for _, p := range append(append([]*Param(nil), m.Params...), m.Buffers...) {
		d := p.Data()
		switch {
		case hasSuffix(p.Name, ".gamma"):
			for i := range d {
				d[i] = float32(0.5 + r.Float64())
			}
		case hasSuffix(p.Name, ".running_var"):
			for i := range d {
				d[i] = float32(0.3 + r.Float64())
			}
		case hasSuffix(p.Name, ".beta"), hasSuffix(p.Name, ".running_mean"), hasSuffix(p.Name, ".bias"):
			for i := range d {
				d[i] = float32(0.3 * r.NormFloat64())
			}
		}
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// checkNumericGrads compares the graph's gradients with central
// differences (L(p+h) − L(p−h))/2h at up to 10 entries of every parameter
// (h = 1e-2 for smooth functions; smaller across ReLUs, whose kinks a
// wide difference may straddle).
//
// Tolerance: the forward pass is float32, so L carries a rounding error
// of about 1e-6·Σ|out·c| (a few ulps over a few hundred terms); divided
// by 2h = 2e-2 that is about 1e-4 of the loss, and the truncation error of
// the central difference is O(h²·L”') ≈ 1e-4 for these O(1) functions.
// The bound 2e-3·(1 + max|∂L/∂p|) + 2e-2·|∂L/∂p_i| is ten times the
// largest error observed; a wrong gradient (a missing term, a sign, a
// factor) is off by the size of the gradient itself.
func checkNumericGrads(t *testing.T, r *gradRun, h float32) {
	t.Helper()
	saved := make([][]float32, len(r.m.Buffers))
	for i, b := range r.m.Buffers {
		saved[i] = append([]float32(nil), b.Data()...)
	}
	restore := func() {
		for i, b := range r.m.Buffers {
			copy(b.Data(), saved[i])
		}
	}
	_, grads := r.run(t, true)
	restore()
	for pi, p := range r.m.Params {
		d := p.Data()
		var gmax float64
		for _, g := range grads[pi] {
			gmax = math.Max(gmax, math.Abs(float64(g)))
		}
		step := max(1, len(d)/10)
		for i := 0; i < len(d); i += step {
			old := d[i]
			d[i] = old + h
			lp, _ := r.run(t, false)
			restore()
			hp := float64(d[i]) - float64(old)
			d[i] = old - h
			lm, _ := r.run(t, false)
			restore()
			hm := float64(old) - float64(d[i])
			d[i] = old
			num := (lp - lm) / (hp + hm)
			ana := float64(grads[pi][i])
			if math.Abs(num-ana) > 2e-3*(1+gmax)+2e-2*math.Abs(ana) {
				t.Errorf("∂L/∂%s[%d]: graph %.6g, numeric %.6g", p.Name, i, ana, num)
			}
		}
	}
}

// smallBN is conv+BN (optionally ReLU6), a residual block with a
// projection shortcut and one with the identity, global average pooling
// (with a depthwise convolution) and a linear classifier: every new layer
// on a 2×6×6 input.
func smallBN(act bool) []Layer {
	var a1 []Layer
	if act {
		a1 = []Layer{&ReLU6{}}
	}
	return append(append([]Layer{
		&Conv2D{Name: "c1", Out: 3, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}}, a1...),
		&Residual{Name: "r1", ReLU: act,
			Body: []Layer{
				&Conv2D{Name: "c2", Out: 4, K: 3, Stride: 2, Pad: 1}, &BatchNorm2D{Name: "bn2"},
			},
			Shortcut: []Layer{&Conv2D{Name: "c3", Out: 4, K: 1, Stride: 2}, &BatchNorm2D{Name: "bn3"}},
		},
		&Residual{Name: "r2", Body: []Layer{&Conv2D{Name: "c4", Out: 4, K: 3, Pad: 1, Groups: 4}, &BatchNorm2D{Name: "bn4"}}}, // depthwise
		&GlobalAvgPool{Name: "gap"},
		&Linear{Name: "fc", Out: 3},
	)
}

func newSmall(t *testing.T, act bool, seed uint64) *Model {
	t.Helper()
	m, err := NewSequential("small-bn", Shape{2, 6, 6}, 3, smallBN(act), seed)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, rand.New(rand.NewPCG(seed, 1)))
	return m
}

func TestNumericGradients(t *testing.T) {
	for _, tc := range []struct {
		name          string
		train, frozen bool
	}{
		{"train", true, false}, // batch statistics
		{"frozen", true, true}, // the folded form in a training graph
		{"eval", false, false}, // Build: the folded form
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newSmall(t, false, 11)
			m.SetBNFrozen(tc.frozen)
			r := rand.New(rand.NewPCG(3, 4))
			const batch = 4
			x := randSlice(r, batch*m.In.Size(), 1)
			c := randSlice(r, batch*m.Classes, 1)
			checkNumericGrads(t, newGradRun(t, m, tc.train, nil, x, c, batch), 1e-2)
		})
	}
}

// TestNumericGradientsReLU: the fused ReLU6 and the residual's ReLU. A
// kink between p−h and p+h would spoil a difference (h = 1e-2 straddles
// some here); with h = 1e-3 and these seeds none is crossed (the test is
// deterministic).
func TestNumericGradientsReLU(t *testing.T) {
	m := newSmall(t, true, 5)
	r := rand.New(rand.NewPCG(8, 9))
	const batch = 3
	x := randSlice(r, batch*m.In.Size(), 1)
	c := randSlice(r, batch*m.Classes, 1)
	checkNumericGrads(t, newGradRun(t, m, true, nil, x, c, batch), 1e-3)
}
