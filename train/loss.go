package train

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy adds the mean softmax cross-entropy of logits (N, K)
// against one-hot (or soft) targets (N, K) whose rows sum to 1 to the graph:
//
//	L = −(1/N) Σ_n Σ_k y_nk · log softmax(z_n)_k
//	log softmax(z)_k = z_k − m − log Σ_j exp(z_j − m),  m = max_j z_j
//
// Subtracting the row maximum keeps exp from overflowing, so the loss is
// finite for any finite logits. The gradient is the fused
//
//	∂L/∂z_nk = (softmax(z_n)_k − y_nk) / N
//
// computed in one pass by a second op, as in micrograd-style fused losses.
func SoftmaxCrossEntropy(logits, targets *G.Node) (*G.Node, error) {
	if !logits.Shape().Eq(targets.Shape()) || logits.Dims() != 2 {
		return nil, fmt.Errorf("train: logits %v and targets %v must be equal 2-D shapes", logits.Shape(), targets.Shape())
	}
	return G.ApplyOp(xentOp{}, logits, targets)
}

type xentOp struct{}

var _ G.SDOp = xentOp{}

func (xentOp) Arity() int { return 2 }
func (xentOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a)
}
func (xentOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (xentOp) ReturnsPtr() bool                               { return false }
func (xentOp) CallsExtern() bool                              { return false }
func (xentOp) OverwritesInput() int                           { return -1 }
func (op xentOp) WriteHash(h hash.Hash)                       { fmt.Fprint(h, op.String()) }
func (op xentOp) Hashcode() uint32                            { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (xentOp) String() string                                 { return "SoftmaxXent" }
func (xentOp) DiffWRT(int) []bool                             { return []bool{true, false} }

func (xentOp) Do(vals ...G.Value) (G.Value, error) {
	z, y, n, k, err := xentInputs(vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	var total float64
	for i := 0; i < n; i++ {
		zr, yr := z[i*k:(i+1)*k], y[i*k:(i+1)*k]
		m, lse := logSumExp(zr)
		for j, t := range yr {
			if t != 0 {
				total -= float64(t) * (float64(zr[j]) - m - lse)
			}
		}
	}
	return G.NewF32(float32(total / float64(n))), nil
}

// logSumExp returns m = max z and log Σ exp(z − m), in float64.
func logSumExp(z []float32) (m, lse float64) {
	m = math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	return m, math.Log(s)
}

func xentInputs(a, b G.Value) (z, y []float32, n, k int, err error) {
	zt, ok1 := a.(tensor.Tensor)
	yt, ok2 := b.(tensor.Tensor)
	if !ok1 || !ok2 {
		return nil, nil, 0, 0, fmt.Errorf("train: cross-entropy wants tensors, got %T and %T", a, b)
	}
	z, ok1 = zt.Data().([]float32)
	y, ok2 = yt.Data().([]float32)
	if !ok1 || !ok2 {
		return nil, nil, 0, 0, fmt.Errorf("train: cross-entropy wants float32 tensors")
	}
	s := zt.Shape()
	return z, y, s[0], s[1], nil
}

func (xentOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dz, err := G.ApplyOp(xentGradOp{}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dz, nil}, nil
}

// xentGradOp computes g·(softmax(z) − y)/N from (z, y, g).
type xentGradOp struct{}

func (xentGradOp) Arity() int { return 3 }
func (xentGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a, t)
}
func (xentGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (xentGradOp) ReturnsPtr() bool         { return false }
func (xentGradOp) CallsExtern() bool        { return false }
func (xentGradOp) OverwritesInput() int     { return -1 }
func (op xentGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op xentGradOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (xentGradOp) String() string           { return "SoftmaxXentGrad" }

func (xentGradOp) Do(vals ...G.Value) (G.Value, error) {
	z, y, n, k, err := xentInputs(vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	var g float32
	switch v := vals[2].(type) {
	case *G.F32:
		g = float32(*v)
	case tensor.Tensor:
		g = v.Data().([]float32)[0]
	default:
		return nil, fmt.Errorf("train: cross-entropy gradient: unexpected %T", vals[2])
	}
	out := tensor.New(tensor.WithShape(n, k), tensor.Of(tensor.Float32))
	d := out.Data().([]float32)
	scale := float64(g) / float64(n)
	for i := 0; i < n; i++ {
		zr := z[i*k : (i+1)*k]
		m, lse := logSumExp(zr)
		for j := range zr {
			p := math.Exp(float64(zr[j]) - m - lse)
			d[i*k+j] = float32((p - float64(y[i*k+j])) * scale)
		}
	}
	return out, nil
}
