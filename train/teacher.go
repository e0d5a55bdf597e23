package train

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// Teacher is a float run that a student learns from by knowledge
// distillation (DistillLoss). Its logits come from infer's float runtime
// (the network lowered, batch norm folded with its running statistics:
// eval mode), not from a Gorgonia graph, computed on exactly the batch the
// student trains on.
type Teacher struct {
	// Path is the teacher's run directory or checkpoint file (absolute).
	Path string
	// SHA is the teacher checkpoint's rundir.Checkpoint.WeightsSHA.
	SHA        string
	Arch       string
	In         nn.Shape
	Classes    int
	ClassNames []string
	// Norm is the input normalization the teacher was trained with (nil:
	// none).
	Norm *datasets.Norm
	// DataDir and DataSHA are the data the teacher was trained on
	// (rundir.Checkpoint's; DataSHA is datasets.Pair.Fingerprint of the
	// whole training and test sets, so --train-limit does not change
	// it).
	DataDir, DataSHA string

	model *infer.Model
	// scale and shift map the student's input to the teacher's, per
	// channel (x_t = x_s·scale + shift); nil when the two normalizations
	// are the same and the batch passes unchanged.
	scale, shift []float64
	buf          []float32
	// batches counts the batches the teacher has run on.
	batches int
}

// LoadTeacher loads the float run in path (a run directory or checkpoint
// file) as a teacher. Only a float run teaches: a quantized run's float
// (shadow) weights are not the model it evaluates.
func LoadTeacher(path string) (*Teacher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("train: teacher %s: %w", path, err)
	}
	ck, err := rundir.LoadCheckpoint(abs)
	if err != nil {
		return nil, fmt.Errorf("train: teacher: %w", err)
	}
	if ck.Phase != rundir.PhaseFloat {
		return nil, fmt.Errorf("train: teacher %s is a %s run; a teacher is a float run (train's output)", path, ck.Phase)
	}
	m, err := ck.Model()
	if err != nil {
		return nil, fmt.Errorf("train: teacher %s: %w", path, err)
	}
	if name := ModelNonFinite(m); name != "" {
		return nil, fmt.Errorf("train: teacher %s: its %s has a non-finite value", path, name)
	}
	lw, err := m.Lower()
	if err != nil {
		return nil, fmt.Errorf("train: teacher %s: %w", path, err)
	}
	layers, err := lw.FloatLayers(m.Arch)
	if err != nil {
		return nil, fmt.Errorf("train: teacher %s: %w", path, err)
	}
	// No normalization in the model: the trainer hands it batches already
	// normalized for it (see setStudentNorm).
	fm, err := infer.NewFloatModel(m.Arch, m.In.C, m.In.H, m.In.W, m.Classes, layers, nil, nil, infer.Source{})
	if err != nil {
		return nil, fmt.Errorf("train: teacher %s: the float model: %w", path, err)
	}
	return &Teacher{Path: abs, SHA: ck.WeightsSHA(), Arch: m.Arch, In: m.In, Classes: m.Classes,
		ClassNames: slices.Clone(ck.ClassNames), Norm: ck.Norm(), DataDir: ck.DataDir, DataSHA: ck.DataSHA, model: fm}, nil
}

// check refuses a teacher whose input shape or classes (count, and names
// when both sides name them) are not the student's.
func (tc *Teacher) check(m *nn.Model, data *datasets.Pair) error {
	if tc.In != m.In {
		return fmt.Errorf("train: teacher %s (%s) takes %v images, the student %s takes %v", tc.Path, tc.Arch, tc.In, m.Arch, m.In)
	}
	if tc.Classes != m.Classes {
		return fmt.Errorf("train: teacher %s (%s) has %d classes, the student %s has %d", tc.Path, tc.Arch, tc.Classes, m.Arch, m.Classes)
	}
	if names := data.Train.ClassNames; len(tc.ClassNames) > 0 && len(names) > 0 && !slices.Equal(tc.ClassNames, names) {
		return fmt.Errorf("train: teacher %s names its classes %q, the student's data %q: its logits would teach the wrong classes", tc.Path, tc.ClassNames, names)
	}
	return nil
}

// setStudentNorm prepares the conversion of the student's batches
// (normalized by student, nil: none) to the teacher's normalization. The
// batcher normalizes after augmentation (padding included), so the
// per-channel affine map
//
//	x_t = (x_s·std_s + mean_s − mean_t) / std_t
//
// gives the teacher the batch it would have normalized itself, up to
// float32 rounding; with equal normalizations the batch passes unchanged.
func (tc *Teacher) setStudentNorm(student *datasets.Norm) {
	same := func(a, b *datasets.Norm) bool {
		if a == nil || b == nil {
			return a == nil && b == nil
		}
		return slices.Equal(a.Mean, b.Mean) && slices.Equal(a.Std, b.Std)
	}
	tc.scale, tc.shift = nil, nil
	if same(student, tc.Norm) {
		return
	}
	c := tc.In.C
	tc.scale, tc.shift = make([]float64, c), make([]float64, c)
	for i := range c {
		ms, ss, mt, st := 0.0, 1.0, 0.0, 1.0
		if student != nil {
			ms, ss = float64(student.Mean[i]), float64(student.Std[i])
		}
		if tc.Norm != nil {
			mt, st = float64(tc.Norm.Mean[i]), float64(tc.Norm.Std[i])
		}
		tc.scale[i], tc.shift[i] = ss/st, (ms-mt)/st
	}
}

// logits writes the teacher's logits of the n images x (the student's
// batch, NCHW) into dst (n·Classes).
func (tc *Teacher) logits(dst, x []float32, n int) error {
	tc.batches++
	in := x[:n*tc.In.C*tc.In.H*tc.In.W]
	if tc.scale != nil {
		if cap(tc.buf) < len(in) {
			tc.buf = make([]float32, len(in))
		}
		buf := tc.buf[:len(in)]
		hw := tc.In.H * tc.In.W
		for i := range buf {
			c := i / hw % tc.In.C
			buf[i] = float32(float64(in[i])*tc.scale[c] + tc.shift[c])
		}
		in = buf
	}
	if err := tc.model.FloatLogitsInto(dst[:n*tc.Classes], in, n); err != nil {
		return fmt.Errorf("train: teacher %s: %w", tc.Path, err)
	}
	return nil
}

// TeacherChangedError is the error of a run that distills from a teacher
// whose weights are not those it started with: a resumed run would no
// longer be the run it continues.
type TeacherChangedError struct {
	Path     string
	Was, Now string // rundir.Checkpoint.WeightsSHA
}

func (e *TeacherChangedError) Error() string {
	return fmt.Sprintf("train: the teacher %s has changed since the run started (weights sha256 %.12s…, now %.12s…): restore it, or start a new run", e.Path, e.Was, e.Now)
}
