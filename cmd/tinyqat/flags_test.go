package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"golang.org/x/sys/unix"
)

// floatRun trains one float epoch on a tiny synthetic set written as IDX
// files and returns the data directory and the run directory.
func floatRun(t *testing.T, seed uint64) (data, run string) {
	t.Helper()
	data = writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 3, 50, seed))
	run = filepath.Join(t.TempDir(), "float")
	if _, e, s := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--data", data, "--out", run); s != 0 {
		t.Fatalf("setup: %s", e)
	}
	return data, run
}

// TestZeroIsNotADefault: flags that used to read 0 as "default" (bits 0
// ran as 8, calib-batches 0 as 32) are rejected, and flags given with
// --resume that contradict the run (qat --resume --bits-w 8 on a W4A8 run
// continued at 4 bits) are refused, naming both values.
func TestZeroIsNotADefault(t *testing.T) {
	data, fl := floatRun(t, 1)
	qat := filepath.Join(t.TempDir(), "qat")
	if _, e, s := runCLI(t, "qat", "--from", fl, "--bits-w", "4", "--epochs", "1", "--batch", "32", "--out", qat); s != 0 {
		t.Fatalf("qat: %s", e)
	}
	// A float run of another network on the same data.
	spec := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(spec, []byte(`{"format":"tinyqat-nn-spec","version":1,"arch":"other","input":[1,8,8],"classes":3,`+
		`"layers":[{"kind":"flatten"},{"kind":"linear","name":"fc","out":3}]}`), 0o644)
	otherRun := filepath.Join(t.TempDir(), "other")
	if _, e, s := runCLI(t, "train", "--spec", spec, "--epochs", "1", "--batch", "32", "--data", data, "--out", otherRun); s != 0 {
		t.Fatalf("train --spec: %s", e)
	}
	missing := filepath.Join(t.TempDir(), "typo")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"qat", "--resume", "--from", otherRun, "--out", qat, "--epochs", "2"}, "is a run of other, the run being resumed"},
		{[]string{"train", "--resume", "--out", missing, "--epochs", "2"}, "holds no checkpoint to resume (a mistyped --out?)"},
		{[]string{"ptq", "--from", fl, "--bits-w", "0", "--out", t.TempDir() + "/x"}, "weight bits must be in [2, 8], got 0"},
		{[]string{"qat", "--from", fl, "--bits-a", "0", "--out", t.TempDir() + "/x"}, "activation bits must be in [2, 16], got 0"},
		{[]string{"ptq", "--from", fl, "--calib-batches", "0", "--out", t.TempDir() + "/x"}, "calibration needs at least 1 batch, got 0"},
		{[]string{"qat", "--from", fl, "--freeze-after", "-2", "--out", t.TempDir() + "/x"}, "freeze-after"},
		{[]string{"qat", "--from", fl, "--lr", "0", "--out", t.TempDir() + "/x"}, "learning rate must be positive"},
		{[]string{"train", "--lr", "0", "--out", t.TempDir() + "/x"}, "learning rate must be positive"},
		{[]string{"qat", "--resume", "--out", qat, "--bits-w", "8", "--epochs", "2"}, "--bits-w 8 conflicts with the run being resumed, which has 4"},
		{[]string{"qat", "--resume", "--out", qat, "--lr", "0.5", "--epochs", "2"}, "--lr 0.5 conflicts"},
		{[]string{"train", "--resume", "--out", fl, "--batch", "8", "--epochs", "2"}, "--batch 8 conflicts with the run being resumed, which has 32"},
		{[]string{"train", "--resume", "--out", fl, "--model", "lenet5", "--epochs", "2"}, "--model lenet5 conflicts"},
	}
	for _, tc := range cases {
		out, errOut, status := runCLI(t, tc.args...)
		if status == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: status %d, stderr %q, want %q (stdout %q)", tc.args, status, errOut, tc.want, out)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("train --resume on a missing run created it")
	}
	// A flag that agrees with the run is fine, and --epochs extends it.
	out, errOut, status := runCLI(t, "qat", "--resume", "--out", qat, "--bits-w", "4", "--epochs", "2", "--json")
	if status != 0 || lastJSON(t, out)["epochs"].(float64) != 2 || lastJSON(t, out)["bits_w"].(float64) != 4 {
		t.Fatalf("agreeing resume: %d %q %q", status, errOut, out)
	}
	_ = data
}

// TestRunRemembersItsData: a run trained on --data DIR records it; ptq and
// qat --from the run use it without --data (they used to load MNIST), and
// refuse other data. The ptq JSON states the bit-widths and no estimator
// (PTQ fine-tunes nothing).
func TestRunRemembersItsData(t *testing.T) {
	data, fl := floatRun(t, 1)
	out, errOut, status := runCLI(t, "ptq", "--from", fl, "--bits-w", "4", "--out", filepath.Join(t.TempDir(), "p"), "--json")
	if status != 0 {
		t.Fatalf("ptq without --data: %s", errOut)
	}
	res := lastJSON(t, out)
	if res["data"] != data || res["bits_w"].(float64) != 4 || res["bits_a"].(float64) != 8 || res["scheme"] != "W4A8" {
		t.Errorf("ptq JSON: %v", res)
	}
	if _, ok := res["estimator"]; ok {
		t.Errorf("ptq JSON reports an estimator: %v", res)
	}
	other := writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 3, 50, 2)) // same shape, other pixels
	if _, errOut, status := runCLI(t, "qat", "--from", fl, "--data", other, "--epochs", "1", "--out", filepath.Join(t.TempDir(), "q")); status == 0 || !strings.Contains(errOut, "not the data the run was trained on") {
		t.Errorf("qat on other data: status %d, %q", status, errOut)
	}
}

// TestClassesFlag: a stray label among 0–2 is an error that asks for the
// class count (it used to make a 256-class model); --classes accepts the
// data when every label is below it and warns about empty classes.
func TestClassesFlag(t *testing.T) {
	p := datasets.Synthetic(96, 48, 8, 8, 3, 50, 1)
	p.Train.Labels[5] = 255
	stray := writeIDX(t, p)
	_, errOut, status := runCLI(t, "train", "--epochs", "1", "--data", stray, "--out", filepath.Join(t.TempDir(), "r"))
	if status == 0 || !strings.Contains(errOut, "--classes") {
		t.Errorf("stray label: status %d, %q", status, errOut)
	}
	_, errOut, status = runCLI(t, "train", "--epochs", "1", "--classes", "10", "--data", stray, "--out", filepath.Join(t.TempDir(), "r"))
	if status == 0 || !strings.Contains(errOut, "label 255 of sample 5 is not below the class count 10") {
		t.Errorf("stray label with --classes: status %d, %q", status, errOut)
	}
	clean := writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 3, 50, 1))
	out, errOut, status := runCLI(t, "train", "--epochs", "1", "--classes", "5", "--data", clean, "--out", filepath.Join(t.TempDir(), "r"), "--json")
	if status != 0 || lastJSON(t, out)["classes"].(float64) != 5 || !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "classes 3–4 have no training examples") {
		t.Errorf("--classes 5 on 3 classes: status %d, stderr %q", status, errOut)
	}
}

// TestFailedOutIsCleanedUp: a command that fails after creating --out
// leaves nothing behind it created (it used to leave an empty folder), and
// never removes a directory that existed before.
func TestFailedOutIsCleanedUp(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(64, 32, 8, 8, 3, 50, 1))
	base := t.TempDir()
	out := filepath.Join(base, "new", "run")
	if _, _, status := runCLI(t, "train", "--model", "resnet", "--data", data, "--out", out); status == 0 {
		t.Fatal("unknown model accepted")
	}
	if _, err := os.Stat(filepath.Join(base, "new")); err == nil {
		t.Error("failed train left the folders it created")
	}
	keep := filepath.Join(base, "keep")
	os.Mkdir(keep, 0o755)
	if _, _, status := runCLI(t, "train", "--model", "resnet", "--data", data, "--out", keep); status == 0 {
		t.Fatal("unknown model accepted")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("failed train removed a folder it did not create")
	}
}

// TestRunInUse: a run folder locked by another writer (a flock from a
// second open file description conflicts like another process) is
// refused with the holder's pid, before anything is written.
func TestRunInUse(t *testing.T) {
	_, fl := floatRun(t, 1)
	f, err := os.OpenFile(filepath.Join(fl, rundir.LockFile), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f.Truncate(0)
	f.WriteString("31337\n") // a pid, as rundir.Lock writes it
	before, _ := os.ReadFile(filepath.Join(fl, rundir.MetricsFile))
	_, errOut, status := runCLI(t, "train", "--resume", "--epochs", "2", "--out", fl)
	if status == 0 || !strings.Contains(errOut, "in use by process 31337") {
		t.Fatalf("second writer: status %d, %q", status, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(fl, rundir.MetricsFile)); string(after) != string(before) {
		t.Fatal("the refused run wrote metrics")
	}
}

// TestSpecErrors: a missing or malformed --spec file, or --spec with
// --model, is a clear one-line error before anything is created.
func TestSpecErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--spec", filepath.Join(dir, "missing.json"), "--out", dir + "/a"}, "missing.json: no such file"},
		{[]string{"train", "--spec", bad, "--out", dir + "/b"}, "bad.json: not a valid architecture"},
		{[]string{"train", "--spec", bad, "--model", "lenet5", "--out", dir + "/c"}, "not both"},
		{[]string{"train", "--spec", dir, "--out", dir + "/d"}, "not a regular file (a directory)"},
	}
	if st, err := os.Stat(os.DevNull); err == nil && !st.Mode().IsRegular() {
		// A device is refused before it is read (/dev/zero would never end).
		cases = append(cases, struct {
			args []string
			want string
		}{[]string{"train", "--spec", os.DevNull, "--out", dir + "/e"}, "not a regular file (a device)"})
	}
	for _, tc := range cases {
		out, errOut, status := runCLI(t, tc.args...)
		if status == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: status %d, stderr %q, want %q (stdout %q)", tc.args, status, errOut, tc.want, out)
		}
		if _, err := os.Stat(tc.args[len(tc.args)-1]); err == nil {
			t.Errorf("%v: created the run directory", tc.args)
		}
	}
}

// TestEndsAndSlotBits: --ends-bits and --slot-bits reach the checkpoint
// and the exported model (lenet300's ends: input, fc1.weight, fc3.weight,
// fc3.out); bad values are one-line errors that leave no run behind, and
// a resumed run refuses them.
func TestEndsAndSlotBits(t *testing.T) {
	data, fl := floatRun(t, 3)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ends-bits", "9"}, "--ends-bits must be 0 or in [2, 8]"},
		{[]string{"--ends-bits", "1"}, "--ends-bits must be 0 or in [2, 8]"},
		{[]string{"--slot-bits", "fc1.weight"}, "is not NAME=BITS"},
		{[]string{"--slot-bits", "fc1.weight=x"}, "is not NAME=BITS"},
		{[]string{"--slot-bits", "fc9.weight=4"}, "no such slot"},
		{[]string{"--slot-bits", "fc1.weight=9"}, "weight bits must be in [2, 8]"},
		{[]string{"--slot-bits", "fc1.weight=4,fc1.weight=8"}, "fc1.weight is given twice"},
		{[]string{"--slot-bits", "fc1.weight =4, fc2.weight= 9"}, "fc2.weight: weight bits must be in [2, 8]"},
	} {
		out := filepath.Join(dir, "bad")
		_, e, s := runCLI(t, append([]string{"ptq", "--from", fl, "--data", data, "--out", out}, tc.args...)...)
		if s == 0 || !strings.Contains(e, tc.want) || strings.Count(strings.TrimSpace(e), "\n") != 0 {
			t.Errorf("%v: status %d, stderr %q, want %q", tc.args, s, e, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: a refused run left %s", tc.args, out)
		}
	}
	// Refused before anything is read or written: an empty --out stays
	// empty and --json's standard output stays empty.
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	stdout, _, s := runCLI(t, "qat", "--from", fl, "--data", data, "--slot-bits", "nope=4", "--json", "--out", empty)
	if ents, _ := os.ReadDir(empty); s == 0 || len(ents) != 0 || stdout != "" {
		t.Errorf("a refused --slot-bits: status %d, %d entries in --out, stdout %q", s, len(ents), stdout)
	}
	q := filepath.Join(dir, "qat")
	stdout, e, s := runCLI(t, "qat", "--from", fl, "--data", data, "--bits-w", "4", "--bits-a", "4", "--ends-bits", "8",
		"--slot-bits", " fc2.weight = 3", "--epochs", "1", "--batch", "32", "--out", q, "--json")
	if s != 0 {
		t.Fatalf("qat: %s", e)
	}
	if res := lastJSON(t, stdout); !strings.Contains(fmt.Sprint(res["scheme"]), "5 slots of their own") || res["slot_bits"] == nil {
		t.Errorf("the JSON result does not say the run is mixed: scheme %v, slot_bits %v", res["scheme"], res["slot_bits"])
	}
	ck, err := rundir.LoadCheckpoint(filepath.Join(q, rundir.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	_, qz, err := qat.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"input": 8, "fc1.weight": 8, "fc1.out": 4, "fc2.weight": 3, "fc3.weight": 8, "fc3.out": 8} {
		if got := qz.Slot(name).Bits; got != want {
			t.Errorf("%s: %d bits, want %d", name, got, want)
		}
	}
	if _, e, s := runCLI(t, "export", "--from", q, "--out", filepath.Join(dir, "m.tqm")); s != 0 {
		t.Fatalf("export: %s", e)
	}
	if _, e, s := runCLI(t, "qat", "--resume", "--out", q, "--epochs", "2", "--ends-bits", "8"); s == 0 || !strings.Contains(e, "keeps the per-slot bit-widths") {
		t.Errorf("resume with --ends-bits: status %d, %q", s, e)
	}
}
