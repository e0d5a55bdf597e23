package qat

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// floatTiny trains the tiny problem in float and returns its checkpoint.
func floatTiny(t *testing.T) *rundir.Checkpoint {
	t.Helper()
	dir := t.TempDir()
	tr := newTiny(t, rundir.Config{Epochs: 2, Batch: 64, Seed: 3})
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func TestPTQAndQAT(t *testing.T) {
	ck := floatTiny(t)
	ptqDir := t.TempDir()
	res, err := PTQ(context.Background(), ck, tiny(), Options{Train: rundir.Config{Batch: 64}, RunDir: ptqDir})
	if err != nil {
		t.Fatal(err)
	}
	if res.PTQAcc < res.FloatAcc-0.02 {
		t.Fatalf("PTQ W8A8 %.3f vs float %.3f", res.PTQAcc, res.FloatAcc)
	}
	// The bias scale is S_in·S_w per output channel.
	q := res.Quantizer
	b, in, w := q.Slot("fc2.bias").Params(), q.Slot("fc1.out").Params(), q.Slot("fc2.weight").Params()
	for c := range b.Scale {
		if b.Scale[c] != in.Scale[0]*w.Scale[c] {
			t.Fatalf("bias scale %d: %v ≠ %v·%v", c, b.Scale[c], in.Scale[0], w.Scale[c])
		}
	}
	// PTQ checkpoint reloads to the same accuracy.
	pck, err := rundir.LoadCheckpoint(ptqDir)
	if err != nil || pck.Phase != "ptq" {
		t.Fatalf("%v phase %q", err, pck.Phase)
	}
	if acc := reloadAcc(t, pck); acc != res.PTQAcc {
		t.Fatalf("reloaded PTQ accuracy %v, at the end of PTQ %v", acc, res.PTQAcc)
	}

	qatDir := t.TempDir()
	res, err = Quantize(context.Background(), ck, tiny(), Options{Quant: Config{BitsW: 4, BitsA: 4, FreezeAfter: 4}, Train: rundir.Config{Epochs: 1, Batch: 64, LR: 1e-4}, RunDir: qatDir})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Quantizer.Frozen() {
		t.Fatal("observers not frozen after FreezeAfter steps")
	}
	qck, err := rundir.LoadCheckpoint(qatDir)
	if err != nil || qck.Phase != "qat" {
		t.Fatalf("%v phase %q", err, qck.Phase)
	}
	if acc := reloadAcc(t, qck); acc != res.TestAcc {
		t.Fatalf("reloaded Quantizer accuracy %v, at the end of Quantizer %v", acc, res.TestAcc)
	}
	// Resume for one more epoch.
	res2, err := Resume(context.Background(), qck, tiny(), ResumeOptions{Epochs: 2, RunDir: qatDir})
	if err != nil || res2.Trainer.Epoch != 2 {
		t.Fatalf("resume: %v", err)
	}
	// A quantized checkpoint is not a starting point for another quantization.
	if _, err := Quantize(context.Background(), qck, tiny(), Options{}); err == nil {
		t.Error("quantized a quantized checkpoint")
	}
	if _, _, err := Load(ck); err == nil || !strings.Contains(err.Error(), "float") {
		t.Errorf("Load of a float checkpoint: %v", err)
	}
}

func reloadAcc(t *testing.T, c *rundir.Checkpoint) float64 {
	t.Helper()
	m, q, err := Load(c)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := train.Accuracy(context.Background(), nn.NewPredictor(m, q), tiny().Test, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func TestLSQLearnsScales(t *testing.T) {
	ck := floatTiny(t)
	m, err := ck.Model()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Quantize(context.Background(), ck, tiny(), Options{Quant: Config{BitsW: 3, BitsA: 4, Estimator: "lsq"}, Train: rundir.Config{Epochs: 1, Batch: 64, LR: 1e-3}})
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	q := res.Quantizer
	// Calibrate a fresh quantizer the same way to see where the scales started.
	m2, _ := ck.Model()
	q0, _ := New(m2, Config{BitsW: 3, BitsA: 4, Estimator: "lsq"})
	if err := q0.Calibrate(context.Background(), m2, tiny().Train, 64, ck.Config.Seed); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, name := range []string{"fc1.weight", "fc2.weight", "fc1.out"} {
		a, b := q0.Slot(name).Params().Scale, q.Slot(name).Params().Scale
		for c := range a {
			if math.Abs(float64(a[c]-b[c])) > 1e-3*float64(a[c]) {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Fatal("LSQ left every scale where calibration put it")
	}
	if res.TestAcc < 0.5 {
		t.Fatalf("LSQ W3A4 accuracy %v", res.TestAcc)
	}
}

func TestQATConfigValidate(t *testing.T) {
	bad := []Config{{BitsW: 1}, {BitsW: 9}, {BitsA: 17}, {Observer: "kl"}, {Estimator: "pact"}, {ActScheme: "log"}, {FreezeAfter: -2}}
	for _, c := range bad {
		if err := c.Defaults().Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestZeroMeansTheSameEverywhere: rundir.Config.Epochs 0 is rundir.DefaultEpochs in
// Quantize as in NewTrainer (it used to mean PTQ there), PTQ is its own
// call and refuses epochs, and Config.FreezeAfter 0 is one epoch
// through New + Calibrate as through Quantize (New never froze).
func TestZeroMeansTheSameEverywhere(t *testing.T) {
	ck := floatTiny(t)
	if _, err := PTQ(context.Background(), ck, tiny(), Options{Train: rundir.Config{Epochs: 1}}); err == nil {
		t.Error("PTQ accepted epochs")
	}
	res, err := Quantize(context.Background(), ck, tiny(), Options{Train: rundir.Config{Batch: 64, TrainLimit: 128, TestLimit: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Trainer.Epoch != rundir.DefaultEpochs {
		t.Errorf("Quantize with Epochs 0 ran %d epochs, want %d", res.Trainer.Epoch, rundir.DefaultEpochs)
	}
	// One epoch of the 128 samples used (TrainLimit) in batches of 64: 2 steps.
	if res.Quantizer.Cfg.FreezeAfter != 2 {
		t.Errorf("Quantize resolved FreezeAfter 0 to %d, want 2", res.Quantizer.Cfg.FreezeAfter)
	}
	m, _ := ck.Model()
	q, err := New(m, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.BeforeStep(0); err == nil {
		t.Error("BeforeStep ran with FreezeAfter unresolved")
	}
	if err := q.Calibrate(context.Background(), m, tiny().Train, 100, 1); err != nil {
		t.Fatal(err)
	}
	// 512 samples in batches of 100: 6 steps (the last one partial).
	if q.Cfg.FreezeAfter != 6 {
		t.Fatalf("Calibrate resolved FreezeAfter 0 to %d, want 6", q.Cfg.FreezeAfter)
	}
	for i := range 7 {
		if err := q.BeforeStep(i); err != nil {
			t.Fatal(err)
		}
	}
	if !q.Frozen() {
		t.Error("New + Calibrate with FreezeAfter 0 never froze")
	}
}

// TestVersion2CheckpointLoads: a checkpoint written before version 3 (no
// "spec", no buffers, no "bn_frozen") still loads, rebuilding its model
// with nn.New(arch), and resumes its QAT run.
func TestVersion2CheckpointLoads(t *testing.T) {
	ck := floatTiny(t)
	dir := t.TempDir()
	res, err := Quantize(context.Background(), ck, tiny(), Options{Quant: Config{FreezeAfter: 2}, Train: rundir.Config{Epochs: 1, Batch: 64, LR: 1e-4}, RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	res.Trainer.Close()
	path := filepath.Join(dir, rundir.CheckpointFile)
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	meta["version"] = "2"
	delete(meta, "spec")
	delete(meta, "bn_frozen")
	// Version 2 wrote no freeze_bn_after in the quantizer's config.
	var qm map[string]any
	if err := json.Unmarshal([]byte(meta["quant"]), &qm); err != nil {
		t.Fatal(err)
	}
	delete(qm["config"].(map[string]any), "freeze_bn_after")
	b, _ := json.Marshal(qm)
	meta["quant"] = string(b)
	if err := stfile.Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	old, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if old.Version != 2 || old.Spec != "" {
		t.Fatalf("version %d spec %q", old.Version, old.Spec)
	}
	if acc := reloadAcc(t, old); acc != res.TestAcc {
		t.Fatalf("version-2 checkpoint evaluates to %v, was %v", acc, res.TestAcc)
	}
	res2, err := Resume(context.Background(), old, tiny(), ResumeOptions{Epochs: 2, RunDir: dir})
	if err != nil {
		t.Fatalf("resume of a version-2 checkpoint: %v", err)
	}
	res2.Trainer.Close()
}

// TestNewRefusesSlotsOutOfOrder: a model whose bias slot comes before its
// input and weight slots is an error (ErrSlotOrder); New used to panic.
func TestNewRefusesSlotsOutOfOrder(t *testing.T) {
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	bias := slices.IndexFunc(m.Slots, func(s *nn.Slot) bool { return s.Kind == nn.Bias })
	if bias < 1 {
		t.Fatalf("lenet300 has its first bias slot at %d", bias)
	}
	m.Slots = append([]*nn.Slot{m.Slots[bias]}, slices.Delete(slices.Clone(m.Slots), bias, bias+1)...)
	if _, err := New(m, Config{}); !errors.Is(err, ErrSlotOrder) {
		t.Fatalf("bias slot first: %v, want ErrSlotOrder", err)
	}
}
