package nn

// Layers of modern networks (ResNets, MobileNets): batch normalization
// folded into the convolution before it, residual blocks, global average
// pooling, ReLU6 and grouped (depthwise) convolutions (Conv2D.Groups).
// Their float ops are in modern_ops.go; the math is in the package doc.

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
)

// BatchNorm2D normalizes each channel of an (N, C, H, W) activation:
//
//	y = γ·(x − μ)/sqrt(σ² + ε) + β
//
// with the batch's statistics in training graphs (BuildTrain, BN not
// frozen), updating the running statistics, and with the running
// statistics otherwise. A BatchNorm2D must directly follow a Conv2D: it is
// folded into it (FoldBN), so the convolution's weight slot quantizes the
// folded weights γ/σ·W and its bias slot the folded bias; the Conv2D
// followed by a BatchNorm2D has no bias parameter of its own.
type BatchNorm2D struct {
	Name     string
	Eps      float32 // 0 means 1e-5 (bnOf)
	Momentum float32 // running-statistics momentum; 0 means 0.1
	C        int
	// Gamma and Beta are trained (Model.Params); Mean and Var are the
	// running statistics (Model.Buffers), saved in checkpoints.
	Gamma, Beta *Param
	Mean, Var   *Param
}

func (l *BatchNorm2D) Kind() string { return "batchnorm2d" }

func (l *BatchNorm2D) setup(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("batchnorm2d input must be CxHxW, got %v", in)
	}
	if l.C != 0 && l.C != in[0] {
		return nil, fmt.Errorf("batchnorm2d %s has C=%d, its input %d channels", l.Name, l.C, in[0])
	}
	if !(l.Eps >= 0 && l.Eps < 1) || !(l.Momentum >= 0 && l.Momentum <= 1) {
		return nil, fmt.Errorf("batchnorm2d %s: eps %v or momentum %v out of range", l.Name, l.Eps, l.Momentum)
	}
	l.C = in[0]
	l.Gamma = newParam(l.Name+".gamma", -1, l.C)
	l.Beta = newParam(l.Name+".beta", -1, l.C)
	l.Mean = newParam(l.Name+".running_mean", -1, l.C)
	l.Var = newParam(l.Name+".running_var", -1, l.C)
	for i := range l.C {
		l.Gamma.Data()[i], l.Var.Data()[i] = 1, 1
	}
	return in, nil
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

func (b *builder) clampsMax() bool {
	mq, ok := b.q.(MaxQuantizer)
	return ok && mq.ClampsMax()
}

// FoldBN returns the folded weights (in the Conv2D's layout) and bias of
// a convolution followed by batch normalization with running statistics:
//
//	s[c] = γ[c] / sqrt(var[c] + ε)
//	W'[c] = s[c]·W[c],   b'[c] = β[c] − s[c]·μ[c]
//
// These are, bit for bit, the float32 values the graph feeds to the
// convolution's weight and bias slots when BN uses running statistics, so
// export quantizes exactly what the simulation quantized.
//
// conv and bn must be a wired pair (bn following conv in a model);
// otherwise FoldBN panics.
func FoldBN(conv *Conv2D, bn *BatchNorm2D) (w, b []float32) {
	if conv.W == nil || bn.Gamma == nil || conv.Out != bn.C {
		panic(fmt.Sprintf("nn: FoldBN of %s and %s: not a wired conv2d and its batchnorm2d", conv.Name, bn.Name))
	}
	return foldBN(conv.W, bnOf(bn))
}

// BuildTrain is Build for a training step: batch normalization uses the
// batch's statistics and updates the running ones (unless frozen).
func (m *Model) BuildTrain(batch int, q Quantizer) (*Net, error) { return m.build(batch, q, true) }

// SetBNFrozen freezes (true) or unfreezes batch-normalization statistics:
// frozen, training graphs use the running statistics (the folded form the
// runtime runs) and stop updating them. Graphs already built follow.
func (m *Model) SetBNFrozen(frozen bool) { m.bnFrozen = frozen }

// BNFrozen reports whether batch-normalization statistics are frozen.
func (m *Model) BNFrozen() bool { return m.bnFrozen }
