package nn

import (
	"fmt"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/quant"
)

// FloatLayers is the lowered network as the float runtime's layers
// (infer Mode F32), one per unit: a weighted unit is a linear or conv2d
// layer with its batch norm folded (Unit.Fold, the values the eval graph
// computes with) and its ReLU or ReLU6 fused; max pool, flatten, global
// average pool and add (with the block's ReLU) are theirs. arch names
// the network in errors. export.FloatFromNet and mixed's loss probes
// both build their float models from it.
func (lw *Lowered) FloatLayers(arch string) ([]*infer.Layer, error) {
	layers := make([]*infer.Layer, len(lw.Units))
	for i := range lw.Units {
		l, err := lw.Units[i].floatLayer(arch, i)
		if err != nil {
			return nil, err
		}
		layers[i] = l
	}
	return layers, nil
}

// floatLayer is unit u (number i of the lowered list) as a float layer.
func (u *Unit) floatLayer(arch string, i int) (*infer.Layer, error) {
	where := fmt.Sprintf("%s layer %s (%s %s)", arch, u.Path, u.Kind, u.Name)
	if len(u.In) == 0 || len(u.Out) == 0 || len(u.Inputs) == 0 {
		return nil, fmt.Errorf("nn: %s: the unit has no shapes or inputs (a bug in the lowering)", where)
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
	case UnitFlatten:
		l.Kind = infer.KindFlatten
	case UnitMaxPool:
		l.Kind, l.K, l.Stride = infer.KindMaxPool2D, u.K, u.Stride
	case UnitGlobalAvgPool:
		l.Kind = infer.KindGlobalAvgPool
	case UnitAdd:
		l.Kind, l.ReLU, l.Inputs = infer.KindAdd, u.Act == ActReLU, append([]int(nil), u.Inputs...)
	case UnitLinear, UnitConv2D:
		l.ReLU, l.Max = u.Act != ActNone, u.Act.Max()
		w, b := u.Fold()
		if len(b) != l.OutC || len(w)%l.OutC != 0 {
			return nil, fmt.Errorf("nn: %s: %d weights and %d biases for %d channels", where, len(w), len(b), l.OutC)
		}
		for what, v := range map[string][]float32{"weight": w, "bias": b} {
			if j := quant.FirstNonFinite(v); j >= 0 {
				return nil, fmt.Errorf("nn: %s: %s %s %d is %v", where, u.Name, what, j, v[j])
			}
		}
		l.FBias = b
		if u.Kind == UnitLinear {
			l.Kind, l.FW = infer.KindLinear, LinearRows(w, l.OutC)
		} else {
			// (Out, In/Groups, K, K): already the runtime's rows.
			l.Kind, l.K, l.Stride, l.Pad, l.FW = infer.KindConv2D, u.K, u.Stride, u.Pad, w
			if u.Groups > 1 {
				l.Groups = u.Groups
			}
		}
	default:
		return nil, fmt.Errorf("nn: %s: unit kind %s is not supported by the float runtime", where, u.Kind)
	}
	return l, nil
}

// LinearRows is a linear weight as nn stores it, (in, out) row-major, in
// the runtimes' layout: a row of inputs per output channel.
func LinearRows(w []float32, outC int) []float32 {
	in := len(w) / outC
	t := make([]float32, len(w))
	for i := range in {
		for c := range outC {
			t[c*in+i] = w[i*outC+c]
		}
	}
	return t
}
