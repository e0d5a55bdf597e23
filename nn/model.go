package nn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is a named learnable tensor shared by all graphs built from a model.
type Param struct {
	Name  string
	Value *tensor.Dense
	// Axis is the output-channel axis of a weight (-1 for a bias).
	Axis int
}

// Data returns the parameter's float32 backing slice.
func (p *Param) Data() []float32 { return p.Value.Data().([]float32) }

// SlotKind says what a quantizer slot holds.
type SlotKind int

const (
	// Activation is the network input or a layer's output.
	Activation SlotKind = iota
	// Weight is a Linear or Conv2D weight.
	Weight
	// Bias is a bias, quantized to int32 with scale S_in·S_w in the int8 runtime.
	Bias
)

func (k SlotKind) String() string {
	switch k {
	case Activation:
		return "activation"
	case Weight:
		return "weight"
	case Bias:
		return "bias"
	}
	return fmt.Sprintf("SlotKind(%d)", int(k))
}

// Slot is a place in the model where the int8 runtime quantizes a tensor.
type Slot struct {
	Name  string // "input", "fc1.weight", "fc1.bias", "fc1.out"
	Kind  SlotKind
	Layer string // owning layer; "" for the input
	// Axis is the channel axis for per-channel quantization: the output
	// channel of a weight (1 for Linear, 0 for Conv2D), 1 for activations.
	Axis int
	// Channels is the size of the channel axis.
	Channels int
	// For a bias: the slots whose scales multiply to give the bias scale.
	Input, Weight string
	// ReLU is true for an output slot that follows a fused ReLU (its values are ≥ 0).
	ReLU bool
	// Max, if not 0, is an upper clamp fused with the ReLU (6 for ReLU6).
	Max float32
	// Add, for the output of a residual addition, names the slots of the
	// two summands.
	Add [2]string
	// MeanOf, for the output of a global average pool, names its input's
	// slot; the output keeps that slot's quantization parameters.
	MeanOf string
}

// Quantizer is called for each slot while a graph is built. It returns the
// node to use in place of x: x itself for float, or a fake-quant node.
type Quantizer interface {
	Quantize(s *Slot, x *G.Node) (*G.Node, error)
}

// OpQuantizer is implemented by quantizers that simulate the integer
// runtime's additions and means exactly. Without it the builder uses a
// float Add (then ReLU if s.ReLU) or mean and passes the result to
// Quantize.
type OpQuantizer interface {
	// QuantizeAdd returns the node of a + b at slot s (s.Add names the
	// summands' slots), with the ReLU fused when s.ReLU.
	QuantizeAdd(s *Slot, a, b *G.Node) (*G.Node, error)
	// QuantizeMean returns the global average pool (N, C, H, W) → (N, C)
	// of x at slot s (s.MeanOf names x's slot).
	QuantizeMean(s *Slot, x *G.Node) (*G.Node, error)
}

// MaxQuantizer is implemented by quantizers that apply an activation
// slot's Slot.Max themselves: disabled, they output min(x, Max); enabled,
// they quantize x with the integer clamp the runtime uses (for ReLU6,
// q_max replaced by round(6/S) + Z). When ClampsMax reports true the
// builder hands such a slot max(x, 0) instead of min(max(x, 0), 6), so
// the simulation clamps on the integer grid exactly where the runtime
// does even when 6/S is not an integer (learned scales).
type MaxQuantizer interface {
	ClampsMax() bool
}

// MaskQuantizer is implemented by quantizers whose node after a training
// graph's batch normalization fused with its ReLU can leave the mask of
// its backward pass to that node, which applies it in its own passes
// over the gradient instead of the quantizer's separate one.
// QuantizeMasked is Quantize for such an x = min(max(pre, 0), hi); it
// also returns take (nil: the node masks by itself). The normalization's
// backward pass calls take once, after the quantizer node's backward
// pass: (thi, true) means that pass returned ∂L/∂x unmasked and the
// normalization must pass it only where x ≤ thi too (the quantizer's
// mask, over x > 0); false, that it masked it itself. extremes, which
// the quantizer node's forward pass may call once per run, returns x's
// minimum and maximum when the normalization measured them while writing
// x (ok false: it did not, or x is not finite), so that an observer need
// not scan x again.
type MaskQuantizer interface {
	QuantizeMasked(s *Slot, x *G.Node, extremes func(x []float32) (lo, hi float32, ok bool)) (y *G.Node, take func() (thi float32, ok bool), err error)
}

func (b *builder) clampsMax() bool {
	mq, ok := b.q.(MaxQuantizer)
	return ok && mq.ClampsMax()
}

// Shape is the shape of one sample: channels, height, width.
type Shape struct{ C, H, W int }

// Size is C·H·W.
func (s Shape) Size() int { return s.C * s.H * s.W }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.C, s.H, s.W) }

// Model is a sequential network with its parameters.
type Model struct {
	Arch    string
	In      Shape
	Classes int
	Layers  []Layer
	Params  []*Param
	// Buffers are state that is not trained but saved: batch
	// normalization's running statistics.
	Buffers []*Param
	Slots   []*Slot
	// gorgoniaOps builds graphs from Gorgonia's generic operations (Mul,
	// Conv2d, BroadcastAdd, Rectify) instead of the fused Linear and Conv2D
	// nodes on the packed SGEMM: the slow reference path, kept for tests and
	// before/after benchmarks, which set it directly or, from other
	// packages, through internal/nnref.
	gorgoniaOps bool
	// InputGrad makes built graphs differentiable with respect to the
	// input X (adversarial attacks need it). Off, the first weighted layer
	// skips its input gradient, which no training step uses.
	InputGrad bool

	bnFrozen bool
	// acts is ActivationElems, summed as NewSequential wires the layers.
	acts int
}

// Architectures lists the model names that New accepts.
var Architectures = []string{"lenet300", "lenet5", "resnet8", "mobilenet-tiny", "resnet8-mlperf", "resnet20"}

// New builds the named architecture (one of Architectures) for inputs of
// the given shape (C, H, W: grey or RGB) and class count, with weights
// initialised from seed. It returns an error for an unknown name or an
// input too small for the architecture. The CIFAR-10 models are
// resnet8-mlperf (ResNet8MLPerf) and resnet20 (ResNet20).
func New(arch string, in Shape, classes int, seed uint64) (*Model, error) {
	if in.C < 1 || in.H < 1 || in.W < 1 || classes < 2 {
		return nil, fmt.Errorf("nn: bad input shape %v or class count %d", in, classes)
	}
	var layers []Layer
	switch arch {
	case "lenet300":
		// LeNet-300-100 (LeCun et al. 1998; Han et al., Deep Compression, 2016).
		layers = []Layer{
			&Flatten{},
			&Linear{Name: "fc1", Out: 300}, &ReLU{},
			&Linear{Name: "fc2", Out: 100}, &ReLU{},
			&Linear{Name: "fc3", Out: classes},
		}
	case "lenet5":
		// Caffe's LeNet (examples/mnist/lenet_train_test.prototxt): no
		// non-linearity after the convolutions, ReLU after ip1.
		layers = []Layer{
			&Conv2D{Name: "conv1", Out: 20, K: 5}, &MaxPool2D{K: 2, Stride: 2},
			&Conv2D{Name: "conv2", Out: 50, K: 5}, &MaxPool2D{K: 2, Stride: 2},
			&Flatten{},
			&Linear{Name: "fc1", Out: 500}, &ReLU{},
			&Linear{Name: "fc2", Out: classes},
		}
	case "resnet8":
		layers = ResNet8(classes)
	case "mobilenet-tiny":
		layers = MobileNetTiny(classes)
	case "resnet8-mlperf":
		layers = ResNet8MLPerf(classes)
	case "resnet20":
		layers = ResNet20(classes)
	default:
		return nil, fmt.Errorf("nn: unknown model %q (known: %v)", arch, Architectures)
	}
	return NewSequential(arch, in, classes, layers, seed)
}

// NewSequential wires layers into a model: it infers every layer's input
// shape, creates and initialises parameters, and lays out quantizer slots.
// The last layer must produce classes outputs.
//
// Layers fuse as the integer runtime runs them: a Linear or Conv2D takes
// a directly following BatchNorm2D (Conv2D only: folded, see FoldBN) and
// then a ReLU or ReLU6 into one weighted layer with one output slot. A
// Residual wires its Body and Shortcut the same way, each starting from
// the block's input.
//
// NewSequential fills in the layer values it is given (shapes, parameters),
// so they belong to the model it returns: a weighted layer or batch norm
// that already belongs to another model is refused. Stateless layers
// (ReLU, Flatten, pooling) may be shared.
func NewSequential(arch string, in Shape, classes int, layers []Layer, seed uint64) (*Model, error) {
	if in.C < 1 || in.H < 1 || in.W < 1 || classes < 2 {
		return nil, fmt.Errorf("nn: bad input shape %v or class count %d", in, classes)
	}
	if arch == "" {
		return nil, errors.New("nn: NewSequential needs an architecture name (it names the model in checkpoints, reports and errors)")
	}
	if n := elems([]int{in.C, in.H, in.W}); n > maxActivation {
		return nil, fmt.Errorf("nn: %s: input %v has more than %d values", arch, in, maxActivation)
	}
	// Every stateful layer is checked before any is filled in, and a call
	// that fails puts back what it filled in: the layers are then as the
	// caller gave them, free for a corrected call.
	restore, err := claim(arch, layers)
	if err != nil {
		return nil, err
	}
	m, err := newSequential(arch, in, classes, layers, seed)
	if err == nil {
		err = m.CheckLowering()
	}
	if err != nil {
		restore()
		return nil, err
	}
	return m, nil
}

func newSequential(arch string, in Shape, classes int, layers []Layer, seed uint64) (*Model, error) {
	m := &Model{Arch: arch, In: in, Classes: classes, Layers: layers, acts: in.C * in.H * in.W}
	rng := rand.New(rand.NewPCG(seed, 0x6e6e5f696e6974))
	m.Slots = append(m.Slots, &Slot{Name: "input", Kind: Activation, Axis: 1, Channels: in.C})
	shape, _, err := m.wire(arch, "", layers, []int{in.C, in.H, in.W}, "input", rng)
	if err != nil {
		return nil, err
	}
	if len(shape) != 1 || shape[0] != classes {
		return nil, fmt.Errorf("nn: %s ends with shape %v, want [%d] (the class count)", arch, shape, classes)
	}
	seen := map[string]bool{}
	for _, p := range append(append([]*Param(nil), m.Params...), m.Buffers...) {
		if seen[p.Name] {
			return nil, fmt.Errorf("nn: %s: two parameters named %q (give every layer a distinct Name)", arch, p.Name)
		}
		seen[p.Name] = true
	}
	seen = map[string]bool{}
	for _, s := range m.Slots {
		if seen[s.Name] {
			return nil, fmt.Errorf("nn: %s: two quantizer slots named %q (give every layer a distinct Name)", arch, s.Name)
		}
		seen[s.Name] = true
	}
	return m, nil
}

// claim refuses layers (at any depth of residual blocks) whose parameters
// an earlier NewSequential has filled in — they belong to that model, and
// wiring them again would swap its parameters silently — and returns a
// function that clears what wiring fills in (parameters, a batch norm's
// channel count as given). It also refuses what no later step could
// walk: a nil or typed-nil layer, a residual block inside itself (or
// given twice), blocks nested deeper than a spec may nest them.
func claim(arch string, layers []Layer) (restore func(), err error) {
	const owned = "already belongs to a model (NewSequential fills in the layer values it is given: build new ones for each model)"
	var lins []*Linear
	var convs []*Conv2D
	var bns []*BatchNorm2D
	var bnC []int
	open := map[*Residual]bool{} // blocks being walked
	seen := map[*Residual]bool{} // blocks walked
	var walk func(ls []Layer, path string, depth int) error
	walk = func(ls []Layer, path string, depth int) error {
		if depth > specMaxDepth {
			return fmt.Errorf("nn: %s: layers %s: residual blocks nested deeper than %d", arch, path, specMaxDepth)
		}
		for i, l := range ls {
			if isNil(l) {
				return fmt.Errorf("nn: %s layer %s%d is nil", arch, path, i)
			}
			v := view(l)
			switch {
			case v.lin != nil:
				if v.lin.W != nil {
					return fmt.Errorf("nn: %s: %s %s", arch, v.lin.Name, owned)
				}
				lins = append(lins, v.lin)
			case v.conv != nil:
				if v.conv.W != nil {
					return fmt.Errorf("nn: %s: %s %s", arch, v.conv.Name, owned)
				}
				convs = append(convs, v.conv)
			case v.bn != nil:
				if v.bn.Gamma != nil {
					return fmt.Errorf("nn: %s: batchnorm2d %s %s", arch, v.bn.Name, owned)
				}
				bns = append(bns, v.bn)
				bnC = append(bnC, v.bn.C)
			case v.res != nil:
				l := v.res
				if open[l] {
					return fmt.Errorf("nn: %s layer %s%d (residual): residual %s contains itself", arch, path, i, l.Name)
				}
				if seen[l] {
					return fmt.Errorf("nn: %s layer %s%d (residual): residual %s appears twice (NewSequential fills in the layer values it is given: build a new block for each place)", arch, path, i, l.Name)
				}
				open[l], seen[l] = true, true
				if err := walk(l.Body, path+l.Name+".body.", depth+1); err != nil {
					return err
				}
				if err := walk(l.Shortcut, path+l.Name+".shortcut.", depth+1); err != nil {
					return err
				}
				delete(open, l)
			}
		}
		return nil
	}
	if err := walk(layers, "", 0); err != nil {
		return nil, err
	}
	return func() {
		for _, l := range lins {
			if l != nil {
				l.W, l.B = nil, nil
			}
		}
		for _, l := range convs {
			if l != nil {
				l.W, l.B = nil, nil
			}
		}
		for i, l := range bns {
			if l != nil {
				l.Gamma, l.Beta, l.Mean, l.Var, l.C = nil, nil, nil, nil, bnC[i]
			}
		}
	}, nil
}

// unowned refuses a weighted layer or batch norm that this call has
// already filled in: the same value given twice in one layer list
// (claim has refused those of earlier models).
func unowned(g group) error {
	if l := g.v.weighted(); l != nil {
		if w, _ := l.params(); w != nil {
			return fmt.Errorf("%s already belongs to a model (NewSequential fills in the layer values it is given: build new ones for each model)", l.layerName())
		}
	}
	if g.bn != nil && g.bn.Gamma != nil {
		return fmt.Errorf("batchnorm2d %s already belongs to a model (NewSequential fills in the layer values it is given: build new ones for each model)", g.bn.Name)
	}
	return nil
}

// elems is the product of dims, saturated at maxModelParams+1 (the sizes
// here are bounded by the checks that use it).
func elems(dims ...[]int) int {
	n := 1
	for _, ds := range dims {
		for _, d := range ds {
			if d <= 0 {
				return 0
			}
			if n > (maxModelParams+1)/d {
				return maxModelParams + 1
			}
			n *= d
		}
	}
	return n
}

// wire sets up layers (path names the enclosing blocks, for errors) from
// the per-sample shape and the slot that holds their input; it returns
// the output shape and slot.
func (m *Model) wire(arch, path string, layers []Layer, shape []int, last string, rng *rand.Rand) ([]int, string, error) {
	for _, u := range fuse(layers) {
		i := u.idx
		if isNil(u.l) {
			return nil, "", fmt.Errorf("nn: %s layer %s%d is nil", arch, path, i)
		}
		where := fmt.Sprintf("nn: %s layer %s%d (%s)", arch, path, i, u.l.Kind())
		if l := u.v.res; l != nil {
			if l.Name == "" {
				return nil, "", fmt.Errorf("%s: a residual needs a Name", where)
			}
			if len(l.Body) == 0 {
				return nil, "", fmt.Errorf("%s: residual %s has an empty body", where, l.Name)
			}
			a, aSlot, err := m.wire(arch, path+l.Name+".body.", l.Body, shape, last, rng)
			if err != nil {
				return nil, "", err
			}
			c, cSlot := shape, last
			if len(l.Shortcut) > 0 {
				if c, cSlot, err = m.wire(arch, path+l.Name+".shortcut.", l.Shortcut, shape, last, rng); err != nil {
					return nil, "", err
				}
			}
			if !slices.Equal(a, c) {
				return nil, "", fmt.Errorf("%s: residual %s: body gives %v, shortcut %v", where, l.Name, a, c)
			}
			if aSlot == last {
				return nil, "", fmt.Errorf("%s: residual %s: the body has no weighted layer", where, l.Name)
			}
			m.Slots = append(m.Slots, &Slot{Name: l.Name + ".out", Kind: Activation, Layer: l.Name, Axis: 1,
				Channels: a[0], ReLU: l.ReLU, Add: [2]string{aSlot, cSlot}})
			shape, last = a, l.Name+".out"
			m.acts += elems(a)
			continue
		}
		if l := u.v.bn; l != nil {
			return nil, "", fmt.Errorf("%s: batchnorm2d %s must directly follow a conv2d (it is folded into it)", where, l.Name)
		}
		if err := unowned(u); err != nil {
			return nil, "", fmt.Errorf("%s: %v", where, err)
		}
		if n := weightElems(u.v, shape); n > maxModelParams-m.NumParams() {
			return nil, "", fmt.Errorf("%s: the model would have more than %d parameters", where, maxModelParams)
		}
		out, err := u.l.setup(shape)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %v", where, err)
		}
		if size := elems(out); size > maxActivation {
			return nil, "", fmt.Errorf("%s: output of %v (%d values per sample, more than %d)", where, out, size, maxActivation)
		}
		if l := u.v.weighted(); l != nil {
			name := l.layerName()
			if name == "" {
				return nil, "", fmt.Errorf("%s: a weighted layer needs a Name", where)
			}
			w, b := l.params()
			fanIn, fanOut := l.fans()
			initWeight(w, fanIn, fanOut, u.act != ActNone || u.bn != nil, rng)
			m.Params = append(m.Params, w)
			if u.bn != nil {
				if u.bn.Name == "" {
					return nil, "", fmt.Errorf("%s: batchnorm2d after %s needs a Name", where, name)
				}
				if _, err := u.bn.setup(out); err != nil {
					return nil, "", fmt.Errorf("%s: %v", where, err)
				}
				u.v.conv.B = nil // the folded bias replaces it
				m.Params = append(m.Params, u.bn.Gamma, u.bn.Beta)
				m.Buffers = append(m.Buffers, u.bn.Mean, u.bn.Var)
			} else {
				m.Params = append(m.Params, b)
			}
			ch := w.Value.Shape()[w.Axis]
			m.Slots = append(m.Slots,
				&Slot{Name: w.Name, Kind: Weight, Layer: name, Axis: w.Axis, Channels: ch},
				&Slot{Name: name + ".bias", Kind: Bias, Layer: name, Axis: 0, Channels: ch, Input: last, Weight: w.Name},
				&Slot{Name: name + ".out", Kind: Activation, Layer: name, Axis: 1, Channels: out[0], ReLU: u.act != ActNone, Max: u.act.Max()},
			)
			last = name + ".out"
		} else if l := u.v.gap; l != nil {
			if l.Name == "" {
				return nil, "", fmt.Errorf("%s: a globalavgpool needs a Name", where)
			}
			m.Slots = append(m.Slots, &Slot{Name: l.Name + ".out", Kind: Activation, Layer: l.Name, Axis: 1, Channels: out[0], MeanOf: last})
			last = l.Name + ".out"
		}
		shape = out
		m.acts += elems(out)
	}
	return shape, last, nil
}

// ActivationElems is the number of values one sample's forward pass
// holds: the input and the output of every fused layer (a residual's
// body, shortcut and sum each), summed. A training step keeps them all,
// and their gradients, for each sample of its batch.
func (m *Model) ActivationElems() int { return m.acts }

// Slot returns the slot of the given name, or nil.
func (m *Model) Slot(name string) *Slot {
	for _, s := range m.Slots {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Param returns the parameter of the given name, or nil.
func (m *Model) Param(name string) *Param {
	for _, p := range m.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// NumParams is the total number of parameter elements.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += p.Value.Size()
	}
	return n
}

// MACs is the number of multiply-accumulates of one forward pass of one sample.
// Batch normalization (folded), additions and means are not counted.
func (m *Model) MACs() int { return macs(m.Layers) }

func initWeight(p *Param, fanIn, fanOut int, relu bool, rng *rand.Rand) {
	d := p.Data()
	if relu {
		std := math.Sqrt(2 / float64(fanIn))
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
		return
	}
	lim := math.Sqrt(6 / float64(fanIn+fanOut))
	for i := range d {
		d[i] = float32((2*rng.Float64() - 1) * lim)
	}
}

// Buffer returns the buffer of the given name, or nil.
func (m *Model) Buffer(name string) *Param {
	for _, p := range m.Buffers {
		if p.Name == name {
			return p
		}
	}
	return nil
}
