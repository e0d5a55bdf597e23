package mixed

import (
	"fmt"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
)

// floatModel is the float model (infer Mode F32) of network m lowered to
// lw, as export.FloatFromNet makes it (both from Lowered.FloatLayers;
// TestFloatModelIsExports checks that the two agree field for field),
// without class names or input normalization.
func floatModel(m *nn.Model, lw *nn.Lowered) (*infer.Model, error) {
	layers, err := lw.FloatLayers(m.Arch)
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	fm, err := infer.NewFloatModel(m.Arch, m.In.C, m.In.H, m.In.W, m.Classes, layers, nil, nil, infer.Source{})
	if err != nil {
		return nil, fmt.Errorf("mixed: the float model of %s: %w", m.Arch, err)
	}
	return fm, nil
}
