package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

func TestSoftmaxCrossEntropy(t *testing.T) {
	// One row, logits [0, ln 3], class 1: softmax = [1/4, 3/4], L = −ln(3/4).
	// Second row: logits [1000, 0] would overflow a naive exp; class 0: L ≈ 0.
	z := []float32{0, float32(math.Log(3)), 1000, 0}
	y := []float32{0, 1, 1, 0}
	loss, grad := xentRun(t, z, y)
	want := (-math.Log(0.75) + 0) / 2
	if math.Abs(float64(loss)-want) > 1e-6 {
		t.Fatalf("loss %v, want %v", loss, want)
	}
	// Gradient (softmax − y)/N: row 0 = [1/4, −1/4]/2, row 1 = [0, 0].
	wantG := []float32{0.125, -0.125, 0, 0}
	for i := range grad {
		if math.Abs(float64(grad[i]-wantG[i])) > 1e-6 {
			t.Fatalf("grad %v, want %v", grad, wantG)
		}
	}
	// Finite differences on a smooth point.
	z = []float32{0.3, -1.2, 2.0, 0.5, 0.1, -0.4}
	y = []float32{0, 1, 0.2, 0.8, 1, 0} // rows sum to 1, as the fused gradient assumes
	_, grad = xentRun(t, z, y)
	for i := range z {
		h := float32(1e-2)
		zp, zm := slices.Clone(z), slices.Clone(z)
		zp[i] += h
		zm[i] -= h
		lp, _ := xentRun(t, zp, y)
		lm, _ := xentRun(t, zm, y)
		fd := (lp - lm) / (2 * h)
		if math.Abs(float64(fd-grad[i])) > 1e-3 {
			t.Fatalf("∂L/∂z[%d] = %v, finite difference %v", i, grad[i], fd)
		}
	}
}

// xentRun runs SoftmaxCrossEntropy on a graph of two-class logits and
// returns the loss and ∂L/∂z (distillRun's cross-entropy case).
func xentRun(t *testing.T, z, y []float32) (float32, []float32) {
	t.Helper()
	return distillRun(t, z, y, make([]float32, len(z)), 2, 0, 1, true)
}

func TestAdamFirstStep(t *testing.T) {
	// Adam's first bias-corrected step is lr·g/(|g|+ε) ≈ lr·sign(g) (Kingma & Ba, §2.1).
	a := newAdamW([]int{2}, 0)
	w := []float32{1, 1}
	a.Step([][]float32{w}, [][]float32{{0.5, -3}}, 0.1)
	if math.Abs(float64(w[0])-0.9) > 1e-6 || math.Abs(float64(w[1])-1.1) > 1e-6 {
		t.Fatal(w)
	}
}

func TestLearningRateSchedule(t *testing.T) {
	// Cosine from base to base/100: start, middle, end.
	if lr := LearningRate("cosine", 1, 0, 10); lr != 1 {
		t.Error(lr)
	}
	if lr := LearningRate("cosine", 1, 5, 10); math.Abs(lr-0.505) > 1e-12 {
		t.Error(lr)
	}
	if lr := LearningRate("cosine", 1, 10, 10); math.Abs(lr-0.01) > 1e-12 {
		t.Error(lr)
	}
}

// tiny is a fast, learnable problem: 8×8 images, 4 classes.
func tiny() *datasets.Pair { return datasets.Synthetic(512, 128, 8, 8, 4, 60, 1) }

func newTiny(t *testing.T, cfg rundir.Config) *Trainer {
	t.Helper()
	data := tiny()
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = nil
	return tr
}

func TestConvergesOnSynthetic(t *testing.T) {
	tr := newTiny(t, rundir.Config{Epochs: 3, Batch: 50, Seed: 1}) // 512/50: a partial last batch
	tr.RunDir = t.TempDir()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tr.TestAcc < 0.95 {
		t.Fatalf("test accuracy %v after 3 epochs, want ≥ 0.95", tr.TestAcc)
	}
	lines, _ := os.ReadFile(filepath.Join(tr.RunDir, rundir.MetricsFile))
	if n := strings.Count(string(lines), "\n"); n != 3 || !strings.Contains(string(lines), `"test_acc"`) {
		t.Fatalf("metrics log has %d lines: %s", n, lines)
	}
}

// TestDeterministicAndResumable runs with and without augmentation by
// random shifts (their generator is seeded per epoch, so a resume draws
// the same shifts).
func TestDeterministicAndResumable(t *testing.T) {
	for _, shift := range []int{0, 2} {
		t.Run(fmt.Sprintf("shift%d", shift), func(t *testing.T) { testResumable(t, shift) })
	}
}

func testResumable(t *testing.T, shift int) {
	run := func(epochs int, dir string) *Trainer {
		tr := newTiny(t, rundir.Config{Epochs: epochs, Batch: 64, Seed: 9, Shift: shift})
		tr.RunDir = dir
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a := run(2, t.TempDir())
	b := run(2, t.TempDir())
	for i := range a.Model.Params {
		if !slices.Equal(a.Model.Params[i].Data(), b.Model.Params[i].Data()) {
			t.Fatalf("same seed, different %s", a.Model.Params[i].Name)
		}
	}
	// A run of two epochs that dies early in the second, resumed from the
	// checkpoint of the first: identical to two straight epochs.
	dir := t.TempDir()
	crash := newTiny(t, rundir.Config{Epochs: 2, Batch: 64, Seed: 9, Shift: shift})
	crash.RunDir = dir
	crash.BeforeStep = func(step int) error {
		if step == 10 { // 512/64 = 8 steps per epoch: step 10 is in epoch 2
			return context.Canceled
		}
		return nil
	}
	if err := crash.Run(context.Background()); err != context.Canceled {
		t.Fatalf("crash run: %v", err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ck.Model()
	if err != nil {
		t.Fatal(err)
	}
	if ck.Epoch != 1 {
		t.Fatalf("checkpoint at epoch %d", ck.Epoch)
	}
	tr, err := NewTrainer(m, tiny(), ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = nil
	if err := tr.Resume(ck); err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range a.Model.Params {
		if !slices.Equal(a.Model.Params[i].Data(), tr.Model.Params[i].Data()) {
			t.Fatalf("resumed run differs in %s", a.Model.Params[i].Name)
		}
	}
}

func TestDivergenceStopsWithoutDamage(t *testing.T) {
	dir := t.TempDir()
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64, Seed: 1})
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	tr.Cfg.Epochs = 2
	tr.Cfg.LR = 1e30 // explodes the weights within a few steps
	tr.Cfg.Schedule = "constant"
	err := tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step") || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("got %v, want a divergence error naming the step", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	if !slices.Equal(before, after) {
		t.Fatal("divergence changed the saved checkpoint")
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 128})
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, rundir.CheckpointFile)
	good, _ := os.ReadFile(path)
	write := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "ck")
		os.WriteFile(p, b, 0o644)
		return p
	}
	flipped := slices.Clone(good)
	flipped[len(flipped)-100] ^= 0xff
	cases := map[string]string{
		write(good[:len(good)/2]):  "truncated",
		write(good[:20]):           "truncated",
		write(flipped):             "checksum",
		write([]byte("hello")):     "too short",
		filepath.Join(dir, "nope"): "no checkpoint",
	}
	for p, want := range cases {
		if _, err := rundir.LoadCheckpoint(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want error containing %q", filepath.Base(p), err, want)
		}
	}
	// A checkpoint of another model cannot be resumed into this one.
	ck, _ := rundir.LoadCheckpoint(path)
	m5, _ := nn.New("lenet5", nn.Shape{C: 1, H: 28, W: 28}, 10, 1)
	tr5, _ := NewTrainer(m5, datasets.Synthetic(8, 8, 28, 28, 10, 10, 1), rundir.Config{})
	if err := tr5.Resume(ck); err == nil {
		t.Error("lenet300 checkpoint resumed into lenet5")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []rundir.Config{{Epochs: -1}, {Batch: -5}, {LR: math.NaN()}, {LR: -1}, {Optimizer: "rmsprop"}, {Schedule: "step"}, {Shift: -1}, {Shift: 9}}
	for _, c := range bad {
		if err := c.Defaults().Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestLongCallsTakeAContext: Accuracy stops with the context's error
// when it is cancelled (it used to take no context; qat's
// TestCalibrateTakesAContext checks Calibrate).
func TestLongCallsTakeAContext(t *testing.T) {
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := nn.NewPredictor(tr.Model, nil)
	defer p.Close()
	if _, err := Accuracy(ctx, p, tr.test, 16); err != context.Canceled {
		t.Errorf("Accuracy: %v", err)
	}
}

// TestConfigFloat32: a float setting that does not survive the conversion
// to float32 (the optimizers' type) is refused, naming the setting: --lr
// 1e-320 used to be accepted and train at a rate of 0.
func TestConfigFloat32(t *testing.T) {
	for _, c := range []struct {
		cfg   rundir.Config
		field string // "" for accepted
	}{
		{rundir.Config{LR: 1e-320}, "lr"}, // 0 in float32
		{rundir.Config{LR: 1e-40}, "lr"},  // subnormal in float32
		{rundir.Config{LR: 1e-38}, "lr"},  // below the smallest normal float32, 1.1754944e-38
		{rundir.Config{LR: 3.5e38}, "lr"}, // +Inf in float32
		{rundir.Config{WeightDecay: 1e-320}, "weight_decay"},
		{rundir.Config{WeightDecay: 1e-45}, "weight_decay"},
		{rundir.Config{Momentum: 0.99999999999}, "momentum"}, // rounds to 1 in float32
		{rundir.Config{Momentum: 1e-300}, "momentum"},
		{rundir.Config{LR: 2e-38}, ""},
		{rundir.Config{LR: 3e38, WeightDecay: 1e-30}, ""},
		{rundir.Config{Momentum: 0.999999}, ""},
	} {
		err := c.cfg.Defaults().Validate()
		var ce *rundir.ConfigError
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v refused: %v", c.cfg, err)
			}
		} else if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: got %v, want a rundir.ConfigError on %s", c.cfg, err, c.field)
		}
	}
}

// stripTimes drops the fields of metrics lines that measure time or heap.
func stripTimes(ms []rundir.EpochMetrics) []rundir.EpochMetrics {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Seconds, out[i].EvalSecs, out[i].HeapMB = 0, 0, 0
	}
	return out
}

// TestOpenNewRunResumed: OpenNewRun on a trainer that resumed a run is an
// error (ErrResumed); it used to panic.
func TestOpenNewRunResumed(t *testing.T) {
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 128})
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	tr2 := newTiny(t, rundir.Config{Epochs: 1, Batch: 128})
	if err := tr2.Resume(ck); err != nil {
		t.Fatal(err)
	}
	if _, err := tr2.OpenNewRun(t.TempDir()); !errors.Is(err, ErrResumed) {
		t.Fatalf("OpenNewRun after Resume: %v, want ErrResumed", err)
	}
}
