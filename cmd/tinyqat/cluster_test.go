package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
)

func TestClusterCommand(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(400, 100, 8, 8, 4, 60, 1))
	runs := t.TempDir()
	fl, cl := filepath.Join(runs, "float"), filepath.Join(runs, "c3")
	if _, stderr, st := runCLI(t, "train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", fl); st != 0 {
		t.Fatalf("train: %s", stderr)
	}
	out, stderr, st := runCLI(t, "cluster", "--from", fl, "--bits", "3", "--epochs", "1", "--data", data, "--out", cl, "--json")
	if st != 0 {
		t.Fatalf("cluster: %s", stderr)
	}
	v := lastJSON(t, out)
	st2, err := os.Stat(filepath.Join(cl, ClusterModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if v["bits"] != 3.0 || v["test_acc"] == nil || v["bytes"] != float64(st2.Size()) || v["precision"] != "c3a8" {
		t.Errorf("cluster JSON %v (file %d bytes)", v, st2.Size())
	}
	// export accepts a clustered run, in both forms; eval runs the integer one.
	for _, mode := range []string{"w8a8", "w8-only"} {
		m := filepath.Join(runs, mode+".tqm")
		if _, stderr, st := runCLI(t, "export", "--from", cl, "--out", m, "--mode", mode); st != 0 {
			t.Fatalf("export %s: %s", mode, stderr)
		}
	}
	if out, stderr, st := runCLI(t, "eval", "--model", filepath.Join(runs, "w8a8.tqm"), "--data", data, "--compare", cl); st != 0 || !strings.Contains(out, "bit for bit") {
		t.Fatalf("eval --compare: %s %s", out, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bits", "0"}, "bits must be in [1, 8]"},
		{[]string{"--bits", "9"}, "bits must be in [1, 8]"},
		{[]string{"--bits", "4", "--model", "lenet5"}, "not lenet5"},
		{[]string{"--bits", "4", "--init", "random"}, "initialisation"},
	} {
		args := append([]string{"cluster", "--from", fl, "--data", data, "--out", filepath.Join(runs, "bad")}, tc.args...)
		if _, stderr, st := runCLI(t, args...); st == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", tc.args, st, stderr, tc.want)
		}
	}
	// A cluster run is not a float run to cluster again.
	if _, stderr, st := runCLI(t, "cluster", "--from", cl, "--bits", "2", "--data", data, "--out", filepath.Join(runs, "again")); st == 0 || !strings.Contains(stderr, "float checkpoint") {
		t.Errorf("clustering a cluster run: %d %q", st, stderr)
	}
}
