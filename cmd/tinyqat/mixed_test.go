package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/rundir"
)

func TestMixedCommand(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(600, 200, 16, 16, 5, 50, 1))
	runs := t.TempDir()
	fl, mx, dry := filepath.Join(runs, "float"), filepath.Join(runs, "mixed"), filepath.Join(runs, "dry")
	if _, errOut, status := runCLI(t, "train", "--model", "lenet5", "--epochs", "1", "--data", data, "--out", fl, "--json"); status != 0 {
		t.Fatalf("train: %s", errOut)
	}
	// Bad budgets are one line and a non-zero status, before any work.
	for _, args := range [][]string{
		{"mixed", "--from", fl, "--out", mx},
		{"mixed", "--from", fl, "--out", mx, "--size-bytes", "1000", "--avg-bits", "3"},
		{"mixed", "--from", fl, "--out", mx, "--avg-bits", "9"},
		{"mixed", "--from", fl, "--out", mx, "--size-of-uniform", "3", "--sensitivity", "guess"},
		{"mixed", "--from", fl, "--out", mx, "--size-bytes", "10"}, // below the 2-bit size
	} {
		_, errOut, status := runCLI(t, append(args, "--data", data, "--sens-batch", "64", "--sens-batches", "2", "--probes", "2")...)
		if status == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: status %d, stderr %q", args, status, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(mx, rundir.CheckpointFile)); err == nil {
		t.Fatal("a refused run left a checkpoint")
	}
	out, errOut, status := runCLI(t, "mixed", "--from", fl, "--data", data, "--out", dry, "--size-of-uniform", "3", "--no-train",
		"--sens-batch", "64", "--sens-batches", "2", "--probes", "2")
	if status != 0 {
		t.Fatalf("mixed --no-train: %s", errOut)
	}
	for _, want := range []string{"conv1.weight", "fc2.out", "→", "chosen (hawq)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dry, MixedFile)); err != nil {
		t.Errorf("--no-train wrote no %s: %v", MixedFile, err)
	}
	// --seed reaches the sensitivity pass (other batches, other probes):
	// another seed measures other losses and traces; the float run's seed
	// (1, given) the same ones as the default.
	// slotsOf reads the seed and the sensitivity table of dir's mixed.json.
	slotsOf := func(dir string) (seed any, slots string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, MixedFile))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		sens, _ := json.Marshal(m["sensitivity"].(map[string]any)["slots"])
		return m["seed"], string(sens)
	}
	sensOf := func(seed string) string {
		t.Helper()
		dir := filepath.Join(runs, "dry-seed"+seed)
		if _, errOut, status := runCLI(t, "mixed", "--from", fl, "--data", data, "--out", dir, "--size-of-uniform", "3", "--no-train",
			"--sens-batch", "64", "--sens-batches", "2", "--probes", "2", "--seed", seed); status != 0 {
			t.Fatalf("mixed --no-train --seed %s: %s", seed, errOut)
		}
		got, slots := slotsOf(dir)
		if fmt.Sprint(got) != seed {
			t.Errorf("mixed.json of --seed %s records seed %v", seed, got)
		}
		return slots
	}
	_, baseSens := slotsOf(dry)
	if s1, s5 := sensOf("1"), sensOf("5"); s1 != baseSens || s5 == s1 {
		t.Errorf("sensitivities: --seed 1 equal to the default %v, --seed 5 different %v", s1 == baseSens, s5 != s1)
	}
	out, errOut, status = runCLI(t, "mixed", "--from", fl, "--data", data, "--out", mx, "--avg-bits", "3", "--sensitivity", "hawq",
		"--epochs", "1", "--sens-batch", "64", "--sens-batches", "2", "--probes", "2", "--json")
	if status != 0 {
		t.Fatalf("mixed: %s", errOut)
	}
	res := lastJSON(t, out)
	alloc, _ := res["allocation"].(map[string]any)
	if avg, _ := alloc["avg_bits"].(float64); avg > 3 || avg < 2 {
		t.Errorf("average bits %v, budget 3: %v", alloc["avg_bits"], alloc)
	}
	if acc, _ := res["test_acc"].(float64); acc < 0.5 {
		t.Errorf("test accuracy %v", res["test_acc"])
	}
	out, errOut, status = runCLI(t, "mixed", "pareto", "--float", fl, "--png", filepath.Join(runs, "p.png"), "--sens", filepath.Join(dry, MixedFile), mx)
	if status != 0 {
		t.Fatalf("mixed pareto: %s", errOut)
	}
	if !strings.Contains(out, "| mixed | mixed (hawq) |") || !strings.Contains(out, "| 0 |") {
		t.Errorf("pareto table: the mixed run, its series or a runtime that agrees with the simulation missing:\n%s", out)
	}
	if !strings.Contains(out, "Spearman correlation") || !strings.Contains(out, "Σ HAWQ") {
		t.Errorf("pareto --sens printed no prediction:\n%s", out)
	}
	// One chart, one float model: a run quantized from another float run
	// (with --float, or beside a run that records its parent) is refused.
	fl2, ptq2 := filepath.Join(runs, "float2"), filepath.Join(runs, "ptq2")
	for _, args := range [][]string{
		{"train", "--model", "lenet5", "--epochs", "1", "--seed", "2", "--train-limit", "100", "--data", data, "--out", fl2},
		{"ptq", "--from", fl2, "--calib-batches", "1", "--out", ptq2},
	} {
		if _, errOut, status := runCLI(t, args...); status != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"mixed", "pareto", "--float", fl, ptq2}, "quantized from another float run than --float"},
		{[]string{"mixed", "pareto", mx, ptq2}, "quantized from another float run than " + mx},
		{[]string{"mixed", "pareto", "--float", mx, mx}, "not a float run"},
	} {
		if _, errOut, status := runCLI(t, c.args...); status == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: status %d, %q; want an error containing %q", c.args, status, errOut, c.want)
		}
	}
	// The run is not done twice.
	if _, errOut, status := runCLI(t, "mixed", "--from", fl, "--data", data, "--out", mx, "--avg-bits", "3"); status == 0 || !strings.Contains(errOut, "already holds") {
		t.Errorf("a second run into %s: status %d, %q", mx, status, errOut)
	}
}

func TestSpearman(t *testing.T) {
	for _, tc := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 1, 2}, []float64{5, 5, 6}, 1},
		{[]float64{1, 2, 3}, []float64{7, 7, 7}, 0},
	} {
		if got := spearman(tc.x, tc.y); got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("spearman(%v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}

// TestMixedHasQATFlags: mixed takes the flags of qat (one registration,
// quantFlags.register) with the same defaults and help, except --resume
// and the bit-widths' help, which says what mixed makes of them; and
// except --ends-bits and --slot-bits: mixed chooses every slot's bits.
func TestMixedHasQATFlags(t *testing.T) {
	q, m := qatCmd().Flags(), mixedCmd().Flags()
	n := 0
	q.VisitAll(func(qf *pflag.Flag) {
		if qf.Name == "resume" || qf.Name == "ends-bits" || qf.Name == "slot-bits" {
			return
		}
		n++
		mf := m.Lookup(qf.Name)
		switch {
		case mf == nil:
			t.Errorf("mixed has no --%s", qf.Name)
		case mf.DefValue != qf.DefValue || mf.Value.Type() != qf.Value.Type():
			t.Errorf("--%s: mixed %s %q, qat %s %q", qf.Name, mf.Value.Type(), mf.DefValue, qf.Value.Type(), qf.DefValue)
		case mf.Usage != qf.Usage && qf.Name != "bits-w" && qf.Name != "bits-a":
			t.Errorf("--%s: mixed's help %q, qat's %q", qf.Name, mf.Usage, qf.Usage)
		}
	})
	if n < 20 {
		t.Errorf("qat has %d flags besides --resume; want the 20-odd of quantFlags", n)
	}
}
