package nn

import (
	"fmt"
	"strings"
	"testing"
)

// TestMisuseIsAnError (issue 17 item 11): layer lists that used to build
// and then panic later (a typed-nil batch norm after a convolution:
// Spec, PTQ, Export and SaveCheckpoint panicked), panic while building
// (an input whose C·H·W overflows int), or overflow the stack (a
// residual block inside itself) are refused by NewSequential with an
// error that names the layer.
func TestMisuseIsAnError(t *testing.T) {
	head := func() []Layer { return []Layer{&GlobalAvgPool{Name: "g"}, &Linear{Name: "f", Out: 2}} }
	var nilBN *BatchNorm2D
	var nilReLU *ReLU
	self := &Residual{Name: "self", Body: []Layer{&Conv2D{Name: "self.c", Out: 2, K: 1}}}
	self.Body = append(self.Body, self)
	outer := &Residual{Name: "outer", Body: []Layer{&Conv2D{Name: "outer.c", Out: 2, K: 1}}}
	inner := &Residual{Name: "inner", Body: []Layer{&Conv2D{Name: "inner.c", Out: 2, K: 1}, outer}}
	outer.Body = append(outer.Body, inner)
	twice := &Residual{Name: "twice", Body: []Layer{&Conv2D{Name: "twice.c", Out: 2, K: 1}}}
	deep := &Residual{Name: "d0", Body: []Layer{&Conv2D{Name: "d0.c", Out: 2, K: 1}}}
	for i := 1; i <= specMaxDepth+1; i++ {
		deep = &Residual{Name: "d" + string(rune('a'+i)), Body: []Layer{deep}}
	}
	for _, tc := range []struct {
		name   string
		in     Shape
		layers []Layer
		want   string
	}{
		{"typed-nil batch norm", Shape{2, 4, 4}, append([]Layer{&Conv2D{Name: "c", Out: 2, K: 1}, nilBN}, head()...), "layer 1 is nil"},
		{"typed-nil relu", Shape{2, 4, 4}, append([]Layer{&Conv2D{Name: "c", Out: 2, K: 1}, nilReLU}, head()...), "layer 1 is nil"},
		{"typed-nil batch norm in a block", Shape{2, 4, 4}, append([]Layer{&Residual{Name: "r", Body: []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, nilBN}}}, head()...), "layer r.body.1 is nil"},
		{"input overflows int", Shape{1 << 31, 1 << 31, 4}, []Layer{&Flatten{}, &Linear{Name: "f", Out: 2}}, "more than"},
		{"input too large", Shape{1, 1 << 12, 1 << 12}, []Layer{&Flatten{}, &Linear{Name: "f", Out: 2}}, "more than"},
		{"residual inside itself", Shape{2, 4, 4}, append([]Layer{self}, head()...), "residual self contains itself"},
		{"residuals inside each other", Shape{2, 4, 4}, append([]Layer{outer}, head()...), "residual outer contains itself"},
		{"residual twice", Shape{2, 4, 4}, append([]Layer{twice, twice}, head()...), "residual twice appears twice"},
		{"residuals nested too deep", Shape{2, 4, 4}, append([]Layer{deep}, head()...), "nested deeper than"},
	} {
		_, err := NewSequential("misuse", tc.in, 2, tc.layers, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestExportRulesAtBuild (issue 18; issue 17 item 12): every rule of the
// lowering to the integer runtime is checked when the network is built,
// with the message export gave after a whole QAT run; FromSpec (train
// --spec, --print-spec) refuses the same networks.
func TestExportRulesAtBuild(t *testing.T) {
	const unfused = "that does not follow a Linear or Conv2D layer (or its BatchNorm2D) cannot be fused"
	many := []Layer{&Flatten{}}
	for i := 0; i < maxLoweredLayers; i++ {
		many = append(many, &Linear{Name: fmt.Sprintf("l%d", i), Out: 2})
	}
	for _, tc := range []struct {
		name   string
		in     Shape
		layers []Layer
		want   string
	}{
		{"relu after a mean", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 4, K: 3, Pad: 1}, &BatchNorm2D{Name: "c_bn"}, &GlobalAvgPool{Name: "gap"}, &ReLU{}, &Linear{Name: "fc", Out: 2},
		}, "layer 3 (relu): a relu " + unfused},
		{"relu6 after a pool", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 4, K: 3}, &MaxPool2D{K: 2}, &ReLU6{}, &Flatten{}, &Linear{Name: "fc", Out: 2},
		}, "layer 2 (relu6): a relu6 " + unfused},
		{"relu first", Shape{1, 8, 8}, []Layer{&ReLU{}, &Flatten{}, &Linear{Name: "fc", Out: 2}}, "layer 0 (relu): a relu " + unfused},
		{"two relus", Shape{1, 8, 8}, []Layer{&Flatten{}, &Linear{Name: "a", Out: 4}, &ReLU{}, &ReLU{}, &Linear{Name: "fc", Out: 2}}, "layer 3 (relu): a relu " + unfused},
		{"relu after an add", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 2, K: 3, Pad: 1},
			&Residual{Name: "res", Body: []Layer{&Conv2D{Name: "r", Out: 2, K: 3, Pad: 1}}}, &ReLU{},
			&GlobalAvgPool{Name: "gap"}, &Linear{Name: "fc", Out: 2},
		}, "layer 2 (relu): a relu " + unfused},
		{"relu in a shortcut", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 2, K: 3, Pad: 1},
			&Residual{Name: "res", Body: []Layer{&Conv2D{Name: "r", Out: 2, K: 3, Pad: 1}}, Shortcut: []Layer{&ReLU{}}},
			&GlobalAvgPool{Name: "gap"}, &Linear{Name: "fc", Out: 2},
		}, "layer res.shortcut.0 (relu): a relu " + unfused},
		{"identity after flatten", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 2, K: 3, Pad: 1}, &ReLU{}, &Flatten{},
			&Residual{Name: "res", ReLU: true, Body: []Layer{&Linear{Name: "l1", Out: 128}}},
			&Linear{Name: "fc", Out: 2},
		}, "residual block res: its shortcut reads a Flatten's output directly"},
		{"flatten shortcut", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 2, K: 3, Pad: 1}, &ReLU{},
			&Residual{Name: "res", Body: []Layer{&Flatten{}, &Linear{Name: "l1", Out: 128}}, Shortcut: []Layer{&Flatten{}}},
			&Linear{Name: "fc", Out: 2},
		}, "residual block res: its shortcut reads a Flatten's output directly"},
		{"flatten body", Shape{1, 8, 8}, []Layer{
			&Conv2D{Name: "c", Out: 2, K: 3, Pad: 1}, &ReLU{}, &Flatten{},
			&Residual{Name: "res", Body: []Layer{&Linear{Name: "l1", Out: 128}, &Flatten{}}, Shortcut: []Layer{&Linear{Name: "l2", Out: 128}}},
			&Linear{Name: "fc", Out: 2},
		}, "residual block res: its body reads a Flatten's output directly"},
		{"pad = k", Shape{1, 8, 8}, []Layer{&Conv2D{Name: "c", Out: 2, K: 1, Pad: 1}, &Flatten{}, &Linear{Name: "fc", Out: 2}}, "conv2d c: padding 1 is not smaller than the kernel size 1"},
		{"pad > k", Shape{1, 8, 8}, []Layer{&Residual{Name: "res", Body: []Layer{&Conv2D{Name: "c", Out: 1, K: 3, Pad: 4, Stride: 2}}, Shortcut: []Layer{&MaxPool2D{K: 2, Stride: 1}}}, &Flatten{}, &Linear{Name: "fc", Out: 2}}, "layer res.body.0 (conv2d): conv2d c: padding 4 is not smaller"},
		{"fan-in", Shape{1, 200, 200}, []Layer{&Flatten{}, &Linear{Name: "fc", Out: 2}}, "linear fc: fan-in 40000 is more than"},
		{"conv fan-in", Shape{1024, 4, 4}, []Layer{&Conv2D{Name: "c", Out: 2, K: 6, Pad: 1}, &Flatten{}, &Linear{Name: "fc", Out: 2}}, "conv2d c: fan-in 36864 is more than"},
		{"too many layers", Shape{1, 2, 2}, many, "lowers to 257 integer layers"},
	} {
		_, err := NewSequential("rules", tc.in, 2, tc.layers, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// The same through a spec, as train --spec reads it.
	spec := `{"format": "tinyqat-nn-spec", "version": 1, "arch": "s", "input": [1, 8, 8], "classes": 2, "layers": [
	 {"kind": "conv2d", "name": "c", "out": 2, "k": 3, "pad": 3}, {"kind": "maxpool2d", "k": 2}, {"kind": "relu"},
	 {"kind": "flatten"}, {"kind": "linear", "name": "fc", "out": 2}]}`
	if _, err := FromSpec([]byte(spec), 1); err == nil || !strings.Contains(err.Error(), "conv2d c: padding 3 is not smaller") {
		t.Errorf("spec with pad = k: %v", err)
	}
	spec = strings.Replace(spec, `"pad": 3`, `"pad": 1`, 1)
	if _, err := FromSpec([]byte(spec), 1); err == nil || !strings.Contains(err.Error(), "layer 2 (relu): a relu "+unfused) {
		t.Errorf("spec with a relu after a pool: %v", err)
	}
}

// TestCheckLoweringAfterMutation: CheckLowering (which export calls)
// finds a rule broken after NewSequential, in a model whose layer list
// was changed afterwards, without panicking on typed-nil layers or a
// residual inside itself.
func TestCheckLoweringAfterMutation(t *testing.T) {
	m, err := New("resnet8", Shape{1, 8, 8}, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckLowering(); err != nil {
		t.Fatalf("resnet8: %v", err)
	}
	var nilBN *BatchNorm2D
	r := m.Layers[3].(*Residual)
	for _, tc := range []struct {
		name   string
		mutate func()
		want   string
		spec   bool // Spec still works
	}{
		{"relu after the mean", func() { m.Layers = append(m.Layers[:7:7], &ReLU{}, m.Layers[7]) }, "layer 7 (relu): a relu that does not follow", true},
		{"typed nil", func() { m.Layers = append(m.Layers[:1:1], nilBN) }, "layer 1 is nil", false},
		{"self", func() { r.Body = append(r.Body[:len(r.Body):len(r.Body)], r) }, "nested deeper than", false},
	} {
		layers := m.Layers
		body := r.Body
		tc.mutate()
		if err := m.CheckLowering(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if _, err := m.Spec(); (err == nil) != tc.spec {
			t.Errorf("%s: Spec gave %v", tc.name, err)
		}
		m.Layers, r.Body = layers, body
	}
}

// TestLower: the lowered form of the zoo — kinds, inputs, shapes, fused
// batch norms and activations, pre-order layer numbers — and its slots:
// every slot of the model but the input is owned by exactly one unit,
// every unit reads units before it, and Fold is FoldBN bit for bit.
func TestLower(t *testing.T) {
	type want struct {
		kind   UnitKind
		name   string
		layer  int
		inputs []int
		out    []int
		act    Act
		bn     bool
		slot   string // OutSlot
	}
	for _, tc := range []struct {
		arch  string
		in    Shape
		units []want // a prefix of the units
		n     int
	}{
		{"lenet5", Shape{1, 16, 16}, []want{
			{UnitConv2D, "conv1", 0, []int{-1}, []int{20, 12, 12}, ActNone, false, "conv1.out"},
			{UnitMaxPool, "", 1, []int{0}, []int{20, 6, 6}, ActNone, false, "conv1.out"},
			{UnitConv2D, "conv2", 2, []int{1}, []int{50, 2, 2}, ActNone, false, "conv2.out"},
			{UnitMaxPool, "", 3, []int{2}, []int{50, 1, 1}, ActNone, false, "conv2.out"},
			{UnitFlatten, "", 4, []int{3}, []int{50}, ActNone, false, "conv2.out"},
			{UnitLinear, "fc1", 5, []int{4}, []int{500}, ActReLU, false, "fc1.out"},
			{UnitLinear, "fc2", 7, []int{5}, []int{3}, ActNone, false, "fc2.out"},
		}, 7},
		{"resnet8", Shape{1, 8, 8}, []want{
			{UnitConv2D, "conv1", 0, []int{-1}, []int{16, 8, 8}, ActReLU, true, "conv1.out"},
			{UnitConv2D, "layer1.conv1", 4, []int{0}, []int{16, 4, 4}, ActReLU, true, "layer1.conv1.out"},
			{UnitConv2D, "layer1.conv2", 7, []int{1}, []int{16, 4, 4}, ActNone, true, "layer1.conv2.out"},
			{UnitConv2D, "layer1.down", 9, []int{0}, []int{16, 4, 4}, ActNone, true, "layer1.down.out"},
			{UnitAdd, "layer1", 3, []int{2, 3}, []int{16, 4, 4}, ActReLU, false, "layer1.out"},
		}, 15},
		{"mobilenet-tiny", Shape{1, 8, 8}, []want{
			{UnitConv2D, "conv1", 0, []int{-1}, []int{16, 4, 4}, ActReLU6, true, "conv1.out"},
			{UnitConv2D, "block1.dw", 3, []int{0}, []int{16, 4, 4}, ActReLU6, true, "block1.dw.out"},
		}, 9},
	} {
		m, err := New(tc.arch, tc.in, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		lw, err := m.Lower()
		if err != nil {
			t.Fatalf("%s: %v", tc.arch, err)
		}
		if len(lw.Units) != tc.n {
			t.Errorf("%s: %d units, want %d", tc.arch, len(lw.Units), tc.n)
		}
		for i, w := range tc.units {
			u := lw.Units[i]
			got := want{u.Kind, u.Name, u.Layer, u.Inputs, u.Out, u.Act, u.BN != nil, u.OutSlot}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s unit %d: %v, want %v", tc.arch, i, got, w)
			}
		}
		if tc.arch == "mobilenet-tiny" && lw.Units[1].Groups != 16 {
			t.Errorf("mobilenet-tiny: depthwise unit has %d groups", lw.Units[1].Groups)
		}
		checkLowered(t, m, lw)
	}
	for _, arch := range Architectures {
		m, err := New(arch, Shape{3, 16, 16}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		lw, err := m.Lower()
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		checkLowered(t, m, lw)
	}
}

// checkLowered checks the invariants of a model's lowered form.
func checkLowered(t *testing.T, m *Model, lw *Lowered) {
	t.Helper()
	owner := map[string]int{}
	for i, u := range lw.Units {
		for _, j := range u.Inputs {
			if j < -1 || j >= i {
				t.Errorf("%s unit %d (%s) reads unit %d", m.Arch, i, u.Kind, j)
			}
		}
		if (u.Kind == UnitAdd) != (len(u.Inputs) == 2) || len(u.Inputs) == 0 {
			t.Errorf("%s unit %d (%s) reads %v", m.Arch, i, u.Kind, u.Inputs)
		}
		owned := []string{u.WeightSlot, u.BiasSlot}
		if u.OwnsOut() {
			owned = append(owned, u.OutSlot)
		}
		for _, s := range owned {
			if s == "" {
				continue
			}
			if k, dup := owner[s]; dup {
				t.Errorf("%s: slot %s owned by units %d and %d", m.Arch, s, k, i)
			}
			owner[s] = i
		}
		if !u.Kind.Weighted() {
			continue
		}
		w, b := u.Fold()
		wantW, wantB := u.W.Data(), []float32(nil)
		if u.BN != nil {
			// The public fold of the layers, through the lowering's view.
			var conv *Conv2D
			var bn *BatchNorm2D
			walkBN(m.Layers, func(c *Conv2D, n *BatchNorm2D) {
				if c.Name == u.Name {
					conv, bn = c, n
				}
			})
			var err error
			if wantW, wantB, err = FoldBN(conv, bn); err != nil {
				t.Fatal(err)
			}
		} else {
			wantB = u.B.Data()
		}
		if fmt.Sprint(w, b) != fmt.Sprint(wantW, wantB) || len(b) != u.Out[0] {
			t.Errorf("%s: unit %s folds to other values than FoldBN", m.Arch, u.Name)
		}
	}
	for _, s := range m.Slots {
		if _, ok := owner[s.Name]; !ok && s.Name != "input" {
			t.Errorf("%s: slot %s has no unit", m.Arch, s.Name)
		}
	}
	if last := lw.Units[len(lw.Units)-1]; fmt.Sprint(last.Out) != fmt.Sprint([]int{m.Classes}) {
		t.Errorf("%s: the last unit gives %v", m.Arch, last.Out)
	}
}
