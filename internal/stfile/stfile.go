// Package stfile reads and writes safetensors files with an integrity
// checksum, atomically.
//
// The file is plain safetensors (an 8-byte little-endian header length, a
// JSON header, then the tensor bytes), so any safetensors reader opens it.
// The header's string metadata carries a "sha256" entry: the SHA-256 of the
// other metadata entries and of every tensor (name, dtype, shape and
// bytes), in key order, which Read verifies, so a flipped bit anywhere in
// the data or the metadata is caught.
//
// Reading is bounded (see Read): only regular files, the header read and
// checked first, the file's size equal to what the header describes and
// at most MaxFileSize. Writing is atomic (see WriteAtomic) and never
// replaces something that is not a regular file.
package stfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	st "github.com/nlpodyssey/safetensors"
)

// Tensor is one named array: its dtype and shape, and its little-endian bytes.
type Tensor struct {
	DType st.DType
	Shape []int
	Data  []byte
}

// F32 wraps a float32 slice as a tensor (copied to little-endian bytes).
func F32(v []float32, shape ...int) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{DType: st.F32, Shape: shape, Data: b}
}

// I8 wraps an int8 slice.
func I8(v []int8, shape ...int) Tensor {
	b := make([]byte, len(v))
	if len(v) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)))
	}
	return Tensor{DType: st.I8, Shape: shape, Data: b}
}

// U8 wraps a uint8 slice.
func U8(v []uint8, shape ...int) Tensor {
	return Tensor{DType: st.U8, Shape: shape, Data: slices.Clone(v)}
}

// I32 wraps an int32 slice.
func I32(v []int32, shape ...int) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return Tensor{DType: st.I32, Shape: shape, Data: b}
}

// Float32s decodes an F32 tensor.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != st.F32 {
		return nil, fmt.Errorf("dtype %v, want F32", t.DType)
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// Int8s decodes an I8 tensor.
func (t Tensor) Int8s() ([]int8, error) {
	if t.DType != st.I8 {
		return nil, fmt.Errorf("dtype %v, want I8", t.DType)
	}
	v := make([]int8, len(t.Data))
	for i, b := range t.Data {
		v[i] = int8(b)
	}
	return v, nil
}

// Uint8s decodes a U8 tensor.
func (t Tensor) Uint8s() ([]uint8, error) {
	if t.DType != st.U8 {
		return nil, fmt.Errorf("dtype %v, want U8", t.DType)
	}
	return slices.Clone(t.Data), nil
}

// Int32s decodes an I32 tensor.
func (t Tensor) Int32s() ([]int32, error) {
	if t.DType != st.I32 {
		return nil, fmt.Errorf("dtype %v, want I32", t.DType)
	}
	v := make([]int32, len(t.Data)/4)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// Len is the number of elements its shape describes.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func (t Tensor) view() (st.TensorView, error) {
	shape := make([]uint64, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 {
			return st.TensorView{}, fmt.Errorf("negative dimension %d", d)
		}
		shape[i] = uint64(d)
	}
	return st.NewTensorView(t.DType, shape, t.Data)
}

// checksum hashes the metadata (but its own entry) and the tensors, in key order.
func checksum(tensors map[string]Tensor, meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if k != "sha256" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	var buf [8]byte
	for _, k := range keys {
		for _, s := range []string{k, meta[k]} {
			binary.LittleEndian.PutUint64(buf[:], uint64(len(s)))
			h.Write(buf[:])
			io.WriteString(h, s)
		}
	}
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := tensors[n]
		binary.LittleEndian.PutUint64(buf[:], uint64(len(n)))
		h.Write(buf[:])
		io.WriteString(h, n)
		io.WriteString(h, t.DType.String())
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(buf[:], uint64(d))
			h.Write(buf[:])
		}
		binary.LittleEndian.PutUint64(buf[:], uint64(len(t.Data)))
		h.Write(buf[:])
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Write stores tensors and metadata in path atomically: it writes a
// temporary file in the same directory, syncs it and renames it over path,
// so a crash leaves either the old file or the new one, never a broken one.
// The metadata key "sha256" is reserved.
func Write(path string, tensors map[string]Tensor, meta map[string]string) error {
	views := make(map[string]st.TensorView, len(tensors))
	for n, t := range tensors {
		v, err := t.view()
		if err != nil {
			return fmt.Errorf("stfile: tensor %s: %v", n, err)
		}
		views[n] = v
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m["sha256"] = checksum(tensors, m)
	return WriteAtomic(path, func(w io.Writer) error {
		return st.SerializeToWriter(views, m, w)
	})
}

// WriteAtomic writes path through a temporary file in the same directory,
// synced, renamed over path, and the directory synced, so a crash leaves
// either the old file or the new one. It refuses a target that exists and is
// not a regular file (a directory, a named pipe, a device such as
// /dev/null): renaming over it would replace it.
func WriteAtomic(path string, write func(io.Writer) error) error {
	return WriteAtomicFiles([]AtomicFile{{path, write}})
}

// AtomicFile is one file of WriteAtomicFiles: its path and what writes it.
type AtomicFile struct {
	Path  string
	Write func(io.Writer) error
}

// WriteAtomicFiles writes files that belong together (a C library's
// NAME.h and NAME.c) as WriteAtomic writes one, but renames none until
// every one is written and synced: a failure while writing (a full disk)
// leaves all the old files as they were, where writing them one by one
// left a new header beside an old source. Only a failed rename after the
// first, which the error names, leaves some replaced.
func WriteAtomicFiles(files []AtomicFile) (err error) {
	for _, f := range files {
		if st, err := os.Stat(f.Path); err == nil && !st.Mode().IsRegular() {
			return &fs.PathError{Op: "write", Path: f.Path, Err: fmt.Errorf("%w; refusing to replace it", notRegular(st.Mode()))}
		}
	}
	var temps []string
	defer func() {
		if err != nil {
			for _, t := range temps {
				os.Remove(t) // gone already if renamed
			}
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(f.Path, f.Write)
		if err != nil {
			return err
		}
		temps = append(temps, tmp)
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(temps[i], f.Path); err != nil {
			if i > 0 {
				return fmt.Errorf("%w (after replacing %s)", err, files[i-1].Path)
			}
			return err
		}
		dirs[filepath.Dir(f.Path)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// writeTemp writes a temporary file beside path with write, synced and
// closed, and returns its name; on an error it leaves none.
func writeTemp(path string, write func(io.Writer) error) (name string, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		// The error names path, not the temporary file's random name
		// (`plot --out ro/p.png` said "open ro/.p.png.tmp2603839987").
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", &fs.PathError{Op: "write", Path: path, Err: fmt.Errorf("cannot create a file in %s: %w", dir, err)}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// ErrNotRegular marks a refusal to read or replace something that is not
// a regular file (a directory, a named pipe, a device): errors.Is finds it
// in the errors of Read, ReadBytes, ReadRegular and WriteAtomic.
var ErrNotRegular = errors.New("not a regular file")

// notRegular is ErrNotRegular naming what a file of mode m is: the one
// way this package says it.
func notRegular(m fs.FileMode) error { return fmt.Errorf("%w (%s)", ErrNotRegular, FileKind(m)) }

// syncDir makes a rename in dir durable. File systems and platforms that
// cannot sync a directory (EINVAL, Windows) are not an error: the rename
// itself already happened.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) && runtime.GOOS != "windows" {
		return fmt.Errorf("syncing directory %s after renaming: %w", dir, err)
	}
	return nil
}

// CorruptError reports a file that is not a valid, intact tensor file.
// Err, when not nil, is the underlying error (ErrNotRegular's, for a path
// that is not a regular file).
type CorruptError struct {
	Path    string
	Problem string
	Err     error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s: %s", e.Path, e.Problem) }

func (e *CorruptError) Unwrap() error { return e.Err }

// MaxFileSize bounds the size of a file Read accepts. The models and
// checkpoints tinyqat writes are a few megabytes (a lenet5 checkpoint with
// its optimizer state is under 2 MB); 1 GiB leaves ample room for larger
// networks while keeping a corrupt or hostile header (say, a sparse file
// declaring an 8 GB tensor) from allocating unbounded memory.
const MaxFileSize = 1 << 30

// maxHeader bounds a file's JSON header (architecture, scales, quantizer
// state): real ones are at most a few hundred kilobytes.
const maxHeader = 16 << 20

// Read loads a file written by Write and verifies its checksum. A truncated,
// corrupted or foreign file gives a *CorruptError. Memory is bounded: Read
// refuses anything but a regular file, reads and checks the safetensors
// header first, and reads the tensors only if the file is exactly as long as
// the header says and at most MaxFileSize bytes.
func Read(path string) (map[string]Tensor, map[string]string, error) {
	buf, err := ReadBytes(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(buf, path)
}

// ReadBytes reads the bytes of a safetensors file with the bounds Read
// applies (regular file, header first, size consistent with the header and
// at most MaxFileSize), without decoding the tensors. A missing file gives
// an error satisfying errors.Is(err, fs.ErrNotExist); a file failing the
// bounds gives a *CorruptError.
func ReadBytes(path string) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return &CorruptError{Path: path, Problem: fmt.Sprintf(format, args...)}
	}
	f, size, err := openRegular(path)
	if errors.Is(err, ErrNotRegular) {
		return nil, &CorruptError{Path: path, Problem: err.Error(), Err: err}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > MaxFileSize {
		return nil, bad("%d bytes, larger than the %d-byte limit for tinyqat files (stfile.MaxFileSize)", size, int64(MaxFileSize))
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, bad("file is %d bytes, too short for a safetensors header (truncated?)", size)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader || n > uint64(size-8) {
		return nil, bad("header declares %d bytes but the file has %d after the length (header limit %d): truncated or not a tensor file", n, size-8, maxHeader)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, bad("reading the header: %v", err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		return nil, bad("header is not JSON (%v): not a tensor file", err)
	}
	var end uint64
	for name, raw := range entries {
		if name == "__metadata__" {
			continue
		}
		var t struct {
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &t); err != nil || len(t.Offsets) != 2 {
			return nil, bad("tensor %q has no valid data offsets", name)
		}
		end = max(end, t.Offsets[1])
	}
	if end > MaxFileSize {
		return nil, bad("the header describes %d bytes of tensors, more than the %d-byte limit for tinyqat files (stfile.MaxFileSize)", end, int64(MaxFileSize))
	}
	if want := 8 + n + end; uint64(size) != want {
		return nil, bad("file is %d bytes, the header describes %d: truncated or trailing data", size, want)
	}
	buf := make([]byte, size)
	copy(buf, lenBuf[:])
	copy(buf[8:], header)
	if _, err := io.ReadFull(f, buf[8+n:]); err != nil {
		return nil, bad("reading tensors: %v (file changed while reading?)", err)
	}
	return buf, nil
}

// Format returns the "format" metadata of the safetensors file at path
// ("tinyqat-checkpoint", "tinyqat-int8", …), reading only its header, or
// "" when path is missing, not a regular file, or not a safetensors file
// with that key. Commands call it before replacing a file, so that an
// output path that names a checkpoint or a model is refused.
func Format(path string) string {
	f, size, err := openRegular(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return ""
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader || n > uint64(size-8) {
		return ""
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return ""
	}
	var h struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if json.Unmarshal(header, &h) != nil {
		return ""
	}
	return h.Meta["format"]
}

// FileKind names what a file of mode m is, for messages that refuse
// anything but a regular file: "a symbolic link" (of an Lstat), "a
// directory", "a device", "a named pipe", "a socket", "a regular file",
// or its mode.
func FileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0, m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsRegular():
		return "a regular file"
	}
	return "mode " + m.Type().String()
}

// openRegular opens path if it is a regular file and returns its size.
// It stats before opening (opening a named pipe blocks until a writer
// appears, and opening a device may have side effects) and again after
// (the path may have been replaced between the two); anything else is an
// error wrapping ErrNotRegular.
func openRegular(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, notRegular(st.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = notRegular(st.Mode())
		}
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// ReadRegular reads a small file that a user names (an architecture
// spec, a metrics log), bounded as ReadBytes is: it refuses anything but
// a regular file, before opening it (opening a named pipe blocks, and
// /dev/zero never ends), and a file of more than limit bytes. A missing
// file gives an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, size, err := openRegular(path)
	if errors.Is(err, ErrNotRegular) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d-byte limit for this file", path, size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d-byte limit for this file (it grew while being read)", path, limit)
	}
	return b, nil
}

// Parse decodes the bytes of a file written by Write; name is used in errors.
func Parse(buf []byte, name string) (tensors map[string]Tensor, meta map[string]string, err error) {
	bad := func(format string, args ...any) error {
		return &CorruptError{Path: name, Problem: fmt.Sprintf(format, args...)}
	}
	defer func() {
		// The safetensors decoder validates offsets, but a panic from a
		// malformed header must never escape to the caller.
		if r := recover(); r != nil {
			tensors, meta, err = nil, nil, bad("malformed safetensors file (%v)", r)
		}
	}()
	if len(buf) < 8 {
		return nil, nil, bad("file is %d bytes, too short for a safetensors header (truncated?)", len(buf))
	}
	if n := binary.LittleEndian.Uint64(buf); n > uint64(len(buf)-8) {
		return nil, nil, bad("header declares %d bytes but the file has %d after the length (truncated?)", n, len(buf)-8)
	}
	_, header, err := st.ReadMetadata(buf)
	if err != nil {
		if strings.Contains(err.Error(), "incomplete buffer") {
			return nil, nil, bad("the data section does not match the header's tensor sizes (truncated or padded file?)")
		}
		return nil, nil, bad("not a valid safetensors file: %v", err)
	}
	s, err := st.Deserialize(buf)
	if err != nil {
		return nil, nil, bad("not a valid safetensors file: %v", err)
	}
	tensors = map[string]Tensor{}
	for _, nv := range s.Tensors() {
		v := nv.TensorView
		shape := make([]int, len(v.Shape()))
		for i, d := range v.Shape() {
			if d > math.MaxInt32 {
				return nil, nil, bad("tensor %s: dimension %d too large", nv.Name, d)
			}
			shape[i] = int(d)
		}
		tensors[nv.Name] = Tensor{DType: v.DType(), Shape: shape, Data: v.Data()}
	}
	meta = header.Metadata()
	if meta == nil {
		meta = map[string]string{}
	}
	sum, ok := meta["sha256"]
	if !ok {
		return nil, nil, bad("no sha256 checksum in the header: not written by tinyqat")
	}
	if got := checksum(tensors, meta); got != sum {
		return nil, nil, bad("checksum mismatch: the data is corrupted (header says %.12s…, content hashes to %.12s…)", sum, got)
	}
	return tensors, meta, nil
}
