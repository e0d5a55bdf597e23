package main

import (
	"image"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
)

// TestFloatRunCLI: a float run goes through the commands on the float
// runtime: export writes a float32 model file (it refused a float run)
// and names its precision and size; eval reports its accuracy, and with
// --compare sets it beside the run's Gorgonia graph (top-1 agreement,
// largest logit difference); bench times it (--from alone, and beside a
// model); predict classifies with it; an integer mode or C for a float
// run, and --mode f32 for a quantized run, are refused naming the
// command.
func TestFloatRunCLI(t *testing.T) {
	p := datasets.Synthetic(96, 48, 8, 8, 3, 50, 5)
	data := writeIDX(t, p)
	dir := t.TempDir()
	fl := filepath.Join(dir, "float")
	if _, e, s := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--data", data, "--out", fl); s != 0 {
		t.Fatalf("train: %s", e)
	}
	model := filepath.Join(dir, "f.tqm")
	out, errOut, status := runCLI(t, "export", "--from", fl, "--out", model)
	if status != 0 || !strings.Contains(out, "f32") || !strings.Contains(out, "bytes") {
		t.Fatalf("export of a float run: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	if f := stfile.Format(model); f != floatModelFileFormat {
		t.Fatalf("the file's format is %q", f)
	}
	// Written again over itself: a tinyqat model file may be replaced.
	res := runJSON(t, "export", "--from", fl, "--out", model, "--mode", "f32", "--json")
	if res["precision"] != "f32" || res["bytes"].(float64) < 4*res["params"].(float64) {
		t.Fatalf("export --json: %v", res)
	}
	m, err := infer.Load(model)
	if err != nil || m.Mode != infer.F32 {
		t.Fatalf("load: %v, mode %v", err, m)
	}

	res = runJSON(t, "eval", "--model", model, "--compare", fl, "--json")
	if res["agreement"].(float64) != 1 || res["max_logit_diff"].(float64) > 1e-4*res["max_logit"].(float64) ||
		res["test_acc"] != res["graph_test_acc"] || res["samples"].(float64) != 48 {
		t.Fatalf("eval --compare: %v", res)
	}
	out, errOut, status = runCLI(t, "eval", "--model", model, "--compare", fl)
	if status != 0 || !strings.Contains(out, "top-1 agreement graph/runtime") || !strings.Contains(out, "largest |Δlogit|") {
		t.Fatalf("eval --compare: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	if acc := runJSON(t, "eval", "--model", model, "--json")["test_acc"]; acc != res["test_acc"] {
		t.Fatalf("eval: %v, with --compare %v", acc, res["test_acc"])
	}

	res = runJSON(t, "bench", "--from", fl, "--batches", "1,7", "--rounds", "1", "--json")
	if rows := res["results"].([]any); len(rows) != 2 || rows[0].(map[string]any)["mode"] != "f32" {
		t.Fatalf("bench --from: %v", res)
	}
	ptq := filepath.Join(dir, "ptq")
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--calib-batches", "1", "--out", ptq); s != 0 {
		t.Fatalf("ptq: %s", e)
	}
	im := filepath.Join(dir, "int8.tqm")
	if _, e, s := runCLI(t, "export", "--from", ptq, "--out", im); s != 0 {
		t.Fatalf("export ptq: %s", e)
	}
	out, errOut, status = runCLI(t, "bench", "--model", im, "--from", fl, "--batches", "3", "--rounds", "1")
	if status != 0 || !strings.Contains(out, "w8a8") || !strings.Contains(out, "float32 runtime") {
		t.Fatalf("bench --model --from: status %d, stdout %q, stderr %q", status, out, errOut)
	}

	x := make([]float32, p.Test.Size())
	datasets.ToFloat(x, p.Test.Image(0))
	want, err := m.Predict(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	g := image.NewGray(image.Rect(0, 0, 8, 8))
	copy(g.Pix, p.Test.Image(0))
	png := filepath.Join(dir, "a.png")
	writePNG(t, png, g)
	preds := runJSON(t, "predict", "--model", model, "--invert", "no", "--json", png)["predictions"].([]any)
	if c := int(preds[0].(map[string]any)["class"].(float64)); c != want[0] {
		t.Fatalf("predict: class %d, the runtime's %d", c, want[0])
	}

	// ONNX with --mode f32: the float graph.
	if res := runJSON(t, "export", "--from", fl, "--out", filepath.Join(dir, "f.onnx"), "--format", "onnx", "--mode", "f32", "--json"); res["precision"] != "float32" {
		t.Fatalf("export --format onnx --mode f32: %v", res)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--from", fl, "--out", filepath.Join(dir, "x.tqm"), "--mode", "w8a8"}, "holds a float model"},
		{[]string{"export", "--from", fl, "--out", filepath.Join(dir, "c"), "--format", "c"}, "C export needs an integer model"},
		{[]string{"export", "--from", ptq, "--out", filepath.Join(dir, "y.tqm"), "--mode", "f32"}, "--mode f32"},
		{[]string{"eval", "--model", model, "--compare", ptq}, "float32 model"},
	} {
		if _, errOut, status := runCLI(t, tc.args...); status == 0 || !strings.HasPrefix(errOut, "tinyqat: "+tc.args[0]+": ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: status %d, %q", tc.args, status, errOut)
		}
	}
}

// runJSON runs the command, which must succeed, and returns its last JSON
// line.
func runJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, errOut, status := runCLI(t, args...)
	if status != 0 {
		t.Fatalf("%v: status %d, %q", args, status, errOut)
	}
	return lastJSON(t, out)
}
