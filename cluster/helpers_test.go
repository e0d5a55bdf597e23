package cluster

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// resumeData is the smallest problem that still has several steps per
// epoch: 128 samples in batches of 32 (4 steps per epoch).
func resumeData() *datasets.Pair { return datasets.Synthetic(128, 64, 8, 8, 4, 60, 1) }

// cancelAfter is a progress writer (train.Lines) that cancels a context
// when a line containing mark is printed: an epoch's summary is printed
// before the epoch is logged and checkpointed, and the context is checked
// at the next step, so the run stops right after the marked epoch's
// checkpoint, as a kill between epochs would.
type cancelAfter struct {
	mark   string
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte(c.mark)) {
		c.cancel()
	}
	return len(b), nil
}

// stripTimes zeroes the wall-clock fields of metrics lines.
func stripTimes(ms []rundir.EpochMetrics) []rundir.EpochMetrics {
	out := make([]rundir.EpochMetrics, len(ms))
	for i, m := range ms {
		m.Seconds, m.EvalSecs, m.HeapMB = 0, 0, 0
		out[i] = m
	}
	return out
}

func noFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left in the run directory (stat: %v)", n, err)
		}
	}
}

// tiny is a fast, learnable problem: 8×8 images, 4 classes.
func tiny() *datasets.Pair { return datasets.Synthetic(512, 128, 8, 8, 4, 60, 1) }

// newTiny is a trainer of lenet300 on tiny.
func newTiny(t *testing.T, cfg rundir.Config) *train.Trainer {
	t.Helper()
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(m, tiny(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

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
