//go:build unix

package stfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func mkfifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return path
}

// Read must refuse a named pipe without opening it (an open blocks until a
// writer appears; reading it is unbounded).
func TestReadRefusesFIFO(t *testing.T) {
	path := mkfifo(t)
	// A writer that feeds a few bytes, so the unbounded reader this
	// replaces returns (with a parse error) instead of blocking the test.
	go func() {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Write([]byte("not a model"))
			f.Close()
		}
	}()
	defer func() {
		// Release the writer if Read never opened the pipe.
		if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	_, _, err := Read(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("got %v, want a refusal naming the named pipe", err)
	}
}

// WriteAtomic must not replace a named pipe with a regular file.
func TestWriteAtomicRefusesFIFO(t *testing.T) {
	path := mkfifo(t)
	err := Write(path, sample(), nil)
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("got %v", err)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced: %v %v", st.Mode(), err)
	}
}

// ReadRegular refuses a named pipe without opening it.
func TestReadRegularRefusesFIFO(t *testing.T) {
	path := mkfifo(t)
	if _, err := ReadRegular(path, 1<<20); err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("got %v, want a refusal naming the named pipe", err)
	}
}
