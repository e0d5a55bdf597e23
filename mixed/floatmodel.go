package mixed

import (
	"fmt"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
)

// floatModel is the float model (infer Mode F32) of network m lowered to
// lw, as export.FloatFromNet makes it (package export sits above mixed,
// so the conversion is repeated here; TestFloatModelIsExports checks
// that the two agree field for field): one layer per unit, a weighted
// unit's batch norm folded (Unit.Fold) and its ReLU or ReLU6 fused, the
// linear weights in the runtime's rows of outputs.
func floatModel(m *nn.Model, lw *nn.Lowered) (*infer.Model, error) {
	layers := make([]*infer.Layer, len(lw.Units))
	for i := range lw.Units {
		u := &lw.Units[i]
		if len(u.In) == 0 || len(u.Out) == 0 || len(u.Inputs) == 0 {
			return nil, fmt.Errorf("mixed: %s unit %s: no shapes or inputs", m.Arch, u.Path)
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
				return nil, fmt.Errorf("mixed: %s unit %s: %d weights and %d biases for %d channels", m.Arch, u.Path, len(w), len(b), l.OutC)
			}
			if j := quant.FirstNonFinite(w); j >= 0 {
				return nil, fmt.Errorf("mixed: %s unit %s: folded weight %d is %v", m.Arch, u.Path, j, w[j])
			}
			if j := quant.FirstNonFinite(b); j >= 0 {
				return nil, fmt.Errorf("mixed: %s unit %s: folded bias %d is %v", m.Arch, u.Path, j, b[j])
			}
			l.FBias = b
			if u.Kind == nn.UnitLinear {
				l.Kind, l.FW = infer.KindLinear, linearRows(w, l.OutC)
			} else {
				l.Kind, l.K, l.Stride, l.Pad, l.FW = infer.KindConv2D, u.K, u.Stride, u.Pad, w
				if u.Groups > 1 {
					l.Groups = u.Groups
				}
			}
		default:
			return nil, fmt.Errorf("mixed: %s unit %s: kind %s is not supported by the float runtime", m.Arch, u.Path, u.Kind)
		}
		layers[i] = l
	}
	fm, err := infer.NewFloatModel(m.Arch, m.In.C, m.In.H, m.In.W, m.Classes, layers, nil, nil, infer.Source{})
	if err != nil {
		return nil, fmt.Errorf("mixed: the float model of %s: %w", m.Arch, err)
	}
	return fm, nil
}

// linearRows is a linear weight as nn stores it, (in, out) row-major,
// in the float runtime's layout: a row of inputs per output.
func linearRows(w []float32, outC int) []float32 {
	in := len(w) / outC
	t := make([]float32, len(w))
	for i := range in {
		for c := range outC {
			t[c*in+i] = w[i*outC+c]
		}
	}
	return t
}
