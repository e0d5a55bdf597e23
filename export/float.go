package export

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
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
// ctx is checked between layers: a cancelled export returns ctx.Err().
func Float(ctx context.Context, c *rundir.Checkpoint) (*infer.Model, error) {
	nm, err := c.Model()
	if err != nil {
		return nil, err
	}
	acc := c.TestAcc
	src := infer.Source{Phase: string(c.Phase), Precision: "f32", TestAcc: &acc}
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
	layers := make([]*infer.Layer, len(lw.Units))
	for i := range lw.Units {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		u := &lw.Units[i]
		l, err := floatLayer(nm.Arch, u, i)
		if err != nil {
			return nil, err
		}
		layers[i] = l
	}
	m, err := infer.NewFloatModel(nm.Arch, nm.In.C, nm.In.H, nm.In.W, nm.Classes, layers, nil, nil, source)
	if err != nil {
		return nil, fmt.Errorf("export: the float export produced an invalid model (a bug): %w", err)
	}
	return m, nil
}

// floatLayer is unit u (number i of the lowered list) as a float layer.
func floatLayer(arch string, u *nn.Unit, i int) (*infer.Layer, error) {
	where := fmt.Sprintf("%s layer %s (%s %s)", arch, u.Path, u.Kind, u.Name)
	if len(u.In) == 0 || len(u.Out) == 0 || len(u.Inputs) == 0 {
		return nil, fmt.Errorf("export: %s: the unit has no shapes or inputs (a bug in the lowering)", where)
	}
	chw := func(s []int) (c, h, w int) {
		c, h, w = s[0], 1, 1
		if len(s) == 3 {
			h, w = s[1], s[2]
		}
		return c, h, w
	}
	l := &infer.Layer{Name: u.Name}
	l.InC, l.InH, l.InW = chw(u.In)
	l.OutC, l.OutH, l.OutW = chw(u.Out)
	if u.Inputs[0] != i-1 {
		l.Inputs = []int{u.Inputs[0]}
	}
	switch u.Kind {
	case nn.UnitFlatten:
		l.Kind = infer.KindFlatten
	case nn.UnitMaxPool:
		l.Kind, l.K, l.Stride = infer.KindMaxPool2D, u.K, u.Stride
	case nn.UnitGlobalAvgPool:
		l.Kind = infer.KindGlobalAvgPool
	case nn.UnitAdd:
		l.Kind, l.ReLU, l.Inputs = infer.KindAdd, u.Act == nn.ActReLU, append([]int(nil), u.Inputs...)
	case nn.UnitLinear, nn.UnitConv2D:
		l.ReLU, l.Max = u.Act != nn.ActNone, u.Act.Max()
		w, b := u.Fold()
		if len(b) != l.OutC || len(w)%l.OutC != 0 {
			return nil, fmt.Errorf("export: %s: %d weights and %d biases for %d channels", where, len(w), len(b), l.OutC)
		}
		for what, v := range map[string][]float32{"weight": w, "bias": b} {
			if j := quant.FirstNonFinite(v); j >= 0 {
				return nil, fmt.Errorf("export: %s: %s %s %d is %v", where, u.Name, what, j, v[j])
			}
		}
		l.FBias = b
		if u.Kind == nn.UnitLinear {
			// nn stores (in, out); the runtime's rows are output channels.
			l.Kind = infer.KindLinear
			outC, fan := l.OutC, len(w)/l.OutC
			l.FW = make([]float32, len(w))
			for k := 0; k < fan; k++ {
				for c := 0; c < outC; c++ {
					l.FW[c*fan+k] = w[k*outC+c]
				}
			}
		} else {
			// (Out, In/Groups, K, K): already the runtime's rows.
			l.Kind, l.K, l.Stride, l.Pad, l.FW = infer.KindConv2D, u.K, u.Stride, u.Pad, w
			if u.Groups > 1 {
				l.Groups = u.Groups
			}
		}
	default:
		return nil, fmt.Errorf("export: %s: unit kind %s is not supported by the float runtime", where, u.Kind)
	}
	return l, nil
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
