package nn

// Layers of modern networks (ResNets, MobileNets): batch normalization
// folded into the convolution before it, residual blocks, global average
// pooling, ReLU6 and grouped (depthwise) convolutions (Conv2D.Groups).
//
// API CONTRACT (skeleton written by the lead; the nn helper replaces the
// bodies, keeps the exported names and meanings, and may add more).

import (
	"errors"

	G "gorgonia.org/gorgonia"
)

var errTODO = errors.New("nn: not implemented yet")

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
	Eps      float32 // 0 means 1e-5
	Momentum float32 // running-statistics momentum; 0 means 0.1
	C        int
	// Gamma and Beta are trained (Model.Params); Mean and Var are the
	// running statistics (Model.Buffers), saved in checkpoints.
	Gamma, Beta *Param
	Mean, Var   *Param
}

func (l *BatchNorm2D) Kind() string                                   { return "batchnorm2d" }
func (l *BatchNorm2D) setup(in []int) ([]int, error)                  { return nil, errTODO }
func (l *BatchNorm2D) forward(x *G.Node, b *builder) (*G.Node, error) { return nil, errTODO }

// ReLU6 is min(max(x, 0), 6) (MobileNet). After a weighted layer (or its
// BatchNorm2D) it is fused into the output slot: Slot.ReLU and Slot.Max = 6.
type ReLU6 struct{}

func (*ReLU6) Kind() string                                   { return "relu6" }
func (*ReLU6) setup(in []int) ([]int, error)                  { return nil, errTODO }
func (*ReLU6) forward(x *G.Node, _ *builder) (*G.Node, error) { return nil, errTODO }

// GlobalAvgPool averages each channel over H×W: (N, C, H, W) → (N, C).
// Its output slot (Name+".out") has MeanOf set: in the integer runtime the
// mean is an exactly rounded integer mean with the input's quantization
// parameters.
type GlobalAvgPool struct{ Name string }

func (l *GlobalAvgPool) Kind() string                                   { return "globalavgpool" }
func (l *GlobalAvgPool) setup(in []int) ([]int, error)                  { return nil, errTODO }
func (l *GlobalAvgPool) forward(x *G.Node, b *builder) (*G.Node, error) { return nil, errTODO }

// Residual is y = Body(x) + Shortcut(x), followed by a ReLU when ReLU is
// set; a nil Shortcut is the identity. Its output slot (Name+".out") has
// Add set to the slots of the two summands.
type Residual struct {
	Name     string
	Body     []Layer
	Shortcut []Layer // nil: identity
	ReLU     bool
}

func (l *Residual) Kind() string                                   { return "residual" }
func (l *Residual) setup(in []int) ([]int, error)                  { return nil, errTODO }
func (l *Residual) forward(x *G.Node, b *builder) (*G.Node, error) { return nil, errTODO }

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

// FoldBN returns the folded weights (in the Conv2D's layout) and bias of
// a convolution followed by batch normalization with running statistics:
//
//	s[c] = γ[c] / sqrt(var[c] + ε)
//	W'[c] = s[c]·W[c],   b'[c] = β[c] − s[c]·μ[c]
//
// These are, bit for bit, the float32 values the graph feeds to the
// convolution's weight and bias slots when BN uses running statistics, so
// export quantizes exactly what the simulation quantized.
func FoldBN(conv *Conv2D, bn *BatchNorm2D) (w, b []float32) { panic("nn: FoldBN not implemented yet") }

// BuildTrain is Build for a training step: batch normalization uses the
// batch's statistics and updates the running ones (unless frozen).
func (m *Model) BuildTrain(batch int, q Quantizer) (*Net, error) { return m.Build(batch, q) }

// SetBNFrozen freezes (true) or unfreezes batch-normalization statistics:
// frozen, training graphs use the running statistics (the folded form the
// runtime runs) and stop updating them. Graphs already built follow.
func (m *Model) SetBNFrozen(frozen bool) { m.bnFrozen = frozen }

// BNFrozen reports whether batch-normalization statistics are frozen.
func (m *Model) BNFrozen() bool { return m.bnFrozen }

// Spec returns the model's architecture (input shape, classes, layers with
// their settings, no parameter values) as JSON; FromSpec rebuilds it.
// Checkpoints store it, so any network built from these layers can be
// reloaded without code.
func (m *Model) Spec() ([]byte, error) { return nil, errTODO }

// FromSpec builds the model described by Spec's JSON, with weights
// initialised from seed.
func FromSpec(data []byte, seed uint64) (*Model, error) { return nil, errTODO }
