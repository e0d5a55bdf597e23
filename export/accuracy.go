package export

import (
	"context"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
)

// Accuracy is the runtime's top-1 accuracy on a set, in batches; ctx is
// checked between batches.
func Accuracy(ctx context.Context, m *infer.Model, s *datasets.Set, batch int) (float64, error) {
	if err := m.CheckData(s.C, s.H, s.W, s.Classes); err != nil {
		return 0, err
	}
	bt := datasets.NewBatcher(s, batch, false, 0)
	x := make([]float32, batch*s.Size())
	labels := make([]int, batch)
	correct := 0
	for n := bt.Next(x, labels); n > 0; n = bt.Next(x, labels) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		pred, err := m.Predict(x[:n*s.Size()], n)
		if err != nil {
			return 0, err
		}
		for i, p := range pred {
			if p == labels[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(s.N), nil
}
