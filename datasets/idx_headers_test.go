package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadDirChecksHeadersFirst: the four headers of a directory are read
// and cross-checked (image count against label count in each split,
// training image size against test image size) before any body is read.
// The bomb declares 32,768 images of 256×256 (2 GiB, at MaxDataBytes)
// and holds 16 MiB of zeros (16 KB compressed). Reading its body first,
// as LoadDir did before the fix, fails later with "truncated" after
// allocating over 32 MB (the full bomb of the issue cost 25 s and 4.2 GB);
// with the headers checked first the error is the mismatch the headers
// alone show, and loading allocates little more than four gzip readers.
func TestLoadDirChecksHeadersFirst(t *testing.T) {
	const n, side = 32768, 256
	bomb := gzZeros(idx3(n, side, side, nil), 16<<20)
	labels := gz(idx1(make([]byte, n)))
	tests := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"train 256x256, test 28x28", map[string][]byte{
			"train-images-idx3-ubyte.gz": bomb,
			"train-labels-idx1-ubyte.gz": labels,
			"t10k-images-idx3-ubyte":     idx3(2, 28, 28, make([]byte, 2*28*28)),
			"t10k-labels-idx1-ubyte":     idx1([]byte{0, 1}),
		}, "test images are 28x28, training images 256x256"},
		{"train labels 3 for 32768 images", map[string][]byte{
			"train-images-idx3-ubyte.gz": bomb,
			"train-labels-idx1-ubyte":    idx1([]byte{0, 1, 2}),
			"t10k-images-idx3-ubyte":     idx3(2, side, side, make([]byte, 2*side*side)),
			"t10k-labels-idx1-ubyte":     idx1([]byte{0, 1}),
		}, "3 labels for 32768 images"},
		{"test labels 5 for 2 images", map[string][]byte{
			"train-images-idx3-ubyte.gz": bomb,
			"train-labels-idx1-ubyte.gz": labels,
			"t10k-images-idx3-ubyte":     idx3(2, side, side, make([]byte, 2*side*side)),
			"t10k-labels-idx1-ubyte":     idx1([]byte{0, 1, 0, 1, 0}),
		}, "5 labels for 2 images"},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		for name, data := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		a := allocated(func() { _, err = LoadDir(dir) })
		t.Logf("%s: %d bytes allocated", tc.name, a)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a *FormatError containing %q (from the headers, before any body)", tc.name, err, tc.want)
		}
		if a > 4<<20 {
			t.Errorf("%s: loading allocated %d bytes, want at most 4 MiB: a body was read", tc.name, a)
		}
	}
}
