package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/train"
)

// TestExportEvalMessages: errors name the command the user typed (export
// of a float run said "train: the checkpoint is a float model"; eval
// --compare of a w8-only model said "export: …"), the export line names
// the model's real precision (it said "w8a8, W4A8" for a W4A8 model), eval
// takes --test-limit, and its columns line up whatever the precision.
func TestExportEvalMessages(t *testing.T) {
	_, fl := floatRun(t, 1)
	dir := t.TempDir()
	if _, errOut, status := runCLI(t, "export", "--from", fl, "--out", filepath.Join(dir, "f.tqm")); status == 0 ||
		!strings.HasPrefix(errOut, "tinyqat: export: ") || !strings.Contains(errOut, "holds a float model") {
		t.Fatalf("export of a float run: status %d, %q", status, errOut)
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
	ck, err := train.LoadCheckpoint(q)
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
	if err := train.SaveCheckpoint(filepath.Join(cut, train.CheckpointFile), ck); err != nil {
		t.Fatal(err)
	}
	if _, errOut, status := runCLI(t, "export", "--from", cut, "--out", filepath.Join(dir, "cut.tqm")); status != 0 ||
		!strings.Contains(errOut, "warning: "+cut+" stopped after epoch 1 of 2") {
		t.Fatalf("export of an unfinished run: status %d, %q", status, errOut)
	}
}
