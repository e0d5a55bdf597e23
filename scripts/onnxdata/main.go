// Command onnxdata prepares the inputs of scripts/onnx_check.js: it loads
// an integer model and a test set (MNIST unless --data names another),
// runs the model on tinyqat's runtime, and writes into --out
//
//	meta.json      shapes, labels, the layer list and file offsets
//	images.f32     the test images, float32 NCHW little-endian, as the
//	               runtime and the float model take them
//	logits.i32     tinyqat's integer logits, int32 little-endian [N, classes]
//	layers.i32     tinyqat's quantized (normalized) input and stored output of every
//	               layer for the first --layer-samples images, int32,
//	               layer after layer
//	exact.i32      for every Linear, Conv2D, add and global average pool
//	               layer, its output computed from its definition with one
//	               exact rounding (half to even), from the runtime's inputs
//	               to that layer
//	debug.onnx     the model's ONNX graph with every layer as an output
//
// Usage: go run ./scripts/onnxdata --model MODEL --out DIR [--data DIR]
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/quant"
)

type layerInfo struct {
	Index  int    `json:"index"`
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"`
	Size   int    `json:"size"`   // values per sample
	Offset int64  `json:"offset"` // byte offset in layers.i32
	// Inputs are the indices of the values the layer reads (−1: the
	// quantized input), in meta.layers' index terms.
	Inputs []int `json:"inputs,omitempty"`
	// ExactOffset is the byte offset in exact.i32 of the layer's output
	// computed exactly from the runtime's input to it (−1: no rounding in
	// this layer).
	ExactOffset int64 `json:"exact_offset"`
}

type meta struct {
	Model        string      `json:"model"`
	Arch         string      `json:"arch"`
	Mode         infer.Mode  `json:"mode"`
	N            int         `json:"n"`
	C            int         `json:"c"`
	H            int         `json:"h"`
	W            int         `json:"w"`
	Classes      int         `json:"classes"`
	Labels       []int       `json:"labels"`
	LayerSamples int         `json:"layer_samples"`
	Layers       []layerInfo `json:"layers"`
	// ActOffset is what the ONNX graph adds to an activation to store it
	// as uint8 (128 for symmetric int8, 0 for affine uint8).
	ActOffset int `json:"act_offset"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "onnxdata:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "", "integer model file")
	data := flag.String("data", "", "directory with the four IDX files (default: MNIST from the Go module cache)")
	out := flag.String("out", "", "output directory")
	layerSamples := flag.Int("layer-samples", 1000, "images whose every layer output is written")
	flag.Parse()
	if *model == "" || *out == "" {
		return errors.New("--model and --out are required")
	}
	m, err := infer.Load(*model)
	if err != nil {
		return err
	}
	if m.Mode == infer.W8Only {
		return errors.New("a w8-only model computes in float; the check compares integer models")
	}
	ds, err := datasets.Load(*data)
	if err != nil {
		return err
	}
	test := ds.Test
	if err := m.CheckData(test.C, test.H, test.W, test.Classes); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	x := make([]float32, len(test.Pix))
	datasets.ToFloat(x, test.Pix)
	logits, err := m.Logits(x, test.N)
	if err != nil {
		return err
	}
	ls := min(max(*layerSamples, 0), test.N)
	md := meta{Model: *model, Arch: m.Arch, Mode: m.Mode, N: test.N, C: m.InC, H: m.InH, W: m.InW, Classes: m.Classes,
		Labels: make([]int, test.N), LayerSamples: ls}
	for i, y := range test.Labels {
		md.Labels[i] = int(y)
	}
	if m.Input.Signed {
		md.ActOffset = 128
	}
	layers, exact, infos, err := layerData(m, x[:ls*test.Size()], ls)
	if err != nil {
		return err
	}
	md.Layers = infos
	writes := []struct {
		name string
		fn   func(io.Writer) error
	}{
		{"images.f32", func(w io.Writer) error { return writeF32(w, x) }},
		{"logits.i32", func(w io.Writer) error { return writeI32(w, logits) }},
		{"layers.i32", func(w io.Writer) error { return writeI32(w, layers) }},
		{"exact.i32", func(w io.Writer) error { return writeI32(w, exact) }},
		{"meta.json", func(w io.Writer) error { return json.NewEncoder(w).Encode(md) }},
	}
	for _, f := range writes {
		if err := stfile.WriteAtomic(filepath.Join(*out, f.name), f.fn); err != nil {
			return err
		}
	}
	mp, err := export.ONNXFromModel(m, &export.ONNXOptions{LayerOutputs: true})
	if err != nil {
		return err
	}
	return export.WriteONNX(filepath.Join(*out, "debug.onnx"), mp)
}

// layerData runs the first ls samples of x through m with a trace and
// returns layers.i32 and exact.i32's values and meta.json's layer list.
// Index −1 is the quantized input: x normalized (m.Norm) and quantized
// as the runtime and the ONNX graph do it, in the model's CHW order.
func layerData(m *infer.Model, xs []float32, ls int) (layers, exact []int32, infos []layerInfo, err error) {
	traced := make([][]int32, len(m.Layers))
	if _, err := m.LogitsTrace(xs, ls, func(i int, out []int32) { traced[i] = append([]int32(nil), out...) }); err != nil {
		return nil, nil, nil, err
	}
	in := quantizedInput(m, xs)
	for i := -1; i < len(m.Layers); i++ {
		v := in
		info := layerInfo{Index: i, Kind: "input", Size: m.InC * m.InH * m.InW, Offset: int64(4 * len(layers)), ExactOffset: -1}
		if i >= 0 {
			v = traced[i]
			l := m.Layers[i]
			info.Kind, info.Name, info.Size = string(l.Kind), l.Name, l.OutSize()
			info.Inputs = l.Inputs
			if len(info.Inputs) == 0 {
				info.Inputs = []int{i - 1}
			}
			val := func(j int) []int32 {
				if j < 0 {
					return in
				}
				return traced[j]
			}
			var e []int32
			switch {
			case l.Kind.Weighted():
				e = exactLayer(l, val(info.Inputs[0]), ls)
			case l.Kind == infer.KindAdd:
				e = exactAdd(l, val(info.Inputs[0]), val(info.Inputs[1]), ls)
			case l.Kind == infer.KindGlobalAvgPool:
				e = exactMean(l, val(info.Inputs[0]), ls)
			}
			if e != nil {
				info.ExactOffset = int64(4 * len(exact))
				exact = append(exact, e...)
			}
		}
		infos = append(infos, info)
		layers = append(layers, v...)
	}
	return layers, exact, infos, nil
}

// quantizedInput is the runtime's quantized input of the float pixels xs
// (CHW per sample): normalized first when m has an input normalization,
// with infer's expression (x − Mean[c])·(1/Std[c]) in float32, then
// quantized by quant's rule.
func quantizedInput(m *infer.Model, xs []float32) []int32 {
	qmin, qmax := m.Input.QRange()
	hw := m.InH * m.InW
	in := make([]int32, len(xs))
	for i, v := range xs {
		if n := m.Norm; n != nil {
			c := i / hw % m.InC
			v = float32(v-n.Mean[c]) * (1 / n.Std[c])
		}
		in[i] = quant.QuantizeValue(v, m.Input.Scale, m.Input.Zero, qmin, qmax)
	}
	return in
}

func writeF32(w io.Writer, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	_, err := w.Write(b)
	return err
}

func writeI32(w io.Writer, v []int32) error {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(f))
	}
	_, err := w.Write(b)
	return err
}
