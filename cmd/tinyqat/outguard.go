package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/rundir"
)

// The "format" metadata of the files the commands refuse to replace by
// mistake (train.checkpointFormat, infer.fileFormat).
const (
	checkpointFileFormat = "tinyqat-checkpoint"
	modelFileFormat      = "tinyqat-int8"
	floatModelFileFormat = "tinyqat-f32"
)

// refuseReplace refuses an output file that would replace a training
// checkpoint (a run's only copy of its weights and state: `export --out
// RUN/checkpoint.safetensors` would lose the run), or a model file
// (integer or float32) when what is written is not one (intModel false:
// ONNX, JSON, a chart).
// Replacing a model with a new model is what export is for.
// A run's own files are refused by name too, whatever they hold: its
// metrics log and checkpoint when present, and its lock file (and the
// temporary files of its atomic writes) always: replacing RUN/.lock
// breaks a live run's lock, so that a second run can start beside it.
func refuseReplace(flag, path string, intModel bool) error {
	switch f := stfile.Format(path); f {
	case checkpointFileFormat:
		return fmt.Errorf("%s %s is a training checkpoint; refusing to replace it (choose another file)", flag, path)
	case modelFileFormat, floatModelFileFormat:
		if !intModel {
			kind := map[string]string{modelFileFormat: "integer", floatModelFileFormat: "float32"}[f]
			return fmt.Errorf("%s %s is a tinyqat "+kind+" model; refusing to replace it with another kind of file (choose another file)", flag, path)
		}
	}
	base := filepath.Base(path)
	if base == rundir.LockFile {
		return fmt.Errorf("%s %s is a run directory's lock file; refusing to write it (choose another file)", flag, path)
	}
	for _, f := range []string{rundir.CheckpointFile, rundir.MetricsFile} {
		if strings.HasPrefix(base, "."+f+".tmp") {
			return fmt.Errorf("%s %s is a temporary file of a run's %s; refusing to write it (choose another file)", flag, path, f)
		}
	}
	if base == rundir.MetricsFile || base == rundir.CheckpointFile {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s %s is a run's %s; refusing to replace it (choose another file)", flag, path, base)
		}
	}
	return nil
}

// checkOutDir checks, before any work, that the directory of the output
// file path exists and takes new files: `attack --out no/a.json` and
// `plot --out ro/p.png` used to fail only when writing, after the whole
// attack or comparison, naming a temporary file. The atomic write
// creates its temporary file there, so this tries the same.
func checkOutDir(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: the folder %s does not exist", flag, path, dir)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: %s is %s, not a directory", flag, path, dir, stfile.FileKind(st.Mode()))
	}
	f, err := os.CreateTemp(dir, ".write-test*")
	if err != nil {
		return fmt.Errorf("%s %s: the folder %s is not writable: %w", flag, path, dir, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// runDirFile reports whether the run directory out holds the run file
// name (its checkpoint, mixed.json). An out that exists and is not a
// directory is an error that says so: `qat --out model.tqm` said "stat
// model.tqm/checkpoint.safetensors: not a directory".
func runDirFile(cmd, out, name string) (bool, error) {
	if st, err := os.Stat(out); err == nil && !st.IsDir() {
		return false, fmt.Errorf("%s: --out %s is %s, not a run directory (choose another --out)", cmd, out, stfile.FileKind(st.Mode()))
	}
	_, err := os.Stat(filepath.Join(out, name))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("%s: --out %s: %w", cmd, out, err)
}
