package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

// onnxExportFlags are export's flags for the ONNX format.
type onnxExportFlags struct {
	format       string
	layerOutputs bool
}

func addONNXExportFlags(f *pflag.FlagSet) *onnxExportFlags {
	o := &onnxExportFlags{}
	f.StringVar(&o.format, "format", "tinyqat", "tinyqat (integer model file), onnx (ONNX graph, opset 13: QDQ int8 for a PTQ/QAT run, float32 for a float run) or c (C99 library in directory --out, for microcontrollers)")
	f.BoolVar(&o.layerOutputs, "onnx-layer-outputs", false, "with --format onnx: add every layer's output as a graph output (for diagnosis)")
	_ = f.MarkHidden("onnx-layer-outputs")
	return o
}

// selected reports whether ONNX was asked for, and rejects unknown formats.
func (o *onnxExportFlags) selected() (bool, error) {
	switch o.format {
	case "tinyqat", "c":
		return false, nil
	case "onnx":
		return true, nil
	}
	return false, fmt.Errorf("export: unknown --format %q (known: tinyqat, onnx, c)", o.format)
}

// export writes checkpoint ck as an ONNX graph: the float graph for a float
// run, otherwise the integer model of the given mode (built by toInt) in
// QDQ form.
func (o *onnxExportFlags) export(ck *rundir.Checkpoint, md infer.Mode, out string, asJSON bool,
	toInt func(*rundir.Checkpoint, infer.Mode) (*infer.Model, error)) error {
	nm, err := ck.Model()
	if err != nil {
		return err
	}
	result := map[string]any{"model": out, "format": "onnx", "arch": nm.Arch, "opset": export.ONNXOpset}
	if ck.Phase == rundir.PhaseFloat {
		var norm *infer.InputNorm
		if n := ck.Norm(); n != nil {
			norm = &infer.InputNorm{Mean: n.Mean, Std: n.Std}
		}
		mp, err := export.ONNXFromFloatInput(nm, ck.ClassNames, norm)
		if err != nil {
			return err
		}
		if err := export.WriteONNX(out, mp); err != nil {
			return err
		}
		result["mode"], result["precision"], result["bits_w"], result["bits_a"] = "float32", "float32", 32, 32
	} else {
		m, err := toInt(ck, md)
		if err != nil {
			return err
		}
		mp, err := export.ONNXFromModel(m, &export.ONNXOptions{LayerOutputs: o.layerOutputs})
		if err != nil {
			return err
		}
		if err := export.WriteONNX(out, mp); err != nil {
			return err
		}
		// ONNX (opset 13) has no sub-byte tensors: weights of fewer bits
		// are stored as int8 values on their coarser grid.
		bw, ba := m.Bits()
		result["mode"], result["precision"], result["bits_w"], result["bits_a"] = md, m.Precision(), bw, ba
		result["weight_storage"] = "int8"
	}
	size, err := infer.FileSize(out)
	if err != nil {
		return err
	}
	result["bytes"] = size
	if asJSON {
		return printJSON(result)
	}
	fmt.Printf("wrote %s (ONNX opset %d, %s, %v, runtime mode %v): %d bytes\n", out, export.ONNXOpset, nm.Arch, result["precision"], result["mode"], size)
	return nil
}
