package infer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	st "github.com/nlpodyssey/safetensors"
	"github.com/tinyqat/tinyqat/internal/stfile"
)

const fileFormat = "tinyqat-int8"

// Save writes the model to path atomically (see the package doc for the format).
func (m *Model) Save(path string) error {
	if err := m.Validate(); err != nil {
		return err
	}
	ts, format := m.fileTensors()
	header, err := json.Marshal(m)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": format, "version": strconv.Itoa(m.Version), "model": string(header)}
	meta["precision"] = m.Precision()
	removeStaleTemps(path)
	if err := stfile.Write(path, ts, meta); err != nil {
		return fmt.Errorf("infer: saving %s: %w", path, targetError(err, path))
	}
	return nil
}

// fileTensors are the tensors a file of m stores, and the file's format.
func (m *Model) fileTensors() (map[string]stfile.Tensor, string) {
	if m.Mode == F32 {
		return m.floatTensors(), floatFileFormat
	}
	return m.tensors(), fileFormat
}

// SameAs tells whether m and o are the same model as their files store
// it: the same header and tensors, bit for bit, apart from where each
// says it came from (Source) and its format version.
func (m *Model) SameAs(o *Model) bool {
	hm, tm, errM := m.content()
	ho, to, errO := o.content()
	if errM != nil || errO != nil || !bytes.Equal(hm, ho) || len(tm) != len(to) {
		return false
	}
	for name, a := range tm {
		b, ok := to[name]
		if !ok || a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
			return false
		}
	}
	return true
}

// content is m's file header without its source and version, and its
// tensors: what SameAs compares.
func (m *Model) content() ([]byte, map[string]stfile.Tensor, error) {
	h, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(h, &fields); err != nil {
		return nil, nil, err
	}
	delete(fields, "source")
	delete(fields, "version")
	if h, err = json.Marshal(fields); err != nil { // keys sorted: one encoding
		return nil, nil, err
	}
	ts, _ := m.fileTensors()
	return h, ts, nil
}

// tensors are the model's tensors as a file stores them.
func (m *Model) tensors() map[string]stfile.Tensor {
	ts := map[string]stfile.Tensor{}
	for i, l := range m.Layers {
		p := fmt.Sprintf("layers.%d.", i)
		if l.Kind == KindAdd && m.Mode != W8Only {
			ts[p+"m0"] = stfile.I32(l.M0, 2)
			ts[p+"shift"] = stfile.I32(l.Shift, 2)
		}
		if !l.Kind.Weighted() {
			continue
		}
		putWeights(ts, p, l)
		ts[p+"wscale"] = stfile.F32(l.WScale, l.OutC)
		if m.Mode == W8Only {
			ts[p+"fbias"] = stfile.F32(l.FBias, l.OutC)
			continue
		}
		ts[p+"bias"] = stfile.I32(l.Bias, l.OutC)
		ts[p+"m0"] = stfile.I32(l.M0, l.OutC)
		ts[p+"shift"] = stfile.I32(l.Shift, l.OutC)
	}
	return ts
}

// staleAge is how old a leftover temporary file of an interrupted write
// must be before the next write of the same file removes it (younger ones
// may belong to a write in progress).
const staleAge = time.Minute

// removeStaleTemps deletes the hidden temporary files (".NAME.tmp*", see
// stfile.WriteAtomic) that a killed write of path left behind.
func removeStaleTemps(path string) {
	olds, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*"))
	for _, f := range olds {
		if st, err := os.Lstat(f); err == nil && st.Mode().IsRegular() && time.Since(st.ModTime()) > staleAge {
			os.Remove(f)
		}
	}
}

// targetError rewrites a file-system error about the temporary file of an
// atomic write so that it names the target file the user asked for.
func targetError(err error, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &fs.PathError{Op: le.Op, Path: path, Err: le.Err}
	}
	return err
}

// FormatError reports a model file (or the bytes given to Parse) that is
// not a valid tinyqat integer model: truncated, corrupted, foreign, of
// another version, inconsistent, or beyond the Limits it was loaded with.
// Name is the file's path (Parse's name); Err, when not nil, is the
// underlying error (an *stfile.CorruptError for a damaged file).
type FormatError struct {
	Name    string
	Problem string
	Err     error
}

func (e *FormatError) Error() string { return "infer: " + e.Name + ": " + e.Problem }

func (e *FormatError) Unwrap() error { return e.Err }

// formatError wraps err, an error about the file name, in a
// *FormatError: a *stfile.CorruptError gives its problem (its message
// repeats the path), anything else its message.
func formatError(name string, err error) error {
	var ce *stfile.CorruptError
	if errors.As(err, &ce) {
		return &FormatError{Name: name, Problem: ce.Problem, Err: err}
	}
	return &FormatError{Name: name, Problem: err.Error(), Err: err}
}

// Load reads and validates a model file within the default Limits (see
// LoadWith). A missing file is an error satisfying errors.Is(err,
// fs.ErrNotExist); a truncated, corrupted, foreign, wrong-version,
// inconsistent or too costly file is a *FormatError naming the problem;
// a model is returned only when it is complete and valid.
func Load(path string) (*Model, error) { return LoadWith(path, Limits{}) }

// LoadWith is Load with the given Limits on the memory one image may
// take (the zero Limits are the defaults).
func LoadWith(path string, lim Limits) (*Model, error) {
	buf, err := stfile.ReadBytes(path) // bounded: regular file, header first, size limit
	if err != nil {
		var ce *stfile.CorruptError
		if !errors.As(err, &ce) {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("infer: no model file: %w", err)
			}
			return nil, fmt.Errorf("infer: %w", err) // an fs.PathError: it names the path
		}
		fe := formatError(path, err).(*FormatError)
		if strings.EqualFold(filepath.Ext(path), ".onnx") {
			fe.Problem += " (this runtime reads the model file that export writes without --format onnx; an ONNX file runs in ONNX Runtime)"
		} else if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			fe.Problem += " (a model file is what export writes from a run directory: tinyqat export --from RUN --out FILE)"
		} else if serr == nil && st.Mode().IsRegular() { // never opened otherwise: a named pipe would block
			if kind := imageKind(path); kind != "" {
				fe.Problem = "the file is " + kind + ", not a model file (a model file is what export writes; the images to classify come after it)"
			}
		}
		return nil, fe
	}
	return ParseWith(buf, path, lim)
}

// imageKind names the image format of the file at path by its first
// bytes ("a PNG image", …), or "" for anything else: an image given
// where a model file belongs is named so, not reported as a corrupt
// tensor file.
func imageKind(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := f.Read(head)
	head = head[:n]
	for _, k := range []struct{ magic, kind string }{
		{"\x89PNG\r\n\x1a\n", "a PNG image"}, {"\xff\xd8\xff", "a JPEG image"},
		{"GIF87a", "a GIF image"}, {"GIF89a", "a GIF image"}, {"BM", "a BMP image"},
	} {
		if bytes.HasPrefix(head, []byte(k.magic)) {
			return k.kind
		}
	}
	return ""
}

// Parse decodes a model file's bytes (name is used in errors) within the
// default Limits; a bad file is a *FormatError.
func Parse(data []byte, name string) (*Model, error) { return ParseWith(data, name, Limits{}) }

// ParseWith is Parse with the given Limits.
func ParseWith(data []byte, name string, lim Limits) (*Model, error) {
	ts, meta, err := stfile.Parse(data, name)
	if err != nil {
		return nil, formatError(name, err)
	}
	m, err := decode(ts, meta)
	if err == nil {
		err = m.checkLimits(lim)
	}
	if err != nil {
		return nil, &FormatError{Name: name, Problem: err.Error()}
	}
	return m, nil
}

func decode(ts map[string]stfile.Tensor, meta map[string]string) (*Model, error) {
	if meta["format"] == floatFileFormat {
		return decodeFloat(ts, meta)
	}
	if meta["format"] != fileFormat {
		if meta["format"] == "tinyqat-checkpoint" {
			return nil, errors.New(`not a tinyqat integer model but a run's checkpoint (format "tinyqat-checkpoint"): export writes a run's model file (tinyqat export --from RUN --out FILE)`)
		}
		return nil, fmt.Errorf("not a tinyqat integer model (format %q)", meta["format"])
	}
	v, err := strconv.Atoi(meta["version"])
	if err != nil || v < MinFormatVersion || v > FormatVersion {
		return nil, fmt.Errorf("model format version %q, this build reads versions %d to %d", meta["version"], MinFormatVersion, FormatVersion)
	}
	m := &Model{}
	if err := json.Unmarshal([]byte(meta["model"]), m); err != nil {
		return nil, fmt.Errorf("bad model header: %v", err)
	}
	if m.Version != v {
		return nil, fmt.Errorf("the metadata says format version %d, the model header %d", v, m.Version)
	}
	used := 0
	get := func(i int, name string, dt st.DType, n int) (stfile.Tensor, error) {
		key := fmt.Sprintf("layers.%d.%s", i, name)
		t, ok := ts[key]
		if !ok {
			return t, fmt.Errorf("missing tensor %s", key)
		}
		if t.DType != dt || t.Len() != n || len(t.Data) != n*int(dt.Size()) {
			return t, fmt.Errorf("tensor %s is %v%v, want %v with %d elements", key, t.DType, t.Shape, dt, n)
		}
		used++
		return t, nil
	}
	// getShaped is get for a tensor every file version writes with these
	// dimensions: the right count in another shape (a transposed weight
	// matrix) is refused, not read in the wrong order.
	getShaped := func(i int, name string, dt st.DType, dims ...int) (stfile.Tensor, error) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		t, err := get(i, name, dt, n)
		if err == nil && !slices.Equal(t.Shape, dims) {
			err = fmt.Errorf("tensor layers.%d.%s has shape %v, want %v", i, name, t.Shape, dims)
		}
		return t, err
	}
	for i, l := range m.Layers {
		if l == nil {
			return nil, fmt.Errorf("layer %d is null", i)
		}
		if l.Kind == KindAdd && m.Mode != W8Only {
			for _, f := range []struct {
				name string
				dst  *[]int32
			}{{"m0", &l.M0}, {"shift", &l.Shift}} {
				t, err := getShaped(i, f.name, st.I32, 2)
				if err != nil {
					return nil, err
				}
				*f.dst, _ = t.Int32s()
			}
		}
		if !l.Kind.Weighted() {
			continue
		}
		// The geometry first: the tensor sizes below multiply it.
		if err := l.checkGeometry(); err != nil {
			return nil, m.layerError(i, "%v", err)
		}
		if l.OutC < 1 || l.fanIn() < 1 {
			return nil, m.layerError(i, "bad size %d×%d", l.OutC, l.fanIn())
		}
		if err := getWeights(get, getShaped, i, l, m.Mode); err != nil {
			return nil, err
		}
		t, err := getShaped(i, "wscale", st.F32, l.OutC)
		if err != nil {
			return nil, err
		}
		l.WScale, _ = t.Float32s()
		if m.Mode == W8Only {
			if t, err = getShaped(i, "fbias", st.F32, l.OutC); err != nil {
				return nil, err
			}
			l.FBias, _ = t.Float32s()
			continue
		}
		for _, f := range []struct {
			name string
			dst  *[]int32
		}{{"bias", &l.Bias}, {"m0", &l.M0}, {"shift", &l.Shift}} {
			if t, err = getShaped(i, f.name, st.I32, l.OutC); err != nil {
				return nil, err
			}
			*f.dst, _ = t.Int32s()
		}
	}
	if used != len(ts) {
		return nil, fmt.Errorf("%d tensors do not belong to any layer", len(ts)-used)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if p, ok := meta["precision"]; ok && !m.precisionIs(p) {
		return nil, fmt.Errorf("metadata says precision %s, the layers are %s", p, m.Precision())
	}
	return m, nil
}

// FileSize is the size of a file in bytes.
func FileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
