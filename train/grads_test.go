package train

import (
	"math"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestGradNodesMatchDualValues: the fused graphs read their gradient nodes
// (not Gorgonia's dual values), and three steps that way leave every
// parameter and the loss bit-identical to the dual-value path. Batch 16
// and three steps on 64 synthetic images keep it fast; lenet5 covers the
// conv and pool ops.
func TestGradNodesMatchDualValues(t *testing.T) {
	defer func() { bindDualValues = false }()
	for _, arch := range []string{"lenet300", "lenet5"} {
		var params [2][][]float32
		var losses [2][]float64
		for pass, dual := range []bool{false, true} {
			bindDualValues = dual
			data := datasets.Synthetic(64, 16, 28, 28, 10, 40, 1)
			m, err := nn.New(arch, nn.Shape{C: 1, H: 28, W: 28}, 10, 1)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(m, data, rundir.Config{Batch: 16})
			if err != nil {
				t.Fatal(err)
			}
			sg, err := tr.graph(16)
			if err != nil {
				t.Fatal(err)
			}
			if (sg.grads == nil) != dual {
				t.Fatalf("%s: dual values %v, gradient nodes read: %v", arch, dual, sg.grads != nil)
			}
			labels := make([]int, 16)
			bt := datasets.NewBatcher(data.Train, 16, true, 1)
			for i := 0; i < 3; i++ {
				bt.Next(sg.x.Data().([]float32), labels)
				yd := sg.yT.Data().([]float32)
				clear(yd)
				for j, l := range labels {
					yd[j*10+l] = 1
				}
				loss, _, err := tr.step(sg, labels, 1e-3)
				if err != nil {
					t.Fatal(err)
				}
				losses[pass] = append(losses[pass], loss)
			}
			for _, p := range m.Params {
				params[pass] = append(params[pass], append([]float32(nil), p.Data()...))
			}
			tr.Close()
		}
		for i := range losses[0] {
			if math.Float64bits(losses[0][i]) != math.Float64bits(losses[1][i]) {
				t.Errorf("%s step %d: loss %v, dual values %v", arch, i, losses[0][i], losses[1][i])
			}
		}
		for i := range params[0] {
			for j := range params[0][i] {
				if math.Float32bits(params[0][i][j]) != math.Float32bits(params[1][i][j]) {
					t.Fatalf("%s param %d[%d]: %v, dual values %v", arch, i, j, params[0][i][j], params[1][i][j])
				}
			}
		}
	}
}
