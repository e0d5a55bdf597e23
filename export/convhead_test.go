package export

import (
	"context"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
)

// TestConvHeadLogitsMatchSimulation (issue 17, item 1): a network whose
// last weighted unit is a convolution with 5 channels at 2×2 positions,
// flattened straight into 20 logits. The runtime's logits must be the
// simulation's, in its CHW flatten order (the runtime used to return them
// channels last: no sample identical while every layer agreed), and
// Compare must report a runtime whose final logits differ while every
// layer agrees as not exact ("logits"), not "bit for bit at every layer".
func TestConvHeadLogitsMatchSimulation(t *testing.T) {
	data := datasets.Synthetic(256, 100, 8, 8, 20, 60, 3)
	layers := []nn.Layer{&nn.Conv2D{Name: "head", Out: 5, K: 4, Stride: 4}, &nn.Flatten{}}
	nm, err := nn.NewSequential("convhead", nn.Shape{C: 1, H: 8, W: 8}, 20, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	ck := ptqOfUntrained(t, nm, data)
	mode := infer.W8A8
	m, err := Export(context.Background(), ck, mode)
	if err != nil {
		t.Fatal(err)
	}
	if last := m.Layers[len(m.Layers)-1]; last.Kind != infer.KindFlatten || last.InC != 5 || last.InH != 2 {
		t.Fatalf("exported layers end in %s %dx%dx%d, want a flatten of 5x2x2", last.Kind, last.InC, last.InH, last.InW)
	}
	cmp, err := Compare(context.Background(), m, ck, data.Test, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, m, cmp)
	if !cmp.Exact() || cmp.ExactSamples != 1 || cmp.MaxLSBDiff != 0 || cmp.Agreement != 1 || cmp.IntAcc != cmp.SimAcc {
		t.Errorf("%s: exact %v, identical logits %.3f, max diff %d, agreement %.3f, runtime %.3f vs simulation %.3f, first divergence %q",
			mode, cmp.Exact(), cmp.ExactSamples, cmp.MaxLSBDiff, cmp.Agreement, cmp.IntAcc, cmp.SimAcc, cmp.FirstDivergence)
	}

	// A runtime whose every layer agrees but whose logits come back in
	// another order (as the channels-last bug gave them) is not exact.
	qnm, q, err := qat.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	swapped := func(x []float32, n int, tr infer.Trace) ([]int32, error) {
		out, err := m.LogitsTrace(x, n, tr)
		for s := 0; s < n; s++ {
			row := out[s*20 : (s+1)*20]
			hwc := slices.Clone(row)
			for c := 0; c < 5; c++ {
				for p := 0; p < 4; p++ {
					hwc[p*5+c] = row[c*4+p]
				}
			}
			copy(row, hwc)
		}
		return out, err
	}
	bad, err := compareWith(context.Background(), m, swapped, qnm, q, data.Test, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range bad.Layers {
		if d.Differ != 0 {
			t.Errorf("%s: layer %s differs with only the logits reordered", mode, d.Layer)
		}
	}
	if bad.Exact() || bad.FirstDivergence != "logits" || bad.ExactSamples == 1 {
		t.Errorf("%s: logits in another order: exact %v, first divergence %q, identical logits %.3f", mode, bad.Exact(), bad.FirstDivergence, bad.ExactSamples)
	}
}
