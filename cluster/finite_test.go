package cluster

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// TestDivergedClusterSavesNothing: cluster fine-tuning at an absurd
// learning rate used to save a checkpoint with −Inf biases (the fake-quant
// clip kept the loss finite) and fail only at export. Whether the weights
// overflow the activations first (1e30) or a bias goes to −Inf (3e38, just
// below math.MaxFloat32), the run stops with a train.DivergedError and the new
// run's directory holds neither a checkpoint nor a log.
func TestDivergedClusterSavesNothing(t *testing.T) {
	data := clusterData()
	fl := clusterFloat(t, data)
	for _, lr := range []float64{1e30, 3e38} {
		dir := t.TempDir()
		_, err := FineTune(context.Background(), fl, data, Options{Cluster: Config{Bits: 2}, Train: rundir.Config{Epochs: 1, Batch: 64, LR: lr}, RunDir: dir})
		var de *train.DivergedError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "diverged") || strings.Contains(err.Error(), "PC ") {
			t.Fatalf("lr %g: got %v, want a train.DivergedError", lr, err)
		}
		t.Logf("lr %g: %v", lr, err)
		noFiles(t, dir, rundir.CheckpointFile, rundir.MetricsFile)
	}
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
	_, err := qat.PTQ(context.Background(), fl, tiny(), qat.Options{Train: rundir.Config{Batch: 64}, RunDir: dir})
	check("PTQ", err)
	_, err = qat.Quantize(context.Background(), fl, tiny(), qat.Options{Train: rundir.Config{Epochs: 1, Batch: 64}, RunDir: dir})
	check("Quantize", err)
	_, err = FineTune(context.Background(), fl, tiny(), Options{Cluster: Config{Bits: 2}, Train: rundir.Config{Epochs: 1, Batch: 64}, RunDir: dir})
	check("FineTune", err)
	noFiles(t, dir, rundir.CheckpointFile, rundir.MetricsFile)

	m, err := fl.Model()
	if err != nil {
		t.Fatal(err)
	}
	q, err := qat.New(m, qat.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = q.Calibrate(context.Background(), m, tiny().Train, 64, 1)
	check("Calibrate", err)
	if err != nil && !strings.Contains(err.Error(), "batch 1") {
		t.Errorf("Calibrate: %v does not name the batch", err)
	}
}
