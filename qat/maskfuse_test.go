package qat

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// floatMobileNet trains mobilenet-tiny one float epoch on 28×28
// synthetic data (14×14 and 7×7 planes: full 16-lane blocks and ragged
// tails) and returns its checkpoint; planted, with every other channel's
// γ of each batch normalization scaled by 4 and its β raised by 2, so
// that QAT's activations pass ReLU6's top and the grids' (the masks have
// work).
func floatMobileNet(t *testing.T, data *datasets.Pair, plant bool) *rundir.Checkpoint {
	t.Helper()
	m, err := nn.New("mobilenet-tiny", nn.Shape{C: 1, H: 28, W: 28}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ft, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 32, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	ft.Progress, ft.RunDir = nil, dir
	if err := ft.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	planted := 0
	for name, v := range ck.Params {
		if !plant {
			break
		}
		if filepath.Ext(name) != ".gamma" {
			continue
		}
		beta := ck.Params[name[:len(name)-len("gamma")]+"beta"]
		for c := 0; c < len(v); c += 2 {
			v[c] *= 4
			beta[c] += 2
			planted++
		}
	}
	if plant && planted == 0 {
		t.Fatal("no batch normalization in mobilenet-tiny's checkpoint")
	}
	return ck
}

// TestQATMaskFusedMatchesUnfused: QAT of mobilenet-tiny with every
// activation quantizer leaving its gradient mask (the clipped estimator's
// interval and ReLU6's top) to the batch normalization + ReLU before it
// (nn.MaskQuantizer, fakequant.NewMasked) writes, byte for byte, the
// checkpoint and metrics of the unfused run (the quantizer's own mask
// pass), and its observers recording the extremes the normalization
// measured while writing its output (no pass of their own), with
// observers and batch statistics updating every step, and with both
// frozen partway; on planted activations past ReLU6's top, and on an
// affine grid (whose zero point and scale follow both extremes). The
// fused runs must hand every mask over with a finite top, and the
// extremes of every step with batch statistics (not vacuous).
func TestQATMaskFusedMatchesUnfused(t *testing.T) {
	data := datasets.Synthetic(128, 64, 28, 28, 4, 60, 1)
	planted, plain := floatMobileNet(t, data, true), floatMobileNet(t, data, false)
	tc := rundir.Config{Epochs: 2, Batch: 32, LR: 3e-3}
	defer func() { fuseMask, onMask, onExtremes = true, nil, nil }()
	for _, c := range []struct {
		name string
		ck   *rundir.Checkpoint
		qc   Config
	}{
		{"planted", planted, Config{FreezeAfter: FreezeNever, FreezeBNAfter: FreezeNever, CalibBatches: 2}},
		{"planted-w4a4", planted, Config{BitsW: 4, BitsA: 4, FreezeAfter: 3, FreezeBNAfter: 5, CalibBatches: 2}},
		{"affine", plain, Config{ActScheme: ActAffine, FreezeAfter: FreezeNever, FreezeBNAfter: FreezeNever, CalibBatches: 2}},
	} {
		ck, qc := c.ck, c.qc
		t.Run(fmt.Sprintf("%s-freeze%d-bn%d", c.name, qc.FreezeAfter, qc.FreezeBNAfter), func(t *testing.T) {
			var ckpt [2][]byte
			var metrics [2][]rundir.EpochMetrics
			for i, fuse := range []bool{false, true} {
				fuseMask = fuse
				handed, finite, measured := 0, 0, 0
				onMask = func(thi float32, ok bool) {
					if ok {
						handed++
						finite += int(b2i(thi < float32(math.Inf(1))))
					}
				}
				onExtremes = func(ok bool) { measured += int(b2i(ok)) }
				dir := t.TempDir()
				res, err := Quantize(context.Background(), ck, data, Options{Quant: qc, Train: tc, RunDir: dir})
				if err != nil {
					t.Fatal(err)
				}
				res.Trainer.Close()
				// 7 activation slots after a batch norm + ReLU6, 8 steps.
				if want := 7 * 8 * int(b2i(fuse)); handed != want || finite != want {
					t.Fatalf("fuse %v: %d masks handed over, %d with a finite top, want %d", fuse, handed, finite, want)
				}
				// Extremes measured in the steps with batch statistics.
				steps := 8
				if qc.FreezeBNAfter > 0 {
					steps = min(steps, qc.FreezeBNAfter)
				}
				if want := 7 * steps * int(b2i(fuse)); measured != want {
					t.Fatalf("fuse %v: %d extremes measured, want %d", fuse, measured, want)
				}
				if ckpt[i], err = os.ReadFile(filepath.Join(dir, rundir.CheckpointFile)); err != nil {
					t.Fatal(err)
				}
				ms, err := rundir.ReadMetrics(dir)
				if err != nil {
					t.Fatal(err)
				}
				metrics[i] = stripTimes(ms)
			}
			if !bytes.Equal(ckpt[0], ckpt[1]) {
				t.Error("the fused run's checkpoint differs from the unfused run's")
			}
			if !slices.Equal(metrics[0], metrics[1]) {
				t.Errorf("metrics differ:\n unfused %+v\n fused   %+v", metrics[0], metrics[1])
			}
		})
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
