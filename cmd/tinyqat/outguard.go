package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/train"
)

// The "format" metadata of the files the commands refuse to replace by
// mistake (train.checkpointFormat, infer.fileFormat).
const (
	checkpointFileFormat = "tinyqat-checkpoint"
	modelFileFormat      = "tinyqat-int8"
)

// refuseReplace refuses an output file that would replace a training
// checkpoint (a run's only copy of its weights and state: `export --out
// RUN/checkpoint.safetensors` would lose the run), or an integer model
// when what is written is not one (intModel false: ONNX, JSON, a chart).
// Replacing a model with a new model is what export is for.
// A run's own files (its metrics log, its checkpoint) are refused by
// name too, whatever they hold.
func refuseReplace(flag, path string, intModel bool) error {
	switch stfile.Format(path) {
	case checkpointFileFormat:
		return fmt.Errorf("%s %s is a training checkpoint; refusing to replace it (choose another file)", flag, path)
	case modelFileFormat:
		if !intModel {
			return fmt.Errorf("%s %s is a tinyqat integer model; refusing to replace it with another kind of file (choose another file)", flag, path)
		}
	}
	if base := filepath.Base(path); base == train.MetricsFile || base == train.CheckpointFile {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s %s is a run's %s; refusing to replace it (choose another file)", flag, path, base)
		}
	}
	return nil
}
