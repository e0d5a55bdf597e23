package train

import (
	"context"
	"errors"
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
	k := s.Classes
	logits, pred := make([]float32, batch*k), make([]int, batch)
	return AccuracyOf(ctx, s, batch, norm, func(x []float32, n int) ([]int, error) {
		if err := p.Logits(logits[:n*k], x, n); err != nil {
			return nil, err
		}
		nn.Argmax(pred[:n], logits[:n*k], k)
		return pred[:n], nil
	})
}

// ErrEmptySet is the error of an accuracy (or any rate over images) of a
// set without images, where 0/0 would be NaN.
var ErrEmptySet = errors.New("no images to measure accuracy on (the set is empty)")

// AccuracyOf is the top-1 accuracy on a set of a classifier given as
// predict, which returns the classes of n inputs x: the one accuracy
// loop of the module (a trainer's predictor here, the integer and float
// runtimes in export.Accuracy). The set runs in file order, in batches
// of at most batch inputs, normalized by norm (nil: none). It stops with
// ctx.Err() when ctx is cancelled between batches. An empty set is
// ErrEmptySet.
func AccuracyOf(ctx context.Context, s *datasets.Set, batch int, norm *datasets.Norm, predict func(x []float32, n int) ([]int, error)) (float64, error) {
	if s.N == 0 {
		return 0, emptySetError(s)
	}
	correct := 0
	err := eachBatch(ctx, s, batch, norm, func(x []float32, labels []int) error {
		pred, err := predict(x, len(labels))
		if err != nil {
			return err
		}
		if len(pred) != len(labels) {
			return fmt.Errorf("train: %d predictions for %d inputs", len(pred), len(labels))
		}
		for i, l := range labels {
			if pred[i] == l {
				correct++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(correct) / float64(s.N), nil
}

// emptySetError is ErrEmptySet naming the set s.
func emptySetError(s *datasets.Set) error {
	if s.Name == "" {
		return fmt.Errorf("train: %w", ErrEmptySet)
	}
	return fmt.Errorf("train: %s: %w", s.Name, ErrEmptySet)
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
	logits, pred := make([]float32, batch*k), make([]int, batch)
	return eachBatch(ctx, s, batch, norm, func(x []float32, labels []int) error {
		n := len(labels)
		if err := p.Logits(logits[:n*k], x, n); err != nil {
			return err
		}
		nn.Argmax(pred[:n], logits[:n*k], k)
		f(logits[:n*k], labels, pred[:n])
		return nil
	})
}

// eachBatch hands f each batch of set s in file order (its n inputs,
// normalized by norm, nil: none, and its n labels), and stops at f's
// first error or with ctx.Err() when ctx is cancelled between batches.
func eachBatch(ctx context.Context, s *datasets.Set, batch int, norm *datasets.Norm, f func(x []float32, labels []int) error) error {
	if batch < 1 {
		return fmt.Errorf("train: evaluation batch %d, want at least 1", batch)
	}
	bt := datasets.NewBatcher(s, batch, false, 0)
	if norm != nil {
		if err := bt.SetNorm(*norm); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	x := make([]float32, batch*s.Size())
	labels := make([]int, batch)
	for n := bt.Next(x, labels); n > 0; n = bt.Next(x, labels) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(x[:n*s.Size()], labels[:n]); err != nil {
			return err
		}
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
