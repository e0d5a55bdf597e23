package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
)

// TestChartAndReportOutputsChecked: every command that writes a chart or
// a JSON report checks its output path before any work. `bench
// --roofline` and `mixed pareto --png` replaced a picture tinyqat did not
// draw (plot refused it), and a missing folder failed only after the
// timings or the attack, naming a temporary file
// ("open no/.x.json.tmp3555864843").
func TestChartAndReportOutputsChecked(t *testing.T) {
	_, fl := floatRun(t, 1)
	dir := t.TempDir()
	ptq, model := filepath.Join(dir, "ptq"), filepath.Join(dir, "m.tqm")
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--out", ptq); s != 0 {
		t.Fatalf("ptq: %s", e)
	}
	if _, e, s := runCLI(t, "export", "--from", ptq, "--out", model); s != 0 {
		t.Fatalf("export: %s", e)
	}
	photo := filepath.Join(dir, "photo.png")
	photoBefore := []byte("\x89PNG\r\n\x1a\n a user's picture")
	if err := os.WriteFile(photo, photoBefore, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no", "such")
	bench := []string{"bench", "--model", model, "--layers", "--batches", "1", "--rounds", "1", "--roofline"}
	pareto := []string{"mixed", "pareto", "--compare=false", ptq, "--png"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(bench, photo), "bench: --roofline " + photo + " exists and is not a chart tinyqat drew; refusing"},
		{append(pareto, photo), "mixed pareto: --png " + photo + " exists and is not a chart tinyqat drew; refusing"},
		{append(pareto, model), "mixed pareto: --png " + model + ": the file name must end in .png or .svg"},
		{append(bench, filepath.Join(missing, "r.png")), "bench: --roofline " + filepath.Join(missing, "r.png") + ": the folder " + missing + " does not exist"},
		{append(pareto, filepath.Join(missing, "p.svg")), "mixed pareto: --png " + filepath.Join(missing, "p.svg") + ": the folder " + missing + " does not exist"},
		{append(pareto, filepath.Join(model, "p.svg")), "is a regular file, not a directory"},
		{[]string{"plot", "--run", fl, "--out", filepath.Join(missing, "p.png")}, "plot: --out " + filepath.Join(missing, "p.png") + ": the folder " + missing + " does not exist"},
		{[]string{"attack", "--from", fl, "--test-limit", "8", "--eps", "0.1", "--out", filepath.Join(missing, "a.json")},
			"attack: --out " + filepath.Join(missing, "a.json") + ": the folder " + missing + " does not exist"},
	} {
		_, errOut, status := runCLI(t, c.args...)
		if status == 0 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, ".tmp") {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, status, errOut, c.want)
		}
	}
	if b, _ := os.ReadFile(photo); !bytes.Equal(b, photoBefore) {
		t.Error("a chart replaced a picture tinyqat did not draw")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("files left behind: %v", entries)
	}
	// A chart tinyqat drew may be replaced.
	chart := filepath.Join(dir, "p.svg")
	for i := 0; i < 2; i++ {
		if _, e, s := runCLI(t, append(pareto, chart)...); s != 0 {
			t.Fatalf("mixed pareto --png, run %d: %s", i+1, e)
		}
	}
}

// TestRunOutIsAFile: a run directory given as a file is refused, naming
// the flag ("stat m.tqm/checkpoint.safetensors: not a directory" before),
// and a new cluster run refuses a model.tqm already in its --out, before
// training, where it used to replace it after.
func TestRunOutIsAFile(t *testing.T) {
	data, fl := floatRun(t, 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "m.tqm")
	if _, e, s := runCLI(t, "export", "--from", fl, "--out", file); s != 0 {
		t.Fatalf("export: %s", e)
	}
	before, _ := os.ReadFile(file)
	sens := []string{"--sens-batches", "1", "--hessian-batches", "1", "--probes", "1", "--no-train", "--avg-bits", "6"}
	for _, args := range [][]string{
		{"train", "--epochs", "1", "--data", data},
		{"qat", "--from", fl, "--epochs", "1"},
		{"ptq", "--from", fl},
		{"cluster", "--from", fl, "--bits", "4", "--epochs", "0"},
		append([]string{"mixed", "--from", fl}, sens...),
		{"train", "--resume", "--epochs", "2"},
	} {
		want := args[0] + ": --out " + file + " is a regular file, not a run directory"
		if _, errOut, status := runCLI(t, append(args, "--out", file)...); status == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%v: status %d, stderr %q, want %q", args, status, errOut, want)
		}
	}
	run := filepath.Join(dir, "cl")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(run, ClusterModelFile)
	if err := os.WriteFile(mine, before, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, status := runCLI(t, "cluster", "--from", fl, "--bits", "4", "--epochs", "0", "--out", run)
	if want := "already holds " + ClusterModelFile + "; refusing to replace it"; status == 0 || !strings.Contains(errOut, want) {
		t.Errorf("cluster into a folder with a model file: status %d, stderr %q, want %q", status, errOut, want)
	}
	for _, p := range []string{file, mine} {
		if b, _ := os.ReadFile(p); !bytes.Equal(b, before) {
			t.Errorf("%s changed", p)
		}
	}
	if entries, _ := os.ReadDir(run); len(entries) != 1 {
		t.Errorf("files left behind in %s: %v", run, entries)
	}
}

// TestClusterResumeReadOnly: `cluster --resume` of a run in a read-only
// directory is refused before training, as train and qat --resume are; it
// used to train an epoch, log it and then fail to save the checkpoint.
func TestClusterResumeReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	_, fl := floatRun(t, 1)
	run := filepath.Join(t.TempDir(), "cl")
	if _, e, s := runCLI(t, "cluster", "--from", fl, "--bits", "4", "--epochs", "0", "--out", run); s != 0 {
		t.Fatalf("cluster: %s", e)
	}
	metrics := filepath.Join(run, "metrics.jsonl")
	before, _ := os.ReadFile(metrics)
	if err := os.Chmod(run, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(run, 0o755)
	_, errOut, status := runCLI(t, "cluster", "--resume", "--epochs", "1", "--out", run)
	if status == 0 || !strings.Contains(errOut, "output directory "+run+" is not writable") {
		t.Errorf("status %d, stderr %q", status, errOut)
	}
	if after, _ := os.ReadFile(metrics); !bytes.Equal(before, after) {
		t.Error("the refused resume changed the metrics log")
	}
}

// TestRunOfAnotherKind: a run of another kind where one kind is expected
// is refused naming it: `eval --compare` of a run that is not the model's
// source said "eval: export: the checkpoint is not the model's source"
// without the files, `eval --compare FLOAT_RUN` and `qat --resume` of a
// float run said "the checkpoint is a float model (phase "float"); run ptq
// or qat first", `mixed pareto FLOAT_RUN` prefixed that with two paths,
// and --sens of a JSON file without a table said "not a mixed.json
// (<nil>)".
func TestRunOfAnotherKind(t *testing.T) {
	_, fl := floatRun(t, 1)
	dir := t.TempDir()
	ptq, model, empty := filepath.Join(dir, "ptq"), filepath.Join(dir, "m.tqm"), filepath.Join(dir, "s.json")
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--out", ptq); s != 0 {
		t.Fatalf("ptq: %s", e)
	}
	if _, e, s := runCLI(t, "export", "--from", ptq, "--out", model); s != 0 {
		t.Fatalf("export: %s", e)
	}
	if err := os.WriteFile(empty, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	qat := filepath.Join(dir, "qat")
	if _, e, s := runCLI(t, "qat", "--from", fl, "--epochs", "1", "--out", qat); s != 0 {
		t.Fatalf("qat: %s", e)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", model, "--compare", fl}, "eval: --compare " + fl + " is a float run; " + model + " is an integer model"},
		{[]string{"eval", "--model", model, "--compare", qat}, "eval: --compare " + qat + " is not the source of " + model + ": phase ptq (model) vs qat (checkpoint)"},
		{[]string{"qat", "--resume", "--out", fl, "--epochs", "2"}, "qat: --resume: " + fl + " holds a float checkpoint, not a qat run"},
		{[]string{"qat", "--resume", "--out", ptq, "--epochs", "2"}, "holds a ptq checkpoint, not a qat run; PTQ has nothing to resume"},
		{[]string{"mixed", "pareto", "--compare=false", fl, ptq}, "mixed pareto: " + fl + " is a float run; the runs are PTQ, QAT and mixed runs"},
		{[]string{"mixed", "pareto", "--compare=false", "--float", ptq, ptq}, "mixed pareto: --float " + ptq + " is a ptq run, not a float run"},
		{[]string{"mixed", "pareto", "--compare=false", "--sens", empty, ptq}, "mixed pareto: --sens " + empty + ": not a mixed.json (it holds no sensitivity table)"},
		{[]string{"mixed", "pareto", "--compare=false", "--sens", dir, ptq}, "mixed pareto: --sens: " + dir + ": not a regular file (a directory)"},
	} {
		if _, errOut, status := runCLI(t, c.args...); status == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, status, errOut, c.want)
		}
	}
}

// TestWideSpecLargeBatch: a spec within every per-layer limit, trained at
// a batch whose activations would take GBs, is refused before anything
// is allocated or created; it allocated until the process was killed
// (fatal error: out of memory), as did mixed --sens-batch 1000000, which
// had no upper bound.
func TestWideSpecLargeBatch(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(160, 16, 16, 16, 3, 50, 1))
	spec := filepath.Join(t.TempDir(), "wide.json")
	// 16384 channels of 16×16: 4 M values per image, the most one layer
	// may have, so at most 127 images a step.
	if err := os.WriteFile(spec, []byte(`{"format":"tinyqat-nn-spec","version":1,"arch":"wide","input":[1,16,16],"classes":3,"layers":[
		{"kind":"conv2d","name":"c","out":16384,"k":1},{"kind":"relu"},{"kind":"globalavgpool","name":"pool"},{"kind":"linear","name":"fc","out":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	_, errOut, status := runCLI(t, "train", "--spec", spec, "--data", data, "--batch", "160", "--epochs", "1", "--out", out)
	if want := "train: batch 160 × 4210947 activation values per sample of wide is more than the 536870912 values (2 GiB) a training step may hold; the most is 127"; status == 0 || !strings.Contains(errOut, want) {
		t.Errorf("train: status %d, stderr %q, want %q", status, errOut, want)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("the refused run left its directory behind")
	}
	_, fl := floatRun(t, 1)
	_, errOut, status = runCLI(t, "mixed", "--from", fl, "--sens-batch", "1000000", "--avg-bits", "6", "--no-train", "--out", out)
	if want := "--sens-batch must be in [1, 65536], got 1000000"; status == 0 || !strings.Contains(errOut, want) {
		t.Errorf("mixed: status %d, stderr %q, want %q", status, errOut, want)
	}
}

// TestReportAttacksChecked: `report --attacks` of a JSON file without
// curves said "is not the JSON of tinyqat attack --out (<nil>)", and one
// with a negative sample count was reported.
func TestReportAttacksChecked(t *testing.T) {
	_, fl := floatRun(t, 1)
	demo := filepath.Dir(fl)
	dir := t.TempDir()
	for _, c := range []struct{ json, want string }{
		{`{}`, "(it holds 0 curves, 0 eps and 0 samples)"},
		{`{"format":"tinyqat-attack","eps":[0],"samples":-5,"curves":[{"model":"float","threat":"white-box","acc":[0.5]}]}`, "(it holds 1 curves, 1 eps and -5 samples)"},
		{`{"eps":[0`, "(unexpected end of JSON input)"},
	} {
		p := filepath.Join(dir, "a.json")
		if err := os.WriteFile(p, []byte(c.json), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "report: " + p + " is not the JSON of tinyqat attack --out " + c.want
		if _, errOut, status := runCLI(t, "report", "--from", demo, "--attacks", p, "--quick"); status == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%s: status %d, stderr %q, want %q", c.json, status, errOut, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(demo, "report.md")); err == nil {
		t.Error("a refused report wrote report.md")
	}
}

// TestFlagErrorsNamed: export --c-name without --format c was ignored,
// and train's errors from rundir started "rundir:" where ptq and qat name
// themselves.
func TestFlagErrorsNamed(t *testing.T) {
	data, fl := floatRun(t, 1)
	out := filepath.Join(t.TempDir(), "m.tqm")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--from", fl, "--c-name", "net", "--out", out}, "export: --c-name net is for --format c (it names the C files), and the format is tinyqat"},
		{[]string{"train", "--data", data, "--shift", "99", "--out", filepath.Join(t.TempDir(), "run")}, "tinyqat: train: shift must be in [0, 8] pixels, got 99"},
	} {
		if _, errOut, status := runCLI(t, c.args...); status == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, status, errOut, c.want)
		}
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("the refused export wrote its --out")
	}
}
