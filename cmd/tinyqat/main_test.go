package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
)

// runCLI runs the command line in-process and captures stdout, stderr and
// the exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	oldOut, oldErr := os.Stdout, os.Stderr
	ro, wo, _ := os.Pipe()
	re, we, _ := os.Pipe()
	os.Stdout, os.Stderr = wo, we
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(ro); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(re); errC <- string(b) }()
	status = run(args)
	wo.Close()
	we.Close()
	os.Stdout, os.Stderr = oldOut, oldErr
	return <-outC, <-errC, status
}

// writeIDX writes a small synthetic dataset as the four IDX files.
func writeIDX(t *testing.T, p *datasets.Pair) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, s *datasets.Set, images bool) {
		var b bytes.Buffer
		be := func(v uint32) { b.Write([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}) }
		if images {
			be(0x803)
			be(uint32(s.N))
			be(uint32(s.H))
			be(uint32(s.W))
			b.Write(s.Pix)
		} else {
			be(0x801)
			be(uint32(s.N))
			b.Write(s.Labels)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("train-images-idx3-ubyte", p.Train, true)
	write("train-labels-idx1-ubyte", p.Train, false)
	write("t10k-images-idx3-ubyte", p.Test, true)
	write("t10k-labels-idx1-ubyte", p.Test, false)
	return dir
}

func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &v); err != nil {
		t.Fatalf("last line of stdout is not JSON: %q (%v)", lines[len(lines)-1], err)
	}
	return v
}

func TestPipeline(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(600, 200, 16, 16, 5, 50, 1))
	runs := t.TempDir()
	fl, ptq, qat := filepath.Join(runs, "float"), filepath.Join(runs, "ptq"), filepath.Join(runs, "qat")
	model := filepath.Join(runs, "m.safetensors")
	steps := [][]string{
		{"train", "--model", "lenet5", "--epochs", "2", "--data", data, "--out", fl, "--json"},
		{"ptq", "--from", fl, "--data", data, "--out", ptq, "--json"},
		{"qat", "--from", fl, "--data", data, "--out", qat, "--epochs", "1", "--bits-w", "4", "--json"},
		{"export", "--from", qat, "--out", model, "--json"},
		{"eval", "--model", model, "--data", data, "--json"},
		{"bench", "--model", model, "--from", qat, "--data", data, "--batches", "1,7", "--rounds", "2", "--json"},
		{"plot", "--run", fl, "--run", qat, "--metric", "train_loss", "--out", filepath.Join(runs, "loss.svg")},
		{"plot", "--run", fl, "--out", filepath.Join(runs, "loss.svg")}, // replaces its own chart
		{"eval", "--model", model, "--data", data, "--compare", qat, "--json"},
	}
	var res map[string]any
	for _, args := range steps {
		out, errOut, status := runCLI(t, args...)
		if status != 0 {
			t.Fatalf("%v: status %d, stderr %q", args, status, errOut)
		}
		if args[0] == "plot" {
			if b, err := os.ReadFile(filepath.Join(runs, "loss.svg")); err != nil || !bytes.Contains(b, []byte("<svg")) {
				t.Fatalf("plot wrote no SVG: %v", err)
			}
			continue
		}
		res = lastJSON(t, out)
		if args[0] != "export" && args[0] != "bench" {
			if acc, ok := res["test_acc"].(float64); !ok || acc < 0.5 || acc > 1 {
				t.Fatalf("%v: test_acc %v", args, res["test_acc"])
			}
		}
	}
	for _, k := range []string{"float_test_acc", "sim_test_acc", "agreement", "max_lsb_diff"} {
		if _, ok := res[k]; !ok {
			t.Errorf("eval --compare JSON lacks %s: %v", k, res)
		}
	}
	if res["agreement"].(float64) < 0.999 {
		t.Errorf("agreement %v", res["agreement"])
	}
	// An output that names a checkpoint, or a model when the output is
	// not a model, is refused and the file is left as it was; a model
	// replaced by a model is what export is for.
	ckFile := filepath.Join(qat, "checkpoint.safetensors")
	ckBefore, _ := os.ReadFile(ckFile)
	modelBefore, _ := os.ReadFile(model)
	ckCopy := filepath.Join(runs, "saved-run.bin") // a checkpoint under another name
	if err := os.WriteFile(ckCopy, ckBefore, 0o644); err != nil {
		t.Fatal(err)
	}
	metricsBefore, _ := os.ReadFile(filepath.Join(qat, "metrics.jsonl"))
	photo := filepath.Join(runs, "photo.png") // a picture tinyqat did not draw
	photoBefore := []byte("\x89PNG\r\n\x1a\n a user's picture")
	if err := os.WriteFile(photo, photoBefore, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--from", qat, "--out", ckFile}, "is a training checkpoint; refusing to replace it"},
		{[]string{"export", "--from", qat, "--format", "onnx", "--out", ckFile}, "is a training checkpoint"},
		{[]string{"export", "--from", qat, "--format", "onnx", "--out", model}, "is a tinyqat integer model; refusing"},
		{[]string{"plot", "--run", fl, "--out", model}, "is a tinyqat integer model"},
		{[]string{"plot", "--run", fl, "--out", photo}, "is not a chart tinyqat drew; refusing"},
		{[]string{"attack", "--from", fl, "--test-limit", "8", "--out", ckFile}, "is a training checkpoint"},
		{[]string{"attack", "--from", fl, "--test-limit", "8", "--batch", "99999999"}, "--batch must be in [1, 65536]"},
		{[]string{"export", "--from", qat, "--out", filepath.Join(qat, "metrics.jsonl")}, "is a run's metrics.jsonl; refusing"},
		{[]string{"export", "--from", qat, "--out", ckCopy}, "is a training checkpoint"},
	} {
		if _, errOut, status := runCLI(t, c.args...); status == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, status, errOut, c.want)
		}
	}
	if b, _ := os.ReadFile(ckFile); !bytes.Equal(b, ckBefore) {
		t.Error("a refused command changed the checkpoint")
	}
	if b, _ := os.ReadFile(photo); !bytes.Equal(b, photoBefore) {
		t.Error("plot replaced a picture it did not draw")
	}
	if b, _ := os.ReadFile(model); !bytes.Equal(b, modelBefore) {
		t.Error("a refused command changed the model")
	}
	if b, _ := os.ReadFile(filepath.Join(qat, "metrics.jsonl")); !bytes.Equal(b, metricsBefore) {
		t.Error("a refused command changed the metrics log")
	}
	if _, errOut, status := runCLI(t, "export", "--from", qat, "--out", model); status != 0 {
		t.Errorf("export over an existing model: status %d, %q", status, errOut)
	}
	// Resuming a finished float run with more epochs continues it.
	out, errOut, status := runCLI(t, "train", "--model", "lenet5", "--epochs", "3", "--data", data, "--out", fl, "--resume", "--json")
	if status != 0 || lastJSON(t, out)["epochs"].(float64) != 3 {
		t.Fatalf("resume: %d %q %q", status, errOut, out)
	}
}

func TestBadInputGivesOneLine(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(64, 32, 8, 8, 3, 50, 1))
	corrupt := t.TempDir()
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		b, _ := os.ReadFile(filepath.Join(data, f))
		if f == "t10k-images-idx3-ubyte" {
			b = b[:len(b)-7]
		}
		os.WriteFile(filepath.Join(corrupt, f), b, 0o644)
	}
	fl := filepath.Join(t.TempDir(), "run")
	if _, e, s := runCLI(t, "train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", fl); s != 0 {
		t.Fatalf("setup: %s", e)
	}
	badModel := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(badModel, []byte("not a model at all, just text"), 0o644)
	readOnly := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(readOnly, 0o500)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--model", "resnet", "--data", data, "--out", t.TempDir() + "/x"}, "unknown model"},
		{[]string{"train", "--epochs", "0", "--data", data, "--out", t.TempDir() + "/x"}, "epochs"},
		{[]string{"train", "--epochs", "zero"}, "invalid argument"},
		{[]string{"train", "--lr", "NaN", "--data", data, "--out", t.TempDir() + "/x"}, "learning rate"},
		{[]string{"train", "--data", corrupt, "--out", t.TempDir() + "/x"}, "t10k-images-idx3-ubyte: truncated"},
		{[]string{"train", "--data", t.TempDir() + "/missing", "--out", t.TempDir() + "/x"}, "does not exist"},
		{[]string{"train", "--data", data}, "--out"},
		{[]string{"train", "--data", data, "--out", fl}, "already holds a checkpoint"},
		{[]string{"ptq", "--from", fl, "--bits-w", "1", "--data", data, "--out", t.TempDir() + "/x"}, "weight bits"},
		{[]string{"ptq", "--from", fl, "--bits-a", "17", "--data", data, "--out", t.TempDir() + "/x"}, "activation bits"},
		{[]string{"ptq", "--from", t.TempDir(), "--data", data, "--out", t.TempDir() + "/x"}, "no checkpoint"},
		{[]string{"qat", "--from", fl, "--estimator", "magic", "--data", data, "--out", t.TempDir() + "/x"}, "unknown estimator"},
		{[]string{"export", "--from", fl, "--out", t.TempDir() + "/m", "--mode", "w8a8-asym"}, "float model"},
		{[]string{"export", "--from", fl, "--out", t.TempDir() + "/m", "--mode", "int4"}, "unknown mode"},
		{[]string{"eval", "--model", badModel, "--data", data}, "bad.safetensors"},
		{[]string{"eval", "--model", t.TempDir() + "/none", "--data", data}, "no model file"},
		{[]string{"nonsense"}, "unknown command"},
		{[]string{"bench", "--model", badModel, "--batches", "0"}, "bad batch size"},
		{[]string{"qat", "--resume", "--data", data, "--out", t.TempDir() + "/x"}, "no checkpoint to resume"},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		cases = append(cases, struct {
			args []string
			want string
		}{[]string{"train", "--data", data, "--out", readOnly + "/run"}, "output directory"})
	}
	for _, tc := range cases {
		out, errOut, status := runCLI(t, tc.args...)
		if status == 0 {
			t.Errorf("%v: exit status 0 (stdout %q)", tc.args, out)
			continue
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "goroutine") {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, errOut, tc.want)
		}
	}
}

func TestDemo(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(400, 200, 12, 12, 4, 50, 1))
	out := filepath.Join(t.TempDir(), "demo")
	stdout, errOut, status := runCLI(t, "demo", "--data", data, "--out", out, "--epochs", "1", "--qat-epochs", "1", "--json")
	if status != 0 {
		t.Fatalf("demo: status %d: %s", status, errOut)
	}
	res := lastJSON(t, stdout)
	if res["agreement"].(float64) < 0.999 || res["int8_test_acc"].(float64) < 0.5 {
		t.Fatalf("demo summary: %v", res)
	}
	for _, f := range []string{"summary.json", "test_accuracy.png", "accuracy_by_bits.png", "lenet300-w8a8.tqm", "float/checkpoint.safetensors", "qat-w4a4/metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("demo did not write %s", f)
		}
	}
	// A second demo into the same directory refuses rather than overwrites.
	if _, errOut, status := runCLI(t, "demo", "--data", data, "--out", out); status == 0 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("second demo: status %d, %q", status, errOut)
	}
}
