package export

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// trainedFloat trains m on data for one epoch and returns its float
// checkpoint.
func trainedFloat(t *testing.T, m *nn.Model, data *datasets.Pair, normalize bool) *rundir.Checkpoint {
	t.Helper()
	tr, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 64, Seed: 1, EvalBatch: evalBatch, Normalize: normalize})
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = nil
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestFloatExportMatchesGraph: the float model written from a trained
// float run (Float, from the lowered form: linear, conv2d with folded
// batch norm, ReLU and ReLU6, depthwise, max pool, flatten, residual adds,
// global average pool; raw or normalized input) computes on infer's float
// runtime what the Gorgonia float model computes, on the whole test set:
// the same top-1 class for every image (a difference is allowed only on a
// near-tie, within the logit difference), logits within float32 summation
// order of each other, the same accuracy. It carries the run's class names
// and normalization through its file, and a runtime whose logits are off
// is caught by CompareFloat.
func TestFloatExportMatchesGraph(t *testing.T) {
	grey := func(h int) *datasets.Pair { return synth(h) }
	rgb := func(h int) *datasets.Pair {
		g := synth(h)
		return &datasets.Pair{Train: rgbOf(g.Train), Test: rgbOf(g.Test)}
	}
	cases := []struct {
		arch      string
		data      *datasets.Pair
		normalize bool
	}{
		{"lenet300", grey(8), false},
		{"lenet5", grey(16), true},
		{"modern-test", rgb(16), true},
	}
	for _, tc := range cases {
		t.Run(tc.arch, func(t *testing.T) {
			in := nn.Shape{C: tc.data.Train.C, H: tc.data.Train.H, W: tc.data.Train.W}
			var m *nn.Model
			var err error
			if tc.arch == "modern-test" {
				m, err = nn.NewSequential(tc.arch, in, tc.data.Train.Classes, modernLayers(tc.data.Train.Classes), 1)
			} else {
				m, err = nn.New(tc.arch, in, tc.data.Train.Classes, 1)
			}
			if err != nil {
				t.Fatal(err)
			}
			ck := trainedFloat(t, m, tc.data, tc.normalize)
			ck.ClassNames = []string{"a", "b", "c", "d", "e"}
			fm, err := Float(context.Background(), ck)
			if err != nil {
				t.Fatal(err)
			}
			if fm.Mode != infer.F32 || fm.Version != infer.FloatFormatVersion || fm.Precision() != "f32" {
				t.Fatalf("mode %s version %d precision %s", fm.Mode, fm.Version, fm.Precision())
			}
			if (fm.Norm != nil) != tc.normalize || !slices.Equal(fm.ClassNames, ck.ClassNames) {
				t.Fatalf("normalization %+v (want one: %v), class names %q", fm.Norm, tc.normalize, fm.ClassNames)
			}
			path := filepath.Join(t.TempDir(), "m.tqm")
			if err := fm.Save(path); err != nil {
				t.Fatal(err)
			}
			back, err := infer.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.ClassNames, ck.ClassNames) || (back.Norm != nil) != tc.normalize {
				t.Fatalf("loaded names %q, normalization %+v", back.ClassNames, back.Norm)
			}
			cmp, err := CompareFloat(context.Background(), back, ck, tc.data.Test, 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: runtime %.2f%%, graph %.2f%%, agreement %.4f, max |Δlogit| %.3g (max |logit| %.3g)",
				tc.arch, 100*cmp.RuntimeAcc, 100*cmp.GraphAcc, cmp.Agreement, cmp.MaxLogitDiff, cmp.MaxLogit)
			if cmp.Samples != tc.data.Test.N || cmp.MaxLogit == 0 || cmp.GraphAcc < 0.3 {
				t.Fatalf("vacuous comparison: %+v", cmp)
			}
			// Only the order of the float32 sums differs: relative 1e-4 of
			// the logits' scale is hundreds of ulps on these fan-ins.
			tol := 1e-4 * max(1, cmp.MaxLogit)
			if cmp.MaxLogitDiff > tol {
				t.Errorf("max |Δlogit| %g > %g", cmp.MaxLogitDiff, tol)
			}
			if cmp.Agreement < 1 && cmp.MinMarginDisagree > 2*cmp.MaxLogitDiff {
				t.Errorf("agreement %v on images whose margin %g is beyond the logit difference %g", cmp.Agreement, cmp.MinMarginDisagree, cmp.MaxLogitDiff)
			}
			// A runtime off by a little on one class is noticed.
			nm, err := ck.Model()
			if err != nil {
				t.Fatal(err)
			}
			off := func(dst, x []float32, n int) error {
				if err := back.FloatLogitsInto(dst, x, n); err != nil {
					return err
				}
				for s := 0; s < n; s++ {
					dst[s*back.Classes+1] += 0.01 * float32(cmp.MaxLogit)
				}
				return nil
			}
			bad, err := compareFloatWith(context.Background(), back, off, nm, tc.data.Test, 64)
			if err != nil {
				t.Fatal(err)
			}
			if bad.MaxLogitDiff <= tol {
				t.Errorf("a runtime off by %g passes: max |Δlogit| %g", 0.01*cmp.MaxLogit, bad.MaxLogitDiff)
			}
		})
	}
}

// TestFloatExportRefuses: a cancelled export returns the context's error;
// CompareFloat refuses an integer model and another architecture's run;
// WithInput keeps a float model's own format version (it used to raise it
// to the integer format's and make the model invalid).
func TestFloatExportRefuses(t *testing.T) {
	data := synth(8)
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, data.Train.Classes, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := &rundir.Checkpoint{Phase: rundir.PhaseFloat}
	if err := ck.SetModel(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Float(ctx, ck); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled export: %v", err)
	}
	fm, err := Float(context.Background(), ck)
	if err != nil {
		t.Fatal(err)
	}
	if err := WithInput(fm, []string{"a", "b", "c", "d", "e"}, []float32{0.5}, []float32{0.25}); err != nil {
		t.Fatalf("WithInput on a float model: %v", err)
	}
	if fm.Version != infer.FloatFormatVersion {
		t.Fatalf("WithInput set the float model's version to %d", fm.Version)
	}
	im := &infer.Model{Mode: infer.W8A8, Arch: fm.Arch, InC: 1, InH: 8, InW: 8, Classes: fm.Classes}
	if _, err := CompareFloat(context.Background(), im, ck, data.Test, 64); err == nil {
		t.Error("CompareFloat took an integer model")
	}
	other := *ck
	other.Arch = "lenet5"
	if _, err := CompareFloat(context.Background(), fm, &other, data.Test, 64); err == nil {
		t.Error("CompareFloat took another architecture's run")
	}
}
