package train

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
)

// Evaluate returns the accuracy of the model (through the trainer's
// quantizer) on a set.
func (t *Trainer) Evaluate(s *datasets.Set) (float64, error) {
	return t.evaluate(context.Background(), s)
}

func (t *Trainer) evaluate(ctx context.Context, s *datasets.Set) (float64, error) {
	if t.eval == nil {
		t.eval = nn.NewPredictor(t.Model, t.Quant)
	}
	return AccuracyNorm(ctx, t.eval, s, t.Cfg.EvalBatch, t.Cfg.Norm())
}

// Accuracy is the top-1 accuracy of a predictor on a set, in batches. It
// stops with ctx.Err() when ctx is cancelled between batches.
func Accuracy(ctx context.Context, p *nn.Predictor, s *datasets.Set, batch int) (float64, error) {
	return AccuracyNorm(ctx, p, s, batch, nil)
}

// AccuracyNorm is Accuracy with the input normalized as a run was
// trained (rundir.Config.Norm); nil norm is Accuracy.
func AccuracyNorm(ctx context.Context, p *nn.Predictor, s *datasets.Set, batch int, norm *datasets.Norm) (float64, error) {
	correct := 0
	err := ForEachBatchNorm(ctx, p, s, batch, norm, func(logits []float32, labels []int, pred []int) {
		for i, l := range labels {
			if pred[i] == l {
				correct++
			}
		}
	})
	return float64(correct) / float64(s.N), err
}

// ForEachBatch runs a predictor over a set in file order and hands each
// batch's logits, labels and predictions to f. It stops with ctx.Err()
// when ctx is cancelled between batches.
func ForEachBatch(ctx context.Context, p *nn.Predictor, s *datasets.Set, batch int, f func(logits []float32, labels, pred []int)) error {
	return ForEachBatchNorm(ctx, p, s, batch, nil, f)
}

// ForEachBatchNorm is ForEachBatch with the input normalized as a run
// was trained (rundir.Config.Norm); nil norm is ForEachBatch.
func ForEachBatchNorm(ctx context.Context, p *nn.Predictor, s *datasets.Set, batch int, norm *datasets.Norm, f func(logits []float32, labels, pred []int)) error {
	k := s.Classes
	bt := datasets.NewBatcher(s, batch, false, 0)
	if norm != nil {
		if err := bt.SetNorm(*norm); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	x := make([]float32, batch*s.Size())
	labels := make([]int, batch)
	logits := make([]float32, batch*k)
	pred := make([]int, batch)
	for n := bt.Next(x, labels); n > 0; n = bt.Next(x, labels) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.Logits(logits, x, n); err != nil {
			return err
		}
		nn.Argmax(pred[:n], logits[:n*k], k)
		f(logits[:n*k], labels[:n], pred[:n])
	}
	return nil
}

// TestAccuracy is the accuracy of the model (through the trainer's
// quantizer) on the test data the trainer uses (its first
// Cfg.TestLimit samples). It stops with ctx.Err() when ctx is cancelled
// between batches.
func (t *Trainer) TestAccuracy(ctx context.Context) (float64, error) {
	return t.evaluate(ctx, t.test)
}
