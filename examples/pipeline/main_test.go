package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
)

// TestRun runs the example end to end on a small synthetic set (8×8
// images, 4 classes) and checks that it left a loadable model file whose
// input shape is the data's.
func TestRun(t *testing.T) {
	out := t.TempDir()
	ds := datasets.Synthetic(512, 128, 8, 8, 4, 60, 1)
	if err := run(context.Background(), ds, out, 1, 0); err != nil {
		t.Fatal(err)
	}
	m, err := infer.Load(filepath.Join(out, "lenet300.tqm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckData(1, 8, 8, 4); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"float", "qat"} {
		if _, err := os.Stat(filepath.Join(out, d)); err != nil {
			t.Errorf("run directory %s: %v", d, err)
		}
	}
}
