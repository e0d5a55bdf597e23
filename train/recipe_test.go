package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestRecipeResumeExact: with flips, crops and normalization from the
// training set on, a run interrupted after its first epoch and resumed
// writes the same checkpoint, byte for byte, as a run that was not
// interrupted; the checkpoint carries the normalization (computed from
// the first TrainLimit images), the flip, the crop and the class names.
func TestRecipeResumeExact(t *testing.T) {
	cfg := rundir.Config{Epochs: 2, Batch: 64, Seed: 9, Shift: 2, Flip: true, Normalize: true, TrainLimit: 448}
	names := []string{"a", "b", "c", "d"}
	newRun := func() *Trainer {
		tr := newTiny(t, cfg)
		tr.Data.Train.ClassNames, tr.Data.Test.ClassNames = names, names
		return tr
	}
	straightDir := t.TempDir()
	straight := newRun()
	straight.RunDir = straightDir
	if err := straight.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer straight.Close()

	crashDir := t.TempDir()
	crash := newRun()
	defer crash.Close()
	crash.RunDir = crashDir
	crash.BeforeStep = func(step int) error {
		if step == 9 { // 448/64 = 7 steps per epoch: step 9 is in epoch 2
			return context.Canceled
		}
		return nil
	}
	if err := crash.Run(context.Background()); err != context.Canceled {
		t.Fatalf("interrupted run: %v", err)
	}
	ck, err := rundir.LoadCheckpoint(crashDir)
	if err != nil {
		t.Fatal(err)
	}
	want := tiny().Train.Subset(448).Norm()
	if n := ck.Norm(); n == nil || !slices.Equal(n.Mean, want.Mean) || !slices.Equal(n.Std, want.Std) {
		t.Fatalf("checkpoint normalization %+v, want %+v", n, want)
	}
	if !slices.Equal(ck.ClassNames, names) || ck.ClassName(2) != "c" || !ck.Config.Flip || ck.Config.Shift != 2 {
		t.Fatalf("checkpoint class names %v, flip %v, shift %d", ck.ClassNames, ck.Config.Flip, ck.Config.Shift)
	}
	if rd := rundir.RunData(ck); rd.TrainLimit != 448 || !rd.Flip || rd.Shift != 2 || rd.Norm == nil || !slices.Equal(rd.ClassNames, names) {
		t.Fatalf("rundir.RunData %+v", rd)
	}
	m, err := ck.Model()
	if err != nil {
		t.Fatal(err)
	}
	data := tiny()
	data.Train.ClassNames, data.Test.ClassNames = names, names
	resumed, err := NewTrainer(m, data, ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	resumed.Progress = nil
	if err := resumed.Resume(ck); err != nil {
		t.Fatal(err)
	}
	resumed.RunDir = crashDir
	if err := resumed.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(filepath.Join(straightDir, rundir.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(crashDir, rundir.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the resumed run's checkpoint differs from the uninterrupted run's")
	}
	ma, _ := rundir.ReadMetrics(straightDir)
	mb, _ := rundir.ReadMetrics(crashDir)
	if !slices.Equal(stripTimes(ma), stripTimes(mb)) || len(ma) != 2 {
		t.Fatalf("metrics differ:\n straight %+v\n resumed  %+v", ma, mb)
	}
}

// TestVersion3CheckpointLoads: a file from before the input recipe and
// class names were recorded loads as a run without them.
func TestVersion3CheckpointLoads(t *testing.T) {
	dir := t.TempDir()
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64, Seed: 3})
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	path := filepath.Join(dir, rundir.CheckpointFile)
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := meta["class_names"]; ok {
		t.Fatal("class names written for data without them")
	}
	meta["version"] = "3"
	meta["config"] = `{"epochs":1,"batch":64,"optimizer":"adam","lr":0.003,"schedule":"cosine","momentum":0.9,"weight_decay":0,"seed":3,"eval_batch":1000,"train_limit":0,"test_limit":0}`
	if err := stfile.Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Version != 3 || ck.Norm() != nil || ck.ClassNames != nil || ck.ClassName(1) != "1" || ck.Config.Flip {
		t.Fatalf("version %d norm %v names %v", ck.Version, ck.Norm(), ck.ClassNames)
	}
	meta["class_names"] = `["a"]` // 4 classes
	if err := stfile.Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := rundir.LoadCheckpoint(dir); err == nil {
		t.Fatal("a checkpoint with 1 class name for 4 classes loaded")
	}
}

// TestDefaultEvalBatch: evaluation graphs hold every activation of their
// batch; the default is 256 (ResNet-8 on CIFAR-10 held 650 MB at 1000).
func TestDefaultEvalBatch(t *testing.T) {
	if got := (rundir.Config{}).Defaults().EvalBatch; got != 256 {
		t.Fatalf("default evaluation batch %d, want 256", got)
	}
	if got := (rundir.Config{EvalBatch: 1000}).Defaults().EvalBatch; got != 1000 {
		t.Fatalf("a given evaluation batch became %d", got)
	}
}
