package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
	"golang.org/x/sys/unix"
)

func TestAttackBadFlags(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(100, 50, 8, 8, 3, 40, 1))
	runs := t.TempDir()
	fl, ptq := filepath.Join(runs, "float"), filepath.Join(runs, "ptq")
	fl2, ptq2 := filepath.Join(runs, "float2"), filepath.Join(runs, "ptq2")
	for _, args := range [][]string{
		{"train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", fl},
		{"ptq", "--from", fl, "--data", data, "--out", ptq},
		{"train", "--model", "lenet300", "--epochs", "1", "--seed", "2", "--data", data, "--out", fl2},
		{"ptq", "--from", fl2, "--data", data, "--out", ptq2},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	// A PTQ run as older releases wrote it: no parent recorded.
	legacy := filepath.Join(runs, "legacy")
	ck, err := rundir.LoadCheckpoint(ptq)
	if err != nil {
		t.Fatal(err)
	}
	ck.Parent = ""
	if err := os.Mkdir(legacy, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rundir.SaveCheckpoint(filepath.Join(legacy, rundir.CheckpointFile), ck); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string // part of the one-line error
	}{
		{[]string{"attack"}, "--from RUN_DIR"},
		{[]string{"attack", "--from", fl, "--method", "cw"}, `unknown method "cw"`},
		{[]string{"attack", "--from", fl, "--eps", "0,abc"}, `"abc" is not a number`},
		{[]string{"attack", "--from", fl, "--eps", "0.1,-0.2"}, "each must be in [0, 1]"},
		{[]string{"attack", "--from", fl, "--eps", "2"}, "each must be in [0, 1]"},
		{[]string{"attack", "--from", fl, "--method", "pgd", "--steps", "0"}, "--steps must be at least 1"},
		{[]string{"attack", "--from", fl, "--squeeze", "9"}, "--squeeze"},
		{[]string{"attack", "--from", fl, "--test-limit", "-1"}, "--test-limit"},
		{[]string{"attack", "--from", ptq, "--data", data}, "must be the float run"},
		{[]string{"attack", "--from", fl, "--quant", fl, "--data", data}, "is a float run"},
		// The same network quantized from another float run used to be
		// attacked with --from's images and reported as its twin.
		{[]string{"attack", "--from", fl, "--quant", ptq2, "--data", data}, "was quantized from another float run"},
		{[]string{"attack", "--from", fl, "--quant", legacy, "--data", data}, "does not record the float run"},
		{[]string{"attack", "--from", fl, "--quant", ptq, "--model", "qat-w9a9", "--data", data}, "no such model (found: float, ptq-w8a8, squeeze-1bit, int8-runtime, f32-runtime)"},
		{[]string{"attack", "--from", filepath.Join(runs, "nothing"), "--data", data}, "no checkpoint"},
	}
	for _, c := range cases {
		_, stderr, st := runCLI(t, c.args...)
		if st != 1 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: status %d, stderr %q; want status 1 and one line containing %q", c.args, st, stderr, c.want)
		}
	}
}

// TestAttackAndReport runs the demo's layout end to end on synthetic data:
// float and QAT W8A8 runs, the int8 export, `attack` on them (white-box,
// transfer, the runtime) and `report --quick` (every chart, links that
// resolve).
func TestAttackAndReport(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(300, 120, 8, 8, 3, 40, 1))
	demo := t.TempDir()
	fl, qat := filepath.Join(demo, "float"), filepath.Join(demo, "qat-w8a8")
	for _, args := range [][]string{
		{"train", "--model", "lenet300", "--epochs", "2", "--data", data, "--out", fl},
		{"qat", "--from", fl, "--data", data, "--out", qat, "--epochs", "1"},
		{"export", "--from", qat, "--out", filepath.Join(demo, "lenet300-w8a8.tqm")},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	stdout, stderr, st := runCLI(t, "attack", "--from", demo, "--data", data, "--method", "pgd", "--steps", "3", "--eps", "0,0.2", "--json")
	if st != 0 {
		t.Fatalf("attack: %s", stderr)
	}
	res := lastJSON(t, stdout)
	curves := res["curves"].([]any)
	got := map[string][]any{}
	for _, c := range curves {
		m := c.(map[string]any)
		got[m["model"].(string)+"/"+m["threat"].(string)] = m["acc"].([]any)
	}
	for _, k := range []string{"float/white-box", "qat-w8a8/white-box", "squeeze-1bit/white-box", "float/transfer", "qat-w8a8/transfer",
		"int8-runtime/transfer", "int8-runtime/white-box via simulation", "f32-runtime/transfer"} {
		if len(got[k]) != 2 {
			t.Errorf("no curve %s in %v", k, got)
		}
	}
	// At ε = 0 nothing moves: the runtime agrees with its simulation and
	// white-box equals transfer for every model.
	// The float runtime classifies the images made on its Gorgonia twin as
	// the twin does.
	if got["f32-runtime/transfer"][0] != got["float/white-box"][0] {
		t.Errorf("eps 0: float runtime %v, float model %v", got["f32-runtime/transfer"][0], got["float/white-box"][0])
	}
	if got["int8-runtime/transfer"][0] != got["qat-w8a8/white-box"][0] || got["qat-w8a8/transfer"][0] != got["qat-w8a8/white-box"][0] {
		t.Errorf("eps 0: runtime %v, simulation %v / %v", got["int8-runtime/transfer"][0], got["qat-w8a8/white-box"][0], got["qat-w8a8/transfer"][0])
	}

	if _, stderr, st := runCLI(t, "report", "--from", demo, "--data", data, "--quick"); st != 0 {
		t.Fatalf("report: %s", stderr)
	}
	md, err := os.ReadFile(filepath.Join(demo, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1)
	// test accuracy, loss, bits, weights, SQNR, size, latency, roofline,
	// FGSM, PGD: 10 charts, each embedded (PNG) and linked (SVG).
	if len(links) != 20 || !strings.Contains(string(md), "](roofline.png)") {
		t.Errorf("report.md has %d links, want 20 with roofline.png", len(links))
	}
	for _, l := range links {
		if _, err := os.Stat(filepath.Join(demo, l[1])); err != nil {
			t.Errorf("report.md links %s: %v", l[1], err)
		}
	}
	s, err := os.ReadFile(filepath.Join(demo, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"adversarial"`, `"size_bytes"`, `"latency_us_per_image"`} {
		if !strings.Contains(string(s), key) {
			t.Errorf("summary.json lacks %s", key)
		}
	}
	// Data that is not the demo's, an attack file that is not a regular
	// file, and a directory without a float run are refused.
	other := writeIDX(t, datasets.Synthetic(300, 100, 8, 8, 3, 40, 2))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--from", demo, "--data", other, "--quick"}, "is not the data the run was trained on"},
		{[]string{"report", "--from", demo, "--quick", "--attacks", demo}, "--attacks: " + demo + ": not a regular file (a directory)"},
		{[]string{"report", "--from", t.TempDir(), "--quick"}, "is not a demo directory"},
	} {
		if _, stderr, st := runCLI(t, c.args...); st == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, st, stderr, c.want)
		}
	}
}

// TestDemoQuick: `demo --quick` runs the whole pipeline and writes the
// report beside summary.json, with the keys the report adds.
func TestDemoQuick(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(300, 100, 8, 8, 3, 40, 1))
	out := filepath.Join(t.TempDir(), "demo")
	if _, stderr, st := runCLI(t, "demo", "--quick", "--data", data, "--out", out, "--cluster-epochs", "-1"); st == 0 || !strings.Contains(stderr, "--cluster-epochs") {
		t.Errorf("--cluster-epochs -1: status %d, %q", st, stderr)
	}
	if _, stderr, st := runCLI(t, "demo", "--quick", "--data", data, "--out", out, "--model", "resnet8"); st == 0 || !strings.Contains(stderr, "must be lenet300 or lenet5") {
		t.Errorf("--model resnet8: status %d, %q", st, stderr)
	}
	if _, stderr, st := runCLI(t, "demo", "--quick", "--data", data, "--out", out); st != 0 {
		t.Fatalf("demo --quick: %s", stderr)
	}
	s, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"adversarial"`, `"size_bytes"`, `"latency_us_per_image"`, `"epochs": 2`, `"qat_epochs": 1`} {
		if !strings.Contains(string(s), key) {
			t.Errorf("summary.json lacks %s", key)
		}
	}
	var sum struct {
		Cluster4 struct {
			TestAcc     float64 `json:"test_acc"`
			Bits        int     `json:"bits"`
			BitsA       int     `json:"bits_a"`
			Bytes       int64   `json:"bytes"`
			TrainImages int     `json:"train_images"`
		} `json:"cluster_4bit"`
		Sizes   map[string]int64              `json:"size_bytes"`
		Latency map[string]map[string]float64 `json:"latency_us_per_image"`
		Table   []map[string]any              `json:"table"`
	}
	if err := json.Unmarshal(s, &sum); err != nil {
		t.Fatal(err)
	}
	// 3 classes: chance is 1/3; the synthetic classes are separable, so a
	// clustered model that learned anything is far above it.
	if c := sum.Cluster4; c.TestAcc < 0.5 || c.Bits != 4 || c.BitsA != 8 || c.TrainImages != 300 || c.Bytes != sum.Sizes["clustered"] {
		t.Errorf("cluster_4bit = %+v (size_bytes %v)", c, sum.Sizes)
	}
	// Sizes are files measured on disk: 4-bit packing and the 4-bit codebook
	// are smaller than int8, which is smaller than float32.
	z := sum.Sizes
	if z["float32"] == 0 || z["int8"] == 0 || z["int4_packed"] == 0 || z["clustered"] == 0 ||
		!(z["int4_packed"] < z["int8"] && z["clustered"] < z["int8"] && z["int8"] < z["float32"]) {
		t.Errorf("size_bytes = %v", z)
	}
	for _, e := range []string{"float32", "int8"} {
		for _, b := range []string{"1", "64"} {
			if sum.Latency[e][b] <= 0 {
				t.Errorf("latency_us_per_image[%s][%s] = %v", e, b, sum.Latency[e][b])
			}
		}
	}
	for _, row := range sum.Table {
		if _, ok := row["cluster"].(float64); !ok {
			t.Errorf("table row %v has no cluster accuracy", row)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| k-means |", "| int4 packed |", "| 4-bit k-means |", "4-bit k-means codebook", "Wall time"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, l := range regexp.MustCompile(`\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1) {
		if _, err := os.Stat(filepath.Join(out, l[1])); err != nil {
			t.Errorf("report.md links %s: %v", l[1], err)
		}
	}
}

// TestReportAndAttackLabelByContent: results are labelled by what a run or
// a model file records, not by its folder or file name. A W4A8 QAT run in
// a folder named qat-w8a8 used to be charted as qat-w8a8, and a W4A8 model
// file named ARCH-w8a8.safetensors measured as "int8" by report and as
// "int8-runtime" by attack --int8. A model path that is a directory or a
// named pipe used to be left out without a word; attack --int8 took a
// model of another network; attack --out replaced the demo's summary.
func TestReportAndAttackLabelByContent(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(300, 120, 8, 8, 3, 40, 1))
	demo, other := t.TempDir(), t.TempDir()
	fl, qat := filepath.Join(demo, "float"), filepath.Join(demo, "qat-w8a8") // holds a W4A8 run
	w8a8File := filepath.Join(demo, "lenet300-w8a8.tqm")                     // holds a W4A8 model
	spec := filepath.Join(other, "other.json")
	os.WriteFile(spec, []byte(`{"format":"tinyqat-nn-spec","version":1,"arch":"other","input":[1,8,8],"classes":3,`+
		`"layers":[{"kind":"flatten"},{"kind":"linear","name":"fc","out":3}]}`), 0o644)
	otherModel := filepath.Join(other, "other.safetensors")
	for _, args := range [][]string{
		{"train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", fl},
		{"qat", "--from", fl, "--bits-w", "4", "--data", data, "--out", qat, "--epochs", "1"},
		{"export", "--from", qat, "--out", w8a8File},
		{"train", "--spec", spec, "--epochs", "1", "--data", data, "--out", filepath.Join(other, "float")},
		{"ptq", "--from", filepath.Join(other, "float"), "--out", filepath.Join(other, "ptq")},
		{"export", "--from", filepath.Join(other, "ptq"), "--out", otherModel},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	attackArgs := []string{"attack", "--from", demo, "--eps", "0", "--test-limit", "20", "--squeeze", ""}
	stdout, stderr, st := runCLI(t, append(attackArgs, "--int8", w8a8File, "--json")...)
	if st != 0 {
		t.Fatalf("attack: %s", stderr)
	}
	var names []string
	for _, c := range lastJSON(t, stdout)["curves"].([]any) {
		names = append(names, c.(map[string]any)["model"].(string)+"/"+c.(map[string]any)["threat"].(string))
	}
	if want := "float/white-box qat-w4a8/white-box float/transfer qat-w4a8/transfer runtime-w4a8/transfer f32-runtime/transfer"; strings.Join(names, " ") != want {
		t.Errorf("attack curves %v, want %s", names, want)
	}

	// attack --out: a file it did not write is kept; its own is replaced.
	summary := filepath.Join(demo, "summary.json")
	if err := os.WriteFile(summary, []byte(`{"seconds": 12}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	result := filepath.Join(demo, "fgsm.json")
	for _, c := range []struct {
		out, want string // want "": success
	}{
		{summary, "was not written by this command"},
		{demo, "is a directory"},
		{result, ""},
		{result, ""},
	} {
		_, stderr, st := runCLI(t, append(attackArgs, "--out", c.out)...)
		if c.want == "" && st != 0 || c.want != "" && (st == 0 || !strings.Contains(stderr, c.want)) {
			t.Errorf("attack --out %s: status %d, %q, want %q", c.out, st, stderr, c.want)
		}
	}
	if b, _ := os.ReadFile(summary); string(b) != `{"seconds": 12}`+"\n" {
		t.Errorf("attack --out replaced the demo's summary: %q", b)
	}

	fifoRun := filepath.Join(t.TempDir(), "demo")
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(attackArgs, "--int8", otherModel), "is a other model (1x8x8, 3 classes), the float run is lenet300"},
		{[]string{"report", "--from", demo, "--quick", "--attacks", result}, w8a8File + " is a lenet300 w4a8 model"},
		{[]string{"report", "--from", fifoRun, "--quick", "--attacks", result}, "named pipe, not a checkpoint file"},
		{append([]string{"attack", "--from", fifoRun}, attackArgs[3:]...), "named pipe, not a checkpoint file"},
	} {
		if c.args[2] == fifoRun {
			// A demo whose second run's checkpoint is a named pipe.
			if _, err := os.Stat(fifoRun); err != nil {
				os.MkdirAll(filepath.Join(fifoRun, "qat-w4a8"), 0o755)
				os.Symlink(fl, filepath.Join(fifoRun, "float"))
				if err := unix.Mkfifo(filepath.Join(fifoRun, "qat-w4a8", "checkpoint.safetensors"), 0o644); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
			}
		}
		if _, stderr, st := runCLI(t, c.args...); st == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: status %d, %q, want %q", c.args, st, stderr, c.want)
		}
	}

	// A model path that is a directory is an error too, not a size left out.
	if err := os.Rename(w8a8File, filepath.Join(other, "w4a8.tqm")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(demo, "lenet300-w4a8.tqm"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, stderr, st := runCLI(t, "report", "--from", demo, "--quick", "--attacks", result); st == 0 || !strings.Contains(stderr, "a directory") {
		t.Errorf("report with a directory for a model: status %d, %q", st, stderr)
	}
	os.Remove(filepath.Join(demo, "lenet300-w4a8.tqm"))
	if _, stderr, st := runCLI(t, "report", "--from", demo, "--quick", "--attacks", result); st != 0 {
		t.Fatalf("report: %s", stderr)
	}
	md, err := os.ReadFile(filepath.Join(demo, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "qat-w4a8 ends at") || strings.Contains(string(md), "qat-w8a8") {
		t.Errorf("report.md labels the W4A8 run by its folder:\n%s", md)
	}
}

// TestAttackInt8OtherRun: attack --int8 used to take a model file of the
// same network exported from another run and report its accuracy as the
// --from run's. A file is taken when it is the export of --from's run or
// of a --quant run: by the run it records or, when it records none or the
// run was moved, by its content.
func TestAttackInt8OtherRun(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(200, 60, 8, 8, 3, 40, 1))
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	aFile, bFile := filepath.Join(dir, "a.tqm"), filepath.Join(dir, "b.tqm")
	for _, args := range [][]string{
		{"train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", a + "-float"},
		{"ptq", "--from", a + "-float", "--out", a + "-ptq"},
		{"export", "--from", a + "-ptq", "--out", aFile},
		{"train", "--model", "lenet300", "--epochs", "1", "--seed", "2", "--data", data, "--out", b + "-float"},
		{"ptq", "--from", b + "-float", "--out", b + "-ptq"},
		{"export", "--from", b + "-ptq", "--out", bFile},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	// The same run's export, copied beside a moved copy of the run: it
	// records a directory that is not the run's, but its content is the
	// moved run's export.
	moved := filepath.Join(dir, "moved-ptq")
	if err := os.Rename(a+"-ptq", moved); err != nil {
		t.Fatal(err)
	}
	attack := []string{"attack", "--from", a + "-float", "--quant", moved, "--eps", "0", "--test-limit", "20", "--squeeze", ""}
	if _, stderr, st := runCLI(t, append(attack, "--int8", aFile)...); st != 0 {
		t.Errorf("attack --int8 of its own PTQ run: %s", stderr)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		// b's model with a's runs: refused, naming the file, a's runs and b's.
		{append(attack, "--int8", bFile), []string{"--int8 " + bFile + " was not exported from any of " + a + "-float, " + moved,
			"records " + b + "-ptq as its run", moved + " exports other weights"}},
		// Without any PTQ run, nothing can have exported an integer model.
		{append(attack[:3:3], "--eps", "0", "--test-limit", "20", "--int8", aFile), []string{"was not exported from " + a + "-float:"}},
	} {
		_, stderr, st := runCLI(t, c.args...)
		if st != 1 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: status %d, stderr %q; want status 1 and one line", c.args, st, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", c.args, stderr, w)
			}
		}
	}
	// Files that record no run (the Go API's, cluster's model.tqm) are
	// known by their content: a codebook model in both of its forms, and
	// the float run's float model.
	cl, clW8, f32 := filepath.Join(dir, "a-cluster"), filepath.Join(dir, "cluster-w8only.tqm"), filepath.Join(dir, "a-f32.tqm")
	for _, args := range [][]string{
		{"cluster", "--from", a + "-float", "--bits", "2", "--epochs", "0", "--out", cl},
		{"export", "--from", cl, "--mode", "w8-only", "--out", clW8},
		{"export", "--from", a + "-float", "--out", f32},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	for _, f := range []string{filepath.Join(cl, "model.tqm"), clW8, f32} {
		m, err := infer.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		m.Source.Run = ""
		anon := f + ".anon.tqm"
		if err := m.Save(anon); err != nil {
			t.Fatal(err)
		}
		args := append(attack[:5:5], "--quant", cl, "--eps", "0", "--test-limit", "20", "--squeeze", "", "--int8", anon)
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Errorf("attack --int8 %s: %s", anon, stderr)
		}
	}
	// b's model with b's PTQ run as --quant is b's (from b's float run:
	// a's float run with b's PTQ run is refused, TestAttackBadFlags).
	bArgs := []string{"attack", "--from", b + "-float", "--data", data, "--quant", b + "-ptq", "--eps", "0", "--test-limit", "20", "--int8", bFile}
	if _, stderr, st := runCLI(t, bArgs...); st != 0 {
		t.Errorf("attack --quant with the model's own run: %s", stderr)
	}
}

// TestEvalCompareColumns: eval --compare's per-layer rows line up when a
// layer's name is longer than 8 characters (a custom network's
// "res.conv1" pushed its row one column right).
func TestEvalCompareColumns(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(100, 30, 8, 8, 3, 40, 1))
	dir := t.TempDir()
	spec := filepath.Join(dir, "net.json")
	os.WriteFile(spec, []byte(`{"format":"tinyqat-nn-spec","version":1,"arch":"cols","input":[1,8,8],"classes":3,`+
		`"layers":[{"kind":"flatten"},{"kind":"linear","name":"a.long.layer.name","out":16},{"kind":"relu"},{"kind":"linear","name":"fc","out":3}]}`), 0o644)
	for _, args := range [][]string{
		{"train", "--spec", spec, "--epochs", "1", "--data", data, "--out", filepath.Join(dir, "float")},
		{"ptq", "--from", filepath.Join(dir, "float"), "--out", filepath.Join(dir, "ptq")},
		{"export", "--from", filepath.Join(dir, "ptq"), "--out", filepath.Join(dir, "m.tqm")},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	stdout, stderr, st := runCLI(t, "eval", "--model", filepath.Join(dir, "m.tqm"), "--compare", filepath.Join(dir, "ptq"))
	if st != 0 {
		t.Fatalf("eval: %s", stderr)
	}
	cols := map[int]bool{}
	rows := 0
	for _, l := range strings.Split(stdout, "\n") {
		if i := strings.Index(l, " values,"); i >= 0 {
			cols[i] = true
			rows++
		}
	}
	if rows != 2 || len(cols) != 1 {
		t.Errorf("%d layer rows, \"values,\" at %d different columns; want 2 rows in one column:\n%s", rows, len(cols), stdout)
	}
}

// TestAttackRunTestLimit: attack --from uses the float run's --test-limit
// unless --test-limit is given (it attacked all the test images of a run
// measured on the first N), and says so.
func TestAttackRunTestLimit(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(100, 60, 8, 8, 3, 40, 1))
	fl := filepath.Join(t.TempDir(), "float")
	if _, stderr, st := runCLI(t, "train", "--model", "lenet300", "--epochs", "1", "--test-limit", "20", "--data", data, "--out", fl); st != 0 {
		t.Fatalf("train: %s", stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--test-limit of the run"},
		{[]string{"--test-limit", "0"}, ""},
		{[]string{"--test-limit", "30"}, ""},
	} {
		stdout, stderr, st := runCLI(t, append([]string{"attack", "--from", fl, "--eps", "0", "--squeeze", "", "--json"}, c.args...)...)
		if st != 0 {
			t.Fatalf("attack %v: %s", c.args, stderr)
		}
		want := map[string]float64{"": 20, "0": 60, "30": 30}[strings.Join(c.args[min(1, len(c.args)):], "")]
		if got := lastJSON(t, stdout)["samples"]; got != want {
			t.Errorf("attack %v: %v samples, want %v", c.args, got, want)
		}
		if c.want != "" && !strings.Contains(stdout, c.want) {
			t.Errorf("attack %v: output does not say %q:\n%s", c.args, c.want, stdout)
		}
	}
}

// TestAttackInt8FloatModelOneRow: --int8 naming the float run's own
// float32 model is the float-runtime row, not a second, identical row
// beside it (it printed "runtime-f32" and "f32-runtime").
func TestAttackInt8FloatModelOneRow(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(200, 60, 8, 8, 3, 40, 1))
	dir := t.TempDir()
	run, f32 := filepath.Join(dir, "float"), filepath.Join(dir, "f32.tqm")
	for _, args := range [][]string{
		{"train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", run},
		{"export", "--from", run, "--out", f32},
	} {
		if _, stderr, st := runCLI(t, args...); st != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	stdout, stderr, st := runCLI(t, "attack", "--from", run, "--eps", "0", "--test-limit", "20", "--squeeze", "", "--int8", f32)
	if st != 0 {
		t.Fatalf("attack --int8 %s: %s", f32, stderr)
	}
	if strings.Contains(stdout, "runtime-f32") || !strings.Contains(stdout, floatRuntimeName) {
		t.Errorf("attack --int8 of the float model: want one %s row and no runtime-f32 row:\n%s", floatRuntimeName, stdout)
	}
}
