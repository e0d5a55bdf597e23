package mixed

import (
	"context"
	"maps"
	"math"
	"reflect"
	"testing"

	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
)

// TestFloatModelIsExports checks floatModel, mixed's float model,
// against export.FloatFromNet (export sits above mixed) on zoo
// networks with every unit kind the zoo lowers to: the same layers,
// field for field, and the same weights bit for bit.
func TestFloatModelIsExports(t *testing.T) {
	kinds := map[infer.Kind]bool{}
	for _, c := range []struct {
		arch string
		in   nn.Shape
	}{{"lenet5", nn.Shape{C: 1, H: 16, W: 16}}, {"resnet8", nn.Shape{C: 3, H: 16, W: 16}}, {"mobilenet-tiny", nn.Shape{C: 3, H: 32, W: 32}}, {"lenet300", nn.Shape{C: 1, H: 8, W: 8}}} {
		m, err := nn.New(c.arch, c.in, 5, 3)
		if err != nil {
			t.Fatal(err)
		}
		lw, err := m.Lower()
		if err != nil {
			t.Fatal(err)
		}
		got, err := floatModel(m, lw)
		if err != nil {
			t.Fatal(err)
		}
		want, err := export.FloatFromNet(context.Background(), m, infer.Source{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Layers) != len(want.Layers) {
			t.Fatalf("%s: %d layers, export makes %d", c.arch, len(got.Layers), len(want.Layers))
		}
		for i, l := range got.Layers {
			kinds[l.Kind] = true
			if !reflect.DeepEqual(l, want.Layers[i]) {
				t.Errorf("%s layer %d: %+v, export makes %+v", c.arch, i, *l, *want.Layers[i])
			}
		}
	}
	if len(kinds) < 6 {
		t.Errorf("the networks have only the kinds %v", kinds)
	}
}

// TestLossEnginesAgree runs the sensitivity pass with both loss engines
// on small trained networks (lenet5: max pools and linear layers;
// resnet8: batch norm, residual adds, projection shortcuts that the float
// runtime would fuse into their adds) and checks that the float runtime
// (EngineInfer, prefix reuse) reports what the Gorgonia reference does,
// and that the allocations chosen from the two are the same.
//
// The tolerance on a loss increase is 1e-6 absolute (the losses are
// about 0.1 to 1; the increases measured here run from 1e-7 to 0.2, and
// the engines agree within 5e-8). Two things separate the engines:
//
//   - Summation order. The two float32 forward passes add each layer's
//     products in different orders (and Gorgonia folds batch norm into
//     the weights inside the graph): a logit differs by a few units of
//     float32 rounding of the sums (~1e-7 relative), and a mean loss over
//     256 samples by less (the errors do not line up). Both terms of
//     L_q − L_float carry it, so ~1e-7 bounds this part.
//   - Rounding boundaries. An activation element whose x/S lies within
//     that rounding difference of a half-step rounds to neighbouring grid
//     points in the two engines: one element of one sample moves by one
//     step S, which changes that sample's loss by about |∂ℓ/∂x|·S and the
//     mean by that over the N samples. At 4 bits such a flip is
//     expected for roughly one element in 10^5, a few per slot here, each
//     worth ≲ 1e-7 of the mean loss (|∂ℓ/∂x| ≲ 1e-2 per element of a
//     trained network, S ≲ 0.5, N = 256) with random signs.
//
// The quantization errors and RMS of the activations (measured on each
// engine's own float activations) agree within 1e-5 relative; the weight
// errors, the traces (the same Gorgonia Hessian pass) and so Ω of the
// weights agree exactly.
func TestLossEnginesAgree(t *testing.T) {
	const tol = 1e-6
	for _, arch := range []string{"lenet5", "resnet8"} {
		t.Run(arch, func(t *testing.T) {
			m, data := tinyRunOf(t, arch)
			var s [2]*Sensitivity
			for i, e := range []Engine{EngineGorgonia, ""} {
				var err error
				s[i], err = Measure(context.Background(), m, data.Train, Options{Batch: 64, Batches: 4, HessianBatches: 1, Probes: 2, Engine: e})
				if err != nil {
					t.Fatal(err)
				}
			}
			g, f := s[0], s[1]
			if g.LossEngine != EngineGorgonia || f.LossEngine != EngineInfer {
				t.Fatalf("engines %q and %q", g.LossEngine, f.LossEngine)
			}
			if d := math.Abs(g.FloatLoss - f.FloatLoss); d > tol {
				t.Errorf("float loss %v (Gorgonia), %v (infer)", g.FloatLoss, f.FloatLoss)
			}
			rel := func(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(a), 1e-30) }
			var worst, big float64
			probes := 0
			for i := range g.Slots {
				gs, fs := &g.Slots[i], &f.Slots[i]
				if gs.Name != fs.Name || len(gs.Candidates) != len(fs.Candidates) || gs.Trace != fs.Trace {
					t.Fatalf("slot %d: %s (trace %v), %s (trace %v)", i, gs.Name, gs.Trace, fs.Name, fs.Trace)
				}
				if r := rel(gs.RMS, fs.RMS); r > 1e-5 {
					t.Errorf("%s: RMS %v, %v", gs.Name, gs.RMS, fs.RMS)
				}
				for j := range gs.Candidates {
					gc, fc := gs.Candidates[j], fs.Candidates[j]
					d := math.Abs(gc.LossDelta - fc.LossDelta)
					worst, big = max(worst, d), max(big, math.Abs(gc.LossDelta))
					probes++
					if d > tol || gc.Bits != fc.Bits {
						t.Errorf("%s at %d bits: loss increase %v (Gorgonia), %v (infer)", gs.Name, gc.Bits, gc.LossDelta, fc.LossDelta)
					}
					if r := rel(gc.QuantErr, fc.QuantErr); r > 1e-5 || gs.Weight && r != 0 {
						t.Errorf("%s at %d bits: quantization error %v, %v", gs.Name, gc.Bits, gc.QuantErr, fc.QuantErr)
					}
				}
			}
			t.Logf("%d probes: loss increases up to %.3g agree within %.3g", probes, big, worst)
			if big < 1e-2 {
				t.Fatalf("the largest loss increase is %v: the probes quantize nothing", big)
			}
			for _, b := range []Budget{{SizeBytes: WeightBytes(g, nil, 4)}, {SizeBytes: WeightBytes(g, nil, 3)}, {AvgBits: 5, ActAvgBits: 6}} {
				for _, metric := range []Metric{MetricLoss, MetricHAWQ} {
					ag, err := Allocate(g, metric, b, 8)
					if err != nil {
						t.Fatal(err)
					}
					af, err := Allocate(f, metric, b, 8)
					if err != nil {
						t.Fatal(err)
					}
					if !maps.Equal(ag.Bits, af.Bits) {
						t.Errorf("%s, %s: Gorgonia allocates %v, infer %v", metric, b, ag.Bits, af.Bits)
					}
				}
			}
		})
	}
}

func TestUnknownEngine(t *testing.T) {
	m, data := tinyRun(t)
	if _, err := Measure(context.Background(), m, data.Train, Options{Batch: 64, Batches: 1, Probes: 1, Engine: "tpu"}); err == nil {
		t.Error("an unknown engine accepted")
	}
}
