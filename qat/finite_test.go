package qat

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// TestDivergedQATLeavesNothing: a QAT run whose first steps send the
// weights to ±Inf used to fail with a Gorgonia VM dump from a fake-quant
// node and leave the epoch-0 metrics line without a checkpoint. Now the
// error is a train.DivergedError naming the tensor and the step, and the new
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
		_, err := Quantize(context.Background(), ck, tiny(), Options{Train: rundir.Config{Epochs: 1, Batch: 64, LR: 1e30, Schedule: "constant"}, RunDir: dir})
		// The weights stay finite (≈1e30) but the activations overflow:
		// the error says so (Tensor "") instead of the observer's VM dump.
		var de *train.DivergedError
		if !errors.As(err, &de) || de.Epoch != 1 || de.Err == nil {
			t.Fatalf("got %v, want a train.DivergedError at epoch 1 from a step", err)
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

// TestDivergenceAfterCheckpointKeepsIt: a run that diverges in a later
// epoch keeps its earlier checkpoint and the log lines that match it.
func TestDivergenceAfterCheckpointKeepsIt(t *testing.T) {
	ck := floatTiny(t)
	dir := t.TempDir()
	if _, err := Quantize(context.Background(), ck, tiny(), Options{Train: rundir.Config{Epochs: 1, Batch: 64, LR: 1e-4}, RunDir: dir}); err != nil {
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
	_, err = Resume(context.Background(), qck, tiny(), ResumeOptions{Epochs: 2, RunDir: dir})
	var de *train.DivergedError
	if !errors.As(err, &de) || de.Epoch != 2 || de.Err != nil || de.Tensor == "" {
		t.Fatalf("got %v, want the end-of-epoch check's train.DivergedError in epoch 2 naming a tensor", err)
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

// TestLoadCheckpointRefusesNonFinite: a checkpoint with a NaN or Inf in a
// parameter, a buffer, the optimizer's or the quantizer's state, written
// with a valid checksum, is refused with a rundir.NonFiniteError naming the file
// and the tensor (it used to load, and ptq, qat and export failed later
// with a VM dump).
func TestLoadCheckpointRefusesNonFinite(t *testing.T) {
	fl := floatTiny(t)
	ptqDir := t.TempDir()
	if _, err := PTQ(context.Background(), fl, tiny(), Options{Train: rundir.Config{Batch: 64}, RunDir: ptqDir}); err != nil {
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

// TestCalibrateTakesAContext: Calibrate stops with the context's error
// when it is cancelled (it used to take no context).
func TestCalibrateTakesAContext(t *testing.T) {
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q, _ := New(tr.Model, Config{})
	if err := q.Calibrate(ctx, tr.Model, tr.TrainSet(), 16, 1); err != context.Canceled {
		t.Errorf("Calibrate: %v", err)
	}
}
