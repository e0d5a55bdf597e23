package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tinyqat/tinyqat/internal/par"
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

// b2i is 1 for true, 0 for false.
func b2i(b bool) int32 {
	var i int32
	if b {
		i = 1
	}
	return i
}

// forward sets y to the window maxima and idx to their positions in x.
func (g *poolGeom) forward(y []float32, idx []int32, x []float32) {
	hw, ohw := g.h*g.w, g.oh*g.ow
	par.For(g.planes, hw, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			plane := x[p*hw:][:hw]
			out := y[p*ohw:][:ohw]
			ix := idx[p*ohw:][:ohw]
			base := int32(p * hw)
			if g.k == 2 && g.s == 2 {
				for oh := 0; oh < g.oh; oh++ {
					r0 := plane[2*oh*g.w:][:2*g.ow]
					r1 := plane[(2*oh+1)*g.w:][:2*g.ow]
					o := out[oh*g.ow:][:g.ow]
					io := ix[oh*g.ow:][:g.ow]
					for ow := range o {
						a, b, c, d := r0[2*ow], r0[2*ow+1], r1[2*ow], r1[2*ow+1]
						if a != a || b != b || c != c || d != d {
							// A NaN (rare): argmax's rule, the first NaN.
							at := g.argmax(plane, oh, ow)
							o[ow], io[ow] = plane[at], base+int32(at)
							continue
						}
						// Pairwise winners by 0/1 flags (set-on-compare, no
						// unpredictable branches); strict > keeps the first of
						// equals, as argmax does.
						i01, i23 := b2i(b > a), b2i(d > c)
						at01, at23 := int32(2*ow)+i01, int32(g.w+2*ow)+i23
						sel := b2i(r1[2*ow+int(i23)] > r0[2*ow+int(i01)])
						at := at01 + sel*(at23-at01)
						at += int32(2 * oh * g.w)
						o[ow], io[ow] = plane[at], base+at
					}
				}
				continue
			}
			for oh := 0; oh < g.oh; oh++ {
				for ow := 0; ow < g.ow; ow++ {
					i := g.argmax(plane, oh, ow)
					out[oh*g.ow+ow] = plane[i]
					ix[oh*g.ow+ow] = base + int32(i)
				}
			}
		}
	})
}

// backward routes each output gradient to its window's argmax.
func (g *poolGeom) backward(dx []float32, idx []int32, dy []float32) {
	hw, ohw := g.h*g.w, g.oh*g.ow
	par.For(g.planes, hw, func(p0, p1 int) {
		clear(dx[p0*hw : p1*hw])
		ix := idx[p0*ohw : p1*ohw]
		for o, v := range dy[p0*ohw : p1*ohw] {
			dx[ix[o]] += v
		}
	})
}

// pool is a max-pooling node; the forward pass records the argmax of each
// window for the backward pass (recomputed if the input changed).
type pool struct {
	g     poolGeom
	idx   []int32
	idxOf *float32
}

// poolNode adds max pooling of x (N,C,H,W) by k×k windows with stride s.
func poolNode(x *G.Node, k, s int) (*G.Node, error) {
	xs := x.Shape()
	if x.Dims() != 4 || xs[2] < k || xs[3] < k {
		return nil, fmt.Errorf("maxpool2d: input %v too small for %d×%d windows", xs, k, k)
	}
	g := poolGeom{planes: xs[0] * xs[1], h: xs[2], w: xs[3], k: k, s: s}
	g.oh, g.ow = (g.h-k)/s+1, (g.w-k)/s+1
	pl := &pool{g: g, idx: make([]int32, g.planes*g.oh*g.ow)}
	op := newOp(fmt.Sprintf("MaxPool%dx%d/%d", k, k, s), []int{4}, 4)
	op.shape = fixedShape(tensor.Shape{xs[0], xs[1], g.oh, g.ow})
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		pl.g.forward(y, pl.idx, v[0])
		pl.idxOf = &v[0][0]
		return nil
	}
	op.wrt = []bool{true}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		m := newOp(fmt.Sprintf("MaxPoolGrad%dx%d/%d", k, k, s), []int{4, 4}, 4)
		m.shape = fixedShape(xs.Clone())
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			if pl.idxOf != &v[0][0] {
				pl.g.forward(make([]float32, len(pl.idx)), pl.idx, v[0])
				pl.idxOf = &v[0][0]
			}
			pl.g.backward(d, pl.idx, v[1])
			return nil
		}
		dx, err := G.ApplyOp(m, inputs[0], grad)
		return G.Nodes{dx}, err
	}
	return G.ApplyOp(op, x)
}

// gapNode adds the global average pool (N, C, H, W) → (N, C): each mean is
// summed in float64 and rounded once; dx = dy/(H·W) everywhere.
func gapNode(name string, x *G.Node) (*G.Node, error) {
	xs := x.Shape().Clone()
	if x.Dims() != 4 {
		return nil, fmt.Errorf("globalavgpool %s: input %v is not NCHW", name, xs)
	}
	n, c, hw := xs[0], xs[1], xs[2]*xs[3]
	op := newOp("GlobalAvgPool{"+name+"}", []int{4}, 2)
	op.shape = fixedShape(tensor.Shape{n, c})
	// Both passes split over cores by plane (each plane's sum in one
	// order): at 4×4 one plane is a few dozen nanoseconds, a batch's
	// planes some 50 µs of a two-thread step's serial time.
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		par.For(len(y), par.Pass(hw, 1), func(p0, p1 int) {
			for p := p0; p < p1; p++ {
				var s float64
				for _, xv := range v[0][p*hw:][:hw] {
					s += float64(xv)
				}
				y[p] = float32(s / float64(hw))
			}
		})
		return nil
	}
	op.wrt = []bool{true}
	op.diff = func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		m := newOp("GlobalAvgPoolGrad{"+name+"}", []int{2}, 4)
		m.shape = fixedShape(xs)
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			par.For(len(v[0]), par.Pass(hw, 1), func(p0, p1 int) {
				for p, g := range v[0][p0:p1] {
					gv := g / float32(hw)
					dd := d[(p0+p)*hw:][:hw]
					for i := range dd {
						dd[i] = gv
					}
				}
			})
			return nil
		}
		dx, err := G.ApplyOp(m, grad)
		return G.Nodes{dx}, err
	}
	return G.ApplyOp(op, x)
}
