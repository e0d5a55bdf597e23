package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// poolGeom is a max pooling of N·C planes of H×W by K×K windows moved by S.
type poolGeom struct{ planes, h, w, k, s, oh, ow int }

// argmax returns the index in plane of the largest value of window (oh, ow):
// the first in row-major order among equals, or the first NaN.
func (g *poolGeom) argmax(plane []float32, oh, ow int) int {
	i0 := oh*g.s*g.w + ow*g.s
	best, bv := i0, plane[i0]
	if bv != bv {
		return best
	}
	for i := 0; i < g.k; i++ {
		row := plane[i0+i*g.w:][:g.k]
		for j, v := range row {
			if v > bv || v != v {
				best, bv = i0+i*g.w+j, v
				if v != v {
					return best
				}
			}
		}
	}
	return best
}

func (g *poolGeom) forward(y, x []float32) {
	hw, ohw := g.h*g.w, g.oh*g.ow
	for p := 0; p < g.planes; p++ {
		plane := x[p*hw:][:hw]
		out := y[p*ohw:][:ohw]
		if g.k == 2 && g.s == 2 {
			for oh := 0; oh < g.oh; oh++ {
				r0 := plane[2*oh*g.w:][:2*g.ow]
				r1 := plane[(2*oh+1)*g.w:][:2*g.ow]
				o := out[oh*g.ow:][:g.ow]
				for ow := range o {
					a, b, c, d := r0[2*ow], r0[2*ow+1], r1[2*ow], r1[2*ow+1]
					m := a
					if b > m || b != b {
						m = b
					}
					if c > m || c != c {
						m = c
					}
					if d > m || d != d {
						m = d
					}
					if a != a {
						m = a
					}
					o[ow] = m
				}
			}
			continue
		}
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				out[oh*g.ow+ow] = plane[g.argmax(plane, oh, ow)]
			}
		}
	}
}

// backward routes each output gradient to its window's argmax.
func (g *poolGeom) backward(dx, x, dy []float32) {
	clear(dx)
	hw, ohw := g.h*g.w, g.oh*g.ow
	for p := 0; p < g.planes; p++ {
		plane := x[p*hw:][:hw]
		d := dx[p*hw:][:hw]
		gy := dy[p*ohw:][:ohw]
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				d[g.argmax(plane, oh, ow)] += gy[oh*g.ow+ow]
			}
		}
	}
}

// poolNode adds max pooling of x (N,C,H,W) by k×k windows with stride s.
func poolNode(x *G.Node, k, s int) (*G.Node, error) {
	xs := x.Shape()
	if x.Dims() != 4 || xs[2] < k || xs[3] < k {
		return nil, fmt.Errorf("maxpool2d: input %v too small for %d×%d windows", xs, k, k)
	}
	g := poolGeom{planes: xs[0] * xs[1], h: xs[2], w: xs[3], k: k, s: s}
	g.oh, g.ow = (g.h-k)/s+1, (g.w-k)/s+1
	op := newOp(fmt.Sprintf("MaxPool%dx%d/%d", k, k, s), []int{4}, 4)
	op.shape = fixedShape(tensor.Shape{xs[0], xs[1], g.oh, g.ow})
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error { g.forward(y, v[0]); return nil }
	op.wrt = []bool{true}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		m := newOp(fmt.Sprintf("MaxPoolGrad%dx%d/%d", k, k, s), []int{4, 4}, 4)
		m.shape = fixedShape(xs.Clone())
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { g.backward(d, v[0], v[1]); return nil }
		dx, err := G.ApplyOp(m, inputs[0], grad)
		return G.Nodes{dx}, err
	}
	return G.ApplyOp(op, x)
}
