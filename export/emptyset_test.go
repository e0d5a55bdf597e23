package export

import (
	"context"
	"errors"
	"testing"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
)

// TestEmptySet: accuracy and the comparisons of a model with its run on
// a set without images are train.ErrEmptySet, not NaN rates.
func TestEmptySet(t *testing.T) {
	ctx := context.Background()
	data := synth(8)
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, data.Train.Classes, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := ptqOfUntrained(t, m, data)
	im, err := Export(ctx, ck, "w8a8")
	if err != nil {
		t.Fatal(err)
	}
	fck := trainedFloat(t, m, data, false)
	fm, err := Float(ctx, fck)
	if err != nil {
		t.Fatal(err)
	}
	empty := *data.Test
	empty.N, empty.Pix, empty.Labels = 0, nil, nil
	for _, c := range []struct {
		name string
		run  func() (float64, error)
	}{
		{"Accuracy", func() (float64, error) { return Accuracy(ctx, im, &empty, 64) }},
		{"Compare", func() (float64, error) {
			r, err := Compare(ctx, im, ck, &empty, 64)
			if r != nil {
				return r.IntAcc, err
			}
			return 0, err
		}},
		{"CompareFloat", func() (float64, error) {
			r, err := CompareFloat(ctx, fm, fck, &empty, 64)
			if r != nil {
				return r.RuntimeAcc, err
			}
			return 0, err
		}},
	} {
		if acc, err := c.run(); !errors.Is(err, train.ErrEmptySet) {
			t.Errorf("%s of an empty set: %v, %v; want train.ErrEmptySet", c.name, acc, err)
		}
	}
}
