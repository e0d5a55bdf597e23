package cluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// TestLibraryRefusesExistingCheckpoint: a new run of any kind (float,
// PTQ, QAT, cluster) into a directory holding a checkpoint is refused and
// leaves it as it was (a lenet300 run used to become lenet5); resuming
// the same network into it works.
func TestLibraryRefusesExistingCheckpoint(t *testing.T) {
	data := resumeData()
	dir := t.TempDir()
	m, _ := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	ft, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 64, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	ft.Progress, ft.RunDir = nil, dir
	if err := ft.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, err := ft.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile))
	ctx := context.Background()
	runs := map[string]func() error{
		"float, another network": func() error {
			tr, err := train.NewTrainer(bnModel(t), data, rundir.Config{Epochs: 1, Batch: 64})
			if err != nil {
				return err
			}
			tr.Progress, tr.RunDir = nil, dir
			return tr.Run(ctx)
		},
		"float lenet300": func() error {
			m, _ := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 2)
			tr, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 64})
			if err != nil {
				return err
			}
			tr.Progress, tr.RunDir = nil, dir
			return tr.Run(ctx)
		},
		"ptq": func() error {
			_, err := qat.PTQ(ctx, ck, data, qat.Options{Train: rundir.Config{Batch: 64}, RunDir: dir})
			return err
		},
		"qat": func() error {
			_, err := qat.Quantize(ctx, ck, data, qat.Options{Train: rundir.Config{Epochs: 1, Batch: 64}, RunDir: dir})
			return err
		},
		"cluster": func() error {
			_, err := FineTune(ctx, ck, data, Options{Cluster: Config{Bits: 2}, Train: rundir.Config{Epochs: 1, Batch: 64}, RunDir: dir})
			return err
		},
	}
	for name, run := range runs {
		err := run()
		var ee *rundir.ExistsError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), "already holds a checkpoint") {
			t.Errorf("%s into a run directory: got %v, want a rundir.ExistsError", name, err)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, rundir.CheckpointFile)); !bytes.Equal(before, after) {
			t.Fatalf("%s replaced the checkpoint", name)
		}
	}
	// Resuming the run itself is what the directory is for.
	rm, _ := ck.Model()
	rt, err := train.NewTrainer(rm, data, rundir.Config{Epochs: 2, Batch: 64, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Resume(ck); err != nil {
		t.Fatal(err)
	}
	rt.Progress, rt.RunDir = nil, dir
	if err := rt.Run(ctx); err != nil {
		t.Fatalf("resume of the same network: %v", err)
	}
}
