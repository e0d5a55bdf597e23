package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
)

func TestArchitectures(t *testing.T) {
	tests := []struct {
		arch   string
		in     Shape
		params int
		slots  []string
	}{
		// 784·300+300 + 300·100+100 + 100·10+10 (LeNet-300-100).
		{"lenet300", Shape{1, 28, 28}, 266610, []string{"input",
			"fc1.weight", "fc1.bias", "fc1.out", "fc2.weight", "fc2.bias", "fc2.out", "fc3.weight", "fc3.bias", "fc3.out"}},
		// conv1 20·25+20, conv2 50·20·25+50, fc1 800·500+500, fc2 500·10+10 (Caffe LeNet).
		{"lenet5", Shape{1, 28, 28}, 520 + 25050 + 400500 + 5010, []string{"input",
			"conv1.weight", "conv1.bias", "conv1.out", "conv2.weight", "conv2.bias", "conv2.out",
			"fc1.weight", "fc1.bias", "fc1.out", "fc2.weight", "fc2.bias", "fc2.out"}},
		// Convolutions (no bias) + BN γ, β: stem 16·9 + 32; per stage of
		// C channels from C_in: 3×3 C·C_in·9 + 3×3 C·C·9 + 1×1 C·C_in + 3
		// BNs of 2C; fc 64·10+10.
		{"resnet8", Shape{1, 28, 28}, 16*9 + 32 +
			(16*16*9 + 16*16*9 + 16*16 + 6*16) +
			(32*16*9 + 32*32*9 + 32*16 + 6*32) +
			(64*32*9 + 64*64*9 + 64*32 + 6*64) + 650, nil},
	}
	for _, tc := range tests {
		m, err := New(tc.arch, tc.in, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		if m.NumParams() != tc.params {
			t.Errorf("%s: %d parameters, want %d", tc.arch, m.NumParams(), tc.params)
		}
		var names []string
		for _, s := range m.Slots {
			names = append(names, s.Name)
		}
		if tc.slots != nil && !slices.Equal(names, tc.slots) {
			t.Errorf("%s: slots %v", tc.arch, names)
		}
	}
	m, _ := New("lenet300", Shape{1, 28, 28}, 10, 1)
	if s := m.Slot("fc1.out"); !s.ReLU || s.Channels != 300 {
		t.Errorf("fc1.out: %+v", s)
	}
	if s := m.Slot("fc3.out"); s.ReLU {
		t.Error("logits marked as ReLU output")
	}
	if s := m.Slot("fc2.bias"); s.Input != "fc1.out" || s.Weight != "fc2.weight" {
		t.Errorf("fc2.bias: %+v", s)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New("resnet", Shape{1, 28, 28}, 10, 1); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Error(err)
	}
	// lenet5 needs at least 16×16 inputs: 8×8 leaves nothing for conv2.
	if _, err := New("lenet5", Shape{1, 8, 8}, 10, 1); err == nil {
		t.Error("lenet5 on 8×8 accepted")
	}
	if _, err := New("lenet300", Shape{1, 28, 28}, 1, 1); err == nil {
		t.Error("one class accepted")
	}
	// Other sizes and class counts work.
	if m, err := New("lenet5", Shape{3, 32, 32}, 7, 1); err != nil || m.Classes != 7 {
		t.Error(err)
	}
}

// refForward is the plain-Go reference twin of a float forward pass, layer
// by layer with float64 accumulation.
func refForward(m *Model, x []float32, n int) []float32 {
	out, _, _, _ := refLayers(m.Layers, append([]float32(nil), x...), n, m.In.C, m.In.H, m.In.W)
	return out
}

// refLayers runs layers on n samples of c×h×w; batch normalization uses
// the running statistics.
func refLayers(layers []Layer, cur []float32, n, c, h, w int) ([]float32, int, int, int) {
	for _, l := range layers {
		switch l := l.(type) {
		case *ReLU6:
			for i, v := range cur {
				cur[i] = min(max(v, 0), 6)
			}
		case *BatchNorm2D:
			for i, v := range cur {
				o := i / (h * w) % c
				cur[i] = float32(float64(l.Gamma.Data()[o])*(float64(v)-float64(l.Mean.Data()[o]))/
					math.Sqrt(float64(l.Var.Data()[o])+float64(bnOf(l).Eps)) + float64(l.Beta.Data()[o]))
			}
		case *GlobalAvgPool:
			out := make([]float32, n*c)
			for p := range out {
				var s float64
				for _, v := range cur[p*h*w:][:h*w] {
					s += float64(v)
				}
				out[p] = float32(s / float64(h*w))
			}
			cur, h, w = out, 1, 1
		case *Residual:
			a, c2, h2, w2 := refLayers(l.Body, append([]float32(nil), cur...), n, c, h, w)
			b := cur
			if len(l.Shortcut) > 0 {
				b, _, _, _ = refLayers(l.Shortcut, append([]float32(nil), cur...), n, c, h, w)
			}
			for i := range a {
				a[i] += b[i]
				if l.ReLU {
					a[i] = max(a[i], 0)
				}
			}
			cur, c, h, w = a, c2, h2, w2
		case *Flatten:
			c, h, w = c*h*w, 1, 1
		case *ReLU:
			for i, v := range cur {
				cur[i] = max(v, 0)
			}
		case *Linear:
			W, B := l.W.Data(), l.B.Data()
			out := make([]float32, n*l.Out)
			for s := 0; s < n; s++ {
				for o := 0; o < l.Out; o++ {
					acc := float64(B[o])
					for i := 0; i < l.In; i++ {
						acc += float64(cur[s*l.In+i]) * float64(W[i*l.Out+o])
					}
					out[s*l.Out+o] = float32(acc)
				}
			}
			cur, c, h, w = out, l.Out, 1, 1
		case *Conv2D:
			W := l.W.Data()
			B := make([]float32, l.Out) // none when a BatchNorm2D follows
			if l.B != nil {
				B = l.B.Data()
			}
			oh, ow := l.OutHW()
			out := make([]float32, n*l.Out*oh*ow)
			cin := l.In / l.groups()
			for s := 0; s < n; s++ {
				for o := 0; o < l.Out; o++ {
					g := o / (l.Out / l.groups()) // group of output channel o
					for y := 0; y < oh; y++ {
						for xx := 0; xx < ow; xx++ {
							acc := float64(B[o])
							for ci := 0; ci < cin; ci++ {
								for ky := 0; ky < l.K; ky++ {
									for kx := 0; kx < l.K; kx++ {
										iy, ix := y*l.Stride+ky-l.Pad, xx*l.Stride+kx-l.Pad
										if iy < 0 || ix < 0 || iy >= h || ix >= w {
											continue
										}
										acc += float64(cur[((s*c+g*cin+ci)*h+iy)*w+ix]) * float64(W[((o*cin+ci)*l.K+ky)*l.K+kx])
									}
								}
							}
							out[((s*l.Out+o)*oh+y)*ow+xx] = float32(acc)
						}
					}
				}
			}
			cur, c, h, w = out, l.Out, oh, ow
		case *MaxPool2D:
			oh, ow := (h-l.K)/l.Stride+1, (w-l.K)/l.Stride+1
			out := make([]float32, n*c*oh*ow)
			for s := 0; s < n*c; s++ {
				for y := 0; y < oh; y++ {
					for xx := 0; xx < ow; xx++ {
						best := float32(math.Inf(-1))
						for ky := 0; ky < l.K; ky++ {
							for kx := 0; kx < l.K; kx++ {
								best = max(best, cur[(s*h+y*l.Stride+ky)*w+xx*l.Stride+kx])
							}
						}
						out[(s*oh+y)*ow+xx] = best
					}
				}
			}
			cur, h, w = out, oh, ow
		}
	}
	return cur, c, h, w
}

func TestForwardMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, arch := range Architectures {
		m, err := New(arch, Shape{1, 28, 28}, 10, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m.Params { // non-zero biases exercise the broadcasts
			if p.Axis < 0 {
				for i := range p.Data() {
					p.Data()[i] = float32(rng.NormFloat64() * 0.1)
				}
			}
		}
		perturb(m, rng) // batch normalization: γ, β and running statistics
		n := 3
		x := make([]float32, n*784)
		for i := range x {
			x[i] = float32(rng.Float64())
		}
		pred := NewPredictor(m, nil)
		got := make([]float32, n*10)
		if err := pred.Logits(got, x, n); err != nil {
			t.Fatal(err)
		}
		want := refForward(m, x, n)
		// float32 sums of up to 800 terms in another order: relative 1e-4 of the logit scale.
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%s: logit %d = %v, reference %v", arch, i, got[i], want[i])
			}
		}
		pred.Close()
	}
}

type recorder struct{ names []string }

func (r *recorder) Quantize(s *Slot, x *G.Node) (*G.Node, error) {
	r.names = append(r.names, s.Name)
	return x, nil
}

func TestQuantizerSeesEverySlotInOrder(t *testing.T) {
	m, _ := New("lenet300", Shape{1, 28, 28}, 10, 1)
	r := &recorder{}
	if _, err := m.Build(2, r); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range m.Slots {
		want = append(want, s.Name)
	}
	if !slices.Equal(r.names, want) {
		t.Fatalf("visited %v, want %v", r.names, want)
	}
}

func TestSeedDeterminesInit(t *testing.T) {
	a, _ := New("lenet300", Shape{1, 28, 28}, 10, 5)
	b, _ := New("lenet300", Shape{1, 28, 28}, 10, 5)
	c, _ := New("lenet300", Shape{1, 28, 28}, 10, 6)
	if !slices.Equal(a.Params[0].Data(), b.Params[0].Data()) || slices.Equal(a.Params[0].Data(), c.Params[0].Data()) {
		t.Fatal("initialisation is not a function of the seed")
	}
	// He init: std of fc1.weight ≈ √(2/784) = 0.0505.
	var ss float64
	d := a.Params[0].Data()
	for _, v := range d {
		ss += float64(v) * float64(v)
	}
	if std := math.Sqrt(ss / float64(len(d))); math.Abs(std-0.0505) > 0.002 {
		t.Fatalf("fc1 std %v", std)
	}
}

// ActivationElems sums the input and every fused layer's output:
// lenet300 holds 784 (input) + 784 (flatten) + 300 + 100 + 10 values per
// image, resnet8 counts each block's body, shortcut and sum.
func TestActivationElems(t *testing.T) {
	for _, c := range []struct {
		arch string
		want int
	}{{"lenet300", 784 + 784 + 300 + 100 + 10}, {"resnet8", 36314}} {
		m, err := New(c.arch, Shape{C: 1, H: 28, W: 28}, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.ActivationElems(); got != c.want {
			t.Errorf("%s: %d activation values per image, want %d", c.arch, got, c.want)
		}
	}
}
