package nn

import (
	"fmt"

	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opQuant records the OpQuantizer calls and does the float operations.
type opQuant struct {
	adds, means []string
}

func (q *opQuant) Quantize(s *Slot, x *G.Node) (*G.Node, error) { return x, nil }
func (q *opQuant) QuantizeAdd(s *Slot, a, b *G.Node) (*G.Node, error) {
	q.adds = append(q.adds, fmt.Sprintf("%s=%s+%s", s.Name, s.Add[0], s.Add[1]))
	return addNode(s.Name, a, b, s.ReLU)
}
func (q *opQuant) QuantizeMean(s *Slot, x *G.Node) (*G.Node, error) {
	q.means = append(q.means, s.Name+"="+s.MeanOf)
	return gapNode(s.Name, x)
}

func TestOpQuantizerHooks(t *testing.T) {
	m := newSmall(t, true, 1)
	q := &opQuant{}
	if _, err := m.Build(2, q); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(q.adds, q.means); got != "[r1.out=c2.out+c3.out r2.out=c4.out+r1.out] [gap.out=r2.out]" {
		t.Fatal(got)
	}
	if s := m.Slot("c1.out"); !s.ReLU || s.Max != 6 {
		t.Errorf("c1.out: %+v", s)
	}
	if s := m.Slot("c2.bias"); s.Input != "c1.out" || s.Weight != "c2.weight" {
		t.Errorf("c2.bias: %+v", s)
	}
	if s := m.Slot("c3.bias"); s.Input != "c1.out" {
		t.Errorf("shortcut bias reads %q, want the block input c1.out", s.Input)
	}
	if m.Param("c1.bias") != nil || m.Param("bn1.gamma") == nil || m.Buffer("bn1.running_var") == nil {
		t.Error("conv+BN parameters: want no conv bias, γ and β params, running stats buffers")
	}
}

// TestSlotsVisitedInOrder: eval and training graphs of the new
// architectures consult the quantizer at every slot, in Model.Slots order
// (a quantizer may rely on a bias slot coming after its input and weight).
func TestSlotsVisitedInOrder(t *testing.T) {
	for _, arch := range []string{"resnet8", "mobilenet-tiny"} {
		m, err := New(arch, Shape{1, 28, 28}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range m.Slots {
			want = append(want, s.Name)
		}
		for _, train := range []bool{false, true} {
			r := &recorder{}
			build := m.Build
			if train {
				build = m.BuildTrain
			}
			if _, err := build(2, r); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.names) != fmt.Sprint(want) {
				t.Errorf("%s train=%v: visited %v, want %v", arch, train, r.names, want)
			}
		}
	}
}

// maxQuant is an identity quantizer that says whether it applies Slot.Max.
type maxQuant struct{ clamps bool }

func (q maxQuant) Quantize(s *Slot, x *G.Node) (*G.Node, error) { return x, nil }
func (q maxQuant) ClampsMax() bool                              { return q.clamps }

// TestReLU6LeftToAMaxQuantizer: a ReLU6 output slot receives min(max(x,
// 0), 6) from the builder, unless the quantizer clamps at Max itself
// (nn.MaxQuantizer), which then receives max(x, 0).
func TestReLU6LeftToAMaxQuantizer(t *testing.T) {
	layers := []Layer{&Conv2D{Name: "c", Out: 2, K: 1}, &ReLU6{}, &Flatten{}, &Linear{Name: "f", Out: 2}}
	m, err := NewSequential("relu6", Shape{C: 1, H: 2, W: 2}, 2, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Weights 10 and −10, bias 0: inputs in [0, 1] reach 10 in one channel.
	copy(m.Param("c.weight").Data(), []float32{10, -10})
	x := []float32{0.1, 0.5, 0.9, 1}
	for _, tc := range []struct {
		q        Quantizer
		min, max float32
	}{
		{nil, 0, 6}, {maxQuant{false}, 0, 6}, {maxQuant{true}, 0, 10},
	} {
		net, err := m.Build(1, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(net.G)
		if err := G.Let(net.X, tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking(append([]float32(nil), x...)))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		out := net.Nodes["c.out"].Value().Data().([]float32)
		lo, hi := out[0], out[0]
		for _, v := range out {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != tc.min || hi != tc.max {
			t.Errorf("quantizer %#v: c.out in [%v, %v], want [%v, %v]", tc.q, lo, hi, tc.min, tc.max)
		}
		vm.Close()
	}
}
