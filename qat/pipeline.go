package qat

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// Result reports a PTQ or QAT run.
type Result struct {
	FloatAcc  float64 // the float model before quantization
	PTQAcc    float64 // after calibration, before any fine-tuning
	TestAcc   float64 // at the end (equal to PTQAcc for PTQ)
	Trainer   *train.Trainer
	Quantizer *Quantizer
}

// Options are the settings of a PTQ or QAT run from a float checkpoint.
type Options struct {
	// Quant says how the model is quantized.
	Quant Config
	// Train holds the batch, seed, sample limits and evaluation batch of
	// the calibration and, for Quantize, the fine-tuning: Epochs
	// fine-tuning epochs (0: rundir.DefaultEpochs, as everywhere in
	// rundir.Config). PTQ trains nothing: its Train.Epochs must be 0.
	// The input preparation (resize, normalization) is the float run's.
	Train rundir.Config
	// RunDir receives the run's checkpoint and metrics log; "" writes
	// nothing.
	RunDir string
	// Progress, if not nil, receives the run's progress.
	Progress train.Progress
}

// ResumeOptions are the settings of a resumed run.
type ResumeOptions struct {
	// Epochs is the run's total epoch count; 0: the checkpoint's own.
	Epochs int
	// RunDir receives the run's checkpoints and metrics; "" writes nothing.
	RunDir string
	// Progress, if not nil, receives the run's progress.
	Progress train.Progress
}

// PTQ is post-training quantization of a float checkpoint: calibrate on
// training minibatches (opt.Train's Batch, Seed, limits) and measure;
// nothing is fine-tuned, so opt.Train.Epochs must be 0. The result is
// checkpointed in opt.RunDir (phase "ptq") unless it is "".
func PTQ(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, opt Options) (*Result, error) {
	qc, tc, runDir, prog := opt.Quant, opt.Train, opt.RunDir, opt.Progress
	if tc.Epochs != 0 {
		return nil, fmt.Errorf("qat: PTQ does not train; rundir.Config.Epochs must be 0, got %d (Quantize fine-tunes)", tc.Epochs)
	}
	return quantize(ctx, from, data, qc, tc, runDir, prog, true)
}

// Quantize runs the QAT schedule from a float checkpoint: calibrate on
// training minibatches, measure post-training quantization, then fine-tune
// with fake quantization on for opt.Train.Epochs epochs (0:
// rundir.DefaultEpochs, as everywhere in rundir.Config). The result is
// checkpointed in opt.RunDir (phase "qat") unless it is "".
func Quantize(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, opt Options) (*Result, error) {
	return quantize(ctx, from, data, opt.Quant, opt.Train, opt.RunDir, opt.Progress, false)
}

func quantize(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, qc Config, tc rundir.Config, runDir string, prog train.Progress, ptq bool) (_ *Result, runErr error) {
	if from.Phase != rundir.PhaseFloat {
		return nil, fmt.Errorf("qat: quantize starts from a float checkpoint, this one is %q", from.Phase)
	}
	if from.DataSHA != "" && from.DataSHA != data.Fingerprint() {
		return nil, &rundir.DataMismatchError{RunDir: from.DataDir, Data: data.Dir}
	}
	tc, err := rundir.InheritInput(tc, from)
	if err != nil {
		return nil, err
	}
	m, err := from.Model()
	if err != nil {
		return nil, err
	}
	if name := train.ModelNonFinite(m); name != "" {
		// Calibration would fail with a VM dump from a fake-quant node.
		return nil, fmt.Errorf("qat: the float model's %s has a non-finite value: it cannot be quantized (retrain it with a lower learning rate)", name)
	}
	q, err := New(m, qc)
	if err != nil {
		return nil, err
	}
	if ptq {
		tc.Epochs = 1 // the trainer is only used to evaluate and checkpoint
	}
	tr, err := train.NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	if runDir != "" {
		// A new run: a failure before its first checkpoint takes its
		// epoch-0 line with it (OpenNewRun).
		finish, err := tr.OpenNewRun(runDir)
		if err != nil {
			return nil, err
		}
		// runErr, the named result: err is shadowed in this block.
		defer func() { finish(runErr != nil) }()
	}
	tr.Parent = from.WeightsSHA()
	res := &Result{Trainer: tr, Quantizer: q}
	if res.FloatAcc, err = tr.TestAccuracy(ctx); err != nil {
		return nil, err
	}
	tr.SetQuantizer(q)
	tr.BeforeStep = q.BeforeStep
	if err := q.CalibrateNorm(ctx, m, tr.TrainSet(), tr.Cfg.Batch, tr.Cfg.Seed, tr.Cfg.Norm()); err != nil {
		return nil, err
	}
	if res.PTQAcc, err = tr.TestAccuracy(ctx); err != nil {
		return nil, err
	}
	scheme := fmt.Sprintf("W%dA%d", q.Cfg.BitsW, q.Cfg.BitsA)
	if q.Cfg.Mixed() {
		scheme += fmt.Sprintf(" with %d slots of their own bit-width", len(q.Cfg.SlotBits))
	}
	note(prog, fmt.Sprintf("float %.2f%%  PTQ %s (%s observer) %.2f%%", 100*res.FloatAcc, scheme, q.Cfg.Observer, 100*res.PTQAcc))
	if runDir != "" {
		// Epoch 0 of a quantized run is its calibration: where QAT starts.
		if err := rundir.AppendMetrics(filepath.Join(runDir, rundir.MetricsFile), rundir.EpochMetrics{Epoch: 0, Phase: rundir.PhasePTQ, TestAcc: res.PTQAcc}); err != nil {
			return nil, err
		}
	}
	res.TestAcc = res.PTQAcc
	tr.TestAcc = res.PTQAcc
	if ptq {
		tr.Phase = rundir.PhasePTQ
		tr.Cfg.Epochs = 0
		if runDir != "" {
			ck, err := tr.Checkpoint()
			if err != nil {
				return nil, err
			}
			if err := tr.Save(runDir, ck); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	if steps := tr.Cfg.Epochs * (tr.StepsPerEpoch()); len(m.Buffers) > 0 && q.Cfg.FreezeBNAfter >= steps {
		// Not an error: evaluation and export use the running statistics
		// either way; the fine-tuning just never sees them.
		note(prog, fmt.Sprintf("note: batch norm keeps batch statistics for all %d steps of this run (it freezes after %d; --freeze-bn-after sets it)", steps, q.Cfg.FreezeBNAfter))
	}
	tr.Phase = rundir.PhaseQAT
	tr.RunDir = runDir
	tr.Progress = prog
	if err := tr.Run(ctx); err != nil {
		return nil, err
	}
	res.TestAcc = tr.TestAcc
	return res, nil
}

// Resume continues a QAT checkpoint up to opt.Epochs (0: the
// checkpoint's own epoch count). The data must be the data the run was
// trained on.
func Resume(ctx context.Context, c *rundir.Checkpoint, data *datasets.Pair, opt ResumeOptions) (*Result, error) {
	epochs, runDir, prog := opt.Epochs, opt.RunDir, opt.Progress
	if c.Phase != rundir.PhaseQAT {
		return nil, fmt.Errorf("qat: can only resume a qat checkpoint, this one is %q", c.Phase)
	}
	if c.Version < 2 {
		return nil, fmt.Errorf("qat: the checkpoint (format version %d) lacks the observer statistics that an exact resume needs; start the Quantizer run again", c.Version)
	}
	if epochs < 0 {
		return nil, fmt.Errorf("qat: epochs must be ≥ 0, got %d", epochs)
	}
	m, q, err := Load(c)
	if err != nil {
		return nil, err
	}
	tc := c.Config
	if epochs > 0 {
		tc.Epochs = epochs
	}
	tr, err := train.NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	tr.Quant, tr.Phase, tr.BeforeStep, tr.RunDir, tr.Progress = q, rundir.PhaseQAT, q.BeforeStep, runDir, prog
	if err := tr.Resume(c); err != nil {
		return nil, err
	}
	if err := tr.Run(ctx); err != nil {
		return nil, err
	}
	return &Result{TestAcc: tr.TestAcc, Trainer: tr, Quantizer: q}, nil
}

// note reports a line to prog, if any.
func note(prog train.Progress, line string) {
	if prog != nil {
		prog.Note(line)
	}
}
