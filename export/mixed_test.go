package export

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// mixedRun fine-tunes a float run one epoch with per-slot bit-widths and
// returns the QAT checkpoint as loaded from its run directory.
func mixedRun(t *testing.T, fl *rundir.Checkpoint, data *datasets.Pair, qc qat.Config) *rundir.Checkpoint {
	t.Helper()
	dir := t.TempDir()
	opt := qat.Options{Quant: qc, Train: rundir.Config{Epochs: 1, Batch: 64, LR: 1e-4, EvalBatch: evalBatch}, RunDir: dir}
	if _, err := qat.Quantize(context.Background(), fl, data, opt); err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestMixedPrecisionEndToEnd: a model whose layers have weight bit-widths
// of their own (2 to 8) and 4-bit activations at some outputs is
// simulated, exported (each layer packed at its own width), saved, loaded
// and run; the runtime agrees with the simulation on every logit, and
// the ONNX graph with the runtime.
func TestMixedPrecisionEndToEnd(t *testing.T) {
	cases := []struct {
		arch   string
		h      int
		scheme qat.ActScheme
		mode   infer.Mode
		bits   map[string]int
	}{
		{"lenet5", 16, qat.ActSymmetric, infer.W8A8, map[string]int{
			"conv1.weight": 6, "conv2.weight": 3, "fc1.weight": 2, "fc2.weight": 4, "conv1.out": 4, "fc1.out": 4}},
		{"lenet5", 16, qat.ActAffine, infer.W8A8Asym, map[string]int{
			"conv1.weight": 8, "conv2.weight": 2, "fc1.weight": 3, "input": 4, "conv2.out": 4}},
		{"resnet8", 8, qat.ActSymmetric, infer.W8A8, map[string]int{
			"conv1.weight": 8, "layer1.conv1.weight": 2, "layer2.conv2.weight": 3, "layer3.down.weight": 4, "fc.weight": 6,
			"layer1.conv2.out": 4, "layer2.out": 4, "layer3.out": 4}},
	}
	for _, tc := range cases {
		t.Run(tc.arch+"/"+string(tc.mode), func(t *testing.T) {
			data := synth(tc.h)
			ck := mixedRun(t, floatRun(t, tc.arch, data), data, qat.Config{ActScheme: tc.scheme, SlotBits: tc.bits})
			m, err := Export(context.Background(), ck, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.tqm")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			back, err := infer.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckSource(back, ck); err != nil {
				t.Errorf("the model's own checkpoint: %v", err)
			}
			ts, _, err := stfile.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for i, l := range back.Layers {
				if !l.Kind.Weighted() {
					continue
				}
				want := 8
				if b, ok := tc.bits[l.Name+".weight"]; ok {
					want = b
				}
				if l.WBits != want {
					t.Errorf("layer %d (%s): %d weight bits, want %d", i, l.Name, l.WBits, want)
				}
				if want < 8 {
					packed, ok := ts["layers."+strconv.Itoa(i)+".wpacked"]
					if !ok || packed.Shape[0] != infer.PackedLen(len(l.W), want) {
						t.Errorf("layer %d (%s): packed weights %v, want %d bytes", i, l.Name, packed.Shape, infer.PackedLen(len(l.W), want))
					}
				}
				if b, ok := tc.bits[l.Name+".out"]; ok {
					seen++
					if l.Out.Bits != b {
						t.Errorf("layer %d (%s): %d-bit output, want %d", i, l.Name, l.Out.Bits, b)
					}
				}
			}
			if b, ok := tc.bits["input"]; ok && back.Input.Bits != b {
				t.Errorf("input has %d bits, want %d", back.Input.Bits, b)
			}
			if seen == 0 && !strings.Contains(tc.arch, "resnet") {
				t.Fatal("no layer output has bits of its own: the case tests nothing")
			}
			cmp, err := Compare(context.Background(), back, ck, data.Test, 64)
			if err != nil {
				t.Fatal(err)
			}
			if cmp.MaxLSBDiff != 0 || cmp.ExactSamples != 1 || cmp.Agreement != 1 {
				t.Errorf("runtime vs simulation: max LSB diff %d, exact samples %v, agreement %v, first divergence %q, layers %+v",
					cmp.MaxLSBDiff, cmp.ExactSamples, cmp.Agreement, cmp.FirstDivergence, cmp.Layers)
			}
			checkMixedONNX(t, back, data.Test)
			// A checkpoint without the slot bits is another model.
			other := *ck
			other.QuantMeta = strings.Replace(ck.QuantMeta, `"slot_bits"`, `"was_slot_bits"`, 1)
			// (named "none", not by an empty string: "slot bits  (model)")
			if err := CheckSource(back, &other); err == nil || !strings.Contains(err.Error(), "slot bits") || !strings.Contains(err.Error(), " vs none (checkpoint)") {
				t.Errorf("a checkpoint without the slot bits passed as the source: %v", err)
			}
		})
	}
}

// checkMixedONNX runs the ONNX graph of mixed model m (low-bit weights
// stored as int8, low-bit activations as uint8 with the model's integer
// clamp) on the first test images and compares its integer logits with
// the runtime's.
func checkMixedONNX(t *testing.T, m *infer.Model, set *datasets.Set) {
	t.Helper()
	mp, err := ONNXFromModel(m, &ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := min(set.N, 32)
	x := make([]float32, n*m.InC*m.InH*m.InW)
	for i := range x {
		x[i] = float32(set.Pix[i]) / 255
	}
	xs := make([]float64, len(x))
	for i, v := range x {
		xs[i] = float64(v)
	}
	got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, m.InC, m.InH, m.InW}, v: xs}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Logits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	onnxCompare(t, "mixed logits_q", got["logits_q"].v, 0, want)
}
