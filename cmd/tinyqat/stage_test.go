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
}
