package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
)

// TestPTQFromDeviceLeavesNothing: `ptq --from /dev/zero` used to read
// without limit (22 GB) with --out already created and locked; now the
// input is refused before --out exists, and nothing is left behind.
func TestPTQFromDeviceLeavesNothing(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	base := t.TempDir()
	for _, cmd := range []string{"ptq", "qat"} {
		_, errOut, status := runCLI(t, cmd, "--from", "/dev/zero", "--out", filepath.Join(base, "r", "x"))
		if status == 0 || !strings.Contains(errOut, "not a regular file") {
			t.Fatalf("%s --from /dev/zero: status %d, %q", cmd, status, errOut)
		}
		if _, err := os.Stat(filepath.Join(base, "r")); err == nil {
			t.Fatalf("%s: failed run left %s behind", cmd, filepath.Join(base, "r"))
		}
	}
}

// TestCountsAndNothingToDo: train prints the image counts after
// --train-limit/--test-limit (it printed the full set's), and a --resume
// of a run already at --epochs says so instead of exiting silently.
func TestCountsAndNothingToDo(t *testing.T) {
	// 96 train / 48 test images; the limits 40 and 20 are below both.
	data := writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 3, 50, 1))
	run := filepath.Join(t.TempDir(), "float")
	out, errOut, status := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--train-limit", "40", "--test-limit", "20", "--data", data, "--out", run)
	if status != 0 || !strings.Contains(out, "40 train / 20 test images") {
		t.Fatalf("train with limits: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, errOut, status = runCLI(t, "train", "--resume", "--epochs", "1", "--out", run)
	if status != 0 || !strings.Contains(out, "nothing to do") || !strings.Contains(out, "already at epoch 1") {
		t.Fatalf("train --resume at its last epoch: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	q := filepath.Join(t.TempDir(), "qat")
	if _, errOut, status := runCLI(t, "qat", "--from", run, "--epochs", "1", "--batch", "32", "--calib-batches", "1", "--out", q); status != 0 {
		t.Fatalf("qat: %s", errOut)
	}
	before, _ := os.ReadFile(filepath.Join(q, "metrics.jsonl"))
	out, errOut, status = runCLI(t, "qat", "--resume", "--epochs", "1", "--out", q)
	if status != 0 || !strings.Contains(out, "nothing to do") || !strings.Contains(out, "already at epoch 1 and --epochs is 1") {
		t.Fatalf("qat --resume at its last epoch: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, _, status = runCLI(t, "qat", "--resume", "--epochs", "1", "--out", q, "--json")
	if res := lastJSON(t, out); status != 0 || res["nothing_done"] != true || res["epochs"].(float64) != 1 {
		t.Fatalf("qat --resume --json at its last epoch: status %d, %v", status, res)
	}
	if after, _ := os.ReadFile(filepath.Join(q, "metrics.jsonl")); string(after) != string(before) {
		t.Fatal("a resume with nothing to do changed the metrics")
	}
}

// TestRunDefaults: export picks w8a8-asym for a run quantized with affine
// activations (it defaulted to w8a8 and failed); eval --compare, bench
// --from and attack --from use the run's recorded data without --data
// (they loaded MNIST, whose 28×28 images do not fit this 8×8 run); eval
// --compare refuses a sibling run with other bit-widths.
func TestRunDefaults(t *testing.T) {
	data, fl := floatRun(t, 1)
	dir := t.TempDir()
	affine, w4 := filepath.Join(dir, "affine"), filepath.Join(dir, "w4")
	if _, errOut, status := runCLI(t, "ptq", "--from", fl, "--act-scheme", "affine", "--calib-batches", "1", "--out", affine); status != 0 {
		t.Fatalf("ptq affine: %s", errOut)
	}
	if _, errOut, status := runCLI(t, "ptq", "--from", fl, "--act-scheme", "affine", "--bits-w", "4", "--calib-batches", "1", "--out", w4); status != 0 {
		t.Fatalf("ptq w4: %s", errOut)
	}
	model := filepath.Join(dir, "m.safetensors")
	out, errOut, status := runCLI(t, "export", "--from", affine, "--out", model)
	if status != 0 || !strings.Contains(out, "w8a8-asym") {
		t.Fatalf("export without --mode of an affine run: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, errOut, status = runCLI(t, "eval", "--model", model, "--compare", affine, "--json")
	if status != 0 {
		t.Fatalf("eval --compare without --data: %s", errOut)
	}
	if n := lastJSON(t, out)["samples"].(float64); n != 48 { // floatRun's 48 test images
		t.Errorf("eval evaluated %v images, want the run's 48", n)
	}
	// Without --compare the model's recorded run still names the data.
	out, errOut, status = runCLI(t, "eval", "--model", model, "--json")
	if status != 0 {
		t.Fatalf("eval without --data: %s", errOut)
	}
	if n := lastJSON(t, out)["samples"].(float64); n != 48 {
		t.Errorf("eval evaluated %v images, want the model's run's 48", n)
	}
	if _, errOut, status := runCLI(t, "bench", "--model", model, "--from", fl, "--batches", "1", "--rounds", "1"); status != 0 {
		t.Errorf("bench --from without --data: %s", errOut)
	}
	if _, errOut, status := runCLI(t, "attack", "--from", fl, "--model", "float", "--eps", "0", "--test-limit", "8", "--squeeze", "", "--json"); status != 0 {
		t.Errorf("attack --from without --data: %s", errOut)
	}
	_, errOut, status = runCLI(t, "eval", "--model", model, "--compare", w4, "--data", data)
	if status == 0 || !strings.Contains(errOut, "weight bits 8 (model) vs 4 (checkpoint)") {
		t.Errorf("eval --compare with a W4 sibling run: status %d, %q", status, errOut)
	}
}

// TestBoundedInputs: predict with a 100000×1 PNG (a few hundred bytes)
// used to build a 40 GB square canvas, and eval --model with a sparse
// file whose header declares an 8 GB tensor used to allocate it.
func TestBoundedInputs(t *testing.T) {
	_, fl := floatRun(t, 1)
	dir := t.TempDir()
	q, model := filepath.Join(dir, "ptq"), filepath.Join(dir, "m.safetensors")
	for _, args := range [][]string{
		{"ptq", "--from", fl, "--calib-batches", "1", "--out", q},
		{"export", "--from", q, "--out", model},
	} {
		if _, errOut, status := runCLI(t, args...); status != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 100000, 1))); err != nil {
		t.Fatal(err)
	}
	wide := filepath.Join(dir, "wide.png")
	os.WriteFile(wide, buf.Bytes(), 0o644)
	if out, errOut, status := runCLI(t, "predict", "--model", model, wide); status != 0 {
		t.Errorf("predict on a 100000×1 PNG: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	// An 8 GiB tensor declared in a valid header, the file extended to
	// match with os.Truncate (sparse: nothing is written).
	header := []byte(`{"t":{"dtype":"U8","shape":[8589934592],"data_offsets":[0,8589934592]}}`)
	b := append([]byte{byte(len(header)), 0, 0, 0, 0, 0, 0, 0}, header...)
	sparse := filepath.Join(dir, "sparse.safetensors")
	os.WriteFile(sparse, b, 0o644)
	if err := os.Truncate(sparse, int64(len(b))+8<<30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	if _, errOut, status := runCLI(t, "eval", "--model", sparse); status == 0 || !strings.Contains(errOut, "limit") || !strings.Contains(errOut, sparse) {
		t.Errorf("eval of a sparse 8 GiB model: status %d, %q", status, errOut)
	}
}
