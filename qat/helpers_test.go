package qat

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

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

func noFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left in the run directory (stat: %v)", n, err)
		}
	}
}
