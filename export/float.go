package export

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// Float converts a checkpoint's float network to a float model (Mode
// F32) that the float runtime of infer runs without Gorgonia. It reads
// the checkpoint's float weights: a float run's, or the float (shadow)
// weights of a PTQ, QAT or cluster run, without their quantization.
//
// The network's lowered form (nn.Model.Lower) becomes the float layers,
// one per unit, as Export makes the integer ones: a weighted unit is a
// linear or conv2d layer with its batch norm folded (Unit.Fold, the
// values the eval graph computes with) and its ReLU or ReLU6 fused;
// max pool, flatten, global average pool and add (with the block's
// ReLU) are theirs. The run's class names and input normalization travel
// with the model (WithInput), so the runtime normalizes its pixels as the
// training batches were.
//
// ctx is checked before the conversion: a cancelled export returns
// ctx.Err().
func Float(ctx context.Context, c *rundir.Checkpoint) (*infer.Model, error) {
	nm, err := c.Model()
	if err != nil {
		return nil, err
	}
	acc := c.TestAcc
	src := infer.Source{Phase: string(c.Phase), Precision: "f32", TestAcc: &acc}
	withData(&src, c)
	m, err := FloatFromNet(ctx, nm, src)
	if err != nil {
		return nil, err
	}
	var mean, std []float32
	if n := c.Norm(); n != nil {
		mean, std = n.Mean, n.Std
	}
	if err := WithInput(m, c.ClassNames, mean, std); err != nil {
		return nil, err
	}
	return m, nil
}

// FloatFromNet is Float for a network in memory (its current
// parameters), with source as the model's Source and no
// class names or normalization (WithInput adds them).
func FloatFromNet(ctx context.Context, nm *nn.Model, source infer.Source) (*infer.Model, error) {
	lw, err := nm.Lower()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	layers, err := lw.FloatLayers(nm.Arch)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m, err := infer.NewFloatModel(nm.Arch, nm.In.C, nm.In.H, nm.In.W, nm.Classes, layers, nil, nil, source)
	if err != nil {
		return nil, fmt.Errorf("export: the float export produced an invalid model (a bug): %w", err)
	}
	return m, nil
}

// floatTwin is the float model of network nm with input normalization
// norm (nil: none): the float column of Compare.
func floatTwin(ctx context.Context, nm *nn.Model, norm *infer.InputNorm) (*infer.Model, error) {
	fm, err := FloatFromNet(ctx, nm, infer.Source{})
	if err != nil {
		return nil, err
	}
	if norm != nil {
		if err := WithInput(fm, nil, norm.Mean, norm.Std); err != nil {
			return nil, err
		}
	}
	return fm, nil
}
