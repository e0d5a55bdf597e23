package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestConcurrentTrainOneWins: two `train` commands started together into
// one --out: exactly one exits 0, the other exits non-zero with a clear
// error (run in use, or a checkpoint already there). Both used to exit 0,
// one result lost. In-process, the two commands share the process's
// flock, so only the library's claim under the lock tells them apart.
func TestConcurrentTrainOneWins(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 3, 50, 1))
	out := filepath.Join(t.TempDir(), "run")
	oldOut, oldErr := os.Stdout, os.Stderr
	r, w, _ := os.Pipe()
	os.Stdout, os.Stderr = w, w
	logC := make(chan string)
	go func() { b, _ := io.ReadAll(r); logC <- string(b) }()
	status := make([]int, 2)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range status {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			status[i] = run([]string{"train", "--epochs", "1", "--batch", "32", "--data", data, "--out", out, "--seed", string(rune('1' + i))})
		}()
	}
	start.Done()
	done.Wait()
	w.Close()
	os.Stdout, os.Stderr = oldOut, oldErr
	log := <-logC
	if (status[0] == 0) == (status[1] == 0) {
		t.Fatalf("statuses %v, want exactly one success; output:\n%s", status, log)
	}
	if !strings.Contains(log, "in use by") && !strings.Contains(log, "already holds a checkpoint") {
		t.Errorf("the refused run's error is unclear:\n%s", log)
	}
	if _, err := rundir.LoadCheckpoint(out); err != nil {
		t.Errorf("the winner's checkpoint: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, rundir.LockFile)); err != nil {
		t.Errorf("the lock file is gone: %v", err)
	}
}

// TestRunFilesAreNotOutputs: `export --out RUN/.lock` (which broke a live
// run's lock) and the other run-internal files are refused, and a link at
// RUN/.lock or RUN/metrics.jsonl makes `train` fail without writing
// through it.
func TestRunFilesAreNotOutputs(t *testing.T) {
	data, fl := floatRun(t, 1)
	q := filepath.Join(t.TempDir(), "ptq")
	if _, e, s := runCLI(t, "ptq", "--from", fl, "--out", q); s != 0 {
		t.Fatalf("setup: %s", e)
	}
	lock := filepath.Join(q, rundir.LockFile)
	before, _ := os.ReadFile(lock)
	for _, out := range []string{lock, filepath.Join(t.TempDir(), rundir.LockFile), filepath.Join(q, "."+rundir.CheckpointFile+".tmp123")} {
		if _, errOut, status := runCLI(t, "export", "--from", q, "--out", out); status == 0 || !strings.Contains(errOut, "refusing") {
			t.Errorf("export --out %s: status %d, %q", out, status, errOut)
		}
	}
	if after, _ := os.ReadFile(lock); !bytes.Equal(before, after) {
		t.Error("export replaced the run's lock file")
	}
	for _, name := range []string{rundir.LockFile, rundir.MetricsFile} {
		base := t.TempDir()
		victim := filepath.Join(base, "passwd")
		os.WriteFile(victim, []byte("root\n"), 0o644)
		run := filepath.Join(base, "run")
		os.Mkdir(run, 0o755)
		os.Symlink(filepath.Join("..", "passwd"), filepath.Join(run, name))
		_, errOut, status := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--data", data, "--out", run)
		if status == 0 || !strings.Contains(errOut, "symbolic link") {
			t.Errorf("train with a link at %s: status %d, %q", name, status, errOut)
		}
		if b, _ := os.ReadFile(victim); string(b) != "root\n" {
			t.Errorf("link at %s: the outside file now holds %q", name, b)
		}
	}
}

// TestFailedRunKeepsDanglingLink: a failed `train` or `demo` whose --out
// is a pre-existing dangling symbolic link leaves the link (cleanup used
// to delete it: it removes only what the command created).
func TestFailedRunKeepsDanglingLink(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(64, 32, 8, 8, 3, 50, 1))
	for _, args := range [][]string{
		{"train", "--epochs", "1", "--data", data},
		{"demo", "--epochs", "1", "--qat-epochs", "1", "--data", data},
	} {
		d := filepath.Join(t.TempDir(), "out")
		if err := os.Symlink(filepath.Join(t.TempDir(), "missing"), d); err != nil {
			t.Fatal(err)
		}
		if _, _, status := runCLI(t, append(args, "--out", d)...); status == 0 {
			t.Errorf("%s into a dangling link succeeded", args[0])
		}
		if st, err := os.Lstat(d); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s removed the dangling link %s (%v)", args[0], d, err)
		}
	}
}

// TestTinyLRRefused: --lr 1e-320 (0 in float32) is refused with the
// library's error, before --out is created.
func TestTinyLRRefused(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(64, 32, 8, 8, 3, 50, 1))
	out := filepath.Join(t.TempDir(), "run")
	_, errOut, status := runCLI(t, "train", "--lr", "1e-320", "--data", data, "--out", out)
	if status == 0 || !strings.Contains(errOut, "learning rate") {
		t.Errorf("--lr 1e-320: status %d, %q", status, errOut)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("the refused run created --out")
	}
}

// TestClusterResumeAndPrecheck: `cluster --resume` continues a cluster
// run to a larger --epochs and exports it, and re-exports a complete run
// whose model file is missing (there was no --resume: such a directory
// blocked every rerun); a network that export refuses (batch norm) is
// refused before anything is trained or created.
func TestClusterResumeAndPrecheck(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(128, 64, 8, 8, 4, 60, 1))
	runs := t.TempDir()
	fl, cl := filepath.Join(runs, "float"), filepath.Join(runs, "c2")
	if _, e, s := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--data", data, "--out", fl); s != 0 {
		t.Fatalf("train: %s", e)
	}
	if _, e, s := runCLI(t, "cluster", "--from", fl, "--bits", "2", "--epochs", "1", "--batch", "32", "--out", cl); s != 0 {
		t.Fatalf("cluster: %s", e)
	}
	if _, e, s := runCLI(t, "cluster", "--from", fl, "--bits", "2", "--out", cl); s == 0 || !strings.Contains(e, "--resume") {
		t.Errorf("rerun into a cluster run: status %d, %q", s, e)
	}
	os.Remove(filepath.Join(cl, ClusterModelFile))
	if _, e, s := runCLI(t, "cluster", "--resume", "--out", cl); s != 0 {
		t.Fatalf("cluster --resume of a complete run: %s", e)
	}
	if _, err := os.Stat(filepath.Join(cl, ClusterModelFile)); err != nil {
		t.Errorf("--resume did not export: %v", err)
	}
	out, e, s := runCLI(t, "cluster", "--resume", "--epochs", "2", "--out", cl, "--json")
	if s != 0 {
		t.Fatalf("cluster --resume --epochs 2: %s", e)
	}
	if v := lastJSON(t, out); v["epochs"] != 2.0 {
		t.Errorf("resumed to epoch %v, want 2", v["epochs"])
	} else if v["float_test_acc"] != nil || v["cluster_test_acc"] != nil || v["resumed"] != true {
		// A resumed run measured neither; it printed 0 for both.
		t.Errorf("resumed run's JSON: float %v, before fine-tuning %v, resumed %v", v["float_test_acc"], v["cluster_test_acc"], v["resumed"])
	}
	if _, e, s := runCLI(t, "cluster", "--resume", "--bits", "3", "--out", cl); s == 0 || !strings.Contains(e, "conflicts") {
		t.Errorf("--resume --bits 3 on a 2-bit run: status %d, %q", s, e)
	}

	spec := filepath.Join(runs, "bn.json")
	os.WriteFile(spec, []byte(`{"format":"tinyqat-nn-spec","version":1,"arch":"tinybn","input":[1,8,8],"classes":4,"layers":[{"kind":"conv2d","name":"c1","out":4,"k":3,"pad":1},{"kind":"batchnorm2d","name":"bn1"},{"kind":"relu"},{"kind":"flatten"},{"kind":"linear","name":"fc","out":4}]}`), 0o644)
	bn := filepath.Join(runs, "bnfloat")
	if _, e, s := runCLI(t, "train", "--spec", spec, "--epochs", "1", "--batch", "32", "--data", data, "--out", bn); s != 0 {
		t.Fatalf("train the batch-norm spec: %s", e)
	}
	bc := filepath.Join(runs, "bncluster")
	if _, e, s := runCLI(t, "cluster", "--from", bn, "--bits", "2", "--out", bc); s == 0 || !strings.Contains(e, "batch normalization") {
		t.Errorf("clustering a batch-norm network: status %d, %q", s, e)
	}
	if _, err := os.Lstat(bc); err == nil {
		t.Error("the refused cluster run created its directory")
	}
}
