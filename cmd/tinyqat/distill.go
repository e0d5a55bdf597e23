package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// distillFlags are --teacher, --distill-weight and --distill-temp of
// train, qat and mixed: knowledge distillation (train.DistillLoss).
type distillFlags struct {
	teacher      string
	weight, temp float64
	self         bool // the command has --from: --teacher from names it
}

// teacherFrom as --teacher names the --from float run (qat, mixed):
// self-distillation, the quantized student learning from its own float
// model.
const teacherFrom = "from"

// Defaults. train (a larger float model teaching a smaller one): the
// common CIFAR choice, α 0.9 (the teacher's soft targets carry most of
// the loss) and T 4 (softened enough to show the teacher's ranking of
// the wrong classes). qat and mixed (self-distillation: a student that
// starts as its teacher): α 0.5, T 1, the two terms weighted equally, as
// in LSQ's distilled runs. Measured on resnet8-mlperf, CIFAR-10, W4A4
// with the ends at 8 bits, six LSQ epochs, one seed: 75.61% without a
// teacher, 76.18% with α 0.5, T 1 and 73.97% with α 0.9, T 4 (a 4-bit
// student cannot follow the softened ranking and loses the labels).
const (
	defaultDistillWeight     = 0.9
	defaultDistillTemp       = 4
	defaultSelfDistillWeight = 0.5
	defaultSelfDistillTemp   = 1
)

// register adds the flags to c; self says whether c has --from (the
// teacherFrom spelling).
func (d *distillFlags) register(c *cobra.Command, self bool) {
	d.self = self
	f := c.Flags()
	help := "knowledge distillation: learn from the logits of the float run `RUN` (a run directory of tinyqat train, or its checkpoint file) as well as from the labels; its input shape and classes must be the student's. The loss is (1−α)·cross-entropy + α·T²·KL(teacher ‖ student) at temperature T; the teacher runs on the float runtime, in eval mode, on each training batch as the student sees it"
	if self {
		help += `; "from" names the --from run itself (self-distillation: the quantized model learns from its float original)`
	}
	f.StringVar(&d.teacher, "teacher", "", help+" (default: none)")
	if self {
		// qat, mixed: fine-tuning a quantized copy of the teacher.
		f.Float64Var(&d.weight, "distill-weight", defaultSelfDistillWeight, "with --teacher: α in [0, 1], the teacher's share of the loss (0: labels only, as without a teacher; 0.5: labels and teacher weighted equally, which helped 4-bit CIFAR QAT where 0.9 with T 4 hurt it)")
		f.Float64Var(&d.temp, "distill-temp", defaultSelfDistillTemp, "with --teacher: the softmax temperature T of the teacher term, in [0.01, 100] (1: the teacher's own probabilities; larger T shows its ranking of the wrong classes, 4 for train's large-teacher case)")
	} else {
		f.Float64Var(&d.weight, "distill-weight", defaultDistillWeight, "with --teacher: α in [0, 1], the teacher's share of the loss (0: labels only, as without a teacher; 0.9, a common CIFAR choice for a larger teacher: mostly the teacher)")
		f.Float64Var(&d.temp, "distill-temp", defaultDistillTemp, "with --teacher: the softmax temperature T of the teacher term, in [0.01, 100] (4, a common CIFAR choice, shows the teacher's ranking of the wrong classes)")
	}
}

// config checks the flags and returns the distillation they ask for, or
// nil without --teacher; from is the --from run ("" for none). The
// teacher is loaded here, so a missing or non-float teacher fails before
// anything is created; the trainer checks it against the student.
func (d *distillFlags) config(cmd *cobra.Command, from string) (*rundir.Distill, error) {
	fl := cmd.Flags()
	if !fl.Changed("teacher") {
		for _, name := range []string{"distill-weight", "distill-temp"} {
			if fl.Changed(name) {
				return nil, fmt.Errorf("--%s needs --teacher RUN (the float run to distill from)", name)
			}
		}
		return nil, nil
	}
	if err := d.checkValues(); err != nil {
		return nil, err
	}
	path, err := d.path(from)
	if err != nil {
		return nil, err
	}
	tc, err := train.LoadTeacher(path)
	if err != nil {
		return nil, fmt.Errorf("--teacher %s: %w", d.teacher, err)
	}
	// The fingerprint of the teacher as loaded now: the trainer refuses
	// it if it changes before the run starts.
	return &rundir.Distill{Teacher: tc.Path, TeacherSHA: tc.SHA, Weight: d.weight, Temp: d.temp}, nil
}

func (d *distillFlags) checkValues() error {
	if err := rundir.CheckDistill(d.weight, d.temp); err != nil {
		flag := "--distill-temp"
		if errors.Is(err, rundir.ErrDistillWeight) {
			flag = "--distill-weight"
		}
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// path is the teacher's path: --teacher, or --from for teacherFrom.
func (d *distillFlags) path(from string) (string, error) {
	self := d.self
	switch {
	case d.teacher == "":
		return "", errors.New("--teacher: give a float run directory or checkpoint file")
	case d.teacher == teacherFrom && self && from == "":
		return "", errors.New(`--teacher from names the --from run, and there is none: give --from, or the teacher's run directory`)
	case d.teacher == teacherFrom && self:
		return from, nil
	}
	return d.teacher, nil
}

// conflicts refuses distillation flags given with --resume that are not
// the run's (ck): a resumed run keeps its teacher, weight and temperature.
// from is the --from run ("" for none). The teacher is its weights
// fingerprint, not its path: a --teacher whose checkpoint has the
// recorded fingerprint (the teacher moved, or named by its checkpoint
// file) is the run's teacher, and ck's configuration then records its
// new path.
func (d *distillFlags) conflicts(cmd *cobra.Command, ck *rundir.Checkpoint, from string) error {
	rd := ck.Config.Distill
	fl := cmd.Flags()
	if fl.Changed("teacher") {
		if err := d.checkValues(); err != nil {
			return err
		}
		if rd == nil {
			return fmt.Errorf("--teacher %s conflicts with the run being resumed, which distills from no teacher; a resumed run keeps its settings (drop the flag, or start a new run with another --out)", d.teacher)
		}
		if d.self && d.teacher == teacherFrom && from == "" {
			// The run's teacher was its own float run: its fingerprint
			// is the run's parent's.
			if rd.TeacherSHA == "" || rd.TeacherSHA != ck.Parent {
				return fmt.Errorf("--teacher %s conflicts with the run being resumed, which distills from %s; a resumed run keeps its settings (drop the flag, or start a new run with another --out)", d.teacher, rd.Teacher)
			}
		} else if err := d.sameTeacher(ck, from); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    float64
		run  func(*rundir.Distill) float64
	}{
		{"distill-weight", d.weight, func(r *rundir.Distill) float64 { return r.Weight }},
		{"distill-temp", d.temp, func(r *rundir.Distill) float64 { return r.Temp }},
	} {
		switch {
		case !fl.Changed(f.name):
		case rd == nil:
			return fmt.Errorf("--%s %v conflicts with the run being resumed, which distills from no teacher; a resumed run keeps its settings", f.name, f.v)
		case f.v != f.run(rd):
			return fmt.Errorf("--%s %v conflicts with the run being resumed, which has %v; a resumed run keeps its settings (drop the flag, or start a new run with another --out)", f.name, f.v, f.run(rd))
		}
	}
	return nil
}

// teacherThere refuses to resume the run ck (after conflicts) when its
// teacher is gone from the recorded path: the error says where it was,
// its fingerprint and how to name its new location.
func teacherThere(ck *rundir.Checkpoint) error {
	rd := ck.Config.Distill
	if rd == nil {
		return nil
	}
	if _, err := os.Stat(rd.Teacher); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the teacher of the run being resumed, %s (weights sha256 %.12s…), is gone: if it moved, pass --teacher NEWPATH (a checkpoint with the same weights): %w", rd.Teacher, rd.TeacherSHA, err)
	}
	return nil
}

// sameTeacher checks that --teacher (resolved with the --from run from)
// names the teacher of the run ck: the same path, or a checkpoint with
// the recorded weights fingerprint, whose path ck's configuration then
// records.
func (d *distillFlags) sameTeacher(ck *rundir.Checkpoint, from string) error {
	rd := ck.Config.Distill
	p, err := d.path(from)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return fmt.Errorf("--teacher %s: %w", d.teacher, err)
	}
	if abs == rd.Teacher {
		return nil
	}
	tck, err := rundir.LoadCheckpoint(abs)
	if err != nil {
		return fmt.Errorf("--teacher %s: %w", d.teacher, err)
	}
	if sha := tck.WeightsSHA(); rd.TeacherSHA == "" || sha != rd.TeacherSHA {
		return fmt.Errorf("--teacher %s (weights sha256 %.12s…) conflicts with the run being resumed, which distills from %s (weights sha256 %.12s…); a resumed run keeps its teacher (give the teacher's new location, or start a new run with another --out)", d.teacher, sha, rd.Teacher, rd.TeacherSHA)
	}
	nd := *rd
	nd.Teacher = abs
	ck.Config.Distill = &nd
	return nil
}

// distillLine describes a run's distillation for its header line, "" for
// none.
func distillLine(d *rundir.Distill) string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("distilling from %s (weights sha256 %.12s…): α %v, T %v", d.Teacher, d.TeacherSHA, d.Weight, d.Temp)
}
