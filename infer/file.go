package infer

import (
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
	header, err := json.Marshal(m)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": fileFormat, "version": strconv.Itoa(m.Version), "model": string(header)}
	meta["precision"] = m.Precision()
	removeStaleTemps(path)
	if err := stfile.Write(path, ts, meta); err != nil {
		return fmt.Errorf("infer: saving %s: %w", path, targetError(err, path))
	}
	return nil
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

// Load reads and validates a model file. A missing, truncated, corrupted,
// foreign, wrong-version or inconsistent file is an error naming the
// problem; a model is returned only when it is complete and valid.
func Load(path string) (*Model, error) {
	buf, err := stfile.ReadBytes(path) // bounded: regular file, header first, size limit
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("infer: no model file at %s", path)
		}
		if strings.EqualFold(filepath.Ext(path), ".onnx") {
			return nil, fmt.Errorf("infer: %w (this runtime reads the model file that export writes without --format onnx; an ONNX file runs in ONNX Runtime)", err)
		}
		return nil, fmt.Errorf("infer: %w", err)
	}
	ts, meta, err := stfile.Parse(buf, path)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	m, err := decode(ts, meta)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a model file's bytes (name is used in errors).
func Parse(data []byte, name string) (*Model, error) {
	ts, meta, err := stfile.Parse(data, name)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	m, err := decode(ts, meta)
	if err != nil {
		return nil, fmt.Errorf("infer: %s: %w", name, err)
	}
	return m, nil
}

func decode(ts map[string]stfile.Tensor, meta map[string]string) (*Model, error) {
	if meta["format"] != fileFormat {
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
		if l.OutC < 1 || l.OutC > 1<<20 || l.fanIn() < 1 || l.fanIn() > 1<<24 {
			return nil, fmt.Errorf("layer %d: bad size %d×%d", i, l.OutC, l.fanIn())
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
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if p, ok := meta["precision"]; ok && p != m.Precision() {
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
