package stfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sample() map[string]Tensor {
	return map[string]Tensor{
		"w": F32([]float32{1.5, -2, 0}, 3),
		"q": I8([]int8{-127, 0, 127, 5}, 2, 2),
		"b": I32([]int32{-1 << 31, 7}, 2),
		"u": U8([]uint8{255}, 1),
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, sample(), map[string]string{"arch": "x"}); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["arch"] != "x" {
		t.Fatal(meta)
	}
	w, _ := ts["w"].Float32s()
	q, _ := ts["q"].Int8s()
	b, _ := ts["b"].Int32s()
	u, _ := ts["u"].Uint8s()
	if !slices.Equal(w, []float32{1.5, -2, 0}) || !slices.Equal(q, []int8{-127, 0, 127, 5}) ||
		!slices.Equal(b, []int32{-1 << 31, 7}) || !slices.Equal(u, []uint8{255}) || !slices.Equal(ts["q"].Shape, []int{2, 2}) {
		t.Fatalf("round trip: %v %v %v %v", w, q, b, u)
	}
	if _, err := ts["w"].Int8s(); err == nil {
		t.Fatal("dtype mismatch not reported")
	}
}

func TestCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, sample(), nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	// Every truncation and every single flipped byte must be an error, never a panic.
	for n := 0; n < len(good); n++ {
		if _, _, err := Parse(good[:n], "t"); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	for i := range good {
		bad := slices.Clone(good)
		bad[i] ^= 0x5a
		_, _, err := Parse(bad, "t")
		if err == nil {
			// A flip inside JSON white space padding is harmless; nothing else is.
			if good[i] == ' ' {
				continue
			}
			t.Fatalf("byte %d (%q) flipped: no error", i, good[i])
		}
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("byte %d: error %v is not a CorruptError", i, err)
		}
	}
	last := slices.Clone(good)
	last[len(last)-1] ^= 1
	if _, _, err := Parse(last, "t"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("data flip: %v", err)
	}
}

func TestWriteAtomicKeepsOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Write(path, sample(), nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := map[string]Tensor{"x": {DType: 9, Shape: []int{-1}, Data: nil}}
	if err := Write(path, bad, nil); err == nil {
		t.Fatal("bad tensor accepted")
	}
	after, _ := os.ReadFile(path)
	if !slices.Equal(before, after) {
		t.Fatal("failed write changed the file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "m")
	if err := Write(path, sample(), map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, _, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		for n, v := range ts {
			if v.Len()*int(v.DType.Size()) != len(v.Data) {
				t.Fatalf("tensor %s: shape %v does not match %d bytes", n, v.Shape, len(v.Data))
			}
		}
	})
}

// A target whose directory does not exist is an error naming the target,
// not the temporary file's random name.
func TestWriteAtomicNamesTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "m.json")
	err := WriteAtomic(path, func(io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "write "+path+": ") || strings.Contains(err.Error(), ".tmp") {
		t.Fatalf("got %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not wrap fs.ErrNotExist", err)
	}
}

// WriteAtomicFiles replaces none of its files when writing one fails (a
// C library's header used to be replaced before its source failed), and
// leaves no temporary file behind.
func TestWriteAtomicFilesAllOrNone(t *testing.T) {
	dir := t.TempDir()
	h, c := filepath.Join(dir, "m.h"), filepath.Join(dir, "m.c")
	for _, p := range []string{h, c} {
		if err := os.WriteFile(p, []byte("old "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	full := errors.New("no space left on device")
	err := WriteAtomicFiles([]AtomicFile{
		{h, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }},
		{c, func(io.Writer) error { return full }},
	})
	if !errors.Is(err, full) {
		t.Fatalf("got %v", err)
	}
	for _, p := range []string{h, c} {
		if b, _ := os.ReadFile(p); string(b) != "old "+p {
			t.Errorf("%s: %q after the failed write", p, b)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteAtomicFiles([]AtomicFile{
		{h, func(w io.Writer) error { _, err := w.Write([]byte("H")); return err }},
		{c, func(w io.Writer) error { _, err := w.Write([]byte("C")); return err }},
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(h); string(b) != "H" {
		t.Errorf("header %q", b)
	}
	if b, _ := os.ReadFile(c); string(b) != "C" {
		t.Errorf("source %q", b)
	}
}
