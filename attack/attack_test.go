package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// toy is a float lenet300 trained for 3 epochs on 8×8 synthetic images of 4
// classes, and its W8A8 and W2A8 post-training quantizers, shared by the
// tests (training it once costs about a second).
var toy struct {
	once     sync.Once
	data     *datasets.Pair
	m        *nn.Model
	q8, q2   *qat.Quantizer
	floatAcc float64
	err      error
}

func toyModels(t *testing.T) (*datasets.Pair, *Model, *Model, *Model) {
	t.Helper()
	toy.once.Do(func() {
		toy.data = datasets.Synthetic(512, 200, 8, 8, 4, 60, 1)
		toy.m, toy.err = nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
		if toy.err != nil {
			return
		}
		tr, err := train.NewTrainer(toy.m, toy.data, rundir.Config{Epochs: 3, Batch: 50, Seed: 1})
		if err != nil {
			toy.err = err
			return
		}
		tr.Progress = nil
		if toy.err = tr.Run(context.Background()); toy.err != nil {
			return
		}
		toy.floatAcc = tr.TestAcc
		for _, p := range []struct {
			q    **qat.Quantizer
			bits int
		}{{&toy.q8, 8}, {&toy.q2, 2}} {
			q, err := qat.New(toy.m, qat.Config{BitsW: p.bits, BitsA: 8})
			if err != nil {
				toy.err = err
				return
			}
			if toy.err = q.Calibrate(context.Background(), toy.m, toy.data.Train, 64, 1); toy.err != nil {
				return
			}
			*p.q = q
		}
	})
	if toy.err != nil {
		t.Fatal(toy.err)
	}
	// The float and quantized models share parameters; only the quantizer differs.
	return toy.data, &Model{Name: "float", Net: toy.m}, &Model{Name: "ptq-w8a8", Net: toy.m, Quant: toy.q8}, &Model{Name: "ptq-w2a8", Net: toy.m, Quant: toy.q2}
}

func testImages(set *datasets.Set, n int) ([]float32, []int) {
	x := make([]float32, n*set.Size())
	labels := make([]int, n)
	datasets.NewBatcher(set, n, false, 0).Next(x, labels)
	return x, labels
}

func accuracyOf(t *testing.T, a *Attacker, x []float32, labels []int) float64 {
	t.Helper()
	pred, err := a.Predict(x, len(labels))
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for i, p := range pred {
		if p == labels[i] {
			c++
		}
	}
	return float64(c) / float64(len(labels))
}

func TestToyModelLearns(t *testing.T) {
	toyModels(t)
	// The synthetic prototypes are far apart: 3 epochs reach 100% (measured);
	// 0.9 leaves room for a different BLAS summation order.
	if toy.floatAcc < 0.9 {
		t.Fatalf("toy float accuracy %.3f; the attack tests need a trained model", toy.floatAcc)
	}
}

func TestEpsZeroChangesNothing(t *testing.T) {
	data, fm, q8, _ := toyModels(t)
	x, labels := testImages(data.Test, 100)
	for _, m := range []*Model{fm, q8} {
		for _, method := range Methods {
			a, err := NewAttacker(m, Config{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			adv := make([]float32, len(x))
			if err := a.Perturb(context.Background(), adv, x, labels, 0, rand.New(rand.NewPCG(1, 2))); err != nil {
				t.Fatal(err)
			}
			for i := range x {
				if adv[i] != x[i] {
					t.Fatalf("%s %s eps 0: pixel %d changed %v → %v", m.Name, method, i, x[i], adv[i])
				}
			}
			if got, want := accuracyOf(t, a, adv, labels), accuracyOf(t, a, x, labels); got != want {
				t.Errorf("%s %s eps 0: accuracy %v, clean %v", m.Name, method, got, want)
			}
			a.Close()
		}
	}
}

// TestBoundedAndDeterministic checks the L∞ budget, the pixel range and
// that one seed gives one result, for both methods, float and fake-quant.
func TestBoundedAndDeterministic(t *testing.T) {
	data, fm, q8, _ := toyModels(t)
	x, labels := testImages(data.Test, 64)
	const eps = 0.15
	// x+ε is rounded to float32 once and clamped: |x'−x| may exceed ε by
	// one float32 ulp at 1.0 (2^−23 ≈ 1.2e−7); 1e−6 allows a few.
	const tol = 1e-6
	for _, m := range []*Model{fm, q8} {
		for _, method := range Methods {
			a, err := NewAttacker(m, Config{Method: method, Steps: 5})
			if err != nil {
				t.Fatal(err)
			}
			run := func(seed uint64) []float32 {
				adv := make([]float32, len(x))
				if err := a.Perturb(context.Background(), adv, x, labels, eps, rand.New(rand.NewPCG(seed, 0))); err != nil {
					t.Fatal(err)
				}
				return adv
			}
			adv, again := run(7), run(7)
			moved := 0
			for i := range x {
				if d := math.Abs(float64(adv[i] - x[i])); d > eps+tol {
					t.Fatalf("%s %s: pixel %d moved %v > eps %v", m.Name, method, i, d, eps)
				}
				if adv[i] < 0 || adv[i] > 1 {
					t.Fatalf("%s %s: pixel %d = %v outside [0, 1]", m.Name, method, i, adv[i])
				}
				if adv[i] != again[i] {
					t.Fatalf("%s %s: same seed, pixel %d differs: %v vs %v", m.Name, method, i, adv[i], again[i])
				}
				if adv[i] != x[i] {
					moved++
				}
			}
			// A zero gradient is the only way a pixel stays put (besides the
			// range clip); most pixels must move or the gradient did not flow.
			if moved < len(x)/4 {
				t.Errorf("%s %s: only %d of %d pixels moved: no input gradient?", m.Name, method, moved, len(x))
			}
			if method == PGD {
				other := run(8)
				same := true
				for i := range other {
					same = same && other[i] == adv[i]
				}
				if same {
					t.Errorf("%s PGD: seeds 7 and 8 gave identical images; the random start is not seeded", m.Name)
				}
			}
			a.Close()
		}
	}
}

// TestInputGradientThroughFakeQuant checks that the gradient reaches the
// input through every fake-quant node and the first layer's op, and equals
// a finite difference of the loss for the float model.
func TestInputGradient(t *testing.T) {
	data, fm, q8, q2 := toyModels(t)
	x, labels := testImages(data.Test, 4)
	for _, m := range []*Model{fm, q8, q2} {
		a, err := NewAttacker(m, Config{})
		if err != nil {
			t.Fatal(err)
		}
		g := make([]float32, len(x))
		if err := a.Gradient(g, x, labels); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		nz := 0
		for _, v := range g {
			if v != 0 {
				nz++
			}
		}
		if nz == 0 {
			t.Fatalf("%s: the input gradient is all zero", m.Name)
		}
		a.Close()
	}
	// Finite differences on the float model (central, h = 1e−2 in pixel
	// units; float32 logits make smaller h noisy): the largest gradient
	// components must agree in sign and to 20%.
	a, _ := NewAttacker(fm, Config{})
	defer a.Close()
	g := make([]float32, len(x))
	if err := a.Gradient(g, x, labels); err != nil {
		t.Fatal(err)
	}
	loss := func(xx []float32) float64 {
		k := fm.Net.Classes
		logits := make([]float32, len(labels)*k)
		if err := a.pred.Logits(logits, xx, len(labels)); err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i, l := range labels {
			row := logits[i*k : (i+1)*k]
			m := math.Inf(-1)
			for _, v := range row {
				m = math.Max(m, float64(v))
			}
			z := 0.0
			for _, v := range row {
				z += math.Exp(float64(v) - m)
			}
			s += -(float64(row[l]) - m - math.Log(z))
		}
		return s / float64(len(labels))
	}
	big := 0
	for i := range g {
		if math.Abs(float64(g[i])) > 1e-3 {
			big = i
			break
		}
	}
	const h = 1e-2
	xp, xm := append([]float32(nil), x...), append([]float32(nil), x...)
	xp[big] += h
	xm[big] -= h
	fd := (loss(xp) - loss(xm)) / (2 * h)
	if math.Abs(fd-float64(g[big])) > 0.2*math.Abs(fd)+1e-5 {
		t.Errorf("float input gradient %v, finite difference %v", g[big], fd)
	}
}

// TestPGDAtLeastFGSM: on a trained model PGD (10 steps) leaves no more
// accuracy than FGSM at the same ε, and FGSM hurts.
func TestPGDAtLeastFGSM(t *testing.T) {
	data, fm, q8, _ := toyModels(t)
	suite := Suite{Source: fm, Models: []*Model{q8}}
	// The toy classes are far apart: FGSM first bites at 0.3 (53% left,
	// measured), PGD leaves 9% there.
	eps := []float64{0, 0.3, 0.4}
	fg, err := Evaluate(context.Background(), data.Test, suite, eps, Config{Method: FGSM, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Evaluate(context.Background(), data.Test, suite, eps, Config{Method: PGD, Steps: 10, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"float", "ptq-w8a8"} {
		f, p := fg.Curve(m, WhiteBox), pg.Curve(m, WhiteBox)
		if f.Acc[0] != p.Acc[0] || f.Acc[0] < 0.9 {
			t.Errorf("%s: clean accuracy FGSM %v PGD %v", m, f.Acc[0], p.Acc[0])
		}
		for i := 1; i < len(eps); i++ {
			if p.Acc[i] > f.Acc[i] {
				t.Errorf("%s eps %v: PGD accuracy %v > FGSM %v", m, eps[i], p.Acc[i], f.Acc[i])
			}
		}
		if f.Acc[1] >= f.Acc[0] {
			t.Errorf("%s: FGSM at eps 0.3 did not lower accuracy (%v → %v)", m, f.Acc[0], f.Acc[1])
		}
	}
	for i, e := range eps {
		if fg.MaxLinf[i] > e+1e-6 || pg.MaxLinf[i] > e+1e-6 {
			t.Errorf("eps %v: max |x'−x| FGSM %v PGD %v", e, fg.MaxLinf[i], pg.MaxLinf[i])
		}
	}
	// The float model is the source: its white-box and transfer rows are the same attack.
	if a, b := fg.Curve("float", WhiteBox).Acc, fg.Curve("float", Transfer).Acc; a[1] != b[1] || a[2] != b[2] {
		t.Errorf("float white-box %v and transfer %v differ", a, b)
	}
}

// TestRuntimeTwin feeds a classifier that computes exactly what the W8A8
// model computes: its transfer and twin rows must equal the model's.
func TestRuntimeTwin(t *testing.T) {
	data, fm, q8, _ := toyModels(t)
	set := data.Test.Subset(100)
	twin, err := NewAttacker(q8, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()
	suite := Suite{Source: fm, Models: []*Model{q8}, Runtimes: []Runtime{{Name: "same", Classifier: twin, Twin: "ptq-w8a8"}}}
	res, err := Evaluate(context.Background(), set, suite, []float64{0.1}, Config{Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := res.Curve("same", Transfer).Acc[0], res.Curve("ptq-w8a8", Transfer).Acc[0]; a != b {
		t.Errorf("transfer: twin classifier %v, model %v", a, b)
	}
	if a, b := res.Curve("same", Twin).Acc[0], res.Curve("ptq-w8a8", WhiteBox).Acc[0]; a != b {
		t.Errorf("white-box: twin classifier %v, model %v", a, b)
	}
}

func TestSqueeze(t *testing.T) {
	src := []float32{0, 0.2, 0.49, 0.5, 0.51, 0.8, 1, 1.3, -0.1}
	dst := make([]float32, len(src))
	Squeeze(dst, src, 1, 0, 1)
	// 1 bit: round(t) with ties to even, so 0.5 → 0; out-of-range values clip first.
	want := []float32{0, 0, 0, 0, 1, 1, 1, 1, 0}
	for i := range want {
		if dst[i] != want[i] {
			t.Errorf("1 bit: %v → %v, want %v", src[i], dst[i], want[i])
		}
	}
	Squeeze(dst, []float32{0.2, 0.5}, 2, 0, 1)
	// 2 bits: levels 0, 1/3, 2/3, 1; 0.2·3 = 0.6 → 1/3, 0.5·3 = 1.5 → 2 (even) → 2/3.
	if dst[0] != float32(1.0/3) || dst[1] != float32(2.0/3) {
		t.Errorf("2 bits: got %v %v", dst[0], dst[1])
	}
	// Squeezing on a model: clean accuracy of a 1-bit squeezed toy model stays high
	// (the prototypes are bright on dark) and its white-box attack still runs (BPDA).
	data, fm, _, _ := toyModels(t)
	sq := &Model{Name: "squeeze-1bit", Net: fm.Net, Squeeze: 1}
	res, err := Evaluate(context.Background(), data.Test.Subset(100), Suite{Source: fm, Models: []*Model{sq}}, []float64{0, 0.3}, Config{Method: PGD, Steps: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Curve("squeeze-1bit", WhiteBox); c.Acc[0] < 0.8 {
		t.Errorf("squeezed clean accuracy %v", c.Acc[0])
	}
}

func TestBadSettings(t *testing.T) {
	data, fm, _, _ := toyModels(t)
	set := data.Test.Subset(10)
	suite := Suite{Source: fm}
	cases := []struct {
		name string
		eps  []float64
		cfg  Config
	}{
		{"unknown method", []float64{0.1}, Config{Method: "cw"}},
		{"negative steps", []float64{0.1}, Config{Method: PGD, Steps: -1}},
		{"negative batch", []float64{0.1}, Config{Batch: -2}},
		{"NaN step ratio", []float64{0.1}, Config{StepRatio: math.NaN()}},
		{"inverted range", []float64{0.1}, Config{Lo: 1, Hi: 0.5}},
		{"negative eps", []float64{-0.1}, Config{}},
		{"eps above the range", []float64{1.5}, Config{}},
		{"NaN eps", []float64{math.NaN()}, Config{}},
		{"no eps", nil, Config{}},
	}
	for _, c := range cases {
		_, err := Evaluate(context.Background(), set, suite, c.eps, c.cfg, nil)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a *ConfigError", c.name, err)
		}
	}
	if _, err := Evaluate(context.Background(), set, Suite{Source: fm, Models: []*Model{{Name: "float", Net: fm.Net}}}, []float64{0}, Config{}, nil); err == nil {
		t.Error("two models of one name accepted")
	}
	other := datasets.Synthetic(4, 4, 5, 5, 4, 0, 1)
	if _, err := Evaluate(context.Background(), other.Test, suite, []float64{0}, Config{}, nil); err == nil {
		t.Error("5×5 images accepted by an 8×8 model")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, set, suite, []float64{0.1}, Config{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

// TestNormalizedModel: a model with an input normalization is attacked in
// pixel units. Its predictions on pixels x equal the plain model's on the
// normalized batch that datasets.Batcher makes (the same arithmetic, so
// bit for bit), and its pixel gradient is the plain model's gradient at
// the normalized input divided by the channel's std (the chain rule,
// exact here: one division per element).
func TestNormalizedModel(t *testing.T) {
	data, plain, _, _ := toyModels(t)
	norm := datasets.Norm{Mean: []float32{0.3}, Std: []float32{0.7}}
	const n = 40
	x, labels := testImages(data.Test, n)
	xn := make([]float32, len(x))
	ln := make([]int, n)
	bt := datasets.NewBatcher(data.Test, n, false, 0)
	if err := bt.SetNorm(norm); err != nil {
		t.Fatal(err)
	}
	bt.Next(xn, ln)

	withNorm := &Model{Name: "float", Net: plain.Net, Norm: &norm}
	a, err := NewAttacker(withNorm, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewAttacker(plain, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pa, err := a.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Predict(xn, n)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pa, pb) {
		t.Errorf("predictions on pixels %v differ from the plain model's on normalized inputs %v", pa, pb)
	}
	ga, gb := make([]float32, len(x)), make([]float32, len(x))
	if err := a.Gradient(ga, x, labels); err != nil {
		t.Fatal(err)
	}
	if err := b.Gradient(gb, xn, labels); err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for i := range ga {
		if want := gb[i] / norm.Std[0]; ga[i] != want {
			t.Fatalf("gradient %d: %v, want %v", i, ga[i], want)
		}
		if ga[i] != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("the gradient is zero everywhere: the test proves nothing")
	}
	if _, err := NewAttacker(&Model{Name: "bad", Net: plain.Net, Norm: &datasets.Norm{Mean: []float32{0, 0}, Std: []float32{1, 1}}}, Config{}); err == nil {
		t.Error("a normalization with 2 channels for a 1-channel network was accepted")
	}
}
