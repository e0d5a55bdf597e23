//go:build unix

package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// TestReadRefusesNonRegular: ReadImagesFile and ReadLabelsFile are
// exported and take any path, so they screen it themselves: a named pipe
// is refused without being opened (an open blocks until a writer
// appears, and the read never ends while one writes), a device (/dev/zero
// delivers zeros forever) and a directory too.
func TestReadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "train-images-idx3-ubyte")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A writer that feeds a valid-looking header and closes, so a reader
	// that opened the pipe would return instead of blocking the test.
	go func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Write(idx3(1, 1, 1, []byte{0}))
			f.Close()
		}
	}()
	defer func() {
		// Release the writer if the pipe was never opened for reading.
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	tests := []struct{ path, want string }{
		{fifo, "not a regular file (a named pipe)"},
		{"/dev/zero", "not a regular file (a device)"},
		{dir, "not a regular file (a directory)"},
	}
	for _, tc := range tests {
		if _, err := os.Stat(tc.path); err != nil {
			t.Logf("%s: skipped: %v", tc.path, err)
			continue
		}
		_, ierr := ReadImagesFile(tc.path)
		_, lerr := ReadLabelsFile(tc.path)
		for _, err := range []error{ierr, lerr} {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.File != tc.path || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, stfile.ErrNotRegular) {
				t.Errorf("%s: got %v, want a *FormatError naming it, containing %q and wrapping stfile.ErrNotRegular", tc.path, err, tc.want)
			}
		}
	}
	// LoadDir skips the pipe when it looks for the dataset's files.
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "missing train-images-idx3-ubyte") {
		t.Errorf("LoadDir with a pipe for the training images: got %v", err)
	}
}

// TestOpenFolderRefusesFIFO: a named pipe called like an image is refused
// by its mode, never opened (an open would block until a writer appears).
func TestOpenFolderRefusesFIFO(t *testing.T) {
	root := writeTree(t, greyTree(t))
	fifo := filepath.Join(root, "train", "cat", "pipe.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := Open(root, noCache())
	if err == nil || !strings.Contains(err.Error(), "pipe.png: not a regular file (a named pipe)") {
		t.Fatalf("got %v", err)
	}
}
