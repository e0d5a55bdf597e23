package nn

import (
	"fmt"
	"runtime"

	"github.com/tinyqat/tinyqat/internal/f32"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tinyqat/tinyqat/internal/par"
)

// convGeom is a convolution's shape: N images of C×H×W, Cout kernels of
// C×K×K, stride S, zero padding P, output OH×OW.
type convGeom struct {
	n, c, h, w, cout, k, s, p, oh, ow int
}

func (g *convGeom) ckk() int { return g.c * g.k * g.k }
func (g *convGeom) hw() int  { return g.oh * g.ow }

// col2im adds col, a (C·K·K) × (cnt·OH·OW) matrix of patch gradients
// (col[(c·K+i)·K+j][m·OH·OW+oh·OW+ow] belongs to x[n0+m][c][oh·S+i−P][ow·S+j−P]),
// into images [n0, n0+cnt) of dx.
func (g *convGeom) col2im(dx, col []float32, n0, cnt int) {
	par.For(cnt, g.ckk()*g.hw(), func(m0, m1 int) { g.col2imPart(dx, col, n0, cnt, m0, m1) })
}

// col2imPart does images [n0+m0, n0+m1) of col2im's group [n0, n0+cnt);
// each image's sums run in the same order whatever the split.
func (g *convGeom) col2imPart(dx, col []float32, n0, cnt, m0, m1 int) {
	ld := cnt * g.hw()
	// One input plane at a time, so it stays in L1 while its K·K patch
	// rows are added; each element still sums its terms in (i, j) order.
	for c := 0; c < g.c; c++ {
		for m := m0; m < m1; m++ {
			img := dx[((n0+m)*g.c+c)*g.h*g.w:][:g.h*g.w]
			for i := 0; i < g.k; i++ {
				for j := 0; j < g.k; j++ {
					src := col[((c*g.k+i)*g.k+j)*ld+m*g.hw():][:g.hw()]
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

// conv is a convolution node's scratch space.
type conv struct {
	name     string
	g        convGeom
	tmp, dyT []float32
	dyTX     []float32 // gradX's scratch (gradX and gradW may run in either order)
	dcol     []float32
	// The stride-1 input gradient as a convolution (gradXConv): its
	// geometry, flipped weights and output scratch.
	gT       convGeom
	wT, tmpX []float32
	// Direct (unpacked) passes: forward, gradXConv, gradW.
	dirY, dirX direct    // dirY serves gradW too
	phX        phased    // strided input gradient
	packed     bool      // never direct (tests compare the two paths)
	sums       []float32 // gradB's plane sums
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// forward: y[n][o][q] = b[o] + Σ_r W[o][r]·patches[n·OH·OW+q][r], one GEMM
// per group of images into a channel-major scratch (Cout × pixels: the
// long pixel axis fills the wide NR panels), then copied to NCHW.
func (cv *conv) forward(y, x, w, b []float32) {
	if cv.g.useDirect() && !cv.packed {
		cv.dirY.run(&cv.g, y, x, w, b)
		return
	}
	cv.tmp = convolve(&cv.g, y, x, w, b, cv.tmp)
}

// convolve sets y (N, Cout, OH, OW) to the convolution of x with w, plus
// b[o] if b is not nil, a group of images at a time through tmp (grown as
// needed and returned). Each element is one GEMM sum (f32's fixed order)
// plus the bias, so the result does not depend on the core count.
func convolve(g *convGeom, y, x, w, b, tmp []float32) []float32 {
	step := min(g.n, groupSize)
	hw := g.hw()
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		cols := cnt * hw
		tmp = grow(tmp, g.cout*cols)
		f32.GemmOperands(g.cout, cols, g.ckk(), f32.Dense(w, g.ckk(), false),
			patches{g: g, x: x, n0: n0, pixelRows: true}, tmp, cols, false, runtime.GOMAXPROCS(0))
		// Channel-major scratch to NCHW (with the bias): a pass over the
		// output, split over cores by (image, channel) plane.
		par.For(cnt*g.cout, par.Pass(hw, 1), func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				src := tmp[o*cols+m*hw:][:hw]
				dst := y[((n0+m)*g.cout+o)*hw:][:hw]
				if b == nil {
					copy(dst, src)
					continue
				}
				bo := b[o]
				for q, v := range src {
					dst[q] = v + bo
				}
			}
		})
	}
	return tmp
}

// useGradXConv reports whether gradX can run as a convolution of dy: with
// stride 1 and P < K, dx = conv(dy, W̃) with padding K−1−P, where
// W̃[c][o][i][j] = W[o][c][K−1−i][K−1−j] (the correlation's adjoint).
// This packs dy straight into the GEMM, where the col2im path stores and
// re-reads a (C·K·K) × pixels matrix.
//
// The convolution of dy computes every input pixel from K·K taps, the
// zero padding included, so it is used only when the input has at most a
// quarter more pixels than the output ("same" padding: as many); lenet5's
// conv2 (14×14 → 10×10) costs three times col2im's time that way.
func (g *convGeom) useGradXConv() bool {
	return g.s == 1 && g.p < g.k && 4*g.h*g.w <= 5*g.oh*g.ow
}

// gradXConv is gradX by useGradXConv's convolution.
func (cv *conv) gradXConv(dx, w, dy []float32) {
	g := &cv.g
	if cv.gT.n == 0 {
		cv.gT = convGeom{n: g.n, c: g.cout, h: g.oh, w: g.ow, cout: g.c, k: g.k, s: 1, p: g.k - 1 - g.p, oh: g.h, ow: g.w}
	}
	kk := g.k * g.k
	cv.wT = grow(cv.wT, len(w))
	wT := cv.wT
	par.For(g.cout, par.Pass(g.c*kk, g.c), func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			for c := 0; c < g.c; c++ {
				src := w[(o*g.c+c)*kk:][:kk]
				dst := wT[(c*g.cout+o)*kk:][:kk]
				for t, v := range src {
					dst[kk-1-t] = v
				}
			}
		}
	})
	if cv.gT.useDirect() && !cv.packed {
		cv.dirX.run(&cv.gT, dx, dy, cv.wT, nil)
		return
	}
	cv.tmpX = convolve(&cv.gT, dx, dy, cv.wT, nil, cv.tmpX)
}

// transposeDY lays dy (N, Cout, OH·OW) out as (Cout, N·OH·OW) for images [n0, n0+cnt).
func (g *convGeom) transposeDY(dst, dy []float32, n0, cnt int) {
	hw := g.hw()
	ld := cnt * hw
	par.For(cnt*g.cout, par.Pass(hw, 1), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			m, o := i/g.cout, i%g.cout
			copy(dst[o*ld+m*hw:][:hw], dy[((n0+m)*g.cout+o)*hw:][:hw])
		}
	})
}

// gradW: dW[o][r] = Σ_{n,q} dy[n][o][q]·patches[n·OH·OW+q][r], one GEMM over the whole batch.
func (cv *conv) gradW(dw, x, dy []float32) {
	g := &cv.g
	if g.useDirectGradW() && !cv.packed {
		cv.dirY.gradW(g, dw, x, dy)
		return
	}
	ld := g.n * g.hw()
	cv.dyT = grow(cv.dyT, g.cout*ld)
	g.transposeDY(cv.dyT, dy, 0, g.n)
	var pt f32.Operand = patches{g: g, x: x}
	if lp, ok := cv.dirY.layoutPatches(g, x); ok && !cv.packed {
		pt = lp
	}
	f32.GemmOperands(g.cout, g.ckk(), ld, f32.Dense(cv.dyT, ld, false), pt,
		dw, g.ckk(), false, runtime.GOMAXPROCS(0))
}

// gradX: dx[n][c][ih][iw] = Σ_{o,i,j: ih = oh·S+i−P, iw = ow·S+j−P} W[o][c][i][j]·dy[n][o][oh][ow],
// by gradXConv where it applies, else by gradXCol.
func (cv *conv) gradX(dx, w, dy []float32) {
	switch {
	case cv.g.useGradXConv():
		cv.gradXConv(dx, w, dy)
	case cv.g.pointwiseS2() && cv.g.useDirect() && !cv.packed:
		cv.phX.gradXPointwise(&cv.g, dx, w, dy)
	case cv.g.s > 1 && cv.g.useDirect() && !cv.packed:
		cv.phX.gradX(&cv.g, dx, w, dy)
	default:
		cv.gradXCol(dx, w, dy)
	}
}

// gradXCol: dcol = Wᵀ·dyᵀ, then col2im, a group of images at a time.
func (cv *conv) gradXCol(dx, w, dy []float32) {
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

// gradB: db[o] = Σ_n Σ_q dy[n][o][q], images in order, each image's
// plane summed in four partial sums (f32.RowSums).
func (g *convGeom) gradB(db, dy []float32) { g.gradBOn(db, dy, nil) }

// gradB is convGeom.gradB on cv's scratch.
func (cv *conv) gradB(db, dy []float32) {
	cv.sums = grow(cv.sums, cv.g.n*cv.g.cout)
	cv.g.gradBOn(db, dy, cv.sums)
}

// gradBOn is gradB with sums (N·Cout elements, or nil: allocated) for the
// plane sums: every plane's sum first, image by image (f32.RowSums, eight
// planes side by side, each in rowSum's order), then each channel's N
// sums added in image order, as the single loop added them.
func (g *convGeom) gradBOn(db, dy, sums []float32) {
	hw := g.hw()
	if len(sums) < g.n*g.cout {
		sums = make([]float32, g.n*g.cout)
	}
	par.For(g.n, par.Pass(g.cout*hw, 1), func(n0, n1 int) {
		f32.RowSums(sums[n0*g.cout:n1*g.cout], dy[n0*g.cout*hw:], hw, hw)
	})
	for o := 0; o < g.cout; o++ {
		var s float32
		for n := 0; n < g.n; n++ {
			s += sums[n*g.cout+o]
		}
		db[o] = s
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
		cv.dirY.keep = true // the weight gradient reads the forward pass's layout
		if needDX && g.useGradXConv() {
			// ... and the input gradient's layout of dy.
			cv.dirX.keep, cv.dirY.dyFrom = true, &cv.dirX
		}
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
		mb.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { cv.gradB(d, v[0]); return nil }
		db, err := G.ApplyOp(mb, grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dx, dw, db}, nil
	}
	return G.ApplyOp(op, x, w, b)
}
