package main

import (
	"fmt"

	"github.com/tinyqat/tinyqat/internal/stfile"
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
func refuseReplace(flag, path string, intModel bool) error {
	switch stfile.Format(path) {
	case checkpointFileFormat:
		return fmt.Errorf("%s %s is a training checkpoint; refusing to replace it (choose another file)", flag, path)
	case modelFileFormat:
		if !intModel {
			return fmt.Errorf("%s %s is a tinyqat integer model; refusing to replace it with another kind of file (choose another file)", flag, path)
		}
	}
	return nil
}
