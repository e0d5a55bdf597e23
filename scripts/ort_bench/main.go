// Command ort_bench is tinyqat's side of scripts/ort_bench.sh: it times
// the integer runtime on the first MNIST test images, for each batch size
// the same number of images per round, and prints one JSON line
// {"batch": µs per image, "cpu:batch": CPU µs per image, ...} (the
// process's CPU time: on a busy machine the wall time also counts the
// waits for a core); with --float RUN_DIR it also times the float32 model
// of that run on infer's float runtime (export.Float: batch norm folded,
// fused internal/f32 kernels; no Gorgonia) and adds {"float:batch": ...,
// "cpu:float:batch": ...}; that run need not be the model's source, but
// must be the same architecture. The Node driver (bench.js) runs it
// between its own ONNX Runtime rounds, so that machine noise falls on all
// engines alike.
//
// With --identity FILE it instead writes FILE, an ONNX graph of one
// Identity node taking the model's float32 input [N, C, H, W] ("input") to
// "output", and exits: bench.js times it in ONNX Runtime as the cost of a
// call that does no work (the binding's and the session's own cost).
//
// Usage: ort_bench --model MODEL [--float RUN_DIR] [--batches 1,64,1000] [--images 2000]
//
//	ort_bench --model MODEL --identity FILE
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/rundir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ort_bench:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "", "integer model file")
	floatRun := flag.String("float", "", "float run directory whose model is timed too")
	data := flag.String("data", "", "directory with the four IDX files (default: MNIST from the Go module cache)")
	batches := flag.String("batches", "1,64,1000", "comma-separated batch sizes")
	images := flag.Int("images", 2000, "images timed per batch size (rounded up to whole batches)")
	identity := flag.String("identity", "", "write an ONNX Identity graph of the model's input shape to this file and exit")
	flag.Parse()
	if *model == "" {
		return errors.New("--model is required")
	}
	m, err := infer.Load(*model)
	if err != nil {
		return err
	}
	if *identity != "" {
		if err := export.WriteONNX(*identity, identityONNX(m.InC, m.InH, m.InW)); err != nil {
			return fmt.Errorf("--identity: %w", err)
		}
		return nil
	}
	ds, err := datasets.Load(*data)
	if err != nil {
		return err
	}
	test := ds.Test
	if err := m.CheckData(test.C, test.H, test.W, test.Classes); err != nil {
		return err
	}
	var fm *infer.Model
	if *floatRun != "" {
		ck, err := rundir.LoadCheckpoint(*floatRun)
		if err != nil {
			return err
		}
		if fm, err = export.Float(context.Background(), ck); err != nil {
			return fmt.Errorf("--float %s: %w", *floatRun, err)
		}
		// The float run may be another run than the model's source (speed
		// does not depend on the weights), but it must be the same network.
		if fm.Arch != m.Arch || fm.InC != test.C || fm.InH != test.H || fm.InW != test.W || fm.Classes != m.Classes {
			return fmt.Errorf("--float %s is a %s taking %dx%dx%d inputs and %d classes, --model %s is a %s with %d classes",
				*floatRun, fm.Arch, fm.InC, fm.InH, fm.InW, fm.Classes, *model, m.Arch, m.Classes)
		}
	}
	res := map[string]float64{}
	for _, f := range strings.Split(*batches, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || b < 1 || b > test.N {
			return fmt.Errorf("bad batch size %q", f)
		}
		x := make([]float32, b*test.Size())
		datasets.ToFloat(x, test.Pix[:b*test.Size()])
		calls := max(1, (*images+b-1)/b)
		out := make([]int32, b*m.Classes)
		if err := m.LogitsInto(out, x, b); err != nil { // warm-up (packed weights, buffers)
			return err
		}
		t0, c0 := time.Now(), cpuTime()
		for range calls {
			if err := m.LogitsInto(out, x, b); err != nil {
				return err
			}
		}
		res[strconv.Itoa(b)] = float64(time.Since(t0).Nanoseconds()) / 1e3 / float64(calls*b)
		res["cpu:"+strconv.Itoa(b)] = (cpuTime() - c0) / float64(calls*b)
		if fm == nil {
			continue
		}
		fout := make([]float32, b*m.Classes)
		if err := fm.FloatLogitsInto(fout, x, b); err != nil { // warm-up (packed weights, buffers)
			return err
		}
		t0, c0 = time.Now(), cpuTime()
		for range calls {
			if err := fm.FloatLogitsInto(fout, x, b); err != nil {
				return err
			}
		}
		res["float:"+strconv.Itoa(b)] = float64(time.Since(t0).Nanoseconds()) / 1e3 / float64(calls*b)
		res["cpu:float:"+strconv.Itoa(b)] = (cpuTime() - c0) / float64(calls*b)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuTime is the CPU time the process has used (user and system), in µs:
// on a busy machine, where the wall time includes waiting for a core.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
}

// identityONNX is a graph of one Identity node from "input" to "output",
// both float32 [N, c, h, w] with a dynamic batch N, in the opset and IR
// version of tinyqat's exports.
func identityONNX(c, h, w int) *onnxpb.ModelProto {
	value := func(name string) *onnxpb.ValueInfoProto {
		shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
			{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}}
		for _, d := range []int{c, h, w} {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
	}
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("tinyqat ort_bench"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(export.ONNXOpset)}},
		Graph: &onnxpb.GraphProto{
			Name:   proto.String("identity"),
			Node:   []*onnxpb.NodeProto{{OpType: proto.String("Identity"), Name: proto.String("output_Identity"), Input: []string{"input"}, Output: []string{"output"}}},
			Input:  []*onnxpb.ValueInfoProto{value("input")},
			Output: []*onnxpb.ValueInfoProto{value("output")},
		},
	}
}
