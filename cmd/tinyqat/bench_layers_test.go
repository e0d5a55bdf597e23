package main

import (
	"path/filepath"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/quant"
)

// TestBenchPeakAndLayers runs bench --peak alone and bench --layers on a
// small linear model of 16×16 grey images (5 classes): the peak names a
// level and a positive rate, and the layer table has the input and each
// layer with its multiply-accumulates (linear: 256·5 = 1280 per image).
func TestBenchPeakAndLayers(t *testing.T) {
	out, errOut, status := runCLI(t, "bench", "--peak", "--json")
	if status != 0 {
		t.Fatalf("bench --peak: status %d, stderr %q", status, errOut)
	}
	p, ok := lastJSON(t, out)["peak"].(map[string]any)
	if !ok || p["level"] == "" || !(p["gmacs"].(float64) > 0) {
		t.Fatalf("bench --peak JSON: %v", out)
	}

	data := writeIDX(t, datasets.Synthetic(20, 20, 16, 16, 5, 50, 1))
	in := infer.QParams{Scale: 1.0 / 127, Bits: 8, Signed: true}
	q := infer.QParams{Scale: 0.1, Bits: 8, Signed: true}
	fc := &infer.Layer{Kind: infer.KindLinear, Name: "fc", InC: 256, InH: 1, InW: 1, OutC: 5, OutH: 1, OutW: 1,
		In: in, Out: q, WBits: 8, W: make([]int8, 5*256), Bias: make([]int32, 5), M0: make([]int32, 5), Shift: make([]int32, 5),
		WScale: []float32{0.01, 0.01, 0.01, 0.01, 0.01}}
	fc.Lo, fc.Hi = q.QRange()
	for c := range 5 {
		fc.W[c*256+c] = 100
		var err error
		if fc.M0[c], fc.Shift[c], err = quant.QuantizeMultiplier(in.Scale*fc.WScale[c], q.Scale); err != nil {
			t.Fatal(err)
		}
	}
	m := &infer.Model{Version: infer.FormatVersion, Arch: "tiny", Mode: infer.W8A8, InC: 1, InH: 16, InW: 16, Classes: 5, Input: in,
		Layers: []*infer.Layer{{Kind: infer.KindFlatten, InC: 1, InH: 16, InW: 16, OutC: 256, OutH: 1, OutW: 1}, fc}}
	model := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	out, errOut, status = runCLI(t, "bench", "--model", model, "--data", data, "--batches", "3", "--rounds", "1", "--layers", "--json")
	if status != 0 {
		t.Fatalf("bench --layers: status %d, stderr %q", status, errOut)
	}
	res := lastJSON(t, out)
	rows := res["results"].([]any)[0].(map[string]any)["layers"].([]any)
	if len(rows) != 3 || res["peak"] == nil {
		t.Fatalf("bench --layers JSON: %v", res)
	}
	last := rows[2].(map[string]any)
	if last["kind"] != "linear" || last["macs"].(float64) != 1280 || !(last["gmacs"].(float64) > 0) {
		t.Errorf("linear layer row: %v", last)
	}
}
