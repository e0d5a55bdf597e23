package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
	fp, ok := lastJSON(t, out)["float_peak"].(map[string]any)
	if !ok || fp["level"] == "" || !(fp["gmacs"].(float64) > 0) {
		t.Fatalf("bench --peak JSON has no float peak: %v", out)
	}
	// Two bandwidths: a cache-sized and a memory-sized buffer.
	bw, _ := lastJSON(t, out)["bandwidth"].([]any)
	if len(bw) != 2 || bw[0].(map[string]any)["bytes"].(float64) != infer.CacheBytes || bw[1].(map[string]any)["bytes"].(float64) != infer.MemoryBytes ||
		!(bw[1].(map[string]any)["read_gbs"].(float64) > 0) || !(bw[1].(map[string]any)["copy_gbs"].(float64) > 0) {
		t.Fatalf("bench --peak JSON bandwidth: %v", out)
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
	// Intensity at batch 3: 3·1280 MACs over 1280 weight bytes + 3·5·4
	// bytes of bias, M0, shift + 3·(256 + 5) activation bytes = 2123.
	if last["kind"] != "linear" || last["macs"].(float64) != 1280 || !(last["gmacs"].(float64) > 0) ||
		last["intensity"].(float64) != 3.0*1280/2123 {
		t.Errorf("linear layer row: %v", last)
	}

	// --roofline draws the chart (two batch sizes, one series each) and
	// reports which roofs each layer sits under.
	chart := filepath.Join(t.TempDir(), "roof.png")
	out, errOut, status = runCLI(t, "bench", "--model", model, "--data", data, "--batches", "3,7", "--rounds", "1", "--layers", "--roofline", chart, "--json")
	if status != 0 {
		t.Fatalf("bench --roofline: status %d, stderr %q", status, errOut)
	}
	if b, err := os.ReadFile(chart); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("roofline chart: %v", err)
	}
	res = lastJSON(t, out)
	if bw, _ := res["bandwidth"].([]any); len(bw) != 2 {
		t.Errorf("bench --roofline JSON has no bandwidths: %v", res)
	}
	last = res["results"].([]any)[1].(map[string]any)["layers"].([]any)[2].(map[string]any)
	if _, ok := last["under"].([]any); !ok {
		t.Errorf("linear layer row at batch 7 has no roofs: %v", last)
	}
	// --roofline needs the layer timings; a bad file name is an error.
	if _, _, status = runCLI(t, "bench", "--model", model, "--data", data, "--roofline", chart); status == 0 {
		t.Error("--roofline without --layers: status 0")
	}
	if _, errOut, status = runCLI(t, "bench", "--model", model, "--data", data, "--batches", "3", "--rounds", "1", "--layers", "--roofline", filepath.Join(t.TempDir(), "roof.gif")); status == 0 || !strings.Contains(errOut, "roof.gif") {
		t.Errorf("--roofline roof.gif: status %d, stderr %q", status, errOut)
	}
	// Bad timing flags and a roofline into a missing folder are refused
	// before the peaks are measured (nothing on stdout), naming the flag.
	missing := filepath.Join(t.TempDir(), "no", "roof.png")
	folder := filepath.Join(t.TempDir(), "roof.png")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batches", "0", "--layers"}, "batch"},
		{[]string{"--rounds", "0", "--layers"}, "--rounds"},
		{[]string{"--batches", "3", "--rounds", "1", "--layers", "--roofline", missing}, "does not exist"},
		{[]string{"--batches", "3", "--rounds", "1", "--layers", "--roofline", folder}, "folder"},
	} {
		out, errOut, status := runCLI(t, append([]string{"bench", "--model", model, "--data", data}, tc.args...)...)
		if status == 0 || !strings.Contains(errOut, tc.want) || strings.Contains(out, "peak") {
			t.Errorf("bench %v: status %d, stdout %q, stderr %q (want an error naming %q before any peak)", tc.args, status, out, errOut, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("bench created %s", filepath.Dir(missing))
	}
}

// TestBenchLayersFloat runs bench --layers --roofline on a float model
// file (flatten, then a linear 256→5 with a bias, on 16×16 grey images):
// the table has the input and both layers, the linear one with its 1280
// multiply-adds, its fraction of the float32 peak (not the int8 one) and
// the float byte model's intensity; the chart names the float peak.
func TestBenchLayersFloat(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(20, 20, 16, 16, 5, 50, 1))
	fc := &infer.Layer{Kind: infer.KindLinear, Name: "fc", InC: 256, InH: 1, InW: 1, OutC: 5, OutH: 1, OutW: 1,
		FW: make([]float32, 5*256), FBias: make([]float32, 5)}
	for c := range 5 {
		fc.FW[c*256+c] = 1
	}
	m, err := infer.NewFloatModel("tiny", 1, 16, 16, 5, []*infer.Layer{
		{Kind: infer.KindFlatten, InC: 1, InH: 16, InW: 16, OutC: 256, OutH: 1, OutW: 1}, fc}, nil, nil, infer.Source{})
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "f.safetensors")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(t.TempDir(), "roof.svg")
	out, errOut, status := runCLI(t, "bench", "--model", model, "--data", data, "--batches", "3", "--rounds", "1", "--layers", "--roofline", chart, "--json")
	if status != 0 {
		t.Fatalf("bench --layers (float): status %d, stderr %q", status, errOut)
	}
	res := lastJSON(t, out)
	fp, ok := res["float_peak"].(map[string]any)
	if !ok || !(fp["gmacs"].(float64) > 0) {
		t.Fatalf("bench --layers (float) JSON has no float peak: %v", res)
	}
	rows := res["results"].([]any)[0].(map[string]any)["layers"].([]any)
	if len(rows) != 3 {
		t.Fatalf("bench --layers (float): %d rows, want 3: %v", len(rows), res)
	}
	last := rows[2].(map[string]any)
	// Intensity at batch 3: 3·1280 over 4·(1280 + 5) parameter bytes +
	// 4·3·(256 + 5) activation bytes = 8272.
	g := last["gmacs"].(float64)
	if last["kind"] != "linear" || last["macs"].(float64) != 1280 || !(g > 0) ||
		last["peak_fraction"].(float64) != g/fp["gmacs"].(float64) || last["intensity"].(float64) != 3.0*1280/8272 {
		t.Errorf("float linear layer row: %v (float peak %v)", last, fp)
	}
	if b, err := os.ReadFile(chart); err != nil || !bytes.Contains(b, []byte("float32 peak")) {
		t.Errorf("roofline chart does not name the float32 peak: %v", err)
	}
}
