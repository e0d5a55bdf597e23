package nn

import (
	"fmt"
	"slices"

	"gorgonia.org/tensor"
)

// Layer is one stage of a sequential model.
type Layer interface {
	// Kind is the layer type: "linear", "conv2d", "maxpool2d", "relu", "flatten".
	Kind() string
	// setup receives the per-sample input shape, creates parameters and
	// returns the per-sample output shape.
	setup(in []int) ([]int, error)
}

// weighted is a layer with a weight and a bias.
type weighted interface {
	Layer
	layerName() string
	params() (w, b *Param)
	fans() (in, out int)
	macs() int
}

// Linear is a fully connected layer, y = x·W + b.
type Linear struct {
	Name    string
	In, Out int
	W, B    *Param
}

func (l *Linear) Kind() string          { return "linear" }
func (l *Linear) layerName() string     { return l.Name }
func (l *Linear) params() (w, b *Param) { return l.W, l.B }
func (l *Linear) fans() (int, int)      { return l.In, l.Out }
func (l *Linear) macs() int             { return l.In * l.Out }

func (l *Linear) setup(in []int) ([]int, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("linear input must be flat, got %v (add a Flatten)", in)
	}
	if l.Out < 1 {
		return nil, fmt.Errorf("linear output size %d", l.Out)
	}
	l.In = in[0]
	l.W = newParam(l.Name+".weight", 1, l.In, l.Out)
	l.B = newParam(l.Name+".bias", -1, l.Out)
	return []int{l.Out}, nil
}

// Conv2D is a 2-D convolution with square kernels, stride S and zero padding P.
type Conv2D struct {
	Name        string
	In, Out     int // channels
	K           int // kernel size
	Stride, Pad int // Stride 0 means 1
	// Groups splits the channels into groups convolved separately; In and
	// Out must be multiples of it. Groups = In = Out is a depthwise
	// convolution. 0 means 1. W is (Out, In/Groups, K, K).
	Groups     int
	inH, inW   int
	outH, outW int
	W, B       *Param
}

func (l *Conv2D) Kind() string          { return "conv2d" }
func (l *Conv2D) layerName() string     { return l.Name }
func (l *Conv2D) params() (w, b *Param) { return l.W, l.B }
func (l *Conv2D) fans() (int, int) {
	return l.In / l.groups() * l.K * l.K, l.Out / l.groups() * l.K * l.K
}
func (l *Conv2D) macs() int { return l.Out * l.outH * l.outW * l.In / l.groups() * l.K * l.K }

func (l *Conv2D) groups() int { return max(l.Groups, 1) }

// OutHW is the spatial size of the output.
func (l *Conv2D) OutHW() (int, int) { return l.outH, l.outW }

func (l *Conv2D) setup(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("conv2d input must be CxHxW, got %v", in)
	}
	if l.Stride == 0 {
		l.Stride = 1
	}
	if l.K < 1 || l.Out < 1 || l.Pad < 0 || l.Stride < 1 || l.Groups < 0 {
		return nil, fmt.Errorf("bad conv2d settings k=%d out=%d pad=%d stride=%d groups=%d", l.K, l.Out, l.Pad, l.Stride, l.Groups)
	}
	l.In, l.inH, l.inW = in[0], in[1], in[2]
	if gr := l.groups(); l.In%gr != 0 || l.Out%gr != 0 {
		return nil, fmt.Errorf("conv2d %s: %d input and %d output channels are not multiples of %d groups", l.Name, l.In, l.Out, gr)
	}
	l.outH = (l.inH+2*l.Pad-l.K)/l.Stride + 1
	l.outW = (l.inW+2*l.Pad-l.K)/l.Stride + 1
	if l.inH+2*l.Pad < l.K || l.inW+2*l.Pad < l.K {
		return nil, fmt.Errorf("input %dx%d smaller than the %dx%d kernel", l.inH, l.inW, l.K, l.K)
	}
	l.W = newParam(l.Name+".weight", 0, l.Out, l.In/l.groups(), l.K, l.K)
	l.B = newParam(l.Name+".bias", -1, l.Out)
	return []int{l.Out, l.outH, l.outW}, nil
}

// MaxPool2D takes the maximum over K×K windows moved by Stride (0 means K).
type MaxPool2D struct {
	K, Stride int
}

func (l *MaxPool2D) Kind() string { return "maxpool2d" }

func (l *MaxPool2D) setup(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("maxpool2d input must be CxHxW, got %v", in)
	}
	if l.Stride == 0 {
		l.Stride = l.K
	}
	if l.K < 1 || l.Stride < 1 || in[1] < l.K || in[2] < l.K {
		return nil, fmt.Errorf("pool %d stride %d on %v", l.K, l.Stride, in)
	}
	return []int{in[0], (in[1]-l.K)/l.Stride + 1, (in[2]-l.K)/l.Stride + 1}, nil
}

// ReLU is max(x, 0).
type ReLU struct{}

func (*ReLU) Kind() string                  { return "relu" }
func (*ReLU) setup(in []int) ([]int, error) { return in, nil }

// Flatten turns (N, C, H, W) into (N, C·H·W).
type Flatten struct{}

func (*Flatten) Kind() string { return "flatten" }

func (*Flatten) setup(in []int) ([]int, error) {
	n := elems(in) // saturates: a size past the limits is refused after setup
	return []int{n}, nil
}

func newParam(name string, axis int, shape ...int) *Param {
	return &Param{Name: name, Axis: axis, Value: tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32))}
}

// ReLU6 is min(max(x, 0), 6) (MobileNet). After a weighted layer (or its
// BatchNorm2D) it is fused into the output slot: Slot.ReLU and Slot.Max = 6.
type ReLU6 struct{}

func (*ReLU6) Kind() string                  { return "relu6" }
func (*ReLU6) setup(in []int) ([]int, error) { return in, nil }

// GlobalAvgPool averages each channel over H×W: (N, C, H, W) → (N, C).
// Its output slot (Name+".out") has MeanOf set: in the integer runtime the
// mean is an exactly rounded integer mean with the input's quantization
// parameters.
type GlobalAvgPool struct{ Name string }

func (l *GlobalAvgPool) Kind() string { return "globalavgpool" }

func (l *GlobalAvgPool) setup(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("globalavgpool input must be CxHxW, got %v", in)
	}
	return []int{in[0]}, nil
}

// Residual is y = Body(x) + Shortcut(x), followed by a ReLU when ReLU is
// set; a nil Shortcut is the identity. Its output slot (Name+".out") has
// Add set to the slots of the two summands.
type Residual struct {
	Name     string
	Body     []Layer
	Shortcut []Layer // nil: identity
	ReLU     bool
}

func (l *Residual) Kind() string { return "residual" }

// setup infers the shapes of both branches (creating their parameters);
// NewSequential wires the branches itself (parameters, slots).
func (l *Residual) setup(in []int) ([]int, error) {
	a, err := setupAll(l.Body, in)
	if err != nil {
		return nil, err
	}
	c, err := setupAll(l.Shortcut, in)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(a, c) {
		return nil, fmt.Errorf("residual %s: body gives %v, shortcut %v", l.Name, a, c)
	}
	return a, nil
}

func setupAll(ls []Layer, in []int) ([]int, error) {
	var err error
	for _, l := range ls {
		if in, err = l.setup(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}
