package cluster

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// NewCodebook adds a codebook node for the weight w, governed by s:
// forward w ↦ ŵ_i = c[g(i)·K + idx_i] (the assignments are fixed, so w
// only gives the shape), backward by s.Estimator, which accumulates
// ∂L/∂c in s (Deep Compression §3) and decides what w receives.
func NewCodebook(w *G.Node, s *CodebookState) (*G.Node, error) {
	return G.ApplyOp(&codebookOp{sameShapeOp: sameShapeOp{1, "Codebook", s}, s: s}, w)
}

type codebookOp struct {
	sameShapeOp
	s *CodebookState
}

var (
	_ G.SDOp            = (*codebookOp)(nil)
	_ G.UsePreallocDoer = (*codebookOp)(nil)
	_ G.UsePreallocDoer = (*codebookGradOp)(nil)
)

func (op *codebookOp) DiffWRT(int) []bool { return []bool{true} }

func (op *codebookOp) Do(vals ...G.Value) (G.Value, error) {
	w, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	return op.UsePreallocDo(tensor.New(tensor.WithShape(w.Shape().Clone()...), tensor.Of(tensor.Float32)), vals...)
}

// UsePreallocDo is the forward pass: look every index up in its table.
func (op *codebookOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dst, in, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	return prealloc, op.s.forward(dst, in[0])
}

func (op *codebookOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dw, err := G.ApplyOp(&codebookGradOp{sameShapeOp: sameShapeOp{2, "CodebookGrad", op.s}, s: op.s}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dw}, nil
}

// codebookGradOp maps (w, ∂L/∂ŵ) to ∂L/∂w and, as a side effect, adds
// ∂L/∂c into the state: the backward pass.
type codebookGradOp struct {
	sameShapeOp
	s *CodebookState
}

func (op *codebookGradOp) Do(vals ...G.Value) (G.Value, error) {
	w, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	return op.UsePreallocDo(tensor.New(tensor.WithShape(w.Shape().Clone()...), tensor.Of(tensor.Float32)), vals...)
}

func (op *codebookGradOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dw, in, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	op.s.backward(dw, in[1])
	return prealloc, nil
}

// operands returns the float32 data of an op's output prealloc and of its
// inputs vals.
func operands(name string, prealloc G.Value, vals ...G.Value) (dst []float32, in [2][]float32, err error) {
	for i, v := range vals {
		t, err := f32Tensor(v, name)
		if err != nil {
			return nil, in, err
		}
		in[i] = t.Data().([]float32)
	}
	dst, ok := prealloc.Data().([]float32)
	if !ok {
		return nil, in, fmt.Errorf("cluster: %s: preallocated value is %T", name, prealloc.Data())
	}
	return dst, in, nil
}

func f32Tensor(v G.Value, name string) (tensor.Tensor, error) {
	t, ok := v.(tensor.Tensor)
	if !ok || t.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("cluster: %s: want a float32 tensor, got %T", name, v)
	}
	return t, nil
}

// sameShapeOp is the Gorgonia boilerplate of the codebook ops: arity
// inputs of one type and shape, and an output of the same. Gorgonia
// merges nodes whose hashes are equal, so the hash holds the state's
// address: two slots never share a node.
type sameShapeOp struct {
	arity int
	kind  string // "Codebook" or "CodebookGrad"
	s     *CodebookState
}

func (o sameShapeOp) Arity() int { return o.arity }
func (o sameShapeOp) Type() hm.Type {
	ts := make([]hm.Type, o.arity+1)
	for i := range ts {
		ts[i] = hm.TypeVariable('a')
	}
	return hm.NewFnType(ts...)
}
func (o sameShapeOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (o sameShapeOp) ReturnsPtr() bool      { return false }
func (o sameShapeOp) CallsExtern() bool     { return false }
func (o sameShapeOp) OverwritesInput() int  { return -1 }
func (o sameShapeOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s{%s,%p}", o.kind, o.s.Name, o.s) }
func (o sameShapeOp) Hashcode() uint32      { h := fnv.New32a(); o.WriteHash(h); return h.Sum32() }
func (o sameShapeOp) String() string        { return o.kind + "{" + o.s.Name + "}" }
