package rundir

import (
	"fmt"
	"slices"

	"github.com/tinyqat/tinyqat/datasets"
)

// RunOptions are the data settings a run was made with, as its
// checkpoint records them: which data, how much of it, and how the
// images were prepared. Commands that continue or measure a run (ptq,
// qat, cluster, eval, attack --from) use them as their defaults.
type RunOptions struct {
	DataDir    string // the directory the data was read from ("" for MNIST of the module cache in early runs)
	DataSHA    string // datasets.Pair.Fingerprint of that data
	TrainLimit int    // the first N training images; 0: all
	TestLimit  int    // the first N test images; 0: all
	Shift      int    // random-crop padding of the training images
	Flip       bool   // random horizontal flips of the training images
	// Norm is the input normalization of the model, nil for none.
	Norm             *datasets.Norm
	ResizeH, ResizeW int      // the size images were scaled to; 0: their own
	ClassNames       []string // nil when the data did not name its classes
}

// RunData returns the data settings recorded in a checkpoint.
func RunData(c *Checkpoint) RunOptions {
	return RunOptions{DataDir: c.DataDir, DataSHA: c.DataSHA, TrainLimit: c.Config.TrainLimit, TestLimit: c.Config.TestLimit,
		Shift: c.Config.Shift, Flip: c.Config.Flip, Norm: c.Norm(), ResizeH: c.Config.ResizeH, ResizeW: c.Config.ResizeW,
		ClassNames: slices.Clone(c.ClassNames)}
}

// Options are the datasets.Options that read the run's data as it was
// read (its resize); cache settings are left to the caller.
func (r RunOptions) Options() datasets.Options {
	return datasets.Options{ResizeH: r.ResizeH, ResizeW: r.ResizeW}
}

// InheritInput returns tc with the input preparation of the run it
// continues from: the model was trained on images of this size,
// normalized so, and nothing else fits it. tc may repeat them; other
// values are an error.
func InheritInput(tc Config, from *Checkpoint) (Config, error) {
	fc := from.Config
	switch {
	case tc.ResizeH == 0 && tc.ResizeW == 0:
		tc.ResizeH, tc.ResizeW = fc.ResizeH, fc.ResizeW
	case tc.ResizeH != fc.ResizeH || tc.ResizeW != fc.ResizeW:
		return tc, fmt.Errorf("rundir: resize %dx%d: the run was trained on images resized to %dx%d", tc.ResizeH, tc.ResizeW, fc.ResizeH, fc.ResizeW)
	}
	switch {
	case len(tc.Mean) == 0 && len(tc.Std) == 0:
		if tc.Normalize && len(fc.Mean) == 0 {
			return tc, fmt.Errorf("rundir: normalize: the run was trained without normalization, and its model takes unnormalized inputs")
		}
		tc.Normalize, tc.Mean, tc.Std = fc.Normalize, slices.Clone(fc.Mean), slices.Clone(fc.Std)
	case !slices.Equal(tc.Mean, fc.Mean) || !slices.Equal(tc.Std, fc.Std):
		return tc, fmt.Errorf("rundir: normalization mean %v, std %v: the run's model was trained with mean %v, std %v", tc.Mean, tc.Std, fc.Mean, fc.Std)
	}
	return tc, nil
}
