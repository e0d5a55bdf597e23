package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
)

// The float elementwise ops: ReLU/ReLU6 clamps and the residual addition.

// actNode adds max(x, 0), or min(max(x, 0), hi) when hi > 0 (ReLU6: hi = 6).
func actNode(name string, x *G.Node, hi float32) (*G.Node, error) {
	xs := x.Shape().Clone()
	op := newOp("Act{"+name+"}", []int{x.Dims()}, x.Dims())
	op.shape = fixedShape(xs)
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		chunks(len(y), func(i0, i1 int) { clampActs(y[i0:i1], v[0][i0:i1], hi) })
		return nil
	}
	op.wrt = []bool{true}
	op.diff = func(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
		m := newOp("ActGrad{"+name+"}", []int{x.Dims(), x.Dims()}, x.Dims())
		m.shape = fixedShape(xs)
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			chunks(len(d), func(i0, i1 int) { actGrad(d[i0:i1], v[0][i0:i1], v[1][i0:i1], hi) })
			return nil
		}
		dx, err := G.ApplyOp(m, output, grad)
		return G.Nodes{dx}, err
	}
	return G.ApplyOp(op, x)
}

// chunks runs f on [0, n) split over cores in blocks of 4096 elements.
func chunks(n int, f func(i0, i1 int)) {
	const block = 4096
	par.For((n+block-1)/block, block, func(b0, b1 int) { f(b0*block, min(b1*block, n)) })
}

// clampActs sets y to max(x, 0), then min(·, hi) if hi > 0. Go's float
// min and max are branch-free and pass NaN, so divergence stays visible.
func clampActs(y, x []float32, hi float32) {
	y = y[:len(x)]
	if hi <= 0 {
		for i, v := range x {
			y[i] = max(v, 0)
		}
		return
	}
	for i, v := range x {
		y[i] = min(max(v, 0), hi)
	}
}

// actGrad passes g where the activation's output y is strictly inside
// (0, hi) (or > 0 without hi), 16 lanes a step (f32.ReLUGrad).
func actGrad(d, y, g []float32, hi float32) {
	if hi <= 0 {
		hi = float32(math.Inf(1))
	}
	f32.ReLUGrad(d[:len(y)], y, g, hi)
}

// addNode adds a + b, then max(·, 0) if relu: the float residual addition.
func addNode(name string, a, b *G.Node, relu bool) (*G.Node, error) {
	as := a.Shape().Clone()
	if !as.Eq(b.Shape()) {
		return nil, fmt.Errorf("residual %s: summands of shapes %v and %v", name, as, b.Shape())
	}
	op := newOp("Add{"+name+"}", []int{a.Dims(), a.Dims()}, a.Dims())
	op.shape = fixedShape(as)
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		chunks(len(y), func(i0, i1 int) { addActs(y[i0:i1], v[0][i0:i1], v[1][i0:i1], relu) })
		return nil
	}
	op.wrt = []bool{true, true}
	op.diff = func(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
		if !relu {
			return G.Nodes{grad, grad}, nil
		}
		m := newOp("AddGrad{"+name+"}", []int{a.Dims(), a.Dims()}, a.Dims())
		m.shape = fixedShape(as)
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			chunks(len(d), func(i0, i1 int) { actGrad(d[i0:i1], v[0][i0:i1], v[1][i0:i1], 0) })
			return nil
		}
		d, err := G.ApplyOp(m, output, grad)
		return G.Nodes{d, d}, err
	}
	return G.ApplyOp(op, a, b)
}

// addActs sets y = a + b, then max(·, 0) if relu (f32.AddReLU, 16 lanes
// a step, Go's max: NaN passes).
func addActs(y, a, b []float32, relu bool) {
	a, b = a[:len(y)], b[:len(y)]
	if !relu {
		for i := range y {
			y[i] = a[i] + b[i]
		}
		return
	}
	f32.AddReLU(y, a, b)
}
