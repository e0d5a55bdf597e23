package train

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// Modal is implemented by quantizers whose behaviour differs between
// training steps (observers update) and evaluation (they do not).
type Modal interface {
	SetTraining(bool)
}

// StepHook is implemented by quantizers with trainable state of their own
// (learned step sizes); AfterStep runs after every optimizer step.
type StepHook interface {
	AfterStep(lr float64)
}

// Trainer trains a model on a dataset, one epoch at a time, logging metrics
// and checkpointing into a run directory.
type Trainer struct {
	Model *nn.Model
	Data  *datasets.Pair
	Cfg   rundir.Config
	// Quant, if not nil, is consulted for every slot (QAT).
	Quant nn.Quantizer
	// Phase is written in the metrics log and the checkpoint.
	Phase rundir.Phase
	// BeforeStep, if not nil, runs before every optimizer step with the
	// global step count (the QAT schedule freezes observers from here).
	BeforeStep func(step int) error
	// RunDir receives metrics.jsonl and the checkpoint; "" writes nothing.
	// Run holds an exclusive lock on it (see rundir.Lock).
	RunDir string
	// Progress, if not nil, receives the epochs' progress.
	Progress Progress

	Epoch   int // epochs completed
	Step    int // optimizer steps taken
	TestAcc float64
	// Parent is recorded in the checkpoints (rundir.Checkpoint.Parent):
	// the float checkpoint a quantized run started from.
	Parent string

	opt     Optimizer
	teacher *Teacher // Cfg.Distill's, loaded by NewTrainer
	saved   int      // checkpoints written by this trainer (see save)
	resumed bool     // Resume loaded a checkpoint: Run may replace one of this network
	graphs  map[int]*stepGraph
	eval    *nn.Predictor
	train   *datasets.Set
	test    *datasets.Set
}

// afterMetrics, when set by a test, runs between the metrics line and the
// checkpoint of an epoch: a failure there is the crash window.
var afterMetrics func(epoch int) error

// NewTrainer prepares training of m on data with cfg (defaults filled in).
func NewTrainer(m *nn.Model, data *datasets.Pair, cfg rundir.Config) (*Trainer, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckData(m, data); err != nil {
		return nil, err
	}
	if cfg.ResizeH > 0 && (data.Train.H != cfg.ResizeH || data.Train.W != cfg.ResizeW) {
		return nil, fmt.Errorf("train: the run resizes its images to %dx%d, the data has %dx%d (load it with that resize)", cfg.ResizeH, cfg.ResizeW, data.Train.H, data.Train.W)
	}
	trainSet := data.Train.Subset(cfg.TrainLimit)
	if err := CheckStepSize(m, cfg.Batch, trainSet.N); err != nil {
		return nil, err
	}
	if cfg.Normalize && len(cfg.Mean) == 0 && len(cfg.Std) == 0 {
		n := trainSet.Norm()
		cfg.Mean, cfg.Std = n.Mean, n.Std
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("%w (computed from the %d training images)", err, trainSet.N)
		}
	}
	if len(cfg.Mean) > 0 {
		cfg.Normalize = true
		if len(cfg.Mean) != m.In.C {
			return nil, fmt.Errorf("train: normalization of %d channel(s) (--mean/--std values), the model takes %d", len(cfg.Mean), m.In.C)
		}
	}
	var teacher *Teacher
	if cfg.Distill != nil {
		var err error
		if cfg.Distill, teacher, err = loadDistill(*cfg.Distill, m, data, cfg.Norm()); err != nil {
			return nil, err
		}
	}
	sizes := make([]int, len(m.Params))
	for i, p := range m.Params {
		sizes[i] = p.Value.Size()
	}
	opt, err := NewOptimizer(cfg.Optimizer, sizes, cfg.Momentum, cfg.WeightDecay)
	if err != nil {
		return nil, err
	}
	return &Trainer{Model: m, Data: data, Cfg: cfg, Phase: rundir.PhaseFloat, opt: opt, teacher: teacher, graphs: map[int]*stepGraph{},
		train: trainSet, test: data.Test.Subset(cfg.TestLimit)}, nil
}

// maxStepActivations bounds batch × m.ActivationElems() of one training
// step (2 GiB of float32 activations, several times that with their
// gradients and the convolutions' workspaces): the spec limits bound one
// sample's activations, and a wide spec trained at a large batch (a
// 5000-channel 28×28 layer at --batch 1024) allocated until the process
// was killed instead of failing. resnet20 on CIFAR-10 may take batches
// up to 1852.
const maxStepActivations = 1 << 29

// CheckStepSize refuses a training batch (of n images at most, the
// training set) whose activations would exceed maxStepActivations.
func CheckStepSize(m *nn.Model, batch, n int) error {
	per, b := m.ActivationElems(), min(batch, n)
	if per > 0 && b > maxStepActivations/per {
		return fmt.Errorf("train: batch %d × %d activation values per sample of %s is more than the %d values (2 GiB) a training step may hold; the most is %d",
			b, per, m.Arch, maxStepActivations, max(1, maxStepActivations/per))
	}
	return nil
}

// CheckData refuses data whose images or classes the model does not take.
func CheckData(m *nn.Model, data *datasets.Pair) error {
	if data.Train.C != m.In.C || data.Train.H != m.In.H || data.Train.W != m.In.W || data.Train.Classes != m.Classes {
		return fmt.Errorf("train: the model takes %v images with %d classes, the data has %dx%dx%d with %d",
			m.In, m.Classes, data.Train.C, data.Train.H, data.Train.W, data.Train.Classes)
	}
	return nil
}

// loadDistill loads d's teacher for student m trained on data with input
// normalization norm, and returns d (a copy) with the teacher's absolute
// path and weights fingerprint recorded. A d that already records a
// fingerprint (a resumed run's) must match it: TeacherChangedError.
func loadDistill(d rundir.Distill, m *nn.Model, data *datasets.Pair, norm *datasets.Norm) (*rundir.Distill, *Teacher, error) {
	tc, err := LoadTeacher(d.Teacher)
	if err != nil {
		return nil, nil, err
	}
	if d.TeacherSHA != "" && d.TeacherSHA != tc.SHA {
		return nil, nil, &TeacherChangedError{Path: tc.Path, Was: d.TeacherSHA, Now: tc.SHA}
	}
	if err := tc.check(m, data); err != nil {
		return nil, nil, err
	}
	tc.setStudentNorm(norm)
	d.Teacher, d.TeacherSHA = tc.Path, tc.SHA
	return &d, tc, nil
}

// Close releases the trainer's graphs.
func (t *Trainer) Close() {
	for n, sg := range t.graphs {
		sg.vm.Close()
		delete(t.graphs, n)
	}
	if t.eval != nil {
		t.eval.Close()
		t.eval = nil
	}
}

// epochSeed derives the shuffling seed of an epoch, so that a resumed run
// sees the same order as an uninterrupted one.
func (t *Trainer) epochSeed(epoch int) uint64 {
	return t.Cfg.Seed*0x9e3779b97f4a7c15 + uint64(epoch) + 1
}

func (t *Trainer) setTraining(on bool) {
	if m, ok := t.Quant.(Modal); ok {
		m.SetTraining(on)
	}
}

// Run trains from the current epoch to Cfg.Epochs, evaluating, logging and
// checkpointing after each epoch. It stops early, returning ctx.Err(), when
// ctx is cancelled between steps.
//
// With a RunDir, Run locks it and refuses a checkpoint already there
// unless this trainer wrote it or resumes that run's network (Resume);
// it drops metrics lines of this phase after the
// current epoch (left by a run that died before its checkpoint), and for
// each epoch appends the metrics line before it replaces the checkpoint:
// the log never lacks the checkpoint's epoch, and a resume repairs the
// opposite case.
func (t *Trainer) Run(ctx context.Context) error {
	if t.RunDir != "" && t.teacher != nil {
		if err := t.teacherOutside(t.RunDir); err != nil {
			return err
		}
	}
	if tc := t.teacher; tc != nil && tc.DataSHA != "" && tc.DataSHA != t.Data.Fingerprint() {
		// Not an error: a teacher trained on more data, or on other
		// data of the same classes, can teach.
		reporter(t.Progress).Note(fmt.Sprintf("note: the teacher %s was trained on other data (%s, sha256 %.12s…) than this run's (%s, sha256 %.12s…)",
			tc.Path, tc.DataDir, tc.DataSHA, t.Data.Dir, t.Data.Fingerprint()))
	}
	if t.RunDir != "" {
		release, err := t.claimRun(t.RunDir)
		if err != nil {
			return err
		}
		defer release()
		phase, epoch := t.Phase, t.Epoch
		if err := rundir.RepairMetrics(filepath.Join(t.RunDir, rundir.MetricsFile), func(m rundir.EpochMetrics) bool {
			return m.Phase != phase || m.Epoch <= epoch
		}); err != nil {
			return err
		}
	}
	for t.Epoch < t.Cfg.Epochs {
		m, err := t.epoch(ctx)
		if err != nil {
			return err
		}
		if t.RunDir != "" {
			// The checkpoint is captured, and refused if the run diverged,
			// before the metrics line is appended: a diverged epoch leaves
			// neither.
			ck, err := t.Checkpoint()
			if err != nil {
				return err
			}
			if err := t.checkSaveable(ck); err != nil {
				return err
			}
			if err := rundir.AppendMetrics(filepath.Join(t.RunDir, rundir.MetricsFile), m); err != nil {
				return err
			}
			if afterMetrics != nil {
				if err := afterMetrics(t.Epoch); err != nil {
					return err
				}
			}
			if err := t.save(filepath.Join(t.RunDir, rundir.CheckpointFile), ck); err != nil {
				return err
			}
		}
	}
	return nil
}

// teacherOutside refuses a teacher that is the run in dir itself: its
// checkpoint changes every epoch, and the run could not resume.
func (t *Trainer) teacherOutside(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if p := t.teacher.Path; p == abs || p == filepath.Join(abs, rundir.CheckpointFile) {
		return fmt.Errorf("train: the teacher %s is this run's own directory: a run cannot distill from itself", p)
	}
	return nil
}

// epoch trains one epoch and evaluates; it returns the epoch's metrics.
func (t *Trainer) epoch(ctx context.Context) (rundir.EpochMetrics, error) {
	B := t.Cfg.Batch
	k := t.Model.Classes
	labels := make([]int, B)
	bt := datasets.NewBatcher(t.train, B, true, t.epochSeed(t.Epoch))
	bt.SetShift(t.Cfg.Shift)
	bt.SetFlip(t.Cfg.Flip)
	if n := t.Cfg.Norm(); n != nil {
		if err := bt.SetNorm(*n); err != nil {
			return rundir.EpochMetrics{}, fmt.Errorf("train: %w", err)
		}
	}
	t.setTraining(true)
	prog := reporter(t.Progress)
	prog.Start(fmt.Sprintf("%s epoch %d/%d", t.Phase, t.Epoch+1, t.Cfg.Epochs), bt.Batches())
	start := time.Now()
	var sumLoss float64
	var correct, seen, steps int
	lr := 0.0
	for b := 0; seen < t.train.N; b++ {
		if err := ctx.Err(); err != nil {
			return rundir.EpochMetrics{}, err
		}
		sg, err := t.graph(min(B, t.train.N-seen))
		if err != nil {
			return rundir.EpochMetrics{}, err
		}
		n := bt.Next(sg.x.Data().([]float32), labels)
		if n == 0 {
			break
		}
		yd := sg.yT.Data().([]float32)
		clear(yd)
		for i := 0; i < n; i++ {
			yd[i*k+labels[i]] = 1
		}
		if t.BeforeStep != nil {
			if err := t.BeforeStep(t.Step); err != nil {
				return rundir.EpochMetrics{}, err
			}
		}
		lr = LearningRate(t.Cfg.Schedule, t.Cfg.LR, float64(t.Epoch)+float64(b)/float64(bt.Batches()), t.Cfg.Epochs)
		loss, c, err := t.step(sg, labels[:n], lr)
		if err != nil {
			return rundir.EpochMetrics{}, err
		}
		sumLoss += float64(loss * float64(n))
		correct += c
		seen += n
		steps++
		prog.Step(fmt.Sprintf("loss %.4f", sumLoss/float64(seen)))
	}
	secs := time.Since(start).Seconds()
	// One pass over the model per epoch: a huge learning rate can send a
	// parameter to ±Inf while the loss stays finite (the fake-quant clip
	// hides it), and evaluating such a model fails with a VM error that
	// points elsewhere.
	if name := ModelNonFinite(t.Model); name != "" {
		return rundir.EpochMetrics{}, &DivergedError{Tensor: name, Epoch: t.Epoch + 1, Step: t.Step}
	}
	t.setTraining(false)
	evalStart := time.Now()
	acc, err := t.evaluate(ctx, t.test)
	if err != nil {
		return rundir.EpochMetrics{}, err
	}
	t.TestAcc = acc
	t.Epoch++
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := rundir.EpochMetrics{Epoch: t.Epoch, Phase: t.Phase, TrainLoss: sumLoss / float64(seen), TrainAcc: float64(correct) / float64(seen),
		TestAcc: acc, LR: lr, Seconds: secs, EvalSecs: time.Since(evalStart).Seconds(), HeapMB: float64(ms.HeapAlloc) / (1 << 20), Steps: steps}
	prog.Done(fmt.Sprintf("%s epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  %.1fs  heap %.0f MB",
		t.Phase, m.Epoch, t.Cfg.Epochs, m.TrainLoss, 100*m.TrainAcc, 100*m.TestAcc, m.Seconds, m.HeapMB))
	return m, nil
}

// SetQuantizer makes q the quantizer of every slot from now on (nil: the
// float model); the evaluation graph is rebuilt with it.
func (t *Trainer) SetQuantizer(q nn.Quantizer) {
	t.Quant = q
	if t.eval != nil {
		t.eval.Close()
		t.eval = nil
	}
}

// TrainSet is the training data the trainer uses (its first
// Cfg.TrainLimit samples).
func (t *Trainer) TrainSet() *datasets.Set { return t.train }

// StepsPerEpoch is the number of optimizer steps of one epoch.
func (t *Trainer) StepsPerEpoch() int { return (t.train.N + t.Cfg.Batch - 1) / t.Cfg.Batch }
