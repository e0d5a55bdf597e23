package stfile

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sparseFile writes a safetensors header declaring one U8 tensor of size
// bytes and extends the file to exactly the length the header describes
// with os.Truncate, so the file is sparse: no data is written, yet its size
// is consistent with the header.
func sparseFile(t *testing.T, size uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "huge.safetensors")
	s := strconv.FormatUint(size, 10)
	header := []byte(`{"t":{"dtype":"U8","shape":[` + s + `],"data_offsets":[0,` + s + `]},"__metadata__":{"sha256":"00"}}`)
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	buf = append(buf, header...)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(len(buf))+int64(size)); err != nil {
		t.Skipf("cannot make a sparse file here: %v", err)
	}
	return path
}

// A sparse file whose valid header declares an 8 GB tensor is consistent in
// size, so only the total-size cap stops Read from allocating 8 GB.
func TestReadRefusesHugeDeclaredTensor(t *testing.T) {
	for _, size := range []uint64{8 << 30, MaxFileSize + 1} {
		path := sparseFile(t, size)
		_, _, err := Read(path)
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), path) ||
			!strings.Contains(err.Error(), strconv.Itoa(MaxFileSize)) || !strings.Contains(err.Error(), "limit") {
			t.Fatalf("size %d: got %v, want a CorruptError naming the file, its size and the limit", size, err)
		}
	}
}

func TestReadRefusesDevicesAndDirectories(t *testing.T) {
	for _, path := range []string{"/dev/zero", t.TempDir()} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		_, _, err := Read(path)
		var ce *CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("%s: got %v", path, err)
		}
	}
}

func TestReadSizeMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m")
	if err := Write(path, sample(), nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	for name, data := range map[string][]byte{
		"trailing data": append(append([]byte{}, good...), 0),
		"truncated":     good[:len(good)-1],
		"huge header":   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, '{', '}'},
	} {
		p := filepath.Join(t.TempDir(), "x")
		os.WriteFile(p, data, 0o644)
		if _, _, err := Read(p); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
}

// WriteAtomic must not rename over a directory or anything else that is not
// a regular file.
func TestWriteAtomicRefusesNonRegularTarget(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	os.Mkdir(dir, 0o755)
	err := Write(dir, sample(), nil)
	if err == nil || !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("directory target: %v", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatal("directory replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

// TestReadRegular: a small regular file reads whole; a missing file is
// fs.ErrNotExist; a directory, a device (os.DevNull, where it is one) and
// a file over the limit are refused with what they are.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.json")
	if err := os.WriteFile(ok, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegular(ok, 7); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("a 7-byte file at limit 7: %q, %v", b, err)
	}
	if _, err := ReadRegular(filepath.Join(dir, "missing"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	cases := []struct{ path, want string }{
		{ok + "", "more than the 6-byte limit"},
		{dir, "a directory"},
	}
	if st, err := os.Stat(os.DevNull); err == nil && !st.Mode().IsRegular() {
		cases = append(cases, struct{ path, want string }{os.DevNull, "a device"})
	}
	for _, c := range cases {
		if _, err := ReadRegular(c.path, 6); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.path, err, c.want)
		}
	}
}

// TestFormat: the "format" metadata of a file Write made, and "" for a
// missing file, a directory and a file that is not safetensors.
func TestFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := Write(path, map[string]Tensor{"x": F32([]float32{1}, 1)}, map[string]string{"format": "tinyqat-test"}); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a tensor file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{path: "tinyqat-test", junk: "", dir: "", filepath.Join(dir, "missing"): ""} {
		if got := Format(p); got != want {
			t.Errorf("Format(%s) = %q, want %q", p, got, want)
		}
	}
}

// TestNotRegularIsOneError: every function that refuses a path that is
// not a regular file says so the same way, an error wrapping
// ErrNotRegular that names what it is; the readers' errors are also
// *CorruptErrors.
func TestNotRegularIsOneError(t *testing.T) {
	dir := t.TempDir()
	_, _, rerr := Read(dir)
	_, berr := ReadBytes(dir)
	_, gerr := ReadRegular(dir, 100)
	werr := WriteAtomic(dir, func(io.Writer) error { return nil })
	for i, err := range []error{rerr, berr, gerr, werr} {
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a directory") {
			t.Errorf("call %d: %v, want ErrNotRegular naming a directory", i, err)
		}
	}
	for i, err := range []error{rerr, berr} {
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != dir {
			t.Errorf("reader %d: %v, want a *CorruptError naming %s", i, err, dir)
		}
	}
}
