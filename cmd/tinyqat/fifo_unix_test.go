//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExportRefusesFIFO: export --out FIFO used to rename the model over
// the named pipe, replacing it (as root, --out /dev/null would replace the
// device). Both formats go through stfile.WriteAtomic.
func TestExportRefusesFIFO(t *testing.T) {
	_, fl := floatRun(t, 1)
	dir := t.TempDir()
	q := filepath.Join(dir, "ptq")
	if _, errOut, status := runCLI(t, "ptq", "--from", fl, "--calib-batches", "1", "--out", q); status != 0 {
		t.Fatalf("ptq: %s", errOut)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, format := range []string{"tinyqat", "onnx"} {
		_, errOut, status := runCLI(t, "export", "--from", q, "--out", fifo, "--format", format)
		if status == 0 || !strings.Contains(errOut, "named pipe") || !strings.Contains(errOut, fifo) {
			t.Errorf("%s export to a FIFO: status %d, %q", format, status, errOut)
		}
		if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("%s export replaced the FIFO", format)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
}
