package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestDistillFlagErrors: bad --teacher, --distill-weight and
// --distill-temp values are one clear error, a non-zero status, and
// create nothing.
func TestDistillFlagErrors(t *testing.T) {
	data, fl := floatRun(t, 1)
	qatRun := filepath.Join(t.TempDir(), "qat")
	if _, e, s := runCLI(t, "qat", "--from", fl, "--epochs", "1", "--batch", "32", "--out", qatRun); s != 0 {
		t.Fatalf("qat: %s", e)
	}
	// A float run with four classes: not the student's three.
	data4 := writeIDX(t, datasets.Synthetic(96, 48, 8, 8, 4, 50, 2))
	fl4 := filepath.Join(t.TempDir(), "float4")
	if _, e, s := runCLI(t, "train", "--epochs", "1", "--batch", "32", "--data", data4, "--out", fl4); s != 0 {
		t.Fatalf("train: %s", e)
	}
	missing := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"qat", "--from", fl, "--teacher", "from", "--distill-weight", "1.5"}, "--distill-weight: the distillation weight α must be in [0, 1], got 1.5"},
		{[]string{"qat", "--from", fl, "--teacher", "from", "--distill-weight", "-0.1"}, "--distill-weight: the distillation weight α must be in [0, 1]"},
		{[]string{"qat", "--from", fl, "--teacher", "from", "--distill-temp", "0"}, "--distill-temp: the distillation temperature T must be in [0.01, 100], got 0"},
		{[]string{"qat", "--from", fl, "--teacher", "from", "--distill-temp", "NaN"}, "--distill-temp: the distillation temperature T must be in [0.01, 100], got NaN"},
		{[]string{"qat", "--from", fl, "--teacher", "from", "--distill-temp", "+Inf"}, "--distill-temp: the distillation temperature T must be in [0.01, 100], got +Inf"},
		// Positive and finite, but the loss was NaN (z/T, T² overflow).
		{[]string{"qat", "--from", fl, "--teacher", "from", "--distill-temp", "1e-310"}, "--distill-temp: the distillation temperature T must be in [0.01, 100], got 1e-310"},
		{[]string{"train", "--data", data, "--teacher", fl, "--distill-temp", "1e160"}, "--distill-temp: the distillation temperature T must be in [0.01, 100], got 1e+160"},
		{[]string{"qat", "--from", fl, "--distill-weight", "0.5"}, "--distill-weight needs --teacher"},
		{[]string{"train", "--data", data, "--distill-temp", "2"}, "--distill-temp needs --teacher"},
		{[]string{"qat", "--from", fl, "--teacher", ""}, "--teacher: give a float run"},
		{[]string{"qat", "--from", fl, "--teacher", missing}, "no checkpoint"},
		{[]string{"qat", "--from", fl, "--teacher", qatRun}, "is a qat run; a teacher is a float run"},
		{[]string{"train", "--data", data, "--teacher", qatRun}, "is a qat run"},
		{[]string{"train", "--data", data, "--teacher", fl4}, "has 4 classes, the student lenet300 has 3"},
		{[]string{"qat", "--from", fl, "--teacher", fl4}, "has 4 classes"},
		{[]string{"mixed", "--from", fl, "--teacher", "from", "--no-train", "--avg-bits", "4"}, "--teacher with --no-train"},
		{[]string{"mixed", "--from", fl, "--teacher", "from", "--avg-bits", "4", "--distill-weight", "2"}, "--distill-weight: the distillation weight α must be in [0, 1]"},
		{[]string{"ptq", "--from", fl, "--teacher", "from"}, "unknown flag: --teacher"},
	} {
		out := filepath.Join(t.TempDir(), "out")
		args := append(slices.Clone(c.args), "--epochs", "1", "--batch", "32", "--out", out)
		if c.args[0] == "ptq" {
			args = append(slices.Clone(c.args), "--out", out)
		}
		stdout, errOut, status := runCLI(t, args...)
		if status == 0 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: status %d, stderr %q, want one line saying %q (stdout %q)", c.args, status, errOut, c.want, stdout)
		}
		if _, err := os.Stat(filepath.Join(out, rundir.CheckpointFile)); err == nil {
			t.Errorf("%v: a refused run left a checkpoint", c.args)
		}
	}
}

// TestDistillCommands: qat --teacher from (self-distillation) and train
// --teacher change the run, record the teacher in the checkpoint, the
// header line and the JSON result; a resume keeps the teacher, refuses
// other distillation flags and a teacher whose weights changed.
func TestDistillCommands(t *testing.T) {
	data, fl := floatRun(t, 1)
	runs := t.TempDir()
	plain, kd := filepath.Join(runs, "plain"), filepath.Join(runs, "kd")
	common := []string{"qat", "--from", fl, "--bits-w", "4", "--bits-a", "4", "--epochs", "1", "--batch", "32", "--json"}
	if _, e, s := runCLI(t, append(slices.Clone(common), "--out", plain)...); s != 0 {
		t.Fatalf("qat: %s", e)
	}
	out, e, s := runCLI(t, append(slices.Clone(common), "--out", kd, "--teacher", "from", "--distill-temp", "2")...)
	if s != 0 {
		t.Fatalf("qat --teacher from: %s", e)
	}
	abs, _ := filepath.Abs(fl)
	fck, err := rundir.LoadCheckpoint(fl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "distilling from "+abs+" (weights sha256 "+fck.WeightsSHA()[:12]) || !strings.Contains(out, "α 0.5, T 2") {
		t.Errorf("no header line naming the teacher in %q", out)
	}
	d, ok := lastJSON(t, out)["distill"].(map[string]any)
	if !ok || d["teacher"] != abs || d["teacher_sha256"] != fck.WeightsSHA() || d["weight"] != 0.5 || d["temp"] != 2.0 {
		t.Errorf("JSON distill %v, want teacher %s", d, abs)
	}
	a, err := rundir.LoadCheckpoint(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rundir.LoadCheckpoint(kd)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.Params["fc1.weight"], b.Params["fc1.weight"]) || a.Config.Distill != nil || b.Config.Distill == nil {
		t.Errorf("distillation did not change the run (plain %v, distilled %+v)", a.Config.Distill, b.Config.Distill)
	}
	if _, ok := lastJSON(t, func() string {
		o, _, _ := runCLI(t, append(slices.Clone(common), "--out", filepath.Join(runs, "p2"))...)
		return o
	}())["distill"]; ok {
		t.Error("a run without a teacher reports one in its JSON")
	}

	// Resume: the run's teacher, whatever the flags say; others refused.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--teacher", data}, "--teacher " + data + ": rundir: no checkpoint"},
		{[]string{"--teacher", plain}, "conflicts with the run being resumed, which distills from " + abs + " (weights sha256 " + fck.WeightsSHA()[:12]},
		{[]string{"--distill-temp", "3"}, "--distill-temp 3 conflicts with the run being resumed, which has 2"},
		{[]string{"--distill-weight", "0.7"}, "--distill-weight 0.7 conflicts"},
	} {
		_, errOut, status := runCLI(t, append([]string{"qat", "--resume", "--out", kd, "--epochs", "2"}, c.args...)...)
		if status == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, status, errOut, c.want)
		}
	}
	if _, errOut, status := runCLI(t, "qat", "--resume", "--out", plain, "--epochs", "2", "--teacher", fl); status == 0 || !strings.Contains(errOut, "distills from no teacher") {
		t.Errorf("teacher on a plain run's resume: %d %q", status, errOut)
	}
	out, e, s = runCLI(t, "qat", "--resume", "--out", kd, "--epochs", "2", "--teacher", "from", "--distill-temp", "2", "--json")
	if s != 0 {
		t.Fatalf("agreeing resume: %s", e)
	}
	if d, ok := lastJSON(t, out)["distill"].(map[string]any); !ok || d["teacher"] != abs {
		t.Errorf("resumed JSON distill %v", lastJSON(t, out)["distill"])
	}
	// The resume names the teacher in its first lines, as a new run does.
	if !strings.Contains(out, "distilling from "+abs+" (weights sha256 "+fck.WeightsSHA()[:12]) {
		t.Errorf("qat --resume: no header line naming the teacher in %q", out)
	}

	// train --teacher: a student learns from the float run.
	student := filepath.Join(runs, "student")
	out, e, s = runCLI(t, "train", "--data", data, "--epochs", "1", "--batch", "32", "--seed", "4", "--teacher", fl, "--distill-weight", "0.5", "--out", student, "--json")
	if s != 0 {
		t.Fatalf("train --teacher: %s", e)
	}
	if !strings.Contains(out, "distilling from "+abs) || !strings.Contains(out, "α 0.5, T 4") {
		t.Errorf("no header line naming the teacher in %q", out)
	}
	if d, ok := lastJSON(t, out)["distill"].(map[string]any); !ok || d["teacher"] != abs || d["weight"] != 0.5 || d["temp"] != 4.0 {
		t.Errorf("train JSON distill %v", lastJSON(t, out)["distill"])
	}

	// The float run trains on: the distilled runs cannot resume.
	if _, e, s := runCLI(t, "train", "--resume", "--out", fl, "--epochs", "2"); s != 0 {
		t.Fatalf("train --resume: %s", e)
	}
	for _, args := range [][]string{
		{"qat", "--resume", "--out", kd, "--epochs", "3"},
		{"train", "--resume", "--out", student, "--epochs", "2"},
	} {
		if _, errOut, status := runCLI(t, args...); status == 0 || !strings.Contains(errOut, "has changed since the run started") {
			t.Errorf("%v after the teacher changed: status %d, stderr %q", args, status, errOut)
		}
	}
}

// TestDistillDefaults: qat and mixed (self-distillation) default to α
// 0.5, T 1; train (a larger teacher) to α 0.9, T 4 (the figures behind
// the choice are in distill.go).
func TestDistillDefaults(t *testing.T) {
	for _, c := range []struct {
		name         string
		cmd          *cobra.Command
		weight, temp string
	}{
		{"train", trainCmd(), "0.9", "4"},
		{"qat", qatCmd(), "0.5", "1"},
		{"mixed", mixedCmd(), "0.5", "1"},
	} {
		f := c.cmd.Flags()
		if w, tp := f.Lookup("distill-weight"), f.Lookup("distill-temp"); w == nil || tp == nil {
			t.Errorf("%s: no --distill-weight or --distill-temp", c.name)
		} else if w.DefValue != c.weight || tp.DefValue != c.temp {
			t.Errorf("%s: defaults α %s, T %s; want %s, %s", c.name, w.DefValue, tp.DefValue, c.weight, c.temp)
		}
	}
}

// TestDistillResumeMovedTeacher: the teacher of a resumed run is its
// weights fingerprint, not its path. A teacher that moved is an error
// saying where it was and how to name it; --teacher at its new location,
// or its checkpoint file, continues the run (which records the new
// path); a teacher with other weights is refused. train has no "from"
// shorthand: --teacher from is a path there.
func TestDistillResumeMovedTeacher(t *testing.T) {
	data, fl := floatRun(t, 1)
	runs := t.TempDir()
	student, kd := filepath.Join(runs, "student"), filepath.Join(runs, "kd")
	if _, e, s := runCLI(t, "train", "--data", data, "--epochs", "1", "--batch", "32", "--teacher", fl, "--out", student); s != 0 {
		t.Fatalf("train --teacher: %s", e)
	}
	if _, e, s := runCLI(t, "qat", "--from", fl, "--epochs", "1", "--batch", "32", "--teacher", "from", "--out", kd); s != 0 {
		t.Fatalf("qat --teacher from: %s", e)
	}
	fck, err := rundir.LoadCheckpoint(fl)
	if err != nil {
		t.Fatal(err)
	}
	sha := fck.WeightsSHA()[:12]
	// Another float run on the same data: same shape, other weights.
	other := filepath.Join(runs, "other")
	if _, e, s := runCLI(t, "train", "--data", data, "--epochs", "1", "--batch", "32", "--seed", "7", "--out", other); s != 0 {
		t.Fatalf("train: %s", e)
	}
	was, _ := filepath.Abs(fl)
	moved := filepath.Join(runs, "moved")
	if err := os.Rename(fl, moved); err != nil {
		t.Fatal(err)
	}
	// A run that has its epochs needs no teacher to say so.
	if _, errOut, status := runCLI(t, "train", "--resume", "--out", student); status != 0 {
		t.Errorf("train --resume of a finished run whose teacher moved: %s", errOut)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"train", "--resume", "--out", student, "--epochs", "2"}, []string{"the teacher of the run being resumed, " + was, sha, "pass --teacher NEWPATH"}},
		{[]string{"qat", "--resume", "--out", kd, "--epochs", "2"}, []string{"the teacher of the run being resumed, " + was, sha, "pass --teacher NEWPATH"}},
		{[]string{"train", "--resume", "--out", student, "--epochs", "2", "--teacher", other}, []string{"--teacher " + other + " (weights sha256", "conflicts with the run being resumed, which distills from " + was + " (weights sha256 " + sha}},
	} {
		_, errOut, status := runCLI(t, c.args...)
		for _, w := range c.want {
			if status == 0 || !strings.Contains(errOut, w) {
				t.Errorf("%v: status %d, stderr %q, want %q", c.args, status, errOut, w)
			}
		}
	}
	for i, c := range []struct {
		args    []string
		teacher string // the path the resumed run records
	}{
		{[]string{"train", "--resume", "--out", student, "--epochs", "2", "--teacher", moved}, moved},
		{[]string{"train", "--resume", "--out", student, "--epochs", "3", "--teacher", filepath.Join(moved, rundir.CheckpointFile)}, filepath.Join(moved, rundir.CheckpointFile)},
		{[]string{"qat", "--resume", "--out", kd, "--epochs", "2", "--teacher", moved}, moved},
	} {
		out, errOut, status := runCLI(t, c.args...)
		if status != 0 {
			t.Fatalf("%d %v: %s", i, c.args, errOut)
		}
		if !strings.Contains(out, "distilling from "+c.teacher+" (weights sha256 "+sha) {
			t.Errorf("%v: no header line naming the teacher at %s in %q", c.args, c.teacher, out)
		}
		ck, err := rundir.LoadCheckpoint(c.args[3])
		if err != nil {
			t.Fatal(err)
		}
		if d := ck.Config.Distill; d == nil || d.Teacher != c.teacher || d.TeacherSHA != fck.WeightsSHA() {
			t.Errorf("%v: the checkpoint records distillation %+v, want teacher %s", c.args, d, c.teacher)
		}
	}
	// train --teacher from: a directory called from, not a --from run.
	cwd := t.TempDir()
	if err := os.Rename(moved, filepath.Join(cwd, "from")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)
	if _, errOut, status := runCLI(t, "train", "--resume", "--out", student, "--epochs", "4", "--teacher", "from"); status != 0 {
		t.Errorf("train --resume --teacher from (a directory): %s", errOut)
	}
}
