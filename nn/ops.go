package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"slices"
	"sync/atomic"

	"github.com/chewxy/hm"
	"github.com/tinyqat/tinyqat/internal/f32"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fused float ops of Linear and Conv2D: one Gorgonia node for the
// forward pass (GEMM + bias + optional ReLU) and one per gradient, each
// calling the packed SGEMM of internal/f32. Gorgonia stays the graph and
// autodiff engine; these nodes replace its generic Mul/Conv2d/BroadcastAdd
// chains, which spend their time in gonum's unblocked SGEMM, transposes and
// broadcasting iterators.

var opSeq atomic.Uint64

// kop is a float32 Gorgonia op whose behaviour is given by functions.
// Every instance hashes differently, so Gorgonia never merges two of them.
type kop struct {
	name  string
	id    uint64
	dims  []int // dimensions of each input
	out   int   // dimensions of the output
	shape func(in []tensor.Shape) (tensor.Shape, error)
	run   func(out []float32, in [][]float32, shapes []tensor.Shape) error
	// wrt and diff make the op differentiable (nil: not).
	wrt  []bool
	diff func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error)
	// buf is the output tensor, reused from run to run: the tape machine
	// calls Do (not UsePreallocDo) after every Reset, and a fresh tensor per
	// node per step was a tenth of lenet300's step.
	buf *tensor.Dense
	// inShapes are the input shapes buf's shape was inferred from: Do
	// infers it again only when they change. in and shapes are
	// UsePreallocDo's scratch. Inferring the shape, allocating these and
	// reading each input's data through reflection (tensor's Data) cost
	// about a microsecond per op: 0.2 ms of serial work in MNIST
	// resnet8's training step (1% of it on one core, 2% on two).
	inShapes []tensor.Shape
	// outShape is the shape inferred from inShapes: buf is inferred and
	// allocated again if something reshaped it in place since (a reshape
	// op's UnsafeDo), as when every Do allocated it.
	outShape tensor.Shape
	in       [][]float32
	shapes   []tensor.Shape
}

var (
	_ G.SDOp            = (*kop)(nil)
	_ G.UsePreallocDoer = (*kop)(nil)
)

func newOp(name string, dims []int, out int) *kop {
	return &kop{name: name, id: opSeq.Add(1), dims: dims, out: out}
}

func (op *kop) Arity() int { return len(op.dims) }
func (op *kop) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make(hm.Types, 0, len(op.dims)+1)
	for _, d := range op.dims {
		ts = append(ts, G.TensorType{Dims: d, Of: a})
	}
	ts = append(ts, G.TensorType{Dims: op.out, Of: a})
	return hm.NewFnType(ts...)
}
func (op *kop) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("nn: %s: input %d has no shape (%T)", op.name, i, d)
		}
		shapes[i] = s
	}
	return op.shape(shapes)
}
func (op *kop) ReturnsPtr() bool      { return false }
func (op *kop) CallsExtern() bool     { return false }
func (op *kop) OverwritesInput() int  { return -1 }
func (op *kop) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", op.name, op.id) }
func (op *kop) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op *kop) String() string        { return op.name }

func (op *kop) DiffWRT(n int) []bool {
	if op.wrt == nil {
		return make([]bool, n)
	}
	return op.wrt
}

func (op *kop) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.diff == nil {
		return nil, fmt.Errorf("nn: %s is not differentiable", op.name)
	}
	return op.diff(inputs, output, grad)
}

func (op *kop) Do(vals ...G.Value) (G.Value, error) {
	if op.buf == nil || !slices.Equal(op.buf.Shape(), op.outShape) || !op.sameInputs(vals) {
		shapes := make([]G.DimSizer, len(vals))
		for i, v := range vals {
			shapes[i] = v.Shape()
		}
		s, err := op.InferShape(shapes...)
		if err != nil {
			return nil, err
		}
		if op.buf == nil || !slices.Equal(op.buf.Shape(), s) {
			op.buf = tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
		}
		op.outShape = slices.Clone(s)
		op.inShapes = op.inShapes[:0]
		for _, v := range vals {
			op.inShapes = append(op.inShapes, slices.Clone(v.Shape()))
		}
	}
	return op.UsePreallocDo(op.buf, vals...)
}

// sameInputs reports whether vals have the shapes of the last Do's inputs.
func (op *kop) sameInputs(vals []G.Value) bool {
	if len(vals) != len(op.inShapes) {
		return false
	}
	for i, v := range vals {
		if !slices.Equal(v.Shape(), op.inShapes[i]) { // exact: Shape.Eq takes (6) and (1, 6) as equal
			return false
		}
	}
	return true
}

// float32s returns v's elements: a dense float32 tensor's without
// reflection (its Float32s), anything else's through Data.
func float32s(v G.Value) ([]float32, bool) {
	if d, ok := v.(*tensor.Dense); ok && d.Dtype() == tensor.Float32 && !d.IsScalar() {
		return d.Float32s(), true
	}
	d, ok := v.Data().([]float32)
	return d, ok
}

func (op *kop) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	if len(vals) != len(op.dims) {
		return nil, fmt.Errorf("nn: %s takes %d inputs, got %d", op.name, len(op.dims), len(vals))
	}
	in, shapes := op.in[:0], op.shapes[:0]
	for i, v := range vals {
		d, ok := float32s(v)
		if !ok {
			return nil, fmt.Errorf("nn: %s: input %d is %T, want float32", op.name, i, v.Data())
		}
		in, shapes = append(in, d), append(shapes, v.Shape())
	}
	op.in, op.shapes = in, shapes
	out, ok := float32s(prealloc)
	if !ok {
		return nil, fmt.Errorf("nn: %s: output buffer is %T", op.name, prealloc.Data())
	}
	if err := op.run(out, in, shapes); err != nil {
		return nil, err
	}
	return prealloc, nil
}

func fixedShape(s tensor.Shape) func([]tensor.Shape) (tensor.Shape, error) {
	return func([]tensor.Shape) (tensor.Shape, error) { return s.Clone(), nil }
}

// linearNode adds y = x·W + b (ReLU'd if relu) for x (N×In), W (In×Out),
// b (Out). dx is differentiated only if needDX.
func linearNode(name string, x, w, b *G.Node, relu, needDX bool) (*G.Node, error) {
	n, in, out := x.Shape()[0], w.Shape()[0], w.Shape()[1]
	if x.Dims() != 2 || x.Shape()[1] != in || b.Dims() != 1 || b.Shape()[0] != out {
		return nil, fmt.Errorf("linear %s: shapes x %v, W %v, b %v do not fit", name, x.Shape(), w.Shape(), b.Shape())
	}
	op := newOp("Linear{"+name+"}", []int{2, 2, 1}, 2)
	op.shape = fixedShape(tensor.Shape{n, out})
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		xs, ws, bs := v[0], v[1], v[2]
		for i := 0; i < n; i++ {
			copy(y[i*out:(i+1)*out], bs)
		}
		f32.Gemm(false, false, n, out, in, xs, in, ws, out, y, out, true)
		if relu {
			for i, yv := range y {
				// max(yv, 0) by masking the bits: no unpredictable branch;
				// NaN passes, so divergence stays visible.
				keep := -uint32(b2i(!(yv < 0)))
				y[i] = math.Float32frombits(math.Float32bits(yv) & keep)
			}
		}
		return nil
	}
	op.wrt = []bool{needDX, true, true}
	op.diff = func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
		dz := grad
		if relu {
			m := newOp("ReLUGrad{"+name+"}", []int{2, 2}, 2)
			m.shape = fixedShape(tensor.Shape{n, out})
			m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
				ys, g := v[0], v[1][:len(v[0])]
				for i, yv := range ys {
					keep := -uint32(b2i(yv > 0)) // all ones where the ReLU passed
					d[i] = math.Float32frombits(math.Float32bits(g[i]) & keep)
				}
				return nil
			}
			var err error
			if dz, err = G.ApplyOp(m, output, grad); err != nil {
				return nil, err
			}
		}
		var dx *G.Node
		if needDX {
			// dx = dz·Wᵀ, (N×Out)·(Out×In).
			m := newOp("LinearGradX{"+name+"}", []int{2, 2}, 2)
			m.shape = fixedShape(tensor.Shape{n, in})
			m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
				f32.Gemm(false, true, n, in, out, v[0], out, v[1], out, d, in, false)
				return nil
			}
			var err error
			if dx, err = G.ApplyOp(m, dz, inputs[1]); err != nil {
				return nil, err
			}
		}
		// dW = xᵀ·dz, (In×N)·(N×Out).
		mw := newOp("LinearGradW{"+name+"}", []int{2, 2}, 2)
		mw.shape = fixedShape(tensor.Shape{in, out})
		mw.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			f32.Gemm(true, false, in, out, n, v[0], in, v[1], out, d, out, false)
			return nil
		}
		dw, err := G.ApplyOp(mw, inputs[0], dz)
		if err != nil {
			return nil, err
		}
		// db = column sums of dz, rows in order.
		mb := newOp("LinearGradB{"+name+"}", []int{2}, 1)
		mb.shape = fixedShape(tensor.Shape{out})
		mb.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			copy(d, v[0][:out])
			for i := 1; i < n; i++ {
				row := v[0][i*out : (i+1)*out]
				for j, g := range row {
					d[j] += g
				}
			}
			return nil
		}
		db, err := G.ApplyOp(mb, dz)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw, db}, nil
	}
	return G.ApplyOp(op, x, w, b)
}
