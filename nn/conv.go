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

// groupSize is how many images one forward GEMM covers: it bounds the
// scratch memory of large inference batches.
const groupSize = 64

// patches is the im2col matrix of images [n0, n0+cnt) of x as a GEMM
// operand that is never stored: packing computes its elements from x,
// which stays in cache where a stored patch matrix (lenet5's conv2: 8 MB
// at batch 64) would stream through memory twice. With pixelRows, row q
// is output pixel q (image n0+q/(OH·OW)) and column r the patch element
// r = (c·K+i)·K+j; otherwise it is the transpose.
type patches struct {
	g         *convGeom
	x         []float32
	n0        int
	pixelRows bool
}

func (pt patches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	if pt.pixelRows {
		pt.packPixelRows(dst, r0, p0, rows, depth, w)
	} else {
		pt.packPatchRows(dst, r0, p0, rows, depth, w)
	}
}

// pixel returns the offset of image n's (C=0) plane and the top-left
// input coordinates of output pixel q's window.
func (pt patches) pixel(q int) (base, ih0, iw0 int) {
	g := pt.g
	hw := g.hw()
	n := pt.n0 + q/hw
	oh, ow := q%hw/g.ow, q%hw%g.ow
	return n * g.c * g.h * g.w, oh*g.s - g.p, ow*g.s - g.p
}

// inside reports whether all the windows starting at (ih0[i], iw0[i]) lie in the image.
func (pt patches) inside(ih0, iw0 []int) bool {
	g := pt.g
	for i := range ih0 {
		if ih0[i] < 0 || iw0[i] < 0 || ih0[i]+g.k > g.h || iw0[i]+g.k > g.w {
			return false
		}
	}
	return true
}

// packPixelRows: rows are pixels, depth runs over patch elements.
func (pt patches) packPixelRows(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	var base, ih0, iw0 [32]int
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		for i := 0; i < h; i++ {
			base[i], ih0[i], iw0[i] = pt.pixel(r0 + ir + i)
		}
		c, ki, kj := p0/(g.k*g.k), p0/g.k%g.k, p0%g.k
		if pt.inside(ih0[:h], iw0[:h]) {
			// Every window lies in its image: no bounds tests.
			var pix [32]int
			for i := 0; i < h; i++ {
				pix[i] = base[i] + ih0[i]*g.w + iw0[i]
			}
			for p := 0; p < depth; p++ {
				dp := d[p*w : p*w+w]
				off := c*g.h*g.w + ki*g.w + kj
				for i, o := range pix[:h] {
					dp[i] = pt.x[o+off]
				}
				clear(dp[h:])
				if kj++; kj == g.k {
					if kj, ki = 0, ki+1; ki == g.k {
						ki, c = 0, c+1
					}
				}
			}
			continue
		}
		for p := 0; p < depth; p++ {
			dp := d[p*w : p*w+w]
			off := c * g.h * g.w
			for i := 0; i < h; i++ {
				ih, iw := ih0[i]+ki, iw0[i]+kj
				var v float32
				if uint(ih) < uint(g.h) && uint(iw) < uint(g.w) {
					v = pt.x[base[i]+off+ih*g.w+iw]
				}
				dp[i] = v
			}
			clear(dp[h:])
			if kj++; kj == g.k {
				if kj, ki = 0, ki+1; ki == g.k {
					ki, c = 0, c+1
				}
			}
		}
	}
}

// packPatchRows: rows are patch elements, depth runs over pixels.
func (pt patches) packPatchRows(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	var off, di, dj [32]int
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		for j := 0; j < h; j++ {
			r := r0 + ir + j
			off[j], di[j], dj[j] = r/(g.k*g.k)*g.h*g.w, r/g.k%g.k, r%g.k
		}
		var rel [32]int
		for j := 0; j < h; j++ {
			rel[j] = off[j] + di[j]*g.w + dj[j]
		}
		for p := 0; p < depth; p++ {
			dp := d[p*w : p*w+w]
			base, ih0, iw0 := pt.pixel(p0 + p)
			img := pt.x[base:]
			if ih0 >= 0 && iw0 >= 0 && ih0+g.k <= g.h && iw0+g.k <= g.w {
				// The window lies in the image: no bounds tests.
				src := img[ih0*g.w+iw0:]
				for j, o := range rel[:h] {
					dp[j] = src[o]
				}
				clear(dp[h:])
				continue
			}
			for j := 0; j < h; j++ {
				ih, iw := ih0+di[j], iw0+dj[j]
				var v float32
				if uint(ih) < uint(g.h) && uint(iw) < uint(g.w) {
					v = img[off[j]+ih*g.w+iw]
				}
				dp[j] = v
			}
			clear(dp[h:])
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
	g := &cv.g
	step := min(g.n, groupSize)
	hw := g.hw()
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		cols := cnt * hw
		cv.tmp = grow(cv.tmp, g.cout*cols)
		f32.GemmOperands(g.cout, cols, g.ckk(), f32.Dense(w, g.ckk(), false),
			patches{g: g, x: x, n0: n0, pixelRows: true}, cv.tmp, cols, false, runtime.GOMAXPROCS(0))
		for o := 0; o < g.cout; o++ {
			bo := b[o]
			for m := 0; m < cnt; m++ {
				src := cv.tmp[o*cols+m*hw:][:hw]
				dst := y[((n0+m)*g.cout+o)*hw:][:hw]
				for q, v := range src {
					dst[q] = v + bo
				}
			}
		}
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

// gradW: dW[o][r] = Σ_{n,q} dy[n][o][q]·patches[n·OH·OW+q][r], one GEMM over the whole batch.
func (cv *conv) gradW(dw, x, dy []float32) {
	g := &cv.g
	ld := g.n * g.hw()
	cv.dyT = grow(cv.dyT, g.cout*ld)
	g.transposeDY(cv.dyT, dy, 0, g.n)
	f32.GemmOperands(g.cout, g.ckk(), ld, f32.Dense(cv.dyT, ld, false), patches{g: g, x: x},
		dw, g.ckk(), false, runtime.GOMAXPROCS(0))
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
