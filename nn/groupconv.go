package nn

import (
	"fmt"

	"github.com/tinyqat/tinyqat/internal/f32"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tinyqat/tinyqat/internal/par"
)

// The grouped convolution op: channels in G groups, output channel o sees
// only the C/G input channels of its group o/(Out/G). Depthwise
// convolutions (G = C = Out) are the case it is built for: a K×K filter
// per channel has too little work per pixel for im2col + GEMM, so every
// pass is a direct loop over NCHW planes, through f32.DWSum and f32.DWDot:
//
//	y[n][o][oh][ow]  = b[o] + Σ_{c,i,j} W[o][c][i][j]·x[n][g·C/G+c][oh·S+i−P][ow·S+j−P]
//	dx[n][g·C/G+c][ih][iw] = Σ_{o∈g, i, j : ih = oh·S+i−P, iw = ow·S+j−P} W[o][c][i][j]·dy[n][o][oh][ow]
//	dW[o][c][i][j]   = Σ_n Σ_{oh,ow} dy[n][o][oh][ow]·x[n][g·C/G+c][oh·S+i−P][ow·S+j−P]
//	db[o]            = Σ_n Σ_{oh,ow} dy[n][o][oh][ow]
//
// Planes are copied into zero-bordered scratch laid out so that every tap
// of the filter is a fixed offset (f32.DWSum's form):
//   - forward and dW: the padded input split into S×S phase planes
//     (phase (a, b) holds the padded pixels (S·r+a, S·m+b)), so a strided
//     window is contiguous in each phase; output row oh is computed on the
//     phase planes' row width wq and the columns past OW dropped;
//   - dx: dy padded (not dilated) once per output phase (ih mod S, iw mod
//     S): each phase of dx is a stride-1 correlation of dy with the taps
//     (i, j) of that phase, so stride 2 costs no multiplications by the
//     zeros a dilated dy would hold.
//
// A kernel call covers a stack of images of one channel, their planes one
// below the other in the scratch (stackFloats), so that 7×7 planes share
// a call's overhead; outputs that straddle two images are dropped.
//
// Work is shared between goroutines by (stack, group) for y and dx and by
// group (or output channel) for dW and db, never inside a sum: each output
// element sums its terms in one order whatever GOMAXPROCS is. The stack
// size depends only on the shapes, so dW's per-stack partial sums are the
// same for any core count too.

// gconvGeom is a grouped convolution's shape.
type gconvGeom struct {
	n, c, h, w, out, k, s, p, oh, ow, groups int
	cg, og                                   int // input and output channels per group
	// stack is how many images of one channel a kernel call covers: their
	// planes are stacked one below the other in the scratch, so small
	// planes (7×7) share a call's overhead.
	stack int
	// Forward / dW layout: S² phase planes, each the stack's images' hq×wq
	// blocks one below the other, then slack.
	hq, wq, inLen int
	offIn         []int // tap i·K+j's offset in the phase planes
	// dx layout: each image's dy padded by p0 on top and left into an
	// hd×wd block, the stack's blocks one below the other.
	p0, hd, wd, dLen int
	phases           []gradPhase
}

// gradPhase is one output phase (ih ≡ a, iw ≡ b mod S) of the input gradient.
type gradPhase struct {
	a, b   int   // phase
	ha, wa int   // its rows and columns of dx
	off    []int // taps: offsets in the padded dy plane
	widx   []int // and their weights' indices i·K+j
}

func gcRoundUp(n, m int) int { return (n + m - 1) / m * m }

// stackFloats is the scratch size a stack of planes aims at (4 KiB: one
// 28×28 plane, four 14×14 planes, twelve 7×7 planes).
const stackFloats = 1024

func newGconvGeom(n, c, h, w, out, k, s, p, groups int) gconvGeom {
	g := gconvGeom{n: n, c: c, h: h, w: w, out: out, k: k, s: s, p: p, groups: groups,
		cg: c / groups, og: out / groups}
	g.oh = (h+2*p-k)/s + 1
	g.ow = (w+2*p-k)/s + 1
	g.hq = (h + 2*p + s - 1) / s
	g.wq = (w + 2*p + s - 1) / s
	g.stack = max(1, min(n, stackFloats/(g.hq*g.wq)))
	plane := g.stack * g.hq * g.wq
	g.inLen = s*s*plane + g.wq + f32.DWBlock
	g.offIn = make([]int, k*k)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			g.offIn[i*k+j] = ((i%s)*s+j%s)*plane + (i/s)*g.wq + j/s
		}
	}
	// dx[ih = S·a'+a][iw = S·b'+b] takes taps i ≡ a+P (mod S), i = S·u+ri,
	// reading dy row a' + (a+P)/S − u; likewise for columns. dy sits at
	// (p0, p0) in its padded block so that row index is ≥ 0.
	g.p0 = (k - 1) / s
	cmax := (s - 1 + p) / s
	ha0, wa0 := (h+s-1)/s, (w+s-1)/s
	g.hd = max(g.oh, ha0+cmax) + g.p0
	g.wd = max(g.ow, wa0+cmax) + g.p0
	g.dLen = g.stack*g.hd*g.wd + g.wd + f32.DWBlock
	for a := 0; a < s; a++ {
		for b := 0; b < s; b++ {
			ph := gradPhase{a: a, b: b, ha: (h - a + s - 1) / s, wa: (w - b + s - 1) / s}
			if ph.ha <= 0 || ph.wa <= 0 {
				continue
			}
			ri, ch := (a+p)%s, (a+p)/s
			rj, cw := (b+p)%s, (b+p)/s
			for i := ri; i < k; i += s {
				for j := rj; j < k; j += s {
					u, v := i/s, j/s
					ph.off = append(ph.off, (ch-u+g.p0)*g.wd+cw-v+g.p0)
					ph.widx = append(ph.widx, i*k+j)
				}
			}
			g.phases = append(g.phases, ph)
		}
	}
	return g
}

func (g *gconvGeom) kk() int { return g.k * g.k }

// fwdLen is the forward's wide output length for a stack of cnt images:
// up to the last image's last output row, rounded up to f32.DWBlock.
// Image m's output row oh starts at (m·hq+oh)·wq.
func (g *gconvGeom) fwdLen(cnt int) int {
	return gcRoundUp(((cnt-1)*g.hq+g.oh)*g.wq, f32.DWBlock)
}

// dxLen is phase ph's wide output length for cnt images; image m's row a'
// starts at (m·hd+a')·wd.
func (g *gconvGeom) dxLen(ph *gradPhase, cnt int) int {
	return gcRoundUp(((cnt-1)*g.hd+ph.ha)*g.wd, f32.DWBlock)
}

// packIn copies the H×W plane x into slot m of dst's phase planes (zero
// border positions are never written, so dst stays zero there once cleared).
func (g *gconvGeom) packIn(dst, x []float32, m int) {
	s, p := g.s, g.p
	if s == 1 {
		f32.DWCopy(dst[(m*g.hq+p)*g.wq+p:], g.wq, x, g.w, g.h, g.w)
		return
	}
	plane := g.stack * g.hq * g.wq
	if s == 2 {
		// Rows with ih+P ≡ a (mod 2) go to phase row a; their even
		// columns iw = 2t to phase column P mod 2 at t + P/2, their odd
		// ones to phase column (P+1) mod 2 at t + (P+1)/2.
		for a := 0; a < 2; a++ {
			ih0 := (a + p) % 2 // ≡ a − P (mod 2)
			if ih0 >= g.h {
				continue
			}
			base := (m*g.hq + (ih0+p)/2) * g.wq
			even := dst[(a*2+p%2)*plane+base+p/2:]
			odd := dst[(a*2+(p+1)%2)*plane+base+(p+1)/2:]
			f32.DWSplit2(even, odd, g.wq, x[ih0*g.w:], 2*g.w, (g.h-ih0+1)/2, g.w)
		}
		return
	}
	for ih := 0; ih < g.h; ih++ {
		r := ih + p
		row := x[ih*g.w:][:g.w]
		for b := 0; b < s; b++ {
			// Columns iw with (iw+p) ≡ b (mod S) go to phase (r mod S, b).
			iw0 := ((b-p)%s + s) % s
			if iw0 >= g.w {
				continue
			}
			d := dst[((r%s)*s+b)*plane+(m*g.hq+r/s)*g.wq+(iw0+p)/s:]
			for q, iw := 0, iw0; iw < g.w; q, iw = q+1, iw+s {
				d[q] = row[iw]
			}
		}
	}
}

// packWide copies the OH×OW plane dy into slot m of the forward's wide
// layout (rows wq wide); the other positions stay zero.
func (g *gconvGeom) packWide(dst, dy []float32, m int) {
	f32.DWCopy(dst[m*g.hq*g.wq:], g.wq, dy, g.ow, g.oh, g.ow)
}

// packDY copies the OH×OW plane dy into block m of dst at (p0, p0), rows wd wide.
func (g *gconvGeom) packDY(dst, dy []float32, m int) {
	f32.DWCopy(dst[(m*g.hd+g.p0)*g.wd+g.p0:], g.wd, dy, g.ow, g.oh, g.ow)
}

// gconv is a grouped convolution node's geometry.
type gconv struct {
	name string
	g    gconvGeom
}

// forward: y = grouped conv(x, W) + b (b may be nil), a stack of images
// of one group at a time.
func (gc *gconv) forward(y, x, w, b []float32) {
	g := &gc.g
	kk, hw, ohw := g.kk(), g.h*g.w, g.oh*g.ow
	stacks := (g.n + g.stack - 1) / g.stack
	par.For(stacks*g.groups, g.stack*g.og*g.cg*kk*ohw, func(i0, i1 int) {
		xin := make([]float32, g.cg*g.inLen)
		wide := make([]float32, g.fwdLen(g.stack))
		for it := i0; it < i1; it++ {
			n0, gr := it/g.groups*g.stack, it%g.groups
			cnt := min(g.stack, g.n-n0)
			for ci := 0; ci < g.cg; ci++ {
				for m := 0; m < cnt; m++ {
					g.packIn(xin[ci*g.inLen:], x[((n0+m)*g.c+gr*g.cg+ci)*hw:][:hw], m)
				}
			}
			nw := g.fwdLen(cnt)
			for oo := 0; oo < g.og; oo++ {
				o := gr*g.og + oo
				var bo float32
				if b != nil {
					bo = b[o]
				}
				for ci := 0; ci < g.cg; ci++ {
					f32.DWSum(wide, xin[ci*g.inLen:], g.offIn, w[(o*g.cg+ci)*kk:][:kk], nw, bo, ci > 0)
				}
				for m := 0; m < cnt; m++ {
					f32.DWCopy(y[((n0+m)*g.out+o)*ohw:][:ohw], g.ow, wide[m*g.hq*g.wq:], g.wq, g.oh, g.ow)
				}
			}
		}
	})
}

// gradX: dx, phase by phase, each a sum over the group's output channels.
func (gc *gconv) gradX(dx, w, dy []float32) {
	g := &gc.g
	kk, hw, ohw := g.kk(), g.h*g.w, g.oh*g.ow
	stacks := (g.n + g.stack - 1) / g.stack
	wideLen := gcRoundUp(((g.stack-1)*g.hd+(g.h+g.s-1)/g.s)*g.wd, f32.DWBlock)
	par.For(stacks*g.groups, g.stack*g.og*g.cg*kk*hw, func(i0, i1 int) {
		dyin := make([]float32, g.og*g.dLen)
		wide := make([]float32, 2*wideLen)
		wsel := make([]float32, kk)
		for it := i0; it < i1; it++ {
			n0, gr := it/g.groups*g.stack, it%g.groups
			cnt := min(g.stack, g.n-n0)
			for oo := 0; oo < g.og; oo++ {
				for m := 0; m < cnt; m++ {
					g.packDY(dyin[oo*g.dLen:], dy[((n0+m)*g.out+gr*g.og+oo)*ohw:][:ohw], m)
				}
			}
			// phase sums phase ph of dx's channel ci into wd-wide rows of dst.
			phase := func(dst []float32, ph *gradPhase, ci int) {
				for oo := 0; oo < g.og; oo++ {
					wo := w[((gr*g.og+oo)*g.cg+ci)*kk:][:kk]
					for t, wi := range ph.widx {
						wsel[t] = wo[wi]
					}
					f32.DWSum(dst, dyin[oo*g.dLen:], ph.off, wsel[:len(ph.off)], g.dxLen(ph, cnt), 0, oo > 0)
				}
			}
			for ci := 0; ci < g.cg; ci++ {
				plane := func(m int) []float32 { return dx[((n0+m)*g.c+gr*g.cg+ci)*hw:][:hw] }
				switch g.s {
				case 1:
					phase(wide, &g.phases[0], ci)
					for m := 0; m < cnt; m++ {
						f32.DWCopy(plane(m), g.w, wide[m*g.hd*g.wd:], g.wd, g.h, g.w)
					}
				case 2:
					// Phases (a, 0) and (a, 1) interleave into rows a, a+2, ….
					even, odd := wide[:wideLen], wide[wideLen:]
					for pi := 0; pi < len(g.phases); pi++ {
						pe := &g.phases[pi]
						if pe.b != 0 {
							continue
						}
						phase(even, pe, ci)
						if pi+1 < len(g.phases) && g.phases[pi+1].a == pe.a {
							phase(odd, &g.phases[pi+1], ci) // absent only if W = 1
						}
						for m := 0; m < cnt; m++ {
							f32.DWMerge2(plane(m)[pe.a*g.w:], 2*g.w, even[m*g.hd*g.wd:], odd[m*g.hd*g.wd:], g.wd, pe.ha, g.w)
						}
					}
				default:
					for pi := range g.phases {
						ph := &g.phases[pi]
						phase(wide, ph, ci)
						for m := 0; m < cnt; m++ {
							dst, src := plane(m), wide[m*g.hd*g.wd:]
							for r := 0; r < ph.ha; r++ {
								row := dst[(r*g.s+ph.a)*g.w:][:g.w]
								for q, v := range src[r*g.wd:][:ph.wa] {
									row[q*g.s+ph.b] = v
								}
							}
						}
					}
				}
			}
		}
	})
}

// gradW: dW[o][c][t] = Σ over stacks of images (in order) of the stack's
// sum; groups split over cores. Each core walks stacks in the outer loop
// and its groups in the inner one, so it reads x and dy in address order
// (a stream the hardware prefetches) rather than planes far apart.
func (gc *gconv) gradW(dw, x, dy []float32) {
	g := &gc.g
	kk, hw, ohw := g.kk(), g.h*g.w, g.oh*g.ow
	full := g.fwdLen(g.stack)
	par.For(g.groups, g.n*g.og*g.cg*kk*ohw, func(g0, g1 int) {
		xin := make([]float32, g.cg*g.inLen)
		dyw := make([]float32, g.og*full)
		clear(dw[g0*g.og*g.cg*kk : g1*g.og*g.cg*kk])
		for n0 := 0; n0 < g.n; n0 += g.stack {
			cnt := min(g.stack, g.n-n0)
			if cnt < g.stack {
				// The last, short stack: the slots past cnt must hold zero dy.
				clear(dyw)
			}
			nw := g.fwdLen(cnt)
			for gr := g0; gr < g1; gr++ {
				for m := 0; m < cnt; m++ {
					for ci := 0; ci < g.cg; ci++ {
						g.packIn(xin[ci*g.inLen:], x[((n0+m)*g.c+gr*g.cg+ci)*hw:][:hw], m)
					}
					for oo := 0; oo < g.og; oo++ {
						g.packWide(dyw[oo*full:], dy[((n0+m)*g.out+gr*g.og+oo)*ohw:][:ohw], m)
					}
				}
				for oo := 0; oo < g.og; oo++ {
					o := gr*g.og + oo
					for ci := 0; ci < g.cg; ci++ {
						f32.DWDot(dw[(o*g.cg+ci)*kk:][:kk], dyw[oo*full:][:nw], xin[ci*g.inLen:], g.offIn, nw)
					}
				}
			}
		}
	})
}

// gradB: db[o] = Σ_n Σ_q dy[n][o][q], a plane sum per image (planeSum)
// added in image order; images in the outer loop, as in gradW.
func (g *gconvGeom) gradB(db, dy []float32) {
	ohw := g.oh * g.ow
	par.For(g.out, g.n*ohw, func(o0, o1 int) {
		clear(db[o0:o1])
		for n := 0; n < g.n; n++ {
			for o := o0; o < o1; o++ {
				db[o] += planeSum(dy[(n*g.out+o)*ohw:][:ohw])
			}
		}
	})
}

// planeSum is Σ v in eight interleaved partial sums (element i in sum
// i mod 8, the tail in sum 0), added pairwise: eight independent chains
// of additions instead of one.
func planeSum(v []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(v); i += 8 {
		q := v[i : i+8 : i+8]
		s0 += q[0]
		s1 += q[1]
		s2 += q[2]
		s3 += q[3]
		s4 += q[4]
		s5 += q[5]
		s6 += q[6]
		s7 += q[7]
	}
	for _, x := range v[i:] {
		s0 += x
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// groupConvNode is y = grouped conv(x, w) + bias, x (N, C, H, W), w (Out,
// C/groups, K, K), bias (Out) or nil, stride s, zero padding p. xGrad
// false: no input gradient is needed (first layer). groups = 1 is an
// ordinary convolution (convNode's im2col + GEMM is faster for it).
func groupConvNode(name string, x, w, bias *G.Node, stride, pad, groups int, xGrad bool) (*G.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if x.Dims() != 4 || w.Dims() != 4 {
		return nil, fmt.Errorf("conv2d %s: x %v and W %v must be 4-D", name, xs, ws)
	}
	if groups < 1 || stride < 1 || pad < 0 {
		return nil, fmt.Errorf("conv2d %s: groups %d, stride %d, pad %d", name, groups, stride, pad)
	}
	n, c, h, wd, out, k := xs[0], xs[1], xs[2], xs[3], ws[0], ws[2]
	if c%groups != 0 || out%groups != 0 || ws[1] != c/groups || ws[3] != k || k < 1 {
		return nil, fmt.Errorf("conv2d %s: x %v, W %v do not fit %d groups", name, xs, ws, groups)
	}
	if bias != nil && (bias.Dims() != 1 || bias.Shape()[0] != out) {
		return nil, fmt.Errorf("conv2d %s: bias %v for %d output channels", name, bias.Shape(), out)
	}
	if h+2*pad < k || wd+2*pad < k {
		return nil, fmt.Errorf("conv2d %s: input %dx%d padded by %d smaller than the %dx%d kernel", name, h, wd, pad, k, k)
	}
	gc := &gconv{name: name, g: newGconvGeom(n, c, h, wd, out, k, stride, pad, groups)}
	g := &gc.g
	dims := []int{4, 4, 1}
	if bias == nil {
		dims = dims[:2]
	}
	op := newOp("GroupConv2D{"+name+"}", dims, 4)
	op.shape = fixedShape(tensor.Shape{n, out, g.oh, g.ow})
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		var b []float32
		if len(v) == 3 {
			b = v[2]
		}
		gc.forward(y, v[0], v[1], b)
		return nil
	}
	op.wrt = []bool{xGrad, true, true}[:len(dims)]
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		grads := make(G.Nodes, len(dims))
		if xGrad {
			m := newOp("GroupConv2DGradX{"+name+"}", []int{4, 4}, 4)
			m.shape = fixedShape(tensor.Shape{n, c, h, wd})
			m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { gc.gradX(d, v[0], v[1]); return nil }
			var err error
			if grads[0], err = G.ApplyOp(m, inputs[1], grad); err != nil {
				return nil, err
			}
		}
		mw := newOp("GroupConv2DGradW{"+name+"}", []int{4, 4}, 4)
		mw.shape = fixedShape(tensor.Shape{out, c / groups, k, k})
		mw.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { gc.gradW(d, v[0], v[1]); return nil }
		var err error
		if grads[1], err = G.ApplyOp(mw, inputs[0], grad); err != nil {
			return nil, err
		}
		if bias != nil {
			mb := newOp("GroupConv2DGradB{"+name+"}", []int{4}, 1)
			mb.shape = fixedShape(tensor.Shape{out})
			mb.run = func(d []float32, v [][]float32, _ []tensor.Shape) error { g.gradB(d, v[0]); return nil }
			if grads[2], err = G.ApplyOp(mb, grad); err != nil {
				return nil, err
			}
		}
		return grads, nil
	}
	if bias == nil {
		return G.ApplyOp(op, x, w)
	}
	return G.ApplyOp(op, x, w, bias)
}
