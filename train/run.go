package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// StatefulQuantizer is a quantizer whose state (scales, observer
// statistics, switches, learned-scale moments) belongs in checkpoints.
type StatefulQuantizer interface {
	nn.Quantizer
	State() (rundir.QuantState, error)
	SetState(rundir.QuantState) error
}

// Resume loads a checkpoint's optimizer state, progress and quantizer state.
func (t *Trainer) Resume(c *rundir.Checkpoint) error {
	if c.Arch != t.Model.Arch {
		return fmt.Errorf("train: checkpoint is a %s, model is a %s", c.Arch, t.Model.Arch)
	}
	if c.DataSHA != "" && c.DataSHA != t.Data.Fingerprint() {
		return &rundir.DataMismatchError{RunDir: c.DataDir, Data: t.Data.Dir}
	}
	if err := sameDistill(c.Config.Distill, t.Cfg.Distill); err != nil {
		return err
	}
	if len(c.Opt) > 0 {
		if err := t.opt.SetState(c.Opt); err != nil {
			return err
		}
	}
	t.Epoch, t.Step, t.TestAcc, t.Parent = c.Epoch, c.Step, c.TestAcc, c.Parent
	if sq, ok := t.Quant.(StatefulQuantizer); ok && c.Quant != nil {
		if err := sq.SetState(rundir.QuantState{Tensors: c.Quant, Blobs: c.QuantBlobs, Meta: c.QuantMeta}); err != nil {
			return err
		}
	}
	t.resumed = true
	return nil
}

// sameDistill refuses to resume a run (its distillation was) with another
// distillation (is): the loss would change mid-run.
func sameDistill(was, is *rundir.Distill) error {
	switch {
	case was == nil && is == nil:
		return nil
	case was == nil:
		return fmt.Errorf("train: the checkpoint was trained without distillation; resume it without a teacher")
	case is == nil:
		return fmt.Errorf("train: the checkpoint was trained with distillation from %s; resume it with that teacher", was.Teacher)
	case was.Weight != is.Weight || was.Temp != is.Temp:
		return fmt.Errorf("train: the checkpoint was trained with distillation weight %v and temperature %v, not %v and %v", was.Weight, was.Temp, is.Weight, is.Temp)
	case was.TeacherSHA != "" && was.TeacherSHA != is.TeacherSHA:
		return &TeacherChangedError{Path: is.Teacher, Was: was.TeacherSHA, Now: is.TeacherSHA}
	}
	return nil
}

// Checkpoint captures the trainer's current state. It fails if the
// quantizer cannot save its state (an observer type without
// MarshalBinary).
func (t *Trainer) Checkpoint() (*rundir.Checkpoint, error) {
	c := &rundir.Checkpoint{Version: rundir.CheckpointVersion, Epoch: t.Epoch, Step: t.Step,
		Config: t.Cfg, Phase: t.Phase, Opt: map[string][]float32{}, TestAcc: t.TestAcc,
		DataDir: t.Data.Dir, DataSHA: t.Data.Fingerprint(), DataLayout: t.Data.Layout, ClassNames: slices.Clone(t.Data.Train.ClassNames),
		Parent: t.Parent}
	if err := c.SetModel(t.Model); err != nil {
		return nil, err
	}
	for k, v := range t.opt.State() {
		c.Opt[k] = append([]float32(nil), v...)
	}
	if sq, ok := t.Quant.(StatefulQuantizer); ok {
		qs, err := sq.State()
		if err != nil {
			return nil, err
		}
		c.Quant, c.QuantBlobs, c.QuantMeta = qs.Tensors, qs.Blobs, qs.Meta
	}
	return c, nil
}

// SetModel records m's architecture (Spec), parameters, buffers and
// batch-norm flag in c. A model whose Spec fails is an error unless
// nn.New rebuilds it from its name.

// claimRun opens t's run in dir: it takes the directory's lock (rundir.Lock),
// claims it for t within this process (another trainer of this process
// writing there is refused like another process), and refuses a
// checkpoint already there unless t wrote it or t resumes that very
// network (Resume). This is the one place where a run decides that it may
// write its checkpoint into dir, and it decides under the lock: two runs
// started together into one directory cannot both pass.
func (t *Trainer) claimRun(dir string) (release func(), err error) {
	release, err = rundir.Claim(dir, t)
	if err != nil {
		return nil, err
	}
	if t.saved == 0 {
		if err := t.mayWrite(dir); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// mayWrite refuses a checkpoint in dir that t would replace: any, unless
// t resumes a run of the same network.
func (t *Trainer) mayWrite(dir string) error {
	path := filepath.Join(dir, rundir.CheckpointFile)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ck, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return fmt.Errorf("train: %s holds a checkpoint that cannot be read; refusing to replace it: %w", dir, err)
	}
	if !t.resumed {
		return &rundir.ExistsError{Dir: dir, Arch: ck.Arch}
	}
	spec, serr := t.Model.Spec()
	same := ck.Arch == t.Model.Arch && ck.In == t.Model.In && ck.Classes == t.Model.Classes &&
		(serr != nil || ck.Spec == "" || ck.Spec == string(spec))
	if !same {
		return &rundir.ExistsError{Dir: dir, Arch: ck.Arch, Other: t.Model.Arch}
	}
	return nil
}

// OpenNewRun opens a new run of t in dir (claimRun: locked, no checkpoint
// there) and starts its metrics log: lines left by an attempt that died
// before its first checkpoint are not part of it and are dropped.
// finish(failed) releases the lock; if the run failed before t wrote its
// first checkpoint it first removes the log: every line in it is then
// this failed run's own (the epoch-0 line of a quantized run), describing
// a run that has no checkpoint, and an empty log is not a valid one
// either (ReadMetrics refuses it).
func (t *Trainer) OpenNewRun(dir string) (finish func(failed bool), err error) {
	if t.resumed {
		return nil, fmt.Errorf("train: OpenNewRun on a resumed trainer: %w", ErrResumed)
	}
	release, err := t.claimRun(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, rundir.MetricsFile)
	if err := rundir.RepairMetrics(path, func(rundir.EpochMetrics) bool { return false }); err != nil {
		release()
		return nil, err
	}
	return func(failed bool) {
		if failed && t.saved == 0 {
			_ = os.Remove(path) // best effort: the run's own error is the one to report
		}
		release()
	}, nil
}

// ErrResumed is the error of OpenNewRun on a trainer that resumed a
// checkpoint: a resumed run continues its own directory (Run), it does
// not open a new one.
var ErrResumed = errors.New("the trainer resumed a run")

// Save writes ck as the checkpoint of the run in dir, under the run's
// claim (claimRun: the directory's lock, and no other run's checkpoint
// replaced), refusing a checkpoint of a diverged run (DivergedError).
func (t *Trainer) Save(dir string, ck *rundir.Checkpoint) error {
	release, err := t.claimRun(dir)
	if err != nil {
		return err
	}
	defer release()
	return t.save(filepath.Join(dir, rundir.CheckpointFile), ck)
}
