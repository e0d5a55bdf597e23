package train

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/rundir"
)

// QuantizeResult reports a PTQ or QAT run.
type QuantizeResult struct {
	FloatAcc float64 // the float model before quantization
	PTQAcc   float64 // after calibration, before any fine-tuning
	TestAcc  float64 // at the end (equal to PTQAcc for PTQ)
	Trainer  *Trainer
	QAT      *QAT
}

// PTQ is post-training quantization of a float checkpoint: calibrate on
// training minibatches (tc's Batch, Seed, limits) and measure; nothing is
// fine-tuned, so tc.Epochs must be 0. The result is checkpointed in runDir
// (phase "ptq") unless runDir is "".
func PTQ(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, qc QATConfig, tc rundir.Config, runDir string, prog Progress) (*QuantizeResult, error) {
	if tc.Epochs != 0 {
		return nil, fmt.Errorf("train: PTQ does not train; rundir.Config.Epochs must be 0, got %d (Quantize fine-tunes)", tc.Epochs)
	}
	return quantize(ctx, from, data, qc, tc, runDir, prog, true)
}

// Quantize runs the QAT schedule from a float checkpoint: calibrate on
// training minibatches, measure post-training quantization, then fine-tune
// with fake quantization on for tc.Epochs epochs (0: rundir.DefaultEpochs, as
// everywhere in rundir.Config). The result is checkpointed in runDir (phase
// "qat") unless runDir is "".
func Quantize(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, qc QATConfig, tc rundir.Config, runDir string, prog Progress) (*QuantizeResult, error) {
	return quantize(ctx, from, data, qc, tc, runDir, prog, false)
}

func quantize(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, qc QATConfig, tc rundir.Config, runDir string, prog Progress, ptq bool) (_ *QuantizeResult, runErr error) {
	if from.Phase != rundir.PhaseFloat {
		return nil, fmt.Errorf("train: quantize starts from a float checkpoint, this one is %q", from.Phase)
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
	if name := modelNonFinite(m); name != "" {
		// Calibration would fail with a VM dump from a fake-quant node.
		return nil, fmt.Errorf("train: the float model's %s has a non-finite value: it cannot be quantized (retrain it with a lower learning rate)", name)
	}
	q, err := NewQAT(m, qc)
	if err != nil {
		return nil, err
	}
	if ptq {
		tc.Epochs = 1 // the trainer is only used to evaluate and checkpoint
	}
	tr, err := NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	if runDir != "" {
		// A new run: a failure before its first checkpoint takes its
		// epoch-0 line with it (openNewRun).
		finish, err := tr.openNewRun(runDir)
		if err != nil {
			return nil, err
		}
		// runErr, the named result: err is shadowed in this block.
		defer func() { finish(runErr != nil) }()
	}
	res := &QuantizeResult{Trainer: tr, QAT: q}
	if res.FloatAcc, err = tr.evaluate(ctx, tr.test); err != nil {
		return nil, err
	}
	tr.Quant = q
	if tr.eval != nil {
		tr.eval.Close()
		tr.eval = nil
	}
	tr.BeforeStep = q.BeforeStep
	if err := q.CalibrateNorm(ctx, m, tr.train, tr.Cfg.Batch, tr.Cfg.Seed, tr.Cfg.Norm()); err != nil {
		return nil, err
	}
	if res.PTQAcc, err = tr.evaluate(ctx, tr.test); err != nil {
		return nil, err
	}
	reporter(prog).Note(fmt.Sprintf("float %.2f%%  PTQ W%dA%d (%s observer) %.2f%%", 100*res.FloatAcc, q.Cfg.BitsW, q.Cfg.BitsA, q.Cfg.Observer, 100*res.PTQAcc))
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
			ck, err := tr.checkpoint()
			if err != nil {
				return nil, err
			}
			if err := tr.save(filepath.Join(runDir, rundir.CheckpointFile), ck); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	if steps := tr.Cfg.Epochs * ((tr.train.N + tr.Cfg.Batch - 1) / tr.Cfg.Batch); len(m.Buffers) > 0 && q.Cfg.FreezeBNAfter >= steps {
		// Not an error: evaluation and export use the running statistics
		// either way; the fine-tuning just never sees them.
		reporter(prog).Note(fmt.Sprintf("note: batch norm keeps batch statistics for all %d steps of this run (it freezes after %d; --freeze-bn-after sets it)", steps, q.Cfg.FreezeBNAfter))
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

// ResumeQAT continues a QAT checkpoint up to epochs (0: the checkpoint's
// own epoch count). The data must be the data the run was trained on.
func ResumeQAT(ctx context.Context, c *rundir.Checkpoint, data *datasets.Pair, epochs int, runDir string, prog Progress) (*QuantizeResult, error) {
	if c.Phase != rundir.PhaseQAT {
		return nil, fmt.Errorf("train: can only resume a qat checkpoint, this one is %q", c.Phase)
	}
	if c.Version < 2 {
		return nil, fmt.Errorf("train: the checkpoint (format version %d) lacks the observer statistics that an exact resume needs; start the QAT run again", c.Version)
	}
	if epochs < 0 {
		return nil, fmt.Errorf("train: epochs must be ≥ 0, got %d", epochs)
	}
	m, q, err := LoadQAT(c)
	if err != nil {
		return nil, err
	}
	tc := c.Config
	if epochs > 0 {
		tc.Epochs = epochs
	}
	tr, err := NewTrainer(m, data, tc)
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
	return &QuantizeResult{TestAcc: tr.TestAcc, Trainer: tr, QAT: q}, nil
}
