package datasets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// allocLimit bounds what one read of a bad file may allocate in these
// tests. Each case below declares hundreds of MB to GB (or holds GB of
// zeros) but delivers at most a few KB before the error, so a reader that
// follows the header instead of the data blows far past it; 32 MB leaves
// room for gzip's and bufio's buffers and the runtime's own noise.
const allocLimit = 32 << 20

// allocated returns the bytes allocated while f ran. TotalAlloc only
// grows, so a collection during f does not hide an allocation.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// idx1n is a label file whose header declares n labels, holding labels.
func idx1n(n int, labels []byte) []byte {
	return append(idx1(nil)[:4], append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, labels...)...)
}

// gzZeros is head followed by n bytes of zeros, gzip-compressed: a small decompression bomb
// (deflate packs a run of zeros about a thousand to one).
func gzZeros(head []byte, n int) []byte {
	return gz(append(append([]byte{}, head...), make([]byte, n)...))
}

// TestReadFileBounds: a file whose header disagrees with its content
// gives a *FormatError naming the file and the problem, and costs memory
// for what the file delivers, not for what its header declares. Before
// the fix the sparse and gzip cases read everything they held (a 52 GB
// sparse file or a 6 GB gzip bomb ended in "fatal error: out of memory").
func TestReadFileBounds(t *testing.T) {
	three := make([]byte, 3*28*28) // three 28x28 images
	tests := []struct {
		name   string
		data   []byte
		sparse int64 // when > 0, the file is extended to this size with a hole
		labels bool
		want   string
	}{
		// 10^6·28·28 = 784,000,000 bytes declared, 2,352 present.
		{"raw, small file, huge count", idx3(1e6, 28, 28, three), 0, false,
			"truncated: header declares 784000000 bytes of pixel data, file has 2352"},
		// 2^26·4096·4096 = 2^50 bytes: within the header's own bounds, over the 2 GiB cap.
		{"raw, header above the cap", idx3(1<<26, 4096, 4096, three), 0, false,
			"header declares 67108864 images of 4096x4096, 1125899906842624 bytes of pixel data: more than the 2147483648-byte limit (datasets.MaxDataBytes)"},
		// 2^26 labels declared, 3 present.
		{"raw labels, huge count", idx1n(1<<26, []byte{1, 2, 3}), 0, true,
			"truncated: header declares 67108864 bytes of labels, file has 3"},
		// 8 GiB sparse file whose header (512·4096·4096 = 8 GiB) matches it: refused by the cap, unread.
		{"sparse 8 GiB, header matches, above the cap", idx3(512, 4096, 4096, nil), 16 + 8<<30, false,
			"8589934592 bytes of pixel data: more than the 2147483648-byte limit"},
		// 1 GiB sparse file whose header declares 512·2048·2048 = 2 GiB (the cap, allowed):
		// the size check refuses it before a byte of pixels is read.
		{"sparse 1 GiB, header declares 2 GiB", idx3(512, 2048, 2048, nil), 1 << 30, false,
			"truncated: header declares 2147483648 bytes of pixel data, file has 1073741808"},
		// 8 GiB sparse file holding three 28x28 images and a hole.
		{"sparse 8 GiB, header declares 3 images", idx3(3, 28, 28, three), 8 << 30, false,
			"2352 bytes of pixel data declared, but the file is longer (8589934576 bytes after the header)"},
		{"sparse 1 GiB labels, header declares 3", idx1([]byte{1, 2, 3}), 1 << 30, true,
			"3 bytes of labels declared, but the file is longer (1073741816 bytes after the header)"},
		// 200·4096·4096 = 3,355,443,200 bytes declared, about 3.1 GiB; the stream is a few hundred bytes.
		{"gzip, header above the cap", gz(idx3(200, 4096, 4096, three)), 0, false,
			"3355443200 bytes of pixel data: more than the 2147483648-byte limit"},
		// A gzip stream that lies: 10^6 images declared, three delivered.
		{"gzip, declares 10^6 images, holds 3", gz(idx3(1e6, 28, 28, three)), 0, false,
			"truncated: header declares 784000000 bytes of pixel data, file has 2352"},
		{"gzip labels, declares 2^26, holds 3", gz(idx1n(1<<26, []byte{1, 2, 3})), 0, true,
			"truncated: header declares 67108864 bytes of labels, file has 3"},
		// A small bomb the other way: three images declared, 64 MiB of zeros after them
		// (about 64 KB compressed). Reading stops one byte past the declared data.
		{"gzip, declares 3 images, holds 64 MiB", gzZeros(idx3(3, 28, 28, nil), 64<<20), 0, false,
			"2352 bytes of pixel data declared, but the file is longer"},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "train-images-idx3-ubyte")
		if tc.labels {
			path = filepath.Join(filepath.Dir(path), "train-labels-idx1-ubyte")
		}
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if tc.sparse > 0 {
			if err := os.Truncate(path, tc.sparse); err != nil {
				t.Logf("%s: skipped, no sparse file of %d bytes here: %v", tc.name, tc.sparse, err)
				continue
			}
		}
		read := func(path string) (err error) {
			if tc.labels {
				_, err = ReadLabelsFile(path)
			} else {
				_, err = ReadImagesFile(path)
			}
			return err
		}
		var err error
		a := allocated(func() { err = read(path) })
		t.Logf("%s: %d bytes allocated", tc.name, a)
		if a > allocLimit {
			t.Errorf("%s: reading allocated %d bytes, want at most %d", tc.name, a, allocLimit)
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.File != path || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant a *FormatError naming %s and containing %q", tc.name, err, path, tc.want)
		}
		if tc.sparse > 0 {
			continue
		}
		// The same bytes as a stream (no size known): same error, same bound.
		a = allocated(func() {
			if tc.labels {
				_, err = ReadLabels(bytes.NewReader(tc.data), "stream")
			} else {
				_, err = ReadImages(bytes.NewReader(tc.data), "stream")
			}
		})
		t.Logf("%s, stream: %d bytes allocated", tc.name, a)
		if a > allocLimit {
			t.Errorf("%s, stream: reading allocated %d bytes, want at most %d", tc.name, a, allocLimit)
		}
		if !errors.As(err, &fe) || fe.File != "stream" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s, stream: got %v, want a *FormatError naming stream and containing %q", tc.name, err, tc.want)
		}
	}
}

// TestReadFileAllocation: a good file costs about its own size. A raw
// file's size is known, so its pixels take one allocation of exactly the
// declared size; a gzip stream's buffer doubles from readChunk, which
// costs under twice the data.
func TestReadFileAllocation(t *testing.T) {
	const n, side = 1000, 28 // 784,000 bytes of pixels, MNIST-shaped
	pix := make([]byte, n*side*side)
	for i := range pix {
		pix[i] = uint8(i * 7)
	}
	tests := []struct {
		name  string
		data  []byte
		limit uint64
	}{
		// 784,000 for the pixels, plus bufio's 4 KiB and small change.
		{"raw", idx3(n, side, side, pix), n*side*side + 16<<10},
		// 64 KiB doubling to 784,000 allocates 64K+128K+256K+512K+784,000
		// (about 1.76 MB), plus the gzip reader's window and tables.
		{"gzip", gz(idx3(n, side, side, pix)), 2*n*side*side + 256<<10},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "images")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		var im *Images
		var err error
		a := allocated(func() { im, err = ReadImagesFile(path) })
		t.Logf("%s: %d bytes allocated", tc.name, a)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if im.N != n || !bytes.Equal(im.Pix, pix) || cap(im.Pix) != len(pix) {
			t.Fatalf("%s: got %d images, %d pixels (capacity %d), or wrong pixels", tc.name, im.N, len(im.Pix), cap(im.Pix))
		}
		if a > tc.limit {
			t.Errorf("%s: reading allocated %d bytes, want at most %d", tc.name, a, tc.limit)
		}
	}
}
