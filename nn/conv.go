package nn

import (
	"fmt"

	"github.com/tinyqat/tinyqat/internal/f32"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convGeom is a convolution's shape: N images of C×H×W, Cout kernels of
// C×K×K, stride S, zero padding P, output OH×OW.
type convGeom struct {
	n, c, h, w, cout, k, s, p, oh, ow int
}

func (g *convGeom) ckk() int { return g.c * g.k * g.k }
func (g *convGeom) hw() int  { return g.oh * g.ow }

// im2col writes the patches of images [n0, n0+cnt) of x into col, a
// (C·K·K) × (cnt·OH·OW) matrix: col[(c·K+i)·K+j][m·OH·OW + oh·OW + ow] =
// x[n0+m][c][oh·S+i−P][ow·S+j−P], or 0 outside the image.
func (g *convGeom) im2col(col, x []float32, n0, cnt int) {
	parallelFor(cnt, g.ckk()*g.hw(), func(m0, m1 int) { g.im2colPart(col, x, n0, cnt, m0, m1) })
}

// im2colPart does images [n0+m0, n0+m1) of im2col's group [n0, n0+cnt).
func (g *convGeom) im2colPart(col, x []float32, n0, cnt, m0, m1 int) {
	ld := cnt * g.hw()
	for c := 0; c < g.c; c++ {
		for i := 0; i < g.k; i++ {
			for j := 0; j < g.k; j++ {
				row := col[((c*g.k+i)*g.k+j)*ld:][:ld]
				for m := m0; m < m1; m++ {
					img := x[((n0+m)*g.c+c)*g.h*g.w:][:g.h*g.w]
					dst := row[m*g.hw():][:g.hw()]
					for oh := 0; oh < g.oh; oh++ {
						d := dst[oh*g.ow:][:g.ow]
						ih := oh*g.s + i - g.p
						if ih < 0 || ih >= g.h {
							clear(d)
							continue
						}
						src := img[ih*g.w:][:g.w]
						if g.s == 1 {
							// iw = ow + j − P ranges over a window of src.
							lo := max(0, g.p-j)
							hi := min(g.ow, g.w+g.p-j)
							clear(d[:lo])
							if hi > lo {
								copy(d[lo:hi], src[lo+j-g.p:hi+j-g.p])
							} else {
								hi = lo
							}
							clear(d[hi:])
							continue
						}
						for ow := range d {
							iw := ow*g.s + j - g.p
							if iw >= 0 && iw < g.w {
								d[ow] = src[iw]
							} else {
								d[ow] = 0
							}
						}
					}
				}
			}
		}
	}
}

// col2im adds col (laid out as im2col's) into images [n0, n0+cnt) of dx.
func (g *convGeom) col2im(dx, col []float32, n0, cnt int) {
	parallelFor(cnt, g.ckk()*g.hw(), func(m0, m1 int) { g.col2imPart(dx, col, n0, cnt, m0, m1) })
}

// col2imPart does images [n0+m0, n0+m1) of col2im's group [n0, n0+cnt);
// each image's sums run in the same order whatever the split.
func (g *convGeom) col2imPart(dx, col []float32, n0, cnt, m0, m1 int) {
	ld := cnt * g.hw()
	for c := 0; c < g.c; c++ {
		for i := 0; i < g.k; i++ {
			for j := 0; j < g.k; j++ {
				row := col[((c*g.k+i)*g.k+j)*ld:][:ld]
				for m := m0; m < m1; m++ {
					img := dx[((n0+m)*g.c+c)*g.h*g.w:][:g.h*g.w]
					src := row[m*g.hw():][:g.hw()]
					for oh := 0; oh < g.oh; oh++ {
						ih := oh*g.s + i - g.p
						if ih < 0 || ih >= g.h {
							continue
						}
						d := img[ih*g.w:][:g.w]
						s := src[oh*g.ow:][:g.ow]
						if g.s == 1 {
							lo := max(0, g.p-j)
							hi := min(g.ow, g.w+g.p-j)
							if hi > lo {
								dd := d[lo+j-g.p : hi+j-g.p]
								for q, v := range s[lo:hi] {
									dd[q] += v
								}
							}
							continue
						}
						for ow, v := range s {
							iw := ow*g.s + j - g.p
							if iw >= 0 && iw < g.w {
								d[iw] += v
							}
						}
					}
				}
			}
		}
	}
}

// groupSize is how many images one im2col/GEMM pass covers when the
// patches need not be kept for the backward pass: it bounds the scratch
// memory of large inference batches (lenet5's conv2 at batch 1000 would
// otherwise take 128 MB of patches).
const groupSize = 64

// conv is a convolution node with its gradients. The forward pass keeps
// its patch matrix when the graph is differentiated, and the weight
// gradient reuses it (recomputing it if the input is not the one the
// forward pass saw).
type conv struct {
	name     string
	g        convGeom
	keep     bool      // set by SymDiff: keep col for the weight gradient
	col      []float32 // patches of the whole batch when keep
	colOf    *float32  // the input col was computed from
	tmp, dyT []float32
	dyTX     []float32 // gradX's scratch (gradX and gradW may run in either order)
	dcol     []float32
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// forward: y[n][o][q] = b[o] + Σ_r W[o][r]·col[r][n·OH·OW+q].
func (cv *conv) forward(y, x, w, b []float32) {
	g := &cv.g
	step := g.n
	if !cv.keep {
		step = min(g.n, groupSize)
	}
	hw := g.hw()
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		ld := cnt * hw
		cv.col = grow(cv.col, g.ckk()*ld)
		g.im2col(cv.col, x, n0, cnt)
		cv.tmp = grow(cv.tmp, g.cout*ld)
		f32.Gemm(false, false, g.cout, ld, g.ckk(), w, g.ckk(), cv.col, ld, cv.tmp, ld, false)
		for m := 0; m < cnt; m++ {
			for o := 0; o < g.cout; o++ {
				dst := y[((n0+m)*g.cout+o)*hw:][:hw]
				src := cv.tmp[o*ld+m*hw:][:hw]
				bo := b[o]
				for q, v := range src {
					dst[q] = v + bo
				}
			}
		}
	}
	cv.colOf = nil
	if cv.keep && g.n > 0 {
		cv.colOf = &x[0]
	} else {
		cv.col, cv.tmp = nil, nil
	}
}

// transposeDY lays dy (N, Cout, OH·OW) out as (Cout, N·OH·OW) for images [n0, n0+cnt).
func (g *convGeom) transposeDY(dst, dy []float32, n0, cnt int) {
	hw := g.hw()
	ld := cnt * hw
	for m := 0; m < cnt; m++ {
		for o := 0; o < g.cout; o++ {
			copy(dst[o*ld+m*hw:][:hw], dy[((n0+m)*g.cout+o)*hw:][:hw])
		}
	}
}

// gradW: dW[o][r] = Σ_{n,q} dy[n][o][q]·col[r][n·OH·OW+q], one GEMM over the whole batch.
func (cv *conv) gradW(dw, x, dy []float32) {
	g := &cv.g
	ld := g.n * g.hw()
	col := cv.col
	if len(x) == 0 || cv.colOf != &x[0] || len(col) != g.ckk()*ld {
		col = make([]float32, g.ckk()*ld)
		g.im2col(col, x, 0, g.n)
	}
	cv.dyT = grow(cv.dyT, g.cout*ld)
	g.transposeDY(cv.dyT, dy, 0, g.n)
	f32.Gemm(false, true, g.cout, g.ckk(), ld, cv.dyT, ld, col, ld, dw, g.ckk(), false)
}

// gradX: dcol = Wᵀ·dyᵀ, then col2im, a group of images at a time.
func (cv *conv) gradX(dx, w, dy []float32) {
	g := &cv.g
	clear(dx)
	step := min(g.n, groupSize)
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		ld := cnt * g.hw()
		cv.dyTX = grow(cv.dyTX, g.cout*ld)
		g.transposeDY(cv.dyTX, dy, n0, cnt)
		cv.dcol = grow(cv.dcol, g.ckk()*ld)
		f32.Gemm(true, false, g.ckk(), ld, g.cout, w, g.ckk(), cv.dyTX, ld, cv.dcol, ld, false)
		g.col2im(dx, cv.dcol, n0, cnt)
	}
}

// gradB: db[o] = Σ_n Σ_q dy[n][o][q], images in order.
func (g *convGeom) gradB(db, dy []float32) {
	hw := g.hw()
	clear(db)
	for n := 0; n < g.n; n++ {
		for o := 0; o < g.cout; o++ {
			var s float32
			for _, v := range dy[(n*g.cout+o)*hw:][:hw] {
				s += v
			}
			db[o] += s
		}
	}
}

// convNode adds y = conv(x, W) + b for x (N,C,H,W), W (Cout,C,K,K), b (Cout).
func convNode(name string, x, w, b *G.Node, stride, pad int, needDX bool) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if x.Dims() != 4 || w.Dims() != 4 || xs[1] != ws[1] || ws[2] != ws[3] || b.Dims() != 1 || b.Shape()[0] != ws[0] {
		return nil, fmt.Errorf("conv2d %s: shapes x %v, W %v, b %v do not fit", name, xs, ws, b.Shape())
	}
	g := convGeom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], cout: ws[0], k: ws[2], s: stride, p: pad}
	g.oh = (g.h+2*g.p-g.k)/g.s + 1
	g.ow = (g.w+2*g.p-g.k)/g.s + 1
	cv := &conv{name: name, g: g}
	op := newOp("Conv2D{"+name+"}", []int{4, 4, 1}, 4)
	op.shape = fixedShape(tensor.Shape{g.n, g.cout, g.oh, g.ow})
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		cv.forward(y, v[0], v[1], v[2])
		return nil
	}
	op.wrt = []bool{needDX, true, true}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		cv.keep = true
		var dx *G.Node
		if needDX {
			m := newOp("Conv2DGradX{"+name+"}", []int{4, 4}, 4)
			m.shape = fixedShape(tensor.Shape{g.n, g.c, g.h, g.w})
			m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { cv.gradX(d, v[0], v[1]); return nil }
			var err error
			if dx, err = G.ApplyOp(m, inputs[1], grad); err != nil {
				return nil, err
			}
		}
		mw := newOp("Conv2DGradW{"+name+"}", []int{4, 4}, 4)
		mw.shape = fixedShape(tensor.Shape{g.cout, g.c, g.k, g.k})
		mw.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { cv.gradW(d, v[0], v[1]); return nil }
		dw, err := G.ApplyOp(mw, inputs[0], grad)
		if err != nil {
			return nil, err
		}
		mb := newOp("Conv2DGradB{"+name+"}", []int{4}, 1)
		mb.shape = fixedShape(tensor.Shape{g.cout})
		mb.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { cv.g.gradB(d, v[0]); return nil }
		db, err := G.ApplyOp(mb, grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw, db}, nil
	}
	return G.ApplyOp(op, x, w, b)
}
