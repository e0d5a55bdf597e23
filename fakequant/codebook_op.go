package fakequant

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// NewCodebook adds a codebook node for the weight w, governed by s:
// forward w ↦ ŵ_i = c[g(i)·K + idx_i] (the assignments are fixed, so w
// only gives the shape), backward by s.Estimator, which accumulates
// ∂L/∂c in s (Deep Compression §3) and decides what w receives.
func NewCodebook(w *G.Node, s *CodebookState) (*G.Node, error) {
	return G.ApplyOp(&codebookOp{sameShapeOp: sameShapeOp{1, "Codebook", s.Name, s}, s: s}, w)
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
	dst, in, _, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	return prealloc, op.s.forward(dst, in[0])
}

func (op *codebookOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dw, err := G.ApplyOp(&codebookGradOp{sameShapeOp: sameShapeOp{2, "CodebookGrad", op.s.Name, op.s}, s: op.s}, inputs[0], grad)
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
	dw, in, _, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	op.s.backward(dw, in[1])
	return prealloc, nil
}
