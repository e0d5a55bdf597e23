package nn

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestSetupErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers []Layer
	}{
		{"bn alone", []Layer{&BatchNorm2D{Name: "b"}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"bn after pool", []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, &MaxPool2D{K: 2}, &BatchNorm2D{Name: "b"}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"shapes", []Layer{&Residual{Name: "r", Body: []Layer{&Conv2D{Name: "c", Out: 3, K: 1}}}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"dup names", []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, &Conv2D{Name: "c", Out: 2, K: 1}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"no name", []Layer{&Conv2D{Out: 2, K: 1}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"groups", []Layer{&Conv2D{Name: "c", Out: 3, K: 1, Groups: 2}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}}, // 3 outputs in 2 groups
		{"gap on flat", []Layer{&Flatten{}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
		{"nil", []Layer{nil}},
		{"empty body", []Layer{&Residual{Name: "r"}, &GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}}},
	} {
		if _, err := NewSequential("bad", Shape{2, 4, 4}, 2, tc.layers, 1); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else if testing.Verbose() {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

// A typed nil layer is an error, not a panic.
func TestTypedNilLayer(t *testing.T) {
	var c *Conv2D
	if _, err := NewSequential("nil", Shape{C: 1, H: 4, W: 4}, 2, []Layer{c, &Flatten{}, &Linear{Name: "f", Out: 2}}, 1); err == nil || !regexp.MustCompile("is nil").MatchString(err.Error()) {
		t.Fatalf("typed nil layer: %v", err)
	}
}

// TestLayerReuseRefused: NewSequential fills in the layer values it is
// given, so a weighted layer or batch norm already in one model (at top
// level or inside a residual) is refused in a second, which would
// otherwise take its parameters from the first silently; stateless
// layers (ReLU, Flatten) may be shared. An empty architecture name is
// refused too.
func TestLayerReuseRefused(t *testing.T) {
	in := Shape{C: 1, H: 4, W: 4}
	relu := &ReLU{}
	conv := &Conv2D{Name: "c", Out: 2, K: 3, Pad: 1}
	bn := &BatchNorm2D{Name: "bn"}
	res := &Residual{Name: "r", Body: []Layer{&Conv2D{Name: "r.c", Out: 2, K: 3, Pad: 1}}}
	fc := &Linear{Name: "f", Out: 2}
	first, err := NewSequential("a", in, 2, []Layer{conv, bn, relu, res, &GlobalAvgPool{Name: "g"}, fc}, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := first.Params[0].Data()[0]
	for _, tc := range []struct {
		name   string
		layers []Layer
		want   string
	}{
		{"linear", []Layer{&Flatten{}, fc}, "f already belongs to a model"},
		{"conv", []Layer{conv, relu, &Flatten{}, &Linear{Name: "f2", Out: 2}}, "c already belongs to a model"},
		{"batch norm", []Layer{&Conv2D{Name: "c2", Out: 2, K: 3, Pad: 1}, bn, &Flatten{}, &Linear{Name: "f2", Out: 2}}, "batchnorm2d bn already belongs"},
		{"in a residual", []Layer{&Conv2D{Name: "c2", Out: 2, K: 3, Pad: 1}, res, &Flatten{}, &Linear{Name: "f2", Out: 2}}, "r.c already belongs"},
	} {
		if _, err := NewSequential("b", in, 2, tc.layers, 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if first.Params[0].Data()[0] != w || conv.W != first.Params[0] {
		t.Error("a refused model changed the first model's parameters")
	}
	if _, err := NewSequential("c", in, 2, []Layer{&Flatten{}, &Linear{Name: "f3a", Out: 4}, relu, &Linear{Name: "f3", Out: 2}}, 1); err != nil {
		t.Errorf("a shared ReLU: %v", err)
	}
	if _, err := NewSequential("", in, 2, []Layer{&Flatten{}, &Linear{Name: "f4", Out: 2}}, 1); err == nil || !strings.Contains(err.Error(), "architecture name") {
		t.Errorf("empty arch: %v", err)
	}
	// A call that fails part way (a 5×5 kernel on a 4×4 input, after a
	// conv, a batch norm and a residual were filled in) leaves its layers
	// free: the corrected call with the same values succeeds.
	stem, stemBN := &Conv2D{Name: "s", Out: 2, K: 3, Pad: 1}, &BatchNorm2D{Name: "s_bn"}
	block := &Residual{Name: "b", Body: []Layer{&Conv2D{Name: "b.c", Out: 2, K: 3, Pad: 1}}}
	big := &Conv2D{Name: "big", Out: 2, K: 5}
	head := &Linear{Name: "h", Out: 2}
	if _, err := NewSequential("d", in, 2, []Layer{stem, stemBN, block, big, &Flatten{}, head}, 1); err == nil {
		t.Fatal("a 5×5 kernel on a 4×4 input was accepted")
	}
	if stem.W != nil || stemBN.Gamma != nil || stemBN.C != 0 || block.Body[0].(*Conv2D).W != nil {
		t.Error("a failed call left parameters in its layers")
	}
	big.K, big.Pad = 5, 2
	if _, err := NewSequential("d", in, 2, []Layer{stem, stemBN, block, big, &Flatten{}, head}, 1); err != nil {
		t.Errorf("the corrected call: %v", err)
	}
	// One value twice in a list is refused too.
	twice := &Conv2D{Name: "t", Out: 1, K: 1}
	if _, err := NewSequential("e", in, 2, []Layer{twice, twice, &Flatten{}, &Linear{Name: "f5", Out: 2}}, 1); err == nil {
		t.Error("a conv given twice was accepted")
	}
}

// TestBadSizesAreErrors: a batch below one and buffers too short for a
// batch are errors wrapping ErrSize, not panics; so is a FoldBN of layers
// that are not a wired pair. An empty batch computes nothing.
func TestBadSizesAreErrors(t *testing.T) {
	m, err := NewSequential("sizes", Shape{C: 1, H: 4, W: 4}, 3, []Layer{&Flatten{}, &Linear{Name: "f", Out: 3}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{0, -1} {
		if _, err := m.Build(batch, nil); !errors.Is(err, ErrSize) {
			t.Errorf("Build(%d): %v, want ErrSize", batch, err)
		}
		if _, err := m.BuildTrain(batch, nil); !errors.Is(err, ErrSize) {
			t.Errorf("BuildTrain(%d): %v, want ErrSize", batch, err)
		}
	}
	p := NewPredictor(m, nil)
	defer p.Close()
	if _, err := p.Net(0); !errors.Is(err, ErrSize) {
		t.Errorf("Net(0): %v, want ErrSize", err)
	}
	x, out := make([]float32, 2*16), make([]float32, 2*3)
	for _, tc := range []struct {
		name   string
		out, x []float32
		n      int
	}{
		{"negative n", out, x, -1},
		{"short input", out, x[:31], 2},
		{"short output", out[:5], x, 2},
		{"huge n", out, x, 1 << 62},
	} {
		if err := p.Logits(tc.out, tc.x, tc.n); !errors.Is(err, ErrSize) {
			t.Errorf("Logits %s: %v, want ErrSize", tc.name, err)
		}
	}
	if err := p.Logits(nil, nil, 0); err != nil {
		t.Errorf("Logits of no samples: %v", err)
	}
	if err := p.Logits(out, x, 2); err != nil {
		t.Errorf("Logits of a good batch: %v", err)
	}
	if _, _, err := FoldBN(&Conv2D{Name: "c"}, &BatchNorm2D{Name: "b"}); err == nil {
		t.Error("FoldBN of unwired layers: accepted")
	}
	if _, _, err := FoldBN(nil, nil); err == nil {
		t.Error("FoldBN of nil layers: accepted")
	}
}
