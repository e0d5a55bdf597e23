package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/rundir"
)

// writeFolder writes an image-folder tree of 8×8 RGB PNGs: classes
// "a", "b", "c", n training and 3 test images each, each class a
// different colour with some noise.
func writeFolder(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	for k, class := range []string{"a", "b", "c"} {
		for split, count := range map[string]int{"train": n, "test": 3} {
			dir := filepath.Join(root, split, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < count; i++ {
				img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
				for y := 0; y < 8; y++ {
					for x := 0; x < 8; x++ {
						v := uint8(37*i + 11*x + 7*y)
						c := [3]uint8{v / 4, v / 4, v / 4}
						c[k] = 200 // the class's colour
						img.SetNRGBA(x, y, color.NRGBA{c[0], c[1], c[2], 255})
					}
				}
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%02d.png", i)))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, img); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
	}
	return root
}

// TestRunRemembersHowItWasMade: a float run on an image folder with
// limits, a crop, flips and normalization records them with its class
// names; qat --from that run without those flags uses them (and says
// so), a flag overrides, and the normalization is the run's.
func TestRunRemembersHowItWasMade(t *testing.T) {
	data := writeFolder(t, 8)
	runs := t.TempDir()
	fl := filepath.Join(runs, "float")
	cache := filepath.Join(runs, "cache")
	out, errOut, st := runCLI(t, "train", "--model", "lenet300", "--data", data, "--cache-dir", cache, "--epochs", "1", "--batch", "4",
		"--train-limit", "12", "--test-limit", "6", "--shift", "1", "--flip", "--normalize", "--out", fl)
	if st != 0 {
		t.Fatalf("train: %s", errOut)
	}
	if !strings.Contains(out, "12 train / 6 test images") || !strings.Contains(out, "crop with 1 px padding, flips, normalized by mean") {
		t.Errorf("train output %q", out)
	}
	if ents, err := os.ReadDir(cache); err != nil || len(ents) != 1 {
		t.Errorf("--cache-dir holds %d files (%v), want the cache", len(ents), err)
	}
	fck, err := rundir.LoadCheckpoint(fl)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fck.ClassNames, []string{"a", "b", "c"}) || fck.Norm() == nil || len(fck.Norm().Mean) != 3 {
		t.Fatalf("float checkpoint: class names %v, norm %v", fck.ClassNames, fck.Norm())
	}

	q := filepath.Join(runs, "qat")
	out, errOut, st = runCLI(t, "qat", "--from", fl, "--epochs", "1", "--batch", "4", "--calib-batches", "1", "--out", q)
	if st != 0 {
		t.Fatalf("qat: %s", errOut)
	}
	for _, want := range []string{"--train-limit 12 (run)", "--test-limit 6 (run)", "--seed 1 (run)", "--shift 1 (run)", "--flip true (run)", "normalize mean"} {
		if !strings.Contains(out, want) {
			t.Errorf("qat output lacks %q:\n%s", want, out)
		}
	}
	qck, err := rundir.LoadCheckpoint(q)
	if err != nil {
		t.Fatal(err)
	}
	c := qck.Config
	if c.TrainLimit != 12 || c.TestLimit != 6 || c.Shift != 1 || !c.Flip || c.Seed != fck.Config.Seed || !slices.Equal(c.Mean, fck.Config.Mean) || !slices.Equal(qck.ClassNames, fck.ClassNames) {
		t.Errorf("qat run config %+v", c)
	}

	// --seed: a second seed of the same QAT run, recorded; a resumed run
	// keeps its own.
	q7 := filepath.Join(runs, "qat-seed7")
	out, errOut, st = runCLI(t, "qat", "--from", fl, "--epochs", "1", "--batch", "4", "--calib-batches", "1", "--seed", "7", "--out", q7)
	if st != 0 {
		t.Fatalf("qat --seed 7: %s", errOut)
	}
	if !strings.Contains(out, "--seed 7 (flag)") {
		t.Errorf("qat --seed 7 output:\n%s", out)
	}
	if ck7, err := rundir.LoadCheckpoint(q7); err != nil || ck7.Config.Seed != 7 {
		t.Errorf("qat --seed 7 recorded %+v (%v)", ck7, err)
	}
	if _, errOut, st = runCLI(t, "qat", "--resume", "--seed", "8", "--epochs", "2", "--out", q7); st == 0 || !strings.Contains(errOut, "--seed 8 conflicts with the run being resumed, which has 7") {
		t.Errorf("qat --resume --seed 8 on a seed-7 run: status %d, %s", st, errOut)
	}

	// A flag overrides the run's value, and the output says so.
	cl := filepath.Join(runs, "cluster")
	out, errOut, st = runCLI(t, "cluster", "--from", fl, "--bits", "3", "--epochs", "1", "--batch", "4", "--test-limit", "3", "--flip=false", "--out", cl)
	if st != 0 {
		t.Fatalf("cluster: %s", errOut)
	}
	if !strings.Contains(out, "--test-limit 3 (flag)") || !strings.Contains(out, "--flip false (flag)") || !strings.Contains(out, "--train-limit 12 (run)") {
		t.Errorf("cluster output:\n%s", out)
	}
	cck, err := rundir.LoadCheckpoint(cl)
	if err != nil {
		t.Fatal(err)
	}
	if cck.Config.TestLimit != 3 || cck.Config.Flip || cck.Config.TrainLimit != 12 {
		t.Errorf("cluster run config %+v", cck.Config)
	}
}
