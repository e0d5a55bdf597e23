package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
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

func TestModernGradients(t *testing.T) {
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

// TestModernGradientsReLU: the fused ReLU6 and the residual's ReLU. A
// kink between p−h and p+h would spoil a difference (h = 1e-2 straddles
// some here); with h = 1e-3 and these seeds none is crossed (the test is
// deterministic).
func TestModernGradientsReLU(t *testing.T) {
	m := newSmall(t, true, 5)
	r := rand.New(rand.NewPCG(8, 9))
	const batch = 3
	x := randSlice(r, batch*m.In.Size(), 1)
	c := randSlice(r, batch*m.Classes, 1)
	checkNumericGrads(t, newGradRun(t, m, true, nil, x, c, batch), 1e-3)
}

// refConvBN is the float64 reference of conv (no bias) followed by batch
// normalization with the given per-channel mean and variance.
// It returns the output and the mean and variance used.
func refConvBN(l *Conv2D, bn *BatchNorm2D, x []float64, n, h, w int, mean, variance []float64) (out, mu, vr []float64) {
	oh, ow := l.OutHW()
	W := l.W.Data()
	cin := l.In / l.groups()
	conv := make([]float64, n*l.Out*oh*ow)
	for s := 0; s < n; s++ {
		for o := 0; o < l.Out; o++ {
			g := o / (l.Out / l.groups())
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					var acc float64
					for ci := 0; ci < cin; ci++ {
						for ky := 0; ky < l.K; ky++ {
							for kx := 0; kx < l.K; kx++ {
								iy, ix := y*l.Stride+ky-l.Pad, xx*l.Stride+kx-l.Pad
								if iy < 0 || ix < 0 || iy >= h || ix >= w {
									continue
								}
								acc += x[((s*l.In+g*cin+ci)*h+iy)*w+ix] * float64(W[((o*cin+ci)*l.K+ky)*l.K+kx])
							}
						}
					}
					conv[((s*l.Out+o)*oh+y)*ow+xx] = acc
				}
			}
		}
	}
	if mean == nil { // batch statistics
		mean, variance = make([]float64, l.Out), make([]float64, l.Out)
		cnt := float64(n * oh * ow)
		for o := 0; o < l.Out; o++ {
			for s := 0; s < n; s++ {
				for _, v := range conv[(s*l.Out+o)*oh*ow:][:oh*ow] {
					mean[o] += v / cnt
				}
			}
			for s := 0; s < n; s++ {
				for _, v := range conv[(s*l.Out+o)*oh*ow:][:oh*ow] {
					variance[o] += (v - mean[o]) * (v - mean[o]) / cnt
				}
			}
		}
	}
	out = make([]float64, len(conv))
	for i, v := range conv {
		o := i / (oh * ow) % l.Out
		out[i] = float64(bn.Gamma.Data()[o])*(v-mean[o])/math.Sqrt(variance[o]+float64(bnOf(bn).Eps)) + float64(bn.Beta.Data()[o])
	}
	return out, mean, variance
}

// TestBNEvalAndTrainMatchReference: the eval graph's folded conv equals
// conv followed by batch normalization with the running statistics, and
// the training graph's equals batch normalization with the batch's
// statistics, which it folds into the running ones.
//
// Tolerance: the graph computes in float32 (the fold W·s rounds each
// weight, the 18-term sums round, the fold bias rounds), the reference in
// float64 without folding; the difference is a few float32 ulps (2⁻²⁴ ≈
// 6e-8 each) of Σ|W·s·x| + |b'|, which is under 10 here: at most about
// 1e-5·(1+|y|). The bound 1e-4·(1+|y|) leaves a factor 10 over that
// (observed: 2e-7) and is far below any real error (a wrong statistic or
// fold moves outputs by O(1)).
func TestBNEvalAndTrainMatchReference(t *testing.T) {
	const n = 5
	layers := []Layer{&Conv2D{Name: "c", Out: 3, K: 3, Stride: 2, Pad: 1}, &BatchNorm2D{Name: "bn", Momentum: 0.25},
		&Flatten{}, &Linear{Name: "fc", Out: 2}}
	m, err := NewSequential("bn", Shape{2, 7, 7}, 2, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	perturb(m, r)
	conv, bn := layers[0].(*Conv2D), layers[1].(*BatchNorm2D)
	x := randSlice(r, n*m.In.Size(), 1)
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	rm, rv := bn.Mean.Data(), bn.Var.Data()
	mean, variance := make([]float64, 3), make([]float64, 3)
	for i := range mean {
		mean[i], variance[i] = float64(rm[i]), float64(rv[i])
	}
	for _, train := range []bool{false, true} {
		build := m.Build
		if train {
			build = m.BuildTrain
		}
		net, err := build(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(net.G)
		if err := G.Let(net.X, tensor.New(tensor.WithShape(n, 2, 7, 7), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := net.Nodes["c.out"].Value().Data().([]float32)
		var want, batchMean, batchVar []float64
		if train {
			want, batchMean, batchVar = refConvBN(conv, bn, x64, n, 7, 7, nil, nil)
		} else {
			want, _, _ = refConvBN(conv, bn, x64, n, 7, 7, mean, variance)
		}
		var worst float64
		for i := range got {
			d := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i]))
			worst = math.Max(worst, d)
			if d > 1e-4 {
				t.Fatalf("train=%v: output %d = %v, reference %v", train, i, got[i], want[i])
			}
		}
		t.Logf("train=%v: largest difference %.2g·(1+|y|)", train, worst)
		vm.Close()
		if !train {
			if rm[0] != float32(mean[0]) || rv[0] != float32(variance[0]) {
				t.Fatal("an eval graph changed the running statistics")
			}
			continue
		}
		// Running statistics after one step: (1−m)·old + m·batch with
		// the unbiased variance (n·4·4 = 80 values per channel, 80/79).
		for c := 0; c < 3; c++ {
			wantM := 0.75*mean[c] + 0.25*batchMean[c]
			wantV := 0.75*variance[c] + 0.25*batchVar[c]*80/79
			if math.Abs(float64(rm[c])-wantM) > 1e-5*(1+math.Abs(wantM)) || math.Abs(float64(rv[c])-wantV) > 1e-5*(1+wantV) {
				t.Errorf("channel %d: running mean %v var %v, want %v %v", c, rm[c], rv[c], wantM, wantV)
			}
		}
	}
}

// TestFoldBNBitIdentical: FoldBN gives the bits that the graph feeds to
// the weight and bias slots, in eval graphs and frozen training graphs.
func TestFoldBNBitIdentical(t *testing.T) {
	m := newSmall(t, true, 2)
	for _, train := range []bool{false, true} {
		m.SetBNFrozen(true)
		build := m.Build
		if train {
			build = m.BuildTrain
		}
		net, err := build(2, nil)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(net.G)
		x := randSlice(rand.New(rand.NewPCG(1, 1)), 2*m.In.Size(), 1)
		if err := G.Let(net.X, tensor.New(tensor.WithShape(2, 2, 6, 6), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		pairs := 0
		walkBN(m.Layers, func(c *Conv2D, bn *BatchNorm2D) {
			pairs++
			w, b := FoldBN(c, bn)
			gw := net.Nodes[c.Name+".weight"].Value().Data().([]float32)
			gb := net.Nodes[c.Name+".bias"].Value().Data().([]float32)
			for i := range w {
				if math.Float32bits(w[i]) != math.Float32bits(gw[i]) {
					t.Fatalf("%s weight %d: FoldBN %v, graph %v", c.Name, i, w[i], gw[i])
				}
			}
			for i := range b {
				if math.Float32bits(b[i]) != math.Float32bits(gb[i]) {
					t.Fatalf("%s bias %d: FoldBN %v, graph %v", c.Name, i, b[i], gb[i])
				}
			}
		})
		if pairs != 4 {
			t.Fatalf("%d conv+BN pairs, want 4", pairs)
		}
		vm.Close()
	}
}

// walkBN calls f for every Conv2D followed by a BatchNorm2D, in residual
// blocks too.
func walkBN(layers []Layer, f func(*Conv2D, *BatchNorm2D)) {
	for _, u := range fuse(layers) {
		if u.bn != nil {
			f(u.l.(*Conv2D), u.bn)
		}
		if r, ok := u.l.(*Residual); ok {
			walkBN(r.Body, f)
			walkBN(r.Shortcut, f)
		}
	}
}

// TestFrozenTrainEqualsEval: a frozen training graph is the eval graph
// (same bits, running statistics untouched), and a graph built before
// freezing follows SetBNFrozen.
func TestFrozenTrainEqualsEval(t *testing.T) {
	m := newSmall(t, true, 4)
	x := randSlice(rand.New(rand.NewPCG(2, 2)), 3*m.In.Size(), 1)
	c := randSlice(rand.New(rand.NewPCG(2, 3)), 3*m.Classes, 1)
	tr := newGradRun(t, m, true, nil, x, c, 3) // built while not frozen
	ev := newGradRun(t, m, false, nil, x, c, 3)
	before := append([]float32(nil), m.Buffers[1].Data()...)
	lt, _ := tr.run(t, false)
	if fmt.Sprint(before) == fmt.Sprint(m.Buffers[1].Data()) {
		t.Fatal("a training step did not update the running variance")
	}
	m.SetBNFrozen(true)
	before = append([]float32(nil), m.Buffers[1].Data()...)
	lf, _ := tr.run(t, false)
	le, _ := ev.run(t, false)
	if lf != le || lf == lt {
		t.Fatalf("frozen training loss %v, eval %v, unfrozen %v", lf, le, lt)
	}
	if fmt.Sprint(before) != fmt.Sprint(m.Buffers[1].Data()) {
		t.Fatal("a frozen training step updated the running variance")
	}
}

// opQuant records the OpQuantizer calls and does the float operations.
type opQuant struct {
	adds, means []string
}

func (q *opQuant) Quantize(s *Slot, x *G.Node) (*G.Node, error) { return x, nil }
func (q *opQuant) QuantizeAdd(s *Slot, a, b *G.Node) (*G.Node, error) {
	q.adds = append(q.adds, fmt.Sprintf("%s=%s+%s", s.Name, s.Add[0], s.Add[1]))
	return addNode(s.Name, a, b, s.ReLU)
}
func (q *opQuant) QuantizeMean(s *Slot, x *G.Node) (*G.Node, error) {
	q.means = append(q.means, s.Name+"="+s.MeanOf)
	return gapNode(s.Name, x)
}

func TestOpQuantizerHooks(t *testing.T) {
	m := newSmall(t, true, 1)
	q := &opQuant{}
	if _, err := m.Build(2, q); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(q.adds, q.means); got != "[r1.out=c2.out+c3.out r2.out=c4.out+r1.out] [gap.out=r2.out]" {
		t.Fatal(got)
	}
	if s := m.Slot("c1.out"); !s.ReLU || s.Max != 6 {
		t.Errorf("c1.out: %+v", s)
	}
	if s := m.Slot("c2.bias"); s.Input != "c1.out" || s.Weight != "c2.weight" {
		t.Errorf("c2.bias: %+v", s)
	}
	if s := m.Slot("c3.bias"); s.Input != "c1.out" {
		t.Errorf("shortcut bias reads %q, want the block input c1.out", s.Input)
	}
	if m.Param("c1.bias") != nil || m.Param("bn1.gamma") == nil || m.Buffer("bn1.running_var") == nil {
		t.Error("conv+BN parameters: want no conv bias, γ and β params, running stats buffers")
	}
}

func TestModernSetupErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers []Layer
	}{
		{"bn alone", []Layer{&BatchNorm2D{Name: "b"}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"bn after pool", []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, &MaxPool2D{K: 2}, &BatchNorm2D{Name: "b"}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"shapes", []Layer{&Residual{Name: "r", Body: []Layer{&Conv2D{Name: "c", Out: 3, K: 1}}}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"dup names", []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, &Conv2D{Name: "c", Out: 2, K: 1}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"no name", []Layer{&Conv2D{Out: 2, K: 1}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"groups", []Layer{&Conv2D{Name: "c", Out: 3, K: 1, Groups: 2}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}}, // 3 outputs in 2 groups
		{"gap on flat", []Layer{&Flatten{}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"nil", []Layer{nil}},
		{"empty body", []Layer{&Residual{Name: "r"}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
	} {
		if _, err := NewSequential("bad", Shape{2, 4, 4}, 2, tc.layers, 1); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else if testing.Verbose() {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// TestSlotsVisitedInOrder: eval and training graphs of the new
// architectures consult the quantizer at every slot, in Model.Slots order
// (a quantizer may rely on a bias slot coming after its input and weight).
func TestSlotsVisitedInOrder(t *testing.T) {
	for _, arch := range []string{"resnet8", "mobilenet-tiny"} {
		m, err := New(arch, Shape{1, 28, 28}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range m.Slots {
			want = append(want, s.Name)
		}
		for _, train := range []bool{false, true} {
			r := &recorder{}
			build := m.Build
			if train {
				build = m.BuildTrain
			}
			if _, err := build(2, r); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.names) != fmt.Sprint(want) {
				t.Errorf("%s train=%v: visited %v, want %v", arch, train, r.names, want)
			}
		}
	}
}

// maxQuant is an identity quantizer that says whether it applies Slot.Max.
type maxQuant struct{ clamps bool }

func (q maxQuant) Quantize(s *Slot, x *G.Node) (*G.Node, error) { return x, nil }
func (q maxQuant) ClampsMax() bool                              { return q.clamps }

// TestReLU6LeftToAMaxQuantizer: a ReLU6 output slot receives min(max(x,
// 0), 6) from the builder, unless the quantizer clamps at Max itself
// (nn.MaxQuantizer), which then receives max(x, 0).
func TestReLU6LeftToAMaxQuantizer(t *testing.T) {
	layers := []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, &ReLU6{}, &Flatten{}, &Linear{Name: "f", Out: 2}}
	m, err := NewSequential("relu6", Shape{C: 1, H: 2, W: 2}, 2, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Weights 10 and −10, bias 0: inputs in [0, 1] reach 10 in one channel.
	copy(m.Param("c.weight").Data(), []float32{10, -10})
	x := []float32{0.1, 0.5, 0.9, 1}
	for _, tc := range []struct {
		q        Quantizer
		min, max float32
	}{
		{nil, 0, 6}, {maxQuant{false}, 0, 6}, {maxQuant{true}, 0, 10},
	} {
		net, err := m.Build(1, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(net.G)
		if err := G.Let(net.X, tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking(append([]float32(nil), x...)))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		out := net.Nodes["c.out"].Value().Data().([]float32)
		lo, hi := out[0], out[0]
		for _, v := range out {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != tc.min || hi != tc.max {
			t.Errorf("quantizer %#v: c.out in [%v, %v], want [%v, %v]", tc.q, lo, hi, tc.min, tc.max)
		}
		vm.Close()
	}
}

// A typed nil layer is an error, not a panic.
func TestTypedNilLayer(t *testing.T) {
	var c *Conv2D
	if _, err := NewSequential("nil", Shape{C: 1, H: 4, W: 4}, 2, []Layer{c, &Flatten{}, &Linear{Name: "f", Out: 2}}, 1); err == nil || !regexp.MustCompile("is nil").MatchString(err.Error()) {
		t.Fatalf("typed nil layer: %v", err)
	}
}

// TestLayerReuseRefused: NewSequential fills in the layer values it is
// given, so a weighted layer or batch norm already in one model (at top
// level or inside a residual) is refused in a second, which would
// otherwise take its parameters from the first silently; stateless
// layers (ReLU, Flatten) may be shared. An empty architecture name is
// refused too.
func TestLayerReuseRefused(t *testing.T) {
	in := Shape{C: 1, H: 4, W: 4}
	relu := &ReLU{}
	conv := &Conv2D{Name: "c", Out: 2, K: 3, Pad: 1}
	bn := &BatchNorm2D{Name: "bn"}
	res := &Residual{Name: "r", Body: []Layer{&Conv2D{Name: "r.c", Out: 2, K: 3, Pad: 1}}}
	fc := &Linear{Name: "f", Out: 2}
	first, err := NewSequential("a", in, 2, []Layer{conv, bn, relu, res, &GlobalAvgPool{Name: "g"}, fc}, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := first.Params[0].Data()[0]
	for _, tc := range []struct {
		name   string
		layers []Layer
		want   string
	}{
		{"linear", []Layer{&Flatten{}, fc}, "f already belongs to a model"},
		{"conv", []Layer{conv, relu, &Flatten{}, &Linear{Name: "f2", Out: 2}}, "c already belongs to a model"},
		{"batch norm", []Layer{&Conv2D{Name: "c2", Out: 2, K: 3, Pad: 1}, bn, &Flatten{}, &Linear{Name: "f2", Out: 2}}, "batchnorm2d bn already belongs"},
		{"in a residual", []Layer{&Conv2D{Name: "c2", Out: 2, K: 3, Pad: 1}, res, &Flatten{}, &Linear{Name: "f2", Out: 2}}, "r.c already belongs"},
	} {
		if _, err := NewSequential("b", in, 2, tc.layers, 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if first.Params[0].Data()[0] != w || conv.W != first.Params[0] {
		t.Error("a refused model changed the first model's parameters")
	}
	if _, err := NewSequential("c", in, 2, []Layer{&Flatten{}, &Linear{Name: "f3a", Out: 4}, relu, &Linear{Name: "f3", Out: 2}}, 1); err != nil {
		t.Errorf("a shared ReLU: %v", err)
	}
	if _, err := NewSequential("", in, 2, []Layer{&Flatten{}, &Linear{Name: "f4", Out: 2}}, 1); err == nil || !strings.Contains(err.Error(), "architecture name") {
		t.Errorf("empty arch: %v", err)
	}
	// A call that fails part way (a 5×5 kernel on a 4×4 input, after a
	// conv, a batch norm and a residual were filled in) leaves its layers
	// free: the corrected call with the same values succeeds.
	stem, stemBN := &Conv2D{Name: "s", Out: 2, K: 3, Pad: 1}, &BatchNorm2D{Name: "s_bn"}
	block := &Residual{Name: "b", Body: []Layer{&Conv2D{Name: "b.c", Out: 2, K: 3, Pad: 1}}}
	big := &Conv2D{Name: "big", Out: 2, K: 5}
	head := &Linear{Name: "h", Out: 2}
	if _, err := NewSequential("d", in, 2, []Layer{stem, stemBN, block, big, &Flatten{}, head}, 1); err == nil {
		t.Fatal("a 5×5 kernel on a 4×4 input was accepted")
	}
	if stem.W != nil || stemBN.Gamma != nil || stemBN.C != 0 || block.Body[0].(*Conv2D).W != nil {
		t.Error("a failed call left parameters in its layers")
	}
	big.K, big.Pad = 5, 2
	if _, err := NewSequential("d", in, 2, []Layer{stem, stemBN, block, big, &Flatten{}, head}, 1); err != nil {
		t.Errorf("the corrected call: %v", err)
	}
	// One value twice in a list is refused too.
	twice := &Conv2D{Name: "t", Out: 1, K: 1}
	if _, err := NewSequential("e", in, 2, []Layer{twice, twice, &Flatten{}, &Linear{Name: "f5", Out: 2}}, 1); err == nil {
		t.Error("a conv given twice was accepted")
	}
}
