package qat

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// TestQATDistillResumeExact: QAT distilled from its own float run (self-
// distillation) differs from plain QAT, records its teacher, and a run
// interrupted after its first epoch resumes to the same weights,
// quantizer parameters and metrics as a straight one.
func TestQATDistillResumeExact(t *testing.T) {
	data := resumeData()
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	floatDir := t.TempDir()
	ft, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 32, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	ft.Progress, ft.RunDir = nil, floatDir
	if err := ft.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ft.Close()
	ck, err := rundir.LoadCheckpoint(floatDir)
	if err != nil {
		t.Fatal(err)
	}
	qc := Config{BitsW: 4, BitsA: 4, FreezeAfter: 6, CalibBatches: 2}
	plainTC := rundir.Config{Epochs: 2, Batch: 32, LR: 1e-3}
	tc := plainTC
	tc.Distill = &rundir.Distill{Teacher: floatDir, Weight: 0.9, Temp: 2}

	plain, err := Quantize(context.Background(), ck, data, Options{Quant: qc, Train: plainTC})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Trainer.Close()
	straightDir, crashDir := t.TempDir(), t.TempDir()
	straight, err := Quantize(context.Background(), ck, data, Options{Quant: qc, Train: tc, RunDir: straightDir})
	if err != nil {
		t.Fatal(err)
	}
	defer straight.Trainer.Close()
	if slices.Equal(plain.Trainer.Model.Params[0].Data(), straight.Trainer.Model.Params[0].Data()) {
		t.Fatal("distillation left QAT unchanged")
	}

	mid := interruptAfterEpoch1(t, ck, data, qc, tc, crashDir)
	if d := mid.Config.Distill; d == nil || d.Teacher != floatDir || d.TeacherSHA != ck.WeightsSHA() || d.Weight != 0.9 || d.Temp != 2 {
		t.Fatalf("checkpoint records distillation %+v, want teacher %s sha %s", d, floatDir, ck.WeightsSHA())
	}
	resumed, err := Resume(context.Background(), mid, resumeData(), ResumeOptions{RunDir: crashDir})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Trainer.Close()
	for i, p := range straight.Trainer.Model.Params {
		if !slices.Equal(p.Data(), resumed.Trainer.Model.Params[i].Data()) {
			t.Errorf("parameter %s differs", p.Name)
		}
	}
	sameQuantAndMetrics(t, straight.Quantizer, resumed.Quantizer, straightDir, crashDir)

	// The float run trains on after the QAT run started: the resume is
	// refused.
	ck.Params[m.Params[0].Name][0] += 1
	if err := rundir.SaveCheckpoint(filepath.Join(floatDir, rundir.CheckpointFile), ck); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), mid, resumeData(), ResumeOptions{RunDir: crashDir}); err == nil {
		t.Fatal("resume with a changed teacher accepted")
	} else if _, ok := err.(*train.TeacherChangedError); !ok {
		t.Fatalf("resume with a changed teacher: %v", err)
	}
}
