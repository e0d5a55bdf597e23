package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
)

// TestSpecPipeline: a user architecture (conv + batch norm + ReLU6, a
// residual block with a depthwise conv, global average pooling) given as
// a --spec file trains, quantizes per tensor and per channel, fine-tunes
// with batch norm frozen after 2 steps, resumes, exports (integer file
// and ONNX), evaluates against its simulation and benchmarks, with no
// code that knows the architecture: everything after train comes from
// the checkpoint.
func TestSpecPipeline(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(192, 64, 8, 8, 3, 50, 1))
	layers := []nn.Layer{
		&nn.Conv2D{Name: "stem", Out: 8, K: 3, Pad: 1}, &nn.BatchNorm2D{Name: "stem_bn"}, &nn.ReLU6{},
		&nn.Residual{Name: "block", ReLU: true, Body: []nn.Layer{
			&nn.Conv2D{Name: "dw", Out: 8, K: 3, Pad: 1, Groups: 8}, &nn.BatchNorm2D{Name: "dw_bn"}, &nn.ReLU6{},
			&nn.Conv2D{Name: "pw", Out: 8, K: 1}, &nn.BatchNorm2D{Name: "pw_bn"},
		}},
		&nn.GlobalAvgPool{Name: "gap"},
		&nn.Linear{Name: "fc", Out: 3},
	}
	m, err := nn.NewSequential("usernet", nn.Shape{C: 1, H: 8, W: 8}, 3, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := m.Spec()
	if err != nil {
		t.Fatal(err)
	}
	runs := t.TempDir()
	specFile := filepath.Join(runs, "usernet.json")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	fl, qat := filepath.Join(runs, "float"), filepath.Join(runs, "qat")
	model, onnx := filepath.Join(runs, "usernet.safetensors"), filepath.Join(runs, "usernet.onnx")
	steps := [][]string{
		{"train", "--spec", specFile, "--epochs", "2", "--batch", "32", "--data", data, "--out", fl, "--json"},
		{"ptq", "--from", fl, "--per-tensor-weights", "--calib-batches", "2", "--out", filepath.Join(runs, "ptq-tensor"), "--json"},
		{"ptq", "--from", fl, "--calib-batches", "2", "--out", filepath.Join(runs, "ptq-channel"), "--json"},
		{"qat", "--from", fl, "--epochs", "1", "--batch", "32", "--calib-batches", "2", "--freeze-bn-after", "2", "--out", qat, "--json"},
		{"qat", "--resume", "--out", qat, "--epochs", "2", "--json"},
		{"export", "--from", qat, "--out", model, "--json"},
		{"export", "--from", qat, "--out", onnx, "--format", "onnx", "--json"},
		{"eval", "--model", model, "--compare", qat, "--json"},
		{"bench", "--model", model, "--from", qat, "--batches", "1,7", "--rounds", "1", "--json"},
	}
	for _, args := range steps {
		out, errOut, status := runCLI(t, args...)
		if status != 0 {
			t.Fatalf("%v: status %d, stderr %q", args, status, errOut)
		}
		res := lastJSON(t, out)
		switch args[0] {
		case "export", "bench":
			continue
		case "eval":
			// The simulation and the integer runtime agree on every
			// logit of every test sample.
			if res["agreement"].(float64) != 1 || res["max_lsb_diff"].(float64) != 0 {
				t.Fatalf("eval --compare: agreement %v, max LSB difference %v", res["agreement"], res["max_lsb_diff"])
			}
		default:
			if res["model"] != "usernet" {
				t.Fatalf("%v: model %v", args, res["model"])
			}
		}
		if acc, ok := res["test_acc"].(float64); !ok || acc < 0 || acc > 1 {
			t.Fatalf("%v: test_acc %v", args, res["test_acc"])
		}
		if args[0] == "qat" && !slices.Contains(args, "--resume") && res["freeze_bn_after"].(float64) != 2 {
			t.Fatalf("qat: freeze_bn_after %v", res["freeze_bn_after"])
		}
	}
	// --spec on --resume must be the run's architecture.
	other := filepath.Join(runs, "other.json")
	m2, _ := nn.NewSequential("usernet", nn.Shape{C: 1, H: 8, W: 8}, 3, []nn.Layer{&nn.Flatten{}, &nn.Linear{Name: "fc", Out: 3}}, 1)
	b, _ := m2.Spec()
	os.WriteFile(other, b, 0o644)
	if _, errOut, status := runCLI(t, "train", "--resume", "--spec", other, "--epochs", "3", "--out", fl); status == 0 || !strings.Contains(errOut, "not the architecture of the run") {
		t.Fatalf("resume with another spec: status %d, %q", status, errOut)
	}
	if out, errOut, status := runCLI(t, "train", "--resume", "--spec", specFile, "--epochs", "3", "--out", fl, "--json"); status != 0 || lastJSON(t, out)["epochs"].(float64) != 3 {
		t.Fatalf("resume with its own spec: status %d, %q", status, errOut)
	}
	// --print-spec prints the architecture of a run (float or QAT), of a
	// --spec file, or of a built-in model for the data's shape, and
	// creates nothing.
	l5, _ := nn.New("lenet5", nn.Shape{C: 1, H: 8, W: 8}, 3, 1)
	if l5 != nil {
		t.Fatal("lenet5 should not fit 8×8 inputs") // keeps the next case honest
	}
	mlp, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	mlpSpec, _ := mlp.Spec()
	notRun := filepath.Join(runs, "not-a-run")
	for _, c := range []struct {
		args []string
		want []byte
	}{
		{[]string{"--out", fl}, spec},
		{[]string{"--out", qat}, spec},
		{[]string{"--spec", specFile}, spec},
		{[]string{"--model", "lenet300", "--data", data}, mlpSpec},
	} {
		args := append([]string{"train", "--print-spec"}, c.args...)
		out, errOut, status := runCLI(t, args...)
		if status != 0 || out != string(c.want)+"\n" {
			t.Errorf("%v: status %d, stderr %q, printed\n%s\nwant\n%s", args, status, errOut, out, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", notRun}, "holds no run"},
		{[]string{"--out", fl, "--model", "lenet300"}, "give one"},
		{[]string{"--out", fl, "--spec", specFile}, "give one"},
	} {
		args := append([]string{"train", "--print-spec"}, c.args...)
		if _, errOut, status := runCLI(t, args...); status == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", args, status, errOut, c.want)
		}
	}
	if _, err := os.Stat(notRun); err == nil {
		t.Error("--print-spec created a run directory")
	}
	if _, errOut, status := runCLI(t, "train", "--print-spec", "--model", "lenet5", "--data", data); status == 0 || !strings.Contains(errOut, "lenet5") {
		t.Errorf("--print-spec of a model that does not fit the data: status %d, %q", status, errOut)
	}
}
