package export

import (
	"context"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/train"
)

// Accuracy is the runtime's top-1 accuracy on a set, in batches
// (train.AccuracyOf with the model's Predict, which normalizes the input
// itself); ctx is checked between batches.
func Accuracy(ctx context.Context, m *infer.Model, s *datasets.Set, batch int) (float64, error) {
	if err := m.CheckData(s.C, s.H, s.W, s.Classes); err != nil {
		return 0, err
	}
	return train.AccuracyOf(ctx, s, batch, nil, m.Predict)
}
