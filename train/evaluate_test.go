package train

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
)

// TestAccuracyOf: the one accuracy loop counts a classifier's right
// answers over the whole set (10 samples in batches of 4: 4, 4, 2), and
// refuses a bad batch size, a classifier's error, a wrong number of
// predictions and a cancelled context with an error, never a panic (a
// batch of 0 panicked in datasets.NewBatcher).
func TestAccuracyOf(t *testing.T) {
	set := datasets.Synthetic(10, 10, 4, 4, 3, 10, 1).Test
	// right predicts the label of the first two samples of each batch
	// and class 99 for the others: 2+2+2 = 6 right of 10.
	var seen int
	right := func(x []float32, n int) ([]int, error) {
		pred := make([]int, n)
		for i := range pred {
			pred[i] = 99
			if i < 2 {
				pred[i] = int(set.Labels[seen+i])
			}
		}
		seen += n
		return pred, nil
	}
	acc, err := AccuracyOf(context.Background(), set, 4, nil, right)
	if err != nil || acc != 0.6 || seen != 10 {
		t.Errorf("accuracy %v, %v after %d samples; want 0.6 after 10", acc, err, seen)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		batch   int
		predict func(x []float32, n int) ([]int, error)
		want    string
	}{
		{"batch 0", context.Background(), 0, right, "batch 0"},
		{"error", context.Background(), 4, func([]float32, int) ([]int, error) { return nil, boom }, "boom"},
		{"short", context.Background(), 4, func(_ []float32, n int) ([]int, error) { return make([]int, n-1), nil }, "3 predictions for 4 inputs"},
		{"cancelled", cancelled, 4, right, "context canceled"},
	} {
		acc, err := AccuracyOf(tc.ctx, set, tc.batch, nil, tc.predict)
		if err == nil || !strings.Contains(err.Error(), tc.want) || acc != 0 {
			t.Errorf("%s: %v, %v; want an error with %q", tc.name, acc, err, tc.want)
		}
	}
}

// TestAccuracyOfEmptySet: the accuracy of a set without images was 0/0,
// NaN, reported as "NaN%"; it is ErrEmptySet, naming the set.
func TestAccuracyOfEmptySet(t *testing.T) {
	set := datasets.Synthetic(10, 10, 4, 4, 3, 10, 1).Test
	set.Name = "t10k"
	set.N, set.Pix, set.Labels = 0, nil, nil
	called := false
	acc, err := AccuracyOf(context.Background(), set, 4, nil, func(_ []float32, n int) ([]int, error) {
		called = true
		return make([]int, n), nil
	})
	if !errors.Is(err, ErrEmptySet) || acc != 0 || called || !strings.Contains(err.Error(), "t10k") {
		t.Errorf("empty set: accuracy %v, %v (predict called: %v); want 0 and ErrEmptySet naming t10k", acc, err, called)
	}
}
