package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// runGrad builds m for a batch of x, takes L = Σ out ⊙ c, and returns the
// logits and ∂L/∂param for every parameter.
func runGrad(t *testing.T, m *Model, q Quantizer, x, c []float32, batch int) (out []float32, grads [][]float32) {
	t.Helper()
	net, err := m.Build(batch, q)
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
	if _, err := G.Grad(loss, net.Params...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(net.G, G.BindDualValues(net.Params...))
	defer vm.Close()
	xt := tensor.New(tensor.WithShape(batch, m.In.C, m.In.H, m.In.W), tensor.WithBacking(append([]float32(nil), x...)))
	if err := G.Let(net.X, xt); err != nil {
		t.Fatal(err)
	}
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out = append(out, net.Out.Value().Data().([]float32)...)
	for i, p := range net.Params {
		g, err := p.Grad()
		if err != nil {
			t.Fatalf("%s: %v", m.Params[i].Name, err)
		}
		grads = append(grads, append([]float32(nil), g.Data().([]float32)...))
	}
	return out, grads
}

// maxRelDiff is max|a−b| / max|b|, the normwise relative difference.
func maxRelDiff(a, b []float32) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(b[i])))
	}
	if s == 0 {
		return d
	}
	return d / s
}

// fastTol bounds the normwise difference between the fused path and
// Gorgonia's: both sum the same products in float32 in different orders,
// each within k·u·Σ|a||b| of the exact value (u = 2⁻²⁴, k ≤ 1728, the
// longest sum here: conv1's weight gradient over 3 images of 24×24), so
// they differ by at most 2·1728·u ≈ 2.1e-4 of Σ|a||b|. Σ|a||b| exceeds
// the largest |result| by cancellation; 2e-3 leaves a factor 10 for that
// and for propagation through the layers (observed: below 1e-5).
const fastTol = 2e-3

func TestFusedOpsMatchGorgonia(t *testing.T) {
	small := func(pool *MaxPool2D) []Layer {
		// Stride 2, padding 1 and a ReLU after a convolution: the general
		// im2col path and the unfused ReLU, which lenet5 does not exercise.
		return []Layer{
			&Conv2D{Name: "c1", Out: 5, K: 3, Stride: 2, Pad: 1}, &ReLU{},
			&Conv2D{Name: "c2", Out: 4, K: 2, Pad: 1},
			pool,
			&Flatten{},
			&Linear{Name: "f1", Out: 7}, &ReLU{},
			&Linear{Name: "f2", Out: 3},
		}
	}
	cases := []struct {
		name  string
		build func(seed uint64) (*Model, error)
		in    Shape
		batch int
	}{
		{"lenet300", func(s uint64) (*Model, error) { return New("lenet300", Shape{1, 28, 28}, 10, s) }, Shape{1, 28, 28}, 3},
		{"lenet5", func(s uint64) (*Model, error) { return New("lenet5", Shape{1, 28, 28}, 10, s) }, Shape{1, 28, 28}, 3},
		{"small", func(s uint64) (*Model, error) {
			return NewSequential("small", Shape{2, 9, 11}, 3, small(&MaxPool2D{K: 2}), s)
		}, Shape{2, 9, 11}, 5},
		// A 3×3 pool with stride 2: the general pooling loop.
		{"small-pool3", func(s uint64) (*Model, error) {
			return NewSequential("small", Shape{2, 13, 11}, 3, small(&MaxPool2D{K: 3, Stride: 2}), s)
		}, Shape{2, 13, 11}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build(3)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(4, 5))
			x := make([]float32, tc.batch*tc.in.Size())
			for i := range x {
				x[i] = float32(r.Float64())
			}
			c := make([]float32, tc.batch*m.Classes)
			for i := range c {
				c[i] = float32(r.NormFloat64())
			}
			out, grads := runGrad(t, m, nil, x, c, tc.batch)
			m.gorgoniaOps = true
			refOut, refGrads := runGrad(t, m, nil, x, c, tc.batch)
			m.gorgoniaOps = false
			if d := maxRelDiff(out, refOut); d > fastTol {
				t.Errorf("logits differ by %g of their size", d)
			}
			for i, p := range m.Params {
				if d := maxRelDiff(grads[i], refGrads[i]); d > fastTol || math.IsNaN(d) {
					t.Errorf("gradient of %s differs by %g of its size", p.Name, d)
				} else if testing.Verbose() {
					fmt.Printf("%s %s: %.2g\n", tc.name, p.Name, d)
				}
			}
		})
	}
}

// TestFusedPredictorMatchesGorgonia: inference goes through the grouped
// (64 images at a time) convolution, which must agree with the whole batch.
func TestFusedPredictorMatchesGorgonia(t *testing.T) {
	m, err := New("lenet5", Shape{1, 28, 28}, 10, 9)
	if err != nil {
		t.Fatal(err)
	}
	const n = groupSize + 3 // two groups, the second ragged
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n*784)
	for i := range x {
		x[i] = float32(r.Float64())
	}
	fast := make([]float32, n*10)
	p := NewPredictor(m, nil)
	defer p.Close()
	if err := p.Logits(fast, x, n); err != nil {
		t.Fatal(err)
	}
	m.gorgoniaOps = true
	ref := make([]float32, n*10)
	pr := NewPredictor(m, nil)
	defer pr.Close()
	if err := pr.Logits(ref, x, n); err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(fast, ref); d > fastTol {
		t.Errorf("logits differ by %g of their size", d)
	}
}

// TestFusedSameBitsAnyCoreCount: work is split over outputs, never over a
// sum, so one and several cores give the same bits: lenet5 (packed
// convolutions), and resnet8-mlperf and resnet8 in training graphs
// (direct convolutions at strides 1 and 2, batch statistics, residual
// additions; resnet8's 7×7 and 4×4 layouts, normalizations and packed
// weight gradients, split over cores since par.Pass).
func TestFusedSameBitsAnyCoreCount(t *testing.T) {
	for _, tc := range []struct {
		arch  string
		in    Shape
		batch int
		train bool
	}{
		{"lenet5", Shape{1, 28, 28}, 16, false},
		{"resnet8-mlperf", Shape{3, 16, 16}, 12, true},
		{"resnet8", Shape{1, 28, 28}, 16, true},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			m, err := New(tc.arch, tc.in, 10, 2)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(6, 7))
			x := make([]float32, tc.batch*tc.in.Size())
			for i := range x {
				x[i] = float32(r.Float64())
			}
			c := make([]float32, tc.batch*10)
			for i := range c {
				c[i] = float32(r.NormFloat64())
			}
			run := func(procs int) ([]float32, [][]float32) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				if tc.train {
					return runGradTrain(t, m, x, c, tc.batch)
				}
				return runGrad(t, m, nil, x, c, tc.batch)
			}
			out1, g1 := run(1)
			same := func(a, b []float32) bool {
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						return false
					}
				}
				return true
			}
			for _, procs := range []int{2, 3} {
				out, g := run(procs)
				if !same(out1, out) {
					t.Errorf("logits differ between 1 and %d cores", procs)
				}
				for i, p := range m.Params {
					if !same(g1[i], g[i]) {
						t.Errorf("gradient of %s differs between 1 and %d cores", p.Name, procs)
					}
				}
			}
		})
	}
}

// runGradTrain is runGrad on a training graph (BuildTrain: batch
// normalization with the batch's statistics), which also updates the
// running statistics; those are restored after the run, so repeated runs
// see the same model.
func runGradTrain(t *testing.T, m *Model, x, c []float32, batch int) (out []float32, grads [][]float32) {
	t.Helper()
	var saved [][]float32
	for _, p := range m.Buffers {
		saved = append(saved, append([]float32(nil), p.Data()...))
	}
	defer func() {
		for i, p := range m.Buffers {
			copy(p.Data(), saved[i])
		}
	}()
	net, err := m.BuildTrain(batch, nil)
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
	if _, err := G.Grad(loss, net.Params...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(net.G, G.BindDualValues(net.Params...))
	defer vm.Close()
	xt := tensor.New(tensor.WithShape(batch, m.In.C, m.In.H, m.In.W), tensor.WithBacking(append([]float32(nil), x...)))
	if err := G.Let(net.X, xt); err != nil {
		t.Fatal(err)
	}
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out = append(out, net.Out.Value().Data().([]float32)...)
	for i, p := range net.Params {
		g, err := p.Grad()
		if err != nil {
			t.Fatalf("%s: %v", m.Params[i].Name, err)
		}
		grads = append(grads, append([]float32(nil), g.Data().([]float32)...))
	}
	return out, grads
}

// TestKopReinfersOnNewShapes: an op's output buffer is reused while its
// inputs keep their shapes, and its shape is inferred again (a new
// buffer) when they change; a bad shape is still an error; inputs that
// are not dense float32 tensors still read through Data.
func TestKopReinfersOnNewShapes(t *testing.T) {
	op := newOp("Twice", []int{1}, 1)
	op.shape = func(in []tensor.Shape) (tensor.Shape, error) {
		if in[0][0] > 8 {
			return nil, fmt.Errorf("too long: %v", in[0])
		}
		return tensor.Shape{2 * in[0][0]}, nil
	}
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		for i, x := range v[0] {
			y[2*i], y[2*i+1] = x, x
		}
		return nil
	}
	vec := func(xs ...float32) *tensor.Dense {
		return tensor.New(tensor.WithShape(len(xs)), tensor.WithBacking(xs))
	}
	var first G.Value
	for i, tc := range []struct {
		in   *tensor.Dense
		want []float32
	}{
		{vec(1, 2), []float32{1, 1, 2, 2}},
		{vec(3, 4), []float32{3, 3, 4, 4}},
		{vec(5, 6, 7), []float32{5, 5, 6, 6, 7, 7}},
		{vec(8), []float32{8, 8}},
	} {
		out, err := op.Do(tc.in)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if got := out.Data().([]float32); fmt.Sprint(got) != fmt.Sprint(tc.want) || !out.Shape().Eq(tensor.Shape{len(tc.want)}) {
			t.Errorf("run %d: %v %v, want %v", i, out.Shape(), got, tc.want)
		}
		if i == 0 {
			first = out
		}
		if i == 1 && out != first {
			t.Errorf("run 1: a new buffer for inputs of the same shape")
		}
	}
	if _, err := op.Do(vec(1, 2, 3, 4, 5, 6, 7, 8, 9)); err == nil {
		t.Error("an input of 9 elements gave no error")
	}
	if _, err := op.Do(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 2}))); err == nil {
		t.Error("a float64 input gave no error")
	}
}

// TestKopOutReshapedInPlace: when something reshapes an op's output in
// place (as a reshape op's UnsafeDo does) between two runs on inputs of
// one shape, the next Do returns the inferred shape again (here (2, 3),
// fixedShape's) on a new buffer, and the reshaped value keeps its shape.
// (The shape used to carry over: the reviewer's TestZZKopStaleOutShape.)
func TestKopOutReshapedInPlace(t *testing.T) {
	for _, tc := range []struct {
		out      []int
		reshapes [][]int
	}{
		{[]int{2, 3}, [][]int{{6}, {3, 2}, {1, 6}}},
		{[]int{6}, [][]int{{1, 6}, {6, 1}}}, // Shape.Eq takes these as equal to (6)
	} {
		kopReshapedCase(t, tc.out, tc.reshapes)
	}
}

func kopReshapedCase(t *testing.T, shape []int, reshapes [][]int) {
	t.Helper()
	op := newOp("Id", []int{2}, 2)
	op.shape = fixedShape(tensor.Shape(shape))
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error { copy(y, v[0]); return nil }
	x := tensor.New(tensor.WithShape(shape...), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	for _, reshape := range reshapes {
		out, err := op.Do(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := out.(*tensor.Dense).Reshape(reshape...); err != nil {
			t.Fatal(err)
		}
		out2, err := op.Do(x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out2.Shape(), shape) || fmt.Sprint(out2.Data()) != "[1 2 3 4 5 6]" {
			t.Errorf("after a reshape to %v: second Do gives %v %v, want %v [1 2 3 4 5 6]", reshape, out2.Shape(), out2.Data(), shape)
		}
		if !slices.Equal(out.Shape(), reshape) {
			t.Errorf("after a reshape to %v: the first output is now %v", reshape, out.Shape())
		}
	}
}
