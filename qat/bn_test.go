package qat

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// bnModel is a small network with every modern layer: conv + batch norm
// + ReLU, a residual block whose body has a depthwise conv + BN + ReLU6
// and a conv + BN, global average pooling and a linear classifier.
func bnModel(t *testing.T) *nn.Model {
	t.Helper()
	layers := []nn.Layer{
		&nn.Conv2D{Name: "conv1", Out: 4, K: 3, Pad: 1}, &nn.BatchNorm2D{Name: "bn1"}, &nn.ReLU{},
		&nn.Residual{Name: "res1", ReLU: true, Body: []nn.Layer{
			&nn.Conv2D{Name: "c2", Out: 4, K: 3, Pad: 1, Groups: 4}, &nn.BatchNorm2D{Name: "bn2"}, &nn.ReLU6{},
			&nn.Conv2D{Name: "pw", Out: 4, K: 1}, &nn.BatchNorm2D{Name: "bn3"},
		}},
		&nn.GlobalAvgPool{Name: "gap"},
		&nn.Linear{Name: "fc", Out: 4},
	}
	m, err := nn.NewSequential("tinybn", nn.Shape{C: 1, H: 8, W: 8}, 4, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// floatBN trains bnModel one float epoch on resumeData and returns the
// checkpoint as saved and loaded.
func floatBN(t *testing.T) *rundir.Checkpoint {
	t.Helper()
	m := bnModel(t)
	if len(m.Buffers) == 0 {
		t.Fatal("a model with batch norm has no buffers")
	}
	dir := t.TempDir()
	ft, err := train.NewTrainer(m, resumeData(), rundir.Config{Epochs: 1, Batch: 32, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	ft.Progress, ft.RunDir = nil, dir
	if err := ft.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.BNFrozen() {
		t.Fatal("float training froze batch norm")
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Version != rundir.CheckpointVersion || ck.Spec == "" {
		t.Fatalf("checkpoint version %d, spec %q", ck.Version, ck.Spec)
	}
	// The reloaded model is the same network: parameters, running
	// statistics (which training moved away from their initial 0 and 1)
	// and accuracy.
	m2, err := ck.Model()
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range m.Buffers {
		if !slices.Equal(b.Data(), m2.Buffers[i].Data()) {
			t.Fatalf("buffer %s differs after reload", b.Name)
		}
	}
	moved := false
	for _, b := range m.Buffers {
		for _, v := range b.Data() {
			moved = moved || (v != 0 && v != 1)
		}
	}
	if !moved {
		t.Fatal("training left the running statistics at their initial values")
	}
	acc, err := train.Accuracy(context.Background(), nn.NewPredictor(m2, nil), resumeData().Test, 64)
	if err != nil || acc != ft.TestAcc {
		t.Fatalf("reloaded accuracy %v (%v), trained %v", acc, err, ft.TestAcc)
	}
	return ck
}

// TestQATResumeExactBN: TestQATResumeExact on a network with batch norm,
// a residual addition, ReLU6, a depthwise conv and global average
// pooling: two QAT epochs straight and one epoch + Resume give
// bit-identical weights, running statistics, quantizer parameters and
// metrics, with batch norm frozen before the interruption (step 2), after
// it (step 6 is in epoch 2), or never.
func TestQATResumeExactBN(t *testing.T) {
	ck := floatBN(t)
	tc := rundir.Config{Epochs: 2, Batch: 32, LR: 1e-3}
	for _, f := range []int{2, 6, FreezeNever} {
		t.Run(fmt.Sprintf("freeze-bn%d", f), func(t *testing.T) {
			qc := Config{BitsW: 4, BitsA: 6, FreezeAfter: 3, FreezeBNAfter: f, CalibBatches: 2}
			straightDir, crashDir := t.TempDir(), t.TempDir()
			straight, err := Quantize(context.Background(), ck, resumeData(), Options{Quant: qc, Train: tc, RunDir: straightDir})
			if err != nil {
				t.Fatal(err)
			}
			defer straight.Trainer.Close()
			if q := straight.Quantizer; q.Slot("res1.out").Add == nil || q.Slot("gap.out").MeanOf == nil || q.Slot("c2.out").Max != 6 {
				t.Fatal("the residual, mean and ReLU6 slots are not exact add, mean and clamped states")
			}
			if got := straight.Trainer.Model.BNFrozen(); got != (f != FreezeNever) {
				t.Fatalf("batch norm frozen %v after 8 steps with FreezeBNAfter %d", got, f)
			}

			mid := interruptAfterEpoch1(t, ck, resumeData(), qc, tc, crashDir)
			if mid.BNFrozen != (f == 2) {
				t.Fatalf("checkpoint after 4 steps: BN frozen %v with FreezeBNAfter %d", mid.BNFrozen, f)
			}
			resumed, err := Resume(context.Background(), mid, resumeData(), ResumeOptions{RunDir: crashDir})
			if err != nil {
				t.Fatal(err)
			}
			defer resumed.Trainer.Close()

			sm, rm := straight.Trainer.Model, resumed.Trainer.Model
			for i, p := range sm.Params {
				if !slices.Equal(p.Data(), rm.Params[i].Data()) {
					t.Errorf("parameter %s differs", p.Name)
				}
			}
			for i, p := range sm.Buffers {
				if !slices.Equal(p.Data(), rm.Buffers[i].Data()) {
					t.Errorf("buffer %s differs", p.Name)
				}
			}
			if sm.BNFrozen() != rm.BNFrozen() {
				t.Errorf("BN frozen %v, resumed %v", sm.BNFrozen(), rm.BNFrozen())
			}
			sameQuantAndMetrics(t, straight.Quantizer, resumed.Quantizer, straightDir, crashDir)
		})
	}
}

// TestBNNeverFrozenNote: a QAT run too short to reach its batch-norm
// freeze (the default, one epoch, on a one-epoch run) says so; one that
// freezes within the run, or never by request, does not.
func TestBNNeverFrozenNote(t *testing.T) {
	ck := floatBN(t)
	tc := rundir.Config{Epochs: 1, Batch: 32, LR: 1e-3}
	for _, c := range []struct {
		freeze int
		note   bool
	}{{0, true}, {2, false}, {FreezeNever, false}} {
		var buf bytes.Buffer
		qc := Config{BitsW: 8, BitsA: 8, FreezeBNAfter: c.freeze, CalibBatches: 2}
		res, err := Quantize(context.Background(), ck, resumeData(), Options{Quant: qc, Train: tc, Progress: train.Lines(&buf)})
		if err != nil {
			t.Fatal(err)
		}
		res.Trainer.Close()
		if got := strings.Contains(buf.String(), "batch norm keeps batch statistics for all 4 steps"); got != c.note {
			t.Errorf("freeze-bn-after %d: note printed %v, want %v; output:\n%s", c.freeze, got, c.note, buf.String())
		}
	}
}

// TestCheckpointRefusesForeignTensors: a tensor in another shape than the
// flat one rundir.SaveCheckpoint writes, and a parameter the architecture does
// not have, are refused with the tensor named.
func TestCheckpointRefusesForeignTensors(t *testing.T) {
	ck := floatBN(t)
	path := filepath.Join(t.TempDir(), rundir.CheckpointFile)
	if err := rundir.SaveCheckpoint(path, ck); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	name := slices.Sorted(maps.Keys(ts))[0]
	tn := ts[name]
	tn.Shape = []int{tn.Shape[0], 1}
	ts[name] = tn
	bad := filepath.Join(t.TempDir(), "reshaped.safetensors")
	if err := stfile.Write(bad, ts, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := rundir.LoadCheckpoint(bad); err == nil || !strings.Contains(err.Error(), name+" has shape") {
		t.Errorf("reshaped %s: %v", name, err)
	}
	extra := *ck
	extra.Params = maps.Clone(ck.Params)
	extra.Params["ghost.weight"] = []float32{1, 2}
	path2 := filepath.Join(t.TempDir(), rundir.CheckpointFile)
	if err := rundir.SaveCheckpoint(path2, &extra); err != nil {
		t.Fatal(err)
	}
	if _, err := rundir.LoadCheckpoint(path2); err == nil || !strings.Contains(err.Error(), "ghost.weight that the") {
		t.Errorf("extra parameter: %v", err)
	}
}
