package train

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// teacherRun trains a float run of arch on data for one epoch into a new
// directory and returns it.
func teacherRun(t *testing.T, arch string, data *datasets.Pair, cfg rundir.Config) string {
	t.Helper()
	m, err := nn.New(arch, nn.Shape{C: data.Train.C, H: data.Train.H, W: data.Train.W}, data.Train.Classes, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = 1
	tr, err := NewTrainer(m, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.RunDir = t.TempDir()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tr.RunDir
}

// distillCfg is the student's configuration: two epochs of lenet300 on
// tiny, distilled from teacher with α and T.
func distillCfg(teacher string, alpha, temp float64) rundir.Config {
	cfg := rundir.Config{Epochs: 2, Batch: 50, Seed: 9, Shift: 1}
	if teacher != "" {
		cfg.Distill = &rundir.Distill{Teacher: teacher, Weight: alpha, Temp: temp}
	}
	return cfg
}

func runTiny(t *testing.T, cfg rundir.Config, dir string) *Trainer {
	t.Helper()
	tr := newTiny(t, cfg)
	t.Cleanup(tr.Close)
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestDistillTrains: a teacher changes the student's training, α = 0
// leaves it bit for bit as without one, and the run's checkpoint records
// the teacher's absolute path and weights fingerprint. The teacher is
// normalized and the student not, so the batch conversion runs too.
func TestDistillTrains(t *testing.T) {
	teacher := teacherRun(t, "lenet300", tiny(), rundir.Config{Batch: 32, Seed: 2, Normalize: true})
	plain := runTiny(t, distillCfg("", 0, 0), "")
	zero := runTiny(t, distillCfg(teacher, 0, 4), "")
	dir := t.TempDir()
	kd := runTiny(t, distillCfg(teacher, 0.9, 4), dir)
	for i, p := range plain.Model.Params {
		if !slices.Equal(p.Data(), zero.Model.Params[i].Data()) {
			t.Fatalf("α = 0 changed %s", p.Name)
		}
	}
	if slices.Equal(plain.Model.Params[0].Data(), kd.Model.Params[0].Data()) {
		t.Fatal("distillation with α 0.9 left the training unchanged")
	}
	// α = 0: the teacher never runs (the loss does not read its logits).
	if zero.teacher == nil || zero.teacher.batches != 0 || kd.teacher.batches == 0 {
		t.Fatalf("the teacher ran on %d batches with α = 0 and %d with α 0.9, want 0 and more", zero.teacher.batches, kd.teacher.batches)
	}
	if kd.TestAcc < 0.9 {
		t.Fatalf("distilled student test accuracy %v, want ≥ 0.9", kd.TestAcc)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	tck, err := rundir.LoadCheckpoint(teacher)
	if err != nil {
		t.Fatal(err)
	}
	d := ck.Config.Distill
	if d == nil || d.Teacher != teacher || d.TeacherSHA != tck.WeightsSHA() || d.Weight != 0.9 || d.Temp != 4 {
		t.Fatalf("checkpoint records distillation %+v, want teacher %s sha %s", d, teacher, tck.WeightsSHA())
	}
}

// TestDistillResumable: a distilled run that dies in its second epoch and
// resumes from the first epoch's checkpoint ends with the parameters and
// metrics of an uninterrupted run; a teacher changed in between is
// refused.
func TestDistillResumable(t *testing.T) {
	teacher := teacherRun(t, "lenet300", tiny(), rundir.Config{Batch: 32, Seed: 2})
	cfg := distillCfg(teacher, 0.7, 2)
	a := runTiny(t, cfg, t.TempDir())
	aMetrics, err := rundir.ReadMetrics(filepath.Join(a.RunDir, rundir.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crash := newTiny(t, cfg)
	defer crash.Close()
	crash.RunDir = dir
	crash.BeforeStep = func(step int) error {
		if step == 14 { // 11 steps per epoch (512/50): step 14 is in epoch 2
			return context.Canceled
		}
		return nil
	}
	if err := crash.Run(context.Background()); err != context.Canceled {
		t.Fatalf("crash run: %v", err)
	}
	resume := func() (*Trainer, error) {
		ck, err := rundir.LoadCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ck.Model()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(m, tiny(), ck.Config)
		if err != nil {
			return nil, err
		}
		tr.Progress = nil
		return tr, tr.Resume(ck)
	}
	tr, err := resume()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, p := range a.Model.Params {
		if !slices.Equal(p.Data(), tr.Model.Params[i].Data()) {
			t.Fatalf("resumed run differs in %s", p.Name)
		}
	}
	bMetrics, err := rundir.ReadMetrics(filepath.Join(dir, rundir.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stripTimes(aMetrics), stripTimes(bMetrics)) {
		t.Fatalf("metrics differ:\n%+v\n%+v", aMetrics, bMetrics)
	}

	// The teacher trains on: its weights are no longer those the run
	// started with.
	tck, err := rundir.LoadCheckpoint(teacher)
	if err != nil {
		t.Fatal(err)
	}
	tck.Params[slices.Sorted(func(yield func(string) bool) {
		for k := range tck.Params {
			if !yield(k) {
				return
			}
		}
	})[0]][0] += 0.5
	if err := rundir.SaveCheckpoint(filepath.Join(teacher, rundir.CheckpointFile), tck); err != nil {
		t.Fatal(err)
	}
	var changed *TeacherChangedError
	if _, err := resume(); !errors.As(err, &changed) || !strings.Contains(err.Error(), teacher) {
		t.Fatalf("resume with a changed teacher: %v, want a TeacherChangedError naming %s", err, teacher)
	}
}

// TestDistillResumeOtherSettings: Resume refuses a checkpoint whose
// distillation is not the trainer's.
func TestDistillResumeOtherSettings(t *testing.T) {
	teacher := teacherRun(t, "lenet300", tiny(), rundir.Config{Batch: 32, Seed: 2})
	src := newTiny(t, distillCfg(teacher, 0.5, 2))
	defer src.Close()
	ck, err := src.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  rundir.Config
		want string
	}{
		{"no teacher", distillCfg("", 0, 0), "with distillation"},
		{"other weight", distillCfg(teacher, 0.6, 2), "weight 0.5"},
		{"other temperature", distillCfg(teacher, 0.5, 3), "temperature 2"},
	} {
		tr := newTiny(t, c.cfg)
		err := tr.Resume(ck)
		tr.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	plain := newTiny(t, distillCfg("", 0, 0))
	defer plain.Close()
	pck, err := plain.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Resume(pck); err == nil || !strings.Contains(err.Error(), "without distillation") {
		t.Errorf("resume of a plain run with a teacher: %v", err)
	}
}

// TestTeacherMismatch: a teacher that does not take the student's images
// or classes, or is not a float run, is refused with an error naming it.
func TestTeacherMismatch(t *testing.T) {
	other := func(data *datasets.Pair) string {
		return teacherRun(t, "lenet300", data, rundir.Config{Batch: 64, Seed: 2, TrainLimit: 64})
	}
	named := func(names ...string) *datasets.Pair {
		d := tiny()
		d.Train.ClassNames, d.Test.ClassNames = names, names
		return d
	}
	qatDir := t.TempDir()
	{
		ck, err := rundir.LoadCheckpoint(other(tiny()))
		if err != nil {
			t.Fatal(err)
		}
		ck.Phase = rundir.PhaseQAT
		if err := rundir.SaveCheckpoint(filepath.Join(qatDir, rundir.CheckpointFile), ck); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		teacher string
		data    *datasets.Pair // the student's; nil: tiny
		want    string
	}{
		{"classes", other(datasets.Synthetic(128, 32, 8, 8, 3, 60, 1)), nil, "has 3 classes, the student lenet300 has 4"},
		{"input shape", other(datasets.Synthetic(128, 32, 9, 8, 4, 60, 1)), nil, "takes 1x9x8"},
		{"class names", other(named("a", "b", "c", "d")), named("a", "b", "d", "c"), "names its classes"},
		{"phase", qatDir, nil, "is a qat run"},
		{"missing", filepath.Join(t.TempDir(), "none"), nil, "no checkpoint"},
	} {
		data := c.data
		if data == nil {
			data = tiny()
		}
		m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewTrainer(m, data, distillCfg(c.teacher, 0.5, 2))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "teacher") {
			t.Errorf("%s: %v, want an error about the teacher saying %q", c.name, err, c.want)
		}
	}
	// Class names on one side only: numbered classes, accepted.
	m, _ := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	tr, err := NewTrainer(m, named("a", "b", "c", "d"), distillCfg(other(tiny()), 0.5, 2))
	if err != nil {
		t.Fatalf("a teacher without class names: %v", err)
	}
	tr.Close()
}

// TestDistillRefusesItself: a run cannot be its own teacher.
func TestDistillRefusesItself(t *testing.T) {
	dir := teacherRun(t, "lenet300", tiny(), rundir.Config{Batch: 64, Seed: 2, TrainLimit: 64})
	tr := newTiny(t, distillCfg(dir, 0.5, 2))
	defer tr.Close()
	tr.RunDir = dir
	if err := tr.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "own directory") {
		t.Fatalf("run distilling from its own directory: %v", err)
	}
}

// TestTeacherLogits: the teacher's logits are its eval-mode outputs (batch
// norm with running statistics, as nn.Predictor computes them in
// Gorgonia) on the batch normalized its own way, whatever normalization
// the student's batch had.
func TestTeacherLogits(t *testing.T) {
	for _, c := range []struct {
		name, arch string
		data       *datasets.Pair
		// student: a normalization unlike the teacher's, per channel.
		student *datasets.Norm
	}{
		{"grey", "resnet8", tiny(), &datasets.Norm{Mean: []float32{0.3}, Std: []float32{0.2}}},
		// Three channels with distinct statistics and a student
		// normalization distinct per channel: the conversion must pick
		// each pixel's channel (NCHW: (i / H·W) mod C).
		{"rgb", "lenet300", tinyRGB(), &datasets.Norm{Mean: []float32{0.1, 0.5, 0.9}, Std: []float32{0.2, 0.4, 0.8}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkTeacherLogits(t, c.arch, c.data, c.student)
		})
	}
}

// tinyRGB is tiny with three channels per image: the grey image, its
// negative and its half, so the channels' statistics differ.
func tinyRGB() *datasets.Pair {
	d := tiny()
	rgb := func(s *datasets.Set) *datasets.Set {
		hw := s.H * s.W
		out := *s
		out.C, out.Pix = 3, make([]uint8, 3*len(s.Pix))
		for i := range s.N {
			img := s.Image(i)
			for j, v := range img {
				o := 3 * hw * i
				out.Pix[o+j], out.Pix[o+hw+j], out.Pix[o+2*hw+j] = v, 255-v, v/2
			}
		}
		return &out
	}
	return &datasets.Pair{Dir: d.Dir, Train: rgb(d.Train), Test: rgb(d.Test)}
}

// checkTeacherLogits: the teacher's logits of a student's batch, for
// the teacher's own, no and another normalization of the student, are
// the eval graph's logits of the batch normalized for the teacher.
func checkTeacherLogits(t *testing.T, arch string, data *datasets.Pair, other *datasets.Norm) {
	dir := teacherRun(t, arch, data, rundir.Config{Batch: 32, Seed: 2, TrainLimit: 128, Normalize: true})
	tc, err := LoadTeacher(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ck.Model()
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	size, k := data.Train.Size(), data.Train.Classes
	own := make([]float32, n*size)
	bt := datasets.NewBatcher(data.Train, n, false, 1)
	if err := bt.SetNorm(*ck.Norm()); err != nil {
		t.Fatal(err)
	}
	labels := make([]int, n)
	bt.Next(own, labels)
	want := make([]float32, n*k)
	p := nn.NewPredictor(m, nil)
	defer p.Close()
	if err := p.Logits(want, own, n); err != nil {
		t.Fatal(err)
	}
	for _, student := range []*datasets.Norm{ck.Norm(), nil, other} {
		x := make([]float32, n*size)
		bt := datasets.NewBatcher(data.Train, n, false, 1)
		if student != nil {
			if err := bt.SetNorm(*student); err != nil {
				t.Fatal(err)
			}
		}
		bt.Next(x, labels)
		tc.setStudentNorm(student)
		got := make([]float32, n*k)
		if err := tc.logits(got, x, n); err != nil {
			t.Fatal(err)
		}
		// Float32 rounding in the normalization and in two different
		// summation orders (Gorgonia's and the float runtime's).
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Max(1, math.Abs(float64(want[i]))) {
				t.Fatalf("student norm %v: teacher logit %d = %v, eval graph %v", student, i, got[i], want[i])
			}
		}
	}
}

func TestDistillConfigValidate(t *testing.T) {
	for _, c := range []struct {
		d  rundir.Distill
		ok bool
	}{
		{rundir.Distill{Teacher: "t", Weight: 0.9, Temp: 4}, true},
		{rundir.Distill{Teacher: "t", Weight: 0, Temp: 1}, true},
		{rundir.Distill{Teacher: "t", Weight: 1, Temp: 0.5}, true},
		{rundir.Distill{Weight: 0.9, Temp: 4}, false},
		{rundir.Distill{Teacher: "t", Weight: 1.01, Temp: 4}, false},
		{rundir.Distill{Teacher: "t", Weight: -0.1, Temp: 4}, false},
		{rundir.Distill{Teacher: "t", Weight: math.NaN(), Temp: 4}, false},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: 0}, false},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: -2}, false},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: math.Inf(1)}, false},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: math.NaN()}, false},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: rundir.DistillTempMin}, true},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: rundir.DistillTempMax}, true},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: 1e-310}, false},
		{rundir.Distill{Teacher: "t", Weight: 0.5, Temp: 1e160}, false},
	} {
		d := c.d
		err := rundir.Config{Distill: &d}.Defaults().Validate()
		if (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.d, err)
		}
	}
}

// TestTeacherOtherDataNote: a teacher trained on other data than the
// student's gets one note line (not an error); a teacher trained on the
// same data with a --train-limit (the same fingerprint) gets none.
func TestTeacherOtherDataNote(t *testing.T) {
	limited := teacherRun(t, "lenet300", tiny(), rundir.Config{Batch: 32, Seed: 2, TrainLimit: 128})
	otherData := datasets.Synthetic(256, 64, 8, 8, 4, 60, 2)
	other := teacherRun(t, "lenet300", otherData, rundir.Config{Batch: 32, Seed: 2})
	for _, c := range []struct {
		teacher string
		notes   int
	}{{limited, 0}, {other, 1}} {
		var out strings.Builder
		tr := newTiny(t, distillCfg(c.teacher, 0.5, 2))
		tr.Cfg.Epochs = 1
		tr.Progress = Lines(&out)
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		if n := strings.Count(out.String(), "was trained on other data"); n != c.notes {
			t.Errorf("teacher %s: %d notes of other data, want %d, in %q", c.teacher, n, c.notes, out.String())
		}
	}
}
