package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LoadCheckpoint reads through stfile's bounded reader: a device or an
// oversized sparse file is refused before any large allocation.
func TestLoadCheckpointBounded(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := LoadCheckpoint("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("/dev/zero: %v", err)
		}
	}
	// A sparse file of 2 GiB (twice stfile.MaxFileSize) with an 8-byte header length of 2.
	path := filepath.Join(t.TempDir(), CheckpointFile)
	if err := os.WriteFile(path, []byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 2<<30); err != nil {
		t.Skip(err)
	}
	if _, err := LoadCheckpoint(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("2 GiB file: %v", err)
	}
}

// An ONNX file given where a checkpoint is expected is named as one.
func TestLoadCheckpointONNX(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.onnx")
	// An ONNX ModelProto starts with ir_version (field 1, varint).
	if err := os.WriteFile(path, []byte("\x08\x07\x12\x07tinyqat:\x10\x0dsome graph bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), "(an ONNX file is export's output; a checkpoint is") {
		t.Fatalf("got %v", err)
	}
}
