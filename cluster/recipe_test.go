package cluster

import (
	"context"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestQuantizeKeepsNormalization: PTQ and clustering of a normalized run
// evaluate, calibrate and fine-tune on inputs normalized as the model
// was trained (their float accuracy is the run's), and refuse another
// normalization.
func TestQuantizeKeepsNormalization(t *testing.T) {
	dir := t.TempDir()
	tr := newTiny(t, rundir.Config{Epochs: 1, Batch: 64, Seed: 3, Normalize: true})
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qat.PTQ(context.Background(), ck, tiny(), qat.Options{Train: rundir.Config{Batch: 64}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Trainer.Close()
	if res.FloatAcc != ck.TestAcc || !slices.Equal(res.Trainer.Cfg.Mean, ck.Config.Mean) {
		t.Fatalf("PTQ float accuracy %v (run %v), mean %v (run %v)", res.FloatAcc, ck.TestAcc, res.Trainer.Cfg.Mean, ck.Config.Mean)
	}
	cl, err := FineTune(context.Background(), ck, tiny(), Options{Cluster: Config{Bits: 4}, Train: rundir.Config{Batch: 64}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Trainer.Close()
	if cl.FloatAcc != ck.TestAcc {
		t.Fatalf("cluster float accuracy %v, run %v", cl.FloatAcc, ck.TestAcc)
	}
	other := rundir.Config{Batch: 64, Mean: []float32{0.5}, Std: []float32{0.25}}
	if _, err := qat.PTQ(context.Background(), ck, tiny(), qat.Options{Train: other}); err == nil {
		t.Fatal("PTQ with another normalization than the run's: no error")
	}
}
