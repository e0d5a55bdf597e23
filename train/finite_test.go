package train

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestConfigFloatFields: every float setting refuses NaN, ±Inf and values
// outside its range with a *rundir.ConfigError naming the field (a NaN weight
// decay used to pass and fail an epoch later as a NaN loss).
func TestConfigFloatFields(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		field string
		set   func(*rundir.Config, float64)
		bad   []float64
		good  []float64
	}{
		{"lr", func(c *rundir.Config, v float64) { c.LR = v },
			// 1e39 is above math.MaxFloat32 (≈3.4e38): +Inf in the optimizers' float32.
			[]float64{nan, inf, -inf, -1, 1e39}, []float64{1e-9, 0.5, math.MaxFloat32}},
		{"momentum", func(c *rundir.Config, v float64) { c.Momentum = v },
			[]float64{nan, inf, -inf, -0.1, 1, 1.5}, []float64{0.5, 0.99}},
		{"weight_decay", func(c *rundir.Config, v float64) { c.WeightDecay = v },
			[]float64{nan, inf, -inf, -1e-4, 1e39}, []float64{0, 5e-4, 1}},
	}
	for _, tc := range cases {
		for _, v := range tc.bad {
			var c rundir.Config
			tc.set(&c, v)
			err := c.Defaults().Validate()
			var ce *rundir.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("%s = %v: got %v, want a rundir.ConfigError naming %s", tc.field, v, err, tc.field)
			}
		}
		for _, v := range tc.good {
			var c rundir.Config
			tc.set(&c, v)
			if err := c.Defaults().Validate(); err != nil {
				t.Errorf("%s = %v refused: %v", tc.field, v, err)
			}
		}
	}
}

// noFiles fails the test if any of names exists in dir.
func noFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left in the run directory (stat: %v)", n, err)
		}
	}
}

// TestDivergedQATLeavesNothing: a QAT run whose first steps send the
// weights to ±Inf used to fail with a Gorgonia VM dump from a fake-quant
// node and leave the epoch-0 metrics line without a checkpoint. Now the
// error is a DivergedError naming the tensor and the step, and the new
// run's directory holds neither file.
func TestDivergedQATLeavesNothing(t *testing.T) {
	ck := floatTiny(t)
	for _, stale := range []bool{false, true} {
		dir := t.TempDir()
		if stale {
			// A log left by an attempt that died before its checkpoint:
			// dropped (as before), and not refilled by this failing run.
			if err := rundir.AppendMetrics(filepath.Join(dir, rundir.MetricsFile), rundir.EpochMetrics{Epoch: 0, Phase: rundir.PhasePTQ, TestAcc: 0.5}); err != nil {
				t.Fatal(err)
			}
		}
		// 1e30: finite as a float32, and a weight step that overflows it.
		_, err := Quantize(context.Background(), ck, tiny(), QATConfig{}, rundir.Config{Epochs: 1, Batch: 64, LR: 1e30, Schedule: "constant"}, dir, nil)
		// The weights stay finite (≈1e30) but the activations overflow:
		// the error says so (Tensor "") instead of the observer's VM dump.
		var de *DivergedError
		if !errors.As(err, &de) || de.Epoch != 1 || de.Err == nil {
			t.Fatalf("got %v, want a DivergedError at epoch 1 from a step", err)
		}
		msg := err.Error()
		for _, want := range []string{"diverged", "overflows", "step", "lower learning rate"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q lacks %q", msg, want)
			}
		}
		if strings.Contains(msg, "PC ") || strings.Contains(msg, "instruction") {
			t.Errorf("%q carries the VM dump", msg)
		}
		noFiles(t, dir, rundir.CheckpointFile, rundir.MetricsFile)
	}
}

// TestDivergedClusterSavesNothing: cluster fine-tuning at an absurd
// learning rate used to save a checkpoint with −Inf biases (the fake-quant
// clip kept the loss finite) and fail only at export. Whether the weights
// overflow the activations first (1e30) or a bias goes to −Inf (3e38, just
// below math.MaxFloat32), the run stops with a DivergedError and the new
// run's directory holds neither a checkpoint nor a log.
func TestDivergedClusterSavesNothing(t *testing.T) {
	data := clusterData()
	fl := clusterFloat(t, data)
	for _, lr := range []float64{1e30, 3e38} {
		dir := t.TempDir()
		_, err := ClusterFineTune(context.Background(), fl, data, ClusterConfig{Bits: 2}, rundir.Config{Epochs: 1, Batch: 64, LR: lr}, dir, nil)
		var de *DivergedError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "diverged") || strings.Contains(err.Error(), "PC ") {
			t.Fatalf("lr %g: got %v, want a DivergedError", lr, err)
		}
		t.Logf("lr %g: %v", lr, err)
		noFiles(t, dir, rundir.CheckpointFile, rundir.MetricsFile)
	}
}

// TestDivergenceAfterCheckpointKeepsIt: a run that diverges in a later
// epoch keeps its earlier checkpoint and the log lines that match it.
func TestDivergenceAfterCheckpointKeepsIt(t *testing.T) {
	ck := floatTiny(t)
	dir := t.TempDir()
	if _, err := Quantize(context.Background(), ck, tiny(), QATConfig{}, rundir.Config{Epochs: 1, Batch: 64, LR: 1e-4}, dir, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	qck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 3e38, just below math.MaxFloat32: observers freeze after epoch 1, so
	// the weights' fake quantization clips them and the loss stays
	// finite; two Adam steps of ≈lr each send weights to ±Inf, which only
	// the end-of-epoch check sees.
	qck.Config.LR, qck.Config.Schedule = 3e38, "constant"
	_, err = ResumeQAT(context.Background(), qck, tiny(), 2, dir, nil)
	var de *DivergedError
	if !errors.As(err, &de) || de.Epoch != 2 || de.Err != nil || de.Tensor == "" {
		t.Fatalf("got %v, want the end-of-epoch check's DivergedError in epoch 2 naming a tensor", err)
	}
	t.Log(err)
	after, _ := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	if !slices.Equal(before, after) {
		t.Error("the checkpoint of epoch 1 changed")
	}
	if ms, err := rundir.ReadMetrics(filepath.Join(dir, rundir.MetricsFile)); err != nil || len(ms) != 2 {
		t.Errorf("log: %d lines (%v), want the PTQ line and epoch 1", len(ms), err)
	}
}

// TestCheckpointSaveRefusesNonFinite: the pre-save check covers every
// tensor group of a checkpoint, not only the model.
func TestCheckpointSaveRefusesNonFinite(t *testing.T) {
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64})
	good, err := tr.checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.checkSaveable(good); err != nil {
		t.Fatalf("a fresh model refused: %v", err)
	}
	tr.Step = 1 // Adam's moments exist after a step; fill one in
	for _, tc := range []struct {
		name  string
		spoil func(c *rundir.Checkpoint)
		want  string
	}{
		{"param", func(c *rundir.Checkpoint) { c.Params["fc2.bias"][1] = float32(math.Inf(-1)) }, "fc2.bias"},
		{"buffer", func(c *rundir.Checkpoint) { c.Buffers = map[string][]float32{"bn.var": {1, float32(math.NaN())}} }, "bn.var (buffer)"},
		{"optimizer", func(c *rundir.Checkpoint) { c.Opt["adam.v.0"] = []float32{float32(math.Inf(1))} }, "adam.v.0 (optimizer state)"},
		{"quantizer", func(c *rundir.Checkpoint) { c.Quant = map[string][]float32{"fc1.weight.scale": {float32(math.NaN())}} }, "fc1.weight.scale (quantizer state)"},
	} {
		c, _ := tr.checkpoint()
		tc.spoil(c)
		path := filepath.Join(t.TempDir(), rundir.CheckpointFile)
		err := tr.save(path, c)
		var de *DivergedError
		if !errors.As(err, &de) || de.Tensor != tc.want {
			t.Errorf("%s: got %v, want a DivergedError naming %s", tc.name, err, tc.want)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the checkpoint was written", tc.name)
		}
	}
}

// TestLoadCheckpointRefusesNonFinite: a checkpoint with a NaN or Inf in a
// parameter, a buffer, the optimizer's or the quantizer's state, written
// with a valid checksum, is refused with a rundir.NonFiniteError naming the file
// and the tensor (it used to load, and ptq, qat and export failed later
// with a VM dump).
func TestLoadCheckpointRefusesNonFinite(t *testing.T) {
	fl := floatTiny(t)
	ptqDir := t.TempDir()
	if _, err := PTQ(context.Background(), fl, tiny(), QATConfig{}, rundir.Config{Batch: 64}, ptqDir, nil); err != nil {
		t.Fatal(err)
	}
	pq, err := rundir.LoadCheckpoint(ptqDir)
	if err != nil {
		t.Fatal(err)
	}
	bn := floatBN(t)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name   string
		ck     *rundir.Checkpoint
		spoil  func(c *rundir.Checkpoint)
		tensor string
	}{
		{"param NaN", fl, func(c *rundir.Checkpoint) { c.Params["fc1.bias"][3] = nan }, "param.fc1.bias"},
		{"param -Inf", fl, func(c *rundir.Checkpoint) { c.Params["fc1.weight"][0] = -inf }, "param.fc1.weight"},
		{"buffer", bn, func(c *rundir.Checkpoint) {
			for k := range c.Buffers {
				c.Buffers[k][0] = inf
				return
			}
		}, "buffer."},
		{"optimizer", fl, func(c *rundir.Checkpoint) {
			for k := range c.Opt {
				c.Opt[k][0] = nan
				return
			}
		}, "opt."},
		{"scale", pq, func(c *rundir.Checkpoint) { c.Quant["fc1.weight.scale"][0] = inf }, "quant.fc1.weight.scale"},
	} {
		c := cloneCheckpoint(tc.ck)
		tc.spoil(c)
		path := filepath.Join(t.TempDir(), rundir.CheckpointFile)
		if err := rundir.SaveCheckpoint(path, c); err != nil {
			t.Fatal(err)
		}
		_, err := rundir.LoadCheckpoint(path)
		var nf *rundir.NonFiniteError
		var ce *stfile.CorruptError
		if !errors.As(err, &nf) || nf.Path != path || !strings.HasPrefix(nf.Tensor, tc.tensor) || !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a rundir.NonFiniteError (and CorruptError) naming %s and %s", tc.name, err, path, tc.tensor)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), nf.Tensor) {
			t.Errorf("%s: %q names neither the file nor the tensor", tc.name, err)
		}
	}
	// A NaN accuracy in the metadata would break every JSON report.
	c := cloneCheckpoint(fl)
	c.TestAcc = math.NaN()
	path := filepath.Join(t.TempDir(), rundir.CheckpointFile)
	if err := rundir.SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	if _, err := rundir.LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), "test_acc") {
		t.Errorf("NaN test accuracy: %v", err)
	}
}

// cloneCheckpoint copies c's tensors, so that spoiling one leaves c intact.
func cloneCheckpoint(c *rundir.Checkpoint) *rundir.Checkpoint {
	d := *c
	clone := func(m map[string][]float32) map[string][]float32 {
		if m == nil {
			return nil
		}
		out := map[string][]float32{}
		for k, v := range m {
			out[k] = slices.Clone(v)
		}
		return out
	}
	d.Params, d.Buffers, d.Opt, d.Quant = clone(c.Params), clone(c.Buffers), clone(c.Opt), clone(c.Quant)
	return &d
}

// TestNonFiniteFloatModelNotQuantized: a float model with a NaN weight
// (in memory: rundir.LoadCheckpoint refuses such a file) is refused by PTQ, QAT
// and clustering with its tensor's name, and Calibrate names it instead
// of the fake-quant node's VM dump.
func TestNonFiniteFloatModelNotQuantized(t *testing.T) {
	fl := cloneCheckpoint(floatTiny(t))
	fl.Params["fc2.weight"][7] = float32(math.NaN())
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "fc2.weight") || !strings.Contains(err.Error(), "non-finite") || strings.Contains(err.Error(), "PC ") {
			t.Errorf("%s: got %v, want an error naming fc2.weight", what, err)
		}
	}
	dir := t.TempDir()
	_, err := PTQ(context.Background(), fl, tiny(), QATConfig{}, rundir.Config{Batch: 64}, dir, nil)
	check("PTQ", err)
	_, err = Quantize(context.Background(), fl, tiny(), QATConfig{}, rundir.Config{Epochs: 1, Batch: 64}, dir, nil)
	check("Quantize", err)
	_, err = ClusterFineTune(context.Background(), fl, tiny(), ClusterConfig{Bits: 2}, rundir.Config{Epochs: 1, Batch: 64}, dir, nil)
	check("ClusterFineTune", err)
	noFiles(t, dir, rundir.CheckpointFile, rundir.MetricsFile)

	m, err := fl.Model()
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQAT(m, QATConfig{})
	if err != nil {
		t.Fatal(err)
	}
	err = q.Calibrate(context.Background(), m, tiny().Train, 64, 1)
	check("Calibrate", err)
	if err != nil && !strings.Contains(err.Error(), "batch 1") {
		t.Errorf("Calibrate: %v does not name the batch", err)
	}
}
