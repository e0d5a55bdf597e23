package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestExportEvalMessages: errors name the command the user typed (export
// of a float run said "train: the checkpoint is a float model"; eval
// --compare of a w8-only model said "export: …"), the export line names
// the model's real precision (it said "w8a8, W4A8" for a W4A8 model), eval
// takes --test-limit, and its columns line up whatever the precision.
func TestExportEvalMessages(t *testing.T) {
	_, fl := floatRun(t, 1)
	dir := t.TempDir()
	if _, errOut, status := runCLI(t, "export", "--from", fl, "--out", filepath.Join(dir, "f.tqm"), "--mode", "w8a8"); status == 0 ||
		!strings.HasPrefix(errOut, "tinyqat: export: ") || !strings.Contains(errOut, "holds a float model") {
		t.Fatalf("export of a float run in an integer mode: status %d, %q", status, errOut)
	}
	w4 := filepath.Join(dir, "w4")
	if _, errOut, status := runCLI(t, "ptq", "--from", fl, "--bits-w", "4", "--calib-batches", "1", "--out", w4); status != 0 {
		t.Fatalf("ptq: %s", errOut)
	}
	model := filepath.Join(dir, "w4.tqm")
	out, errOut, status := runCLI(t, "export", "--from", w4, "--out", model)
	if status != 0 || !strings.Contains(out, "w4a8, runtime mode w8a8") {
		t.Fatalf("export W4A8: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	wo := filepath.Join(dir, "wo.tqm")
	if _, errOut, status := runCLI(t, "export", "--from", w4, "--mode", "w8-only", "--out", wo); status != 0 {
		t.Fatalf("export w8-only: %s", errOut)
	}
	if _, errOut, status := runCLI(t, "eval", "--model", wo, "--compare", w4); status == 0 ||
		!strings.HasPrefix(errOut, "tinyqat: eval: ") || !strings.Contains(errOut, "w8-only") {
		t.Fatalf("eval --compare of a w8-only model: status %d, %q", status, errOut)
	}
	out, errOut, status = runCLI(t, "eval", "--model", model, "--compare", w4, "--test-limit", "20")
	if status != 0 || !strings.Contains(out, "(20 images)") {
		t.Fatalf("eval --test-limit 20: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	// Every summary line's value starts in the same column.
	col := -1
	for _, l := range strings.Split(out, "\n")[:5] {
		i := strings.LastIndex(l[:41], " ") + 1
		if col >= 0 && i != col {
			t.Fatalf("eval columns misaligned:\n%s", out)
		}
		col = i
	}
	if _, errOut, status := runCLI(t, "eval", "--model", model, "--test-limit", "-1"); status == 0 || !strings.Contains(errOut, "--test-limit") {
		t.Fatalf("eval --test-limit -1: status %d, %q", status, errOut)
	}
}

// TestExportWarnsOfUnfinishedRun: a QAT run that stopped after epoch 1 of
// 2 was exported without a word; now export says so on standard error and
// names the command that finishes it.
func TestExportWarnsOfUnfinishedRun(t *testing.T) {
	_, fl := floatRun(t, 2)
	dir := t.TempDir()
	q := filepath.Join(dir, "qat")
	if _, errOut, status := runCLI(t, "qat", "--from", fl, "--epochs", "1", "--batch", "32", "--calib-batches", "1", "--out", q); status != 0 {
		t.Fatalf("qat: %s", errOut)
	}
	if _, errOut, status := runCLI(t, "export", "--from", q, "--out", filepath.Join(dir, "done.tqm")); status != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("export of a finished run: status %d, %q", status, errOut)
	}
	ck, err := rundir.LoadCheckpoint(q)
	if err != nil {
		t.Fatal(err)
	}
	ck.Config.Epochs = 2 // as a run interrupted after its first of two epochs records it
	if w := unfinishedRun(ck, q); !strings.Contains(w, "stopped after epoch 1 of 2") || !strings.Contains(w, "qat --resume --out "+q) {
		t.Fatalf("unfinished run: %q", w)
	}
	cut := filepath.Join(dir, "cut")
	if err := os.MkdirAll(cut, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rundir.SaveCheckpoint(filepath.Join(cut, rundir.CheckpointFile), ck); err != nil {
		t.Fatal(err)
	}
	if _, errOut, status := runCLI(t, "export", "--from", cut, "--out", filepath.Join(dir, "cut.tqm")); status != 0 ||
		!strings.Contains(errOut, "warning: "+cut+" stopped after epoch 1 of 2") {
		t.Fatalf("export of an unfinished run: status %d, %q", status, errOut)
	}
}

// TestEvalUsesTheRunsTestLimit: eval --compare of a run trained with
// --test-limit 20 evaluated all 48 test images (another test set than the
// run's accuracy); now it uses the run's 20 and says so, and a flag
// overrides.
func TestEvalUsesTheRunsTestLimit(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 3, 50, 3))
	dir := t.TempDir()
	fl, p := filepath.Join(dir, "float"), filepath.Join(dir, "ptq")
	if _, e, s := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--test-limit", "20", "--data", data, "--out", fl); s != 0 {
		t.Fatalf("train: %s", e)
	}
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--calib-batches", "1", "--out", p); s != 0 {
		t.Fatalf("ptq: %s", e)
	}
	model := filepath.Join(dir, "m.tqm")
	if _, e, s := runCLI(t, "export", "--from", p, "--out", model); s != 0 {
		t.Fatalf("export: %s", e)
	}
	out, errOut, status := runCLI(t, "eval", "--model", model, "--compare", p)
	if status != 0 || !strings.Contains(out, "(20 images)") || !strings.Contains(out, "--test-limit of the run") {
		t.Fatalf("eval --compare: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, errOut, status = runCLI(t, "eval", "--model", model, "--compare", p, "--test-limit", "0")
	if status != 0 || !strings.Contains(out, "(48 images)") {
		t.Fatalf("eval --compare --test-limit 0: status %d, stdout %q, stderr %q", status, out, errOut)
	}
}

// TestExportCarriesNamesAndNormalization: a run trained on an RGB image
// folder with --normalize exports a model that holds the run's class names
// and normalization (export dropped both: the runtime then fed
// unnormalized pixels to a network trained on normalized ones), whose
// logits equal the simulation's on every test image, and predict names
// the class.
func TestExportCarriesNamesAndNormalization(t *testing.T) {
	data := writeFolder(t, 8)
	dir := t.TempDir()
	fl, p := filepath.Join(dir, "float"), filepath.Join(dir, "ptq")
	if _, e, s := runCLI(t, "train", "--model", "mobilenet-tiny", "--epochs", "1", "--batch", "8", "--normalize", "--data", data, "--cache-dir", t.TempDir(), "--out", fl); s != 0 {
		t.Fatalf("train: %s", e)
	}
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--calib-batches", "1", "--cache-dir", t.TempDir(), "--out", p); s != 0 {
		t.Fatalf("ptq: %s", e)
	}
	model := filepath.Join(dir, "m.tqm")
	if _, e, s := runCLI(t, "export", "--from", p, "--out", model); s != 0 {
		t.Fatalf("export: %s", e)
	}
	m, err := infer.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.ClassNames, []string{"a", "b", "c"}) || m.Norm == nil || ck.Norm() == nil ||
		!slices.Equal(m.Norm.Mean, ck.Norm().Mean) || !slices.Equal(m.Norm.Std, ck.Norm().Std) {
		t.Fatalf("model class names %q, normalization %+v; the run's %+v", m.ClassNames, m.Norm, ck.Norm())
	}
	out, errOut, status := runCLI(t, "eval", "--model", model, "--compare", p, "--cache-dir", t.TempDir())
	if status != 0 || !strings.Contains(out, "agree bit for bit at every layer") {
		t.Fatalf("eval --compare: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, errOut, status = runCLI(t, "predict", "--model", model, filepath.Join(data, "test", "b", "00.png"))
	if status != 0 || !regexp.MustCompile(`class \d "[abc]"`).MatchString(out) {
		t.Fatalf("predict: status %d, stdout %q, stderr %q", status, out, errOut)
	}
}

// TestAttackNormalizedRuns: attack fed [0, 1] pixels to a network trained
// on normalized inputs (wrong accuracies, exit 0), then refused such runs;
// it now normalizes as training did, so at ε = 0 every model's accuracy is
// the run's own test accuracy.
func TestAttackNormalizedRuns(t *testing.T) {
	data := writeFolder(t, 8)
	fl := filepath.Join(t.TempDir(), "float")
	// A normalization far from the identity, so that raw pixels would be
	// read very differently (checked: without it the accuracies differ).
	out, e, s := runCLI(t, "train", "--model", "lenet300", "--epochs", "4", "--batch", "8", "--mean", "0.9,0.9,0.9", "--std", "0.05,0.05,0.05",
		"--data", data, "--cache-dir", t.TempDir(), "--out", fl, "--json")
	if s != 0 {
		t.Fatalf("train: %s", e)
	}
	acc := lastJSON(t, out)["test_acc"].(float64)
	out, errOut, status := runCLI(t, "attack", "--from", fl, "--method", "fgsm", "--eps", "0,0.1", "--squeeze", "8", "--json")
	if status != 0 {
		t.Fatalf("attack of a normalized run: status %d, %q", status, errOut)
	}
	var res struct {
		Curves []struct {
			Model, Threat string
			Acc           []float64
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range res.Curves {
		if c.Model == "float" || c.Model == "squeeze-8bit" {
			seen++
			if c.Acc[0] != acc {
				t.Errorf("%s %s at eps 0: %v, the run's test accuracy is %v", c.Model, c.Threat, c.Acc[0], acc)
			}
		}
	}
	if seen == 0 {
		t.Fatalf("no float curve in %s", out)
	}
}

// TestExportReplacesOnlyItsOwnKind: export --out replaced any file (a
// demo's summary.json, a user's notes, an ONNX graph with a tinyqat
// model) with a model; it replaces only an earlier model of the same
// kind, and leaves the others byte for byte.
func TestExportReplacesOnlyItsOwnKind(t *testing.T) {
	_, fl := floatRun(t, 4)
	dir := t.TempDir()
	p := filepath.Join(dir, "ptq")
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--calib-batches", "1", "--out", p); s != 0 {
		t.Fatalf("ptq: %s", e)
	}
	model, graph := filepath.Join(dir, "m.tqm"), filepath.Join(dir, "m.onnx")
	for _, args := range [][]string{
		{"export", "--from", p, "--out", model}, {"export", "--from", p, "--out", model}, // a model replaces a model
		{"export", "--from", p, "--format", "onnx", "--out", graph}, {"export", "--from", p, "--format", "onnx", "--out", graph},
	} {
		if _, e, s := runCLI(t, args...); s != 0 {
			t.Fatalf("%v: %s", args, e)
		}
	}
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		out  string
		onnx bool
	}{{notes, false}, {notes, true}, {graph, false}, {model, true}} {
		before, _ := os.ReadFile(c.out)
		args := []string{"export", "--from", p, "--out", c.out}
		if c.onnx {
			args = append(args, "--format", "onnx")
		}
		if _, errOut, status := runCLI(t, args...); status == 0 || !strings.Contains(errOut, "refusing to replace it") {
			t.Errorf("%v: status %d, %q", args, status, errOut)
		}
		if after, _ := os.ReadFile(c.out); string(after) != string(before) {
			t.Errorf("%v changed %s", args, c.out)
		}
	}
}
