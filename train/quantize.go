package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
)

// QuantizeResult reports a PTQ or QAT run.
type QuantizeResult struct {
	FloatAcc float64 // the float model before quantization
	PTQAcc   float64 // after calibration, before any fine-tuning
	TestAcc  float64 // at the end (equal to PTQAcc for PTQ)
	Trainer  *Trainer
	QAT      *QAT
}

// Quantize runs the QAT schedule from a float checkpoint: calibrate on
// training minibatches, measure post-training quantization, then (when
// tc.Epochs > 0) fine-tune with fake quantization on. The result is
// checkpointed in runDir (phase "ptq" or "qat").
func Quantize(ctx context.Context, from *Checkpoint, data *datasets.Pair, qc QATConfig, tc Config, runDir string, prog *Progress) (*QuantizeResult, error) {
	if from.Phase != "float" {
		return nil, fmt.Errorf("train: quantize starts from a float checkpoint, this one is %q", from.Phase)
	}
	m, err := from.Model()
	if err != nil {
		return nil, err
	}
	if err := checkData(m, data); err != nil {
		return nil, err
	}
	q, err := NewQAT(m, qc)
	if err != nil {
		return nil, err
	}
	ptq := tc.Epochs == 0
	if ptq {
		tc.Epochs = 1 // the trainer is only used to evaluate and checkpoint
	}
	tr, err := NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	res := &QuantizeResult{Trainer: tr, QAT: q}
	if res.FloatAcc, err = tr.Evaluate(tr.test); err != nil {
		return nil, err
	}
	tr.Quant = q
	tr.eval = nil
	tr.BeforeStep = q.BeforeStep
	if q.Cfg.FreezeAfter == 0 {
		q.Cfg.FreezeAfter = (tr.train.N + tr.Cfg.Batch - 1) / tr.Cfg.Batch
	}
	if err := q.Calibrate(m, tr.train, tr.Cfg.Batch, tr.Cfg.Seed); err != nil {
		return nil, err
	}
	if res.PTQAcc, err = tr.Evaluate(tr.test); err != nil {
		return nil, err
	}
	prog.Printf("float %.2f%%  PTQ W%dA%d (%s observer) %.2f%%", 100*res.FloatAcc, q.Cfg.BitsW, q.Cfg.BitsA, q.Cfg.Observer, 100*res.PTQAcc)
	if runDir != "" {
		// Epoch 0 of a quantized run is its calibration: where QAT starts.
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			return nil, err
		}
		if err := AppendMetrics(filepath.Join(runDir, MetricsFile), EpochMetrics{Epoch: 0, Phase: "ptq", TestAcc: res.PTQAcc}); err != nil {
			return nil, err
		}
	}
	res.TestAcc = res.PTQAcc
	tr.TestAcc = res.PTQAcc
	if ptq {
		tr.Phase = "ptq"
		tr.Cfg.Epochs = 0
		if runDir != "" {
			if err := SaveCheckpoint(filepath.Join(runDir, CheckpointFile), tr.Checkpoint()); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	tr.Phase = "qat"
	tr.RunDir = runDir
	tr.Progress = prog
	if err := tr.Run(ctx); err != nil {
		return nil, err
	}
	res.TestAcc = tr.TestAcc
	return res, nil
}

// ResumeQAT continues a QAT checkpoint up to epochs.
func ResumeQAT(ctx context.Context, c *Checkpoint, data *datasets.Pair, epochs int, runDir string, prog *Progress) (*QuantizeResult, error) {
	if c.Phase != "qat" {
		return nil, fmt.Errorf("train: can only resume a qat checkpoint, this one is %q", c.Phase)
	}
	m, q, err := LoadQAT(c)
	if err != nil {
		return nil, err
	}
	if err := checkData(m, data); err != nil {
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
	tr.Quant, tr.Phase, tr.BeforeStep, tr.RunDir, tr.Progress = q, "qat", q.BeforeStep, runDir, prog
	if err := tr.Resume(c); err != nil {
		return nil, err
	}
	if err := tr.Run(ctx); err != nil {
		return nil, err
	}
	return &QuantizeResult{TestAcc: tr.TestAcc, Trainer: tr, QAT: q}, nil
}

func checkData(m *nn.Model, data *datasets.Pair) error {
	if data.Train.C != m.In.C || data.Train.H != m.In.H || data.Train.W != m.In.W || data.Train.Classes != m.Classes {
		return fmt.Errorf("train: the checkpoint's model takes %v images with %d classes, the data has %dx%dx%d with %d",
			m.In, m.Classes, data.Train.C, data.Train.H, data.Train.W, data.Train.Classes)
	}
	return nil
}
