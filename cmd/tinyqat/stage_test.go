package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorsNameTheCommand: a setting that a library package refuses is
// reported as the command's error (`ptq --bits-w 0` said "train: …").
func TestErrorsNameTheCommand(t *testing.T) {
	_, fl := floatRun(t, 1)
	out := filepath.Join(t.TempDir(), "out")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ptq", "--bits-w", "0"}, "tinyqat: ptq: weight bits"},
		{[]string{"qat", "--bits-a", "1"}, "tinyqat: qat: activation bits"},
		{[]string{"qat", "--lr", "1e-320"}, "tinyqat: qat: learning rate (lr)"},
		{[]string{"cluster", "--bits", "9"}, "tinyqat: cluster: codebook bits"},
	} {
		args := append(tc.args, "--from", fl, "--out", out)
		_, errOut, st := runCLI(t, args...)
		if st == 0 || !strings.HasPrefix(errOut, tc.want) || strings.Contains(errOut, "train:") || strings.Contains(errOut, "rundir:") {
			t.Errorf("%v: status %d, stderr %q, want it to start with %q", tc.args, st, errOut, tc.want)
		}
	}
	// Commands that read model files: `export --mode bogus` said
	// "infer: unknown mode", a missing run "rundir: …".
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--from", fl, "--out", out + ".tqm", "--format", "onnx", "--mode", "bogus"}, "tinyqat: export: unknown mode \"bogus\" (known: w8a8, w8a8-asym, w8-only, f32)"},
		{[]string{"export", "--from", missing, "--out", out + ".tqm"}, "tinyqat: export: "},
		{[]string{"eval", "--model", missing + ".tqm"}, "tinyqat: eval: "},
		{[]string{"bench", "--model", missing + ".tqm"}, "tinyqat: bench: "},
		{[]string{"predict", "--model", missing + ".tqm", missing + ".png"}, "tinyqat: predict: "},
		{[]string{"attack", "--from", missing}, "tinyqat: attack: "},
		{[]string{"plot", "--run", missing, "--out", out + ".png"}, "tinyqat: plot: "},
	} {
		_, errOut, st := runCLI(t, tc.args...)
		if st == 0 || !strings.HasPrefix(errOut, tc.want) || strings.Contains(errOut, "infer:") || strings.Contains(errOut, "rundir:") {
			t.Errorf("%v: status %d, stderr %q, want it to start with %q", tc.args, st, errOut, tc.want)
		}
	}
}
