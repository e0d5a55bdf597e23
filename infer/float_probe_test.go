package infer

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

// withLayer is a float model equal to m but for layer k's weights and
// biases (a copy of the layer list; the layers are shared otherwise).
func withLayer(t *testing.T, m *Model, k int, fw, fb []float32) *Model {
	t.Helper()
	layers := slices.Clone(m.Layers)
	l := *layers[k]
	l.FW, l.FBias = fw, fb
	layers[k] = &l
	m2, err := NewFloatModel(m.Arch, m.InC, m.InH, m.InW, m.Classes, layers, nil, nil, Source{})
	if err != nil {
		t.Fatal(err)
	}
	return m2
}

// probeAll is the logits of x through every layer of m's probe.
func probeAll(t *testing.T, m *Model, x []float32, n int) []float32 {
	t.Helper()
	p, err := m.NewFloatProbe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Forward(x, n); err != nil {
		t.Fatal(err)
	}
	c, err := p.Cut(-1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, n*m.Classes)
	if err := p.Run(out, c); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFloatProbe checks the probe's prefix reuse against whole forward
// passes, bit for bit (the same kernels on the same chunks):
//   - a cut that changes nothing, at every value, gives the logits of the
//     whole network, and those are FloatLogits' (exactly where the
//     runtime fuses no convolution into an add; within 1e-5 of the
//     largest logit where it does: its fused sum rounds differently);
//   - a cut replacing layer k's weights equals a whole forward pass of
//     the model with those weights;
//   - a cut zeroing value k after layer k ran equals the model with layer
//     k's weights and biases zero (its output is then 0, ReLU or not);
//     zeroing the input equals a forward pass of zeros.
//
// The batches span several chunks with a partial last one, split over
// two goroutines where the work is large enough (par.Workers).
func TestFloatProbe(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for name, m := range floatModels(t) {
		if m.Norm != nil {
			if _, err := m.NewFloatProbe(); err == nil {
				t.Errorf("%s: a probe of a model with a Norm", name)
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			p, err := m.NewFloatProbe()
			if err != nil {
				t.Fatal(err)
			}
			n := 2*p.chunk + 3
			x := testInput(m, n, 11)
			if err := p.Forward(x, n); err != nil {
				t.Fatal(err)
			}
			if got := p.Value(-1); !slices.Equal(got, x) {
				t.Fatal("Value(-1) is not the input")
			}
			want, err := m.FloatLogits(x, n)
			if err != nil {
				t.Fatal(err)
			}
			fused := false
			for _, l := range m.fplan.layers {
				fused = fused || l.fused != nil
			}
			out := make([]float32, n*m.Classes)
			run := func(layer int, fw []float32, f func([]float32)) []float32 {
				t.Helper()
				c, err := p.Cut(layer, fw, f)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Run(out, c); err != nil {
					t.Fatal(err)
				}
				return slices.Clone(out)
			}
			base := run(-1, nil, nil)
			if !fused && !slices.Equal(base, want) {
				t.Fatalf("the probe's logits differ from FloatLogits")
			}
			var big, diff float64
			for i := range want {
				big = max(big, math.Abs(float64(want[i])))
				diff = max(diff, math.Abs(float64(want[i]-base[i])))
			}
			if diff > 1e-5*big {
				t.Fatalf("the probe's logits differ from FloatLogits by %g (largest logit %g)", diff, big)
			}
			zero := func(v []float32) { clear(v) }
			for k := -1; k < len(m.Layers); k++ {
				if k >= 0 && m.Layers[k].Kind == KindFlatten {
					if _, err := p.Cut(k, nil, zero); err == nil {
						t.Errorf("layer %d: a cut at a flatten", k)
					}
					continue
				}
				if got := run(k, nil, nil); !slices.Equal(got, base) {
					t.Fatalf("layer %d: a cut that changes nothing changed the logits", k)
				}
				if k < 0 {
					want := probeAll(t, m, make([]float32, len(x)), n)
					if got := run(k, nil, zero); !slices.Equal(got, want) {
						t.Fatalf("the zeroed input differs from a forward pass of zeros")
					}
					continue
				}
				l := m.Layers[k]
				if !l.Kind.Weighted() {
					if _, err := p.Cut(k, []float32{1}, nil); err == nil {
						t.Errorf("layer %d: weights for a %s", k, l.Kind)
					}
					continue
				}
				fw := slices.Clone(l.FW)
				for i := range fw {
					fw[i] = float32(math.Round(float64(fw[i]) * 8)) // coarse, as a fake quantization
				}
				got := run(k, fw, nil)
				if slices.Equal(got, base) {
					t.Fatalf("layer %d: other weights did not change the logits (the test checks nothing)", k)
				}
				if want := probeAll(t, withLayer(t, m, k, fw, l.FBias), x, n); !slices.Equal(got, want) {
					t.Fatalf("layer %d: replaced weights differ from a whole forward pass with them", k)
				}
				zw, zb := make([]float32, len(l.FW)), make([]float32, len(l.FBias))
				if want := probeAll(t, withLayer(t, m, k, zw, zb), x, n); !slices.Equal(run(k, nil, zero), want) {
					t.Fatalf("layer %d: a zeroed output differs from a zeroed layer", k)
				}
				bad := slices.Clone(l.FW)
				bad[0] = float32(math.NaN())
				for _, fw := range [][]float32{bad, l.FW[1:]} {
					if _, err := p.Cut(k, fw, nil); err == nil {
						t.Errorf("layer %d: a cut with %d weights, the first %v", k, len(fw), fw[0])
					}
				}
			}
			if _, err := p.Cut(len(m.Layers), nil, nil); err == nil {
				t.Error("a cut past the last layer")
			}
			if err := p.Run(out[1:], &FloatCut{layer: -1}); err == nil {
				t.Error("Run into a short dst")
			}
		})
	}
	if _, err := testModel("resnet8", W8A8, 1).NewFloatProbe(); err == nil {
		t.Error("a float probe of an integer model")
	}
}
