package fakequant

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync"

	"github.com/chewxy/hm"
	"github.com/tinyqat/tinyqat/quant"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// New adds a fake-quant node for x, governed by s, to x's graph:
// forward r ↦ S·(clip(round(r/S)+Z) − Z), backward by s.Estimator. A
// nil state, or one without an estimator, is an error.
func New(x *G.Node, s *State) (*G.Node, error) {
	if s == nil {
		return nil, fmt.Errorf("fakequant: New with a nil state")
	}
	if s.Estimator == nil {
		return nil, fmt.Errorf("fakequant: state %s has no estimator", s.Name)
	}
	return G.ApplyOp(&fakeQuantOp{sameShapeOp: sameShapeOp{1, "FakeQuant", s.Name, s}, s: s}, x)
}

// NewMasked is New for an x whose producer applies the gradient mask of
// a ReLU after it (it passes ∂L/∂x only where x > 0) and can apply an
// upper bound with it in the same pass: a batch normalization fused with
// its ReLU (nn). The node's backward pass then leaves its own mask to the
// producer when that mask is one interval [tlo, thi] of x with every
// positive x above tlo: it returns ∂L/∂r̂ unmasked and hands thi over.
// take, which the producer's backward pass calls once, after this node's,
// returns (thi, true) when the handover happened (the producer must then
// pass the gradient only where x ≤ thi too) and false when the node
// masked the gradient itself. Over x > 0 the two give the same bits:
// the gradient where tlo ≤ x ≤ thi, +0 elsewhere.
//
// extremes, if not nil, returns x's minimum and maximum (both finite,
// ok true) when its producer measured them while writing x, for the
// observer (ExtremesObserver) to record without its own pass over x.
func NewMasked(x *G.Node, s *State, extremes func(x []float32) (lo, hi float32, ok bool)) (*G.Node, func() (thi float32, ok bool), error) {
	if s == nil {
		return nil, nil, fmt.Errorf("fakequant: NewMasked with a nil state")
	}
	if s.Estimator == nil {
		return nil, nil, fmt.Errorf("fakequant: state %s has no estimator", s.Name)
	}
	op := &fakeQuantOp{sameShapeOp: sameShapeOp{1, "FakeQuant", s.Name, s}, s: s, masked: true, extremes: extremes}
	n, err := G.ApplyOp(op, x)
	if err != nil {
		return nil, nil, err
	}
	return n, op.takeMask, nil
}

// fakeQuantOp is the forward node. buf is its output tensor, reused from
// run to run: the tape machine calls Do (not UsePreallocDo) after every
// Reset, and a fresh weight-sized tensor per node per step (allocated,
// zeroed, collected) cost more than the fake quantization itself. Each
// node of each graph has its own op, and a graph's outputs are read (or
// copied) before it runs again, as nn's fused ops assume.
//
// pass, passX and passN record the last forward pass's report: the
// parameters with which it clipped no element of its input (nil if it
// clipped one), and that input's first element and length. The gradient
// op takes the report once, for the same input, so the clipped
// straight-through estimator can copy the gradient instead of masking it.
type fakeQuantOp struct {
	sameShapeOp
	s   *State
	buf *tensor.Dense

	mu    sync.Mutex
	pass  *quant.Params
	passX *float32
	passN int

	// masked: x's producer applies the mask of the backward pass when it
	// can (NewMasked); the gradient op records whether it left it in
	// maskSet, maskOK and maskHi, which takeMask hands over once.
	masked          bool
	maskSet, maskOK bool
	maskHi          float32
	// extremes returns the input's extremes when its producer measured
	// them (NewMasked).
	extremes func(x []float32) (lo, hi float32, ok bool)
}

// setMask records the gradient op's decision: it left the mask x ≤ thi
// (ok) to the producer, or masked itself.
func (op *fakeQuantOp) setMask(thi float32, ok bool) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.maskSet, op.maskOK, op.maskHi = true, ok, thi
}

// takeMask returns and clears the gradient op's decision (NewMasked's
// take). Called with no decision recorded (the producer's backward pass
// before this node's), it panics: the gradient would be wrong.
func (op *fakeQuantOp) takeMask() (thi float32, ok bool) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if !op.maskSet {
		panic("fakequant: " + op.s.Name + ": the mask taken before the gradient op ran")
	}
	op.maskSet = false
	return op.maskHi, op.maskOK
}

// setPass records a forward pass's report on x.
func (op *fakeQuantOp) setPass(p *quant.Params, x []float32) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.pass, op.passX, op.passN = p, nil, len(x)
	if p != nil && len(x) > 0 {
		op.passX = &x[0]
	} else {
		op.pass = nil
	}
}

// takePass returns the recorded report if it was made on x, and clears
// it: a report is used by one backward pass at most.
func (op *fakeQuantOp) takePass(x []float32) *quant.Params {
	op.mu.Lock()
	defer op.mu.Unlock()
	p, px, n := op.pass, op.passX, op.passN
	op.pass, op.passX = nil, nil
	if p == nil || len(x) == 0 || &x[0] != px || len(x) != n {
		return nil
	}
	return p
}

var (
	_ G.SDOp            = (*fakeQuantOp)(nil)
	_ G.UsePreallocDoer = (*fakeQuantOp)(nil)
)

func (op *fakeQuantOp) DiffWRT(int) []bool { return []bool{true} }

func (op *fakeQuantOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	op.buf = reuse(op.buf, x.Shape())
	return op.UsePreallocDo(op.buf, vals...)
}

func (op *fakeQuantOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dst, in, shape, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	p, err := op.s.forwardPassExt(dst, in[0], shape, op.extremes)
	op.setPass(p, in[0])
	if err != nil {
		return nil, err
	}
	return prealloc, nil
}

func (op *fakeQuantOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&fakeQuantGradOp{sameShapeOp: sameShapeOp{2, "FakeQuantGrad", op.s.Name, op.s}, s: op.s, fwd: op, dy: grad}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// fakeQuantGradOp maps (x, ∂L/∂r̂) to ∂L/∂x through the state's
// estimator; buf is reused like fakeQuantOp's. fwd is the forward op,
// whose report on the same input lets a clipped estimator copy.
//
// dy is the node ∂L/∂r̂. When the estimator passes it unchanged, the op
// returns its value instead of a copy, if that is safe (ownsGrad).
type fakeQuantGradOp struct {
	sameShapeOp
	s   *State
	buf *tensor.Dense
	fwd *fakeQuantOp
	dy  *G.Node

	// owns caches ownsGrad's answer for a graph of ownsN nodes.
	owns   bool
	ownsN  int
	ownsMu sync.Mutex
}

var _ G.UsePreallocDoer = (*fakeQuantGradOp)(nil)

func (op *fakeQuantGradOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	op.buf = reuse(op.buf, x.Shape())
	return op.UsePreallocDo(op.buf, vals...)
}

func (op *fakeQuantGradOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dx, in, shape, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	var unclipped *quant.Params
	if op.fwd != nil {
		unclipped = op.fwd.takePass(in[0])
		if op.fwd.masked {
			thi, ok := op.s.fusedMask(unclipped)
			op.fwd.setMask(thi, ok)
			if ok {
				// The producer masks: ∂L/∂r̂ unchanged.
				if op.ownsGrad() {
					return vals[1], nil
				}
				copy(dx, in[1])
				return prealloc, nil
			}
		}
	}
	if op.s.Max == 0 && op.s.passesThrough(unclipped) && op.ownsGrad() {
		// ∂L/∂x is ∂L/∂r̂ bit for bit: the value itself, not a copy.
		return vals[1], nil
	}
	op.s.backwardPass(dx, in[1], in[0], shape, unclipped)
	return prealloc, nil
}

// ReturnsPtr is true: the output may be the input ∂L/∂r̂ itself (when
// the estimator passes it unchanged).
func (op *fakeQuantGradOp) ReturnsPtr() bool { return true }

// ownsGrad reports whether this op may return ∂L/∂r̂'s value as its own:
// whether it is the only reader of the node ∂L/∂r̂, and that node's op
// owns its value (an op's output, not an input's, and not one that may
// point into another value, ReturnsPtr). The tape machine (Gorgonia
// v0.9.18) gives every node a fresh register, written once per run,
// except an op that overwrites an input (Gorgonia's own arithmetic, such
// as the sum of a node's gradients) and may take over the register of an
// input no later instruction reads. ∂x's readers may do that to this
// op's output, which then changes ∂L/∂r̂'s value too: harmless when this
// op was ∂L/∂r̂'s only reader and nothing else shares the value. (nn's
// residual addition passes one gradient node to both summands: there the
// op copies.)
//
// The answer is kept while the graph has the same number of nodes (a
// reader added to ∂L/∂r̂ is a node added).
func (op *fakeQuantGradOp) ownsGrad() bool {
	dy := op.dy
	if dy == nil || dy.Op() == nil || dy.Op().ReturnsPtr() || dy.Graph() == nil {
		return false
	}
	g := dy.Graph()
	op.ownsMu.Lock()
	defer op.ownsMu.Unlock()
	if n := len(g.AllNodes()); n != op.ownsN {
		op.owns, op.ownsN = g.To(dy.ID()).Len() == 1, n
	}
	return op.owns
}

// reuse returns buf if it has the given shape, else a new float32 tensor.
func reuse(buf *tensor.Dense, shape tensor.Shape) *tensor.Dense {
	if buf == nil || !buf.Shape().Eq(shape) {
		buf = tensor.New(tensor.WithShape(shape.Clone()...), tensor.Of(tensor.Float32))
	}
	return buf
}

// operands returns the float32 data of an op's output prealloc and of its
// (at most three) inputs vals, with the shape of the first input: the
// checks every UsePreallocDo of this package makes.
func operands(name string, prealloc G.Value, vals ...G.Value) (dst []float32, in [3][]float32, shape tensor.Shape, err error) {
	for i, v := range vals {
		t, err := f32Tensor(v, name)
		if err != nil {
			return nil, in, nil, err
		}
		in[i] = t.Data().([]float32)
		if i == 0 {
			shape = t.Shape()
		}
	}
	dst, ok := prealloc.Data().([]float32)
	if !ok {
		return nil, in, nil, fmt.Errorf("fakequant: %s: preallocated value is %T", name, prealloc.Data())
	}
	return dst, in, shape, nil
}

func f32Tensor(v G.Value, name string) (tensor.Tensor, error) {
	t, ok := v.(tensor.Tensor)
	if !ok || t.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("fakequant: %s: want a float32 tensor, got %T", name, v)
	}
	return t, nil
}

// sameShapeOp is the Gorgonia boilerplate of fakequant's ops: arity
// inputs of one type and shape, and an output of the same. Gorgonia merges
// nodes whose hashes are equal, so the hash holds the state's address:
// two slots never share a node.
type sameShapeOp struct {
	arity int
	kind  string // "FakeQuant", "CodebookGrad", …
	name  string // the state's name
	state any    // the state, by address
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
func (o sameShapeOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s{%s,%p}", o.kind, o.name, o.state) }
func (o sameShapeOp) Hashcode() uint32      { h := fnv.New32a(); o.WriteHash(h); return h.Sum32() }
func (o sameShapeOp) String() string        { return o.kind + "{" + o.name + "}" }
