package nn

import (
	"fmt"
	"runtime"

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

// col2im adds col, a (C·K·K) × (cnt·OH·OW) matrix of patch gradients
// (col[(c·K+i)·K+j][m·OH·OW+oh·OW+ow] belongs to x[n0+m][c][oh·S+i−P][ow·S+j−P]),
// into images [n0, n0+cnt) of dx.
func (g *convGeom) col2im(dx, col []float32, n0, cnt int) {
	parallelFor(cnt, g.ckk()*g.hw(), func(m0, m1 int) { g.col2imPart(dx, col, n0, cnt, m0, m1) })
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
		pt.packPixelRuns(dst, r0, p0, rows, depth, w)
	} else {
		pt.packPatchRows(dst, r0, p0, rows, depth, w)
	}
}

// pixelRun is a run of l pixels of one output row of one image, at
// positions [i0, i0+l) of a panel: output row oh, columns [ow0, ow0+l)
// of the image whose (C=0) plane starts at base.
type pixelRun struct{ i0, l, base, oh, ow0 int }

// packPixelRuns is packPixelRows (rows are pixels, depth runs over patch
// elements) a run at a time: for one patch element (c, i, j), the pixels
// of a run read one input row at columns ow·S+j−P, contiguous when S = 1,
// so a run is a copy (zeros where the window leaves the image) with no
// per-pixel index arithmetic. It writes the same values as packPixelRows,
// its reference twin.
func (pt patches) packPixelRuns(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	hw, plane := g.hw(), g.h*g.w
	var buf [32]pixelRun // f32's panels are 6 to 32 wide
	runs := buf[:]
	if w > len(buf) {
		runs = make([]pixelRun, w)
	}
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		nr := 0
		for i := 0; i < h; {
			q := r0 + ir + i
			n, rem := pt.n0+q/hw, q%hw
			oh, ow := rem/g.ow, rem%g.ow
			l := min(g.ow-ow, h-i)
			runs[nr] = pixelRun{i0: i, l: l, base: n * g.c * plane, oh: oh, ow0: ow}
			nr++
			i += l
		}
		c, ki, kj := p0/(g.k*g.k), p0/g.k%g.k, p0%g.k
		for p := 0; p < depth; p++ {
			dp := d[p*w : p*w+w]
			for _, rn := range runs[:nr] {
				seg := dp[rn.i0 : rn.i0+rn.l]
				ih := rn.oh*g.s + ki - g.p
				if ih < 0 || ih >= g.h {
					clear(seg)
					continue
				}
				row := pt.x[rn.base+c*plane+ih*g.w:][:g.w]
				iw0 := rn.ow0*g.s + kj - g.p
				// Pixels t in [lo, hi) of the run read row[iw0 + t·S].
				lo, hi := 0, 0
				if iw0 < 0 {
					lo = (-iw0 + g.s - 1) / g.s
				}
				if g.w > iw0 {
					hi = (g.w - iw0 + g.s - 1) / g.s
				}
				lo, hi = min(lo, rn.l), min(hi, rn.l)
				if hi <= lo {
					clear(seg)
					continue
				}
				clear(seg[:lo])
				clear(seg[hi:])
				if g.s == 1 {
					copy(seg[lo:hi], row[iw0+lo:iw0+hi])
					continue
				}
				src := row[iw0+lo*g.s:]
				for t := range seg[lo:hi] {
					seg[lo+t] = src[t*g.s]
				}
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

// packPixelRows: rows are pixels, depth runs over patch elements, one
// pixel at a time (packPixelRuns's reference twin).
func (pt patches) packPixelRows(dst []float32, r0, p0, rows, depth, w int) {
	g := pt.g
	base, ih0, iw0, pix := make([]int, w), make([]int, w), make([]int, w), make([]int, w)
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		for i := 0; i < h; i++ {
			base[i], ih0[i], iw0[i] = pt.pixel(r0 + ir + i)
		}
		c, ki, kj := p0/(g.k*g.k), p0/g.k%g.k, p0%g.k
		if pt.inside(ih0[:h], iw0[:h]) {
			// Every window lies in its image: no bounds tests.
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
	// The stride-1 input gradient as a convolution (gradXConv): its
	// geometry, flipped weights and output scratch.
	gT       convGeom
	wT, tmpX []float32
	// Direct (unpacked) passes: forward, gradXConv, gradW.
	dirY, dirX direct // dirY serves gradW too
	phX        phased // strided input gradient
	packed     bool   // never direct (tests compare the two paths)
}

// direct is the scratch of a convolution run by f32.GemmOffsets and
// f32.DotRows on a padded layout (see dgeom): the padded input, the
// offsets of the taps, the output, dy on the output columns.
type direct struct {
	groups   []padded  // the layout of each group of images
	tmp, dyp []float32 // run's output; gradW's dy on the output columns
	// fresh says that groups hold the layout of x = src by run, since
	// which gradW has not run: the weight gradient of the same training
	// step then reads run's layout of its input instead of laying it out
	// again (a node's input stays unchanged until its last reader runs).
	fresh bool
	src   *float32
	// keep: every group keeps its own layout, for gradW (set when the
	// convolution is differentiated; an inference graph lays its groups
	// out one after the other in one scratch, bounded for any batch).
	keep bool
}

// padded is one group's layout (dgeom) and its taps' offsets.
type padded struct {
	xp  []float32
	off []int
	cnt int // images the layout is for (xp's zero borders are laid out once)
}

// dgeom is direct's layout of a group of cnt images, in which every tap
// of the convolution is a fixed offset from its output's column.
//
// The zero-padded input ((H+2P)×(W+2P)) is split into S×S phase planes:
// phase (a, b) holds the padded pixels (S·r+a, S·q+b), hq×wq of them per
// image, so that tap (i, j) of output (oh, ow) is pixel (oh + i/S,
// ow + j/S) of phase (i mod S, j mod S) — at stride 1 the one phase is
// the padded image itself. A channel's phase plane stacks the group's
// images one below the other, image m from row m·step; at stride 1,
// step = H+P: an image's bottom padding is the next one's top (both
// zero). Output (m, oh, ow) is column (m·step + oh)·wq + ow of one long
// image, and tap (c, i, j) of every output is the fixed offset
// ((c·S + i mod S)·S + j mod S)·plane + (i/S)·wq + j/S from it. At stride
// 1 the rows share their padding columns the same way: wq = W+P, a row's
// right padding is the next row's left. Columns past OW and rows past OH
// are computed and dropped (stride 1, 3×3, P = 1: 6% more columns at
// 32×32, 27% at 8×8).
type dgeom struct {
	hq, wq, step, plane, cols int
}

func (g *convGeom) dlay(cnt int) dgeom {
	var d dgeom
	d.hq, d.wq = (g.h+2*g.p+g.s-1)/g.s, (g.w+2*g.p+g.s-1)/g.s
	d.step = d.hq
	if g.s == 1 {
		// Rows share their padding columns too: a row's right padding is
		// the next row's left (both zero).
		d.step, d.wq = g.h+g.p, g.w+g.p
	}
	rows := (cnt-1)*d.step + d.hq
	d.plane = rows * d.wq
	d.cols = ((cnt-1)*d.step + g.oh) * d.wq
	return d
}

// useDirect reports whether a convolution runs by direct: f32 has an
// assembly kernel for GemmOffsets on this CPU, and at stride 1 the padding
// is below K (else an image's outputs would run into the next one's rows
// where the stride-1 layout shares them).
func (g *convGeom) useDirect() bool { return (g.s > 1 || g.p < g.k) && f32.OffsetsFast() }

// useDirectGradW reports whether the weight gradient runs by
// direct.gradW: useDirect, an assembly kernel for f32.DotRows, and the
// dropped columns add at most half to the sum's length (resnet8-mlperf at
// 32×32, 16×16 and 8×8: 6%, 13%, 27%; lenet5's conv2, 14×14 to 10×10 with
// no padding: 96%, costs more than packing its patches).
func (g *convGeom) useDirectGradW() bool {
	d := g.dlay(1)
	return g.useDirect() && f32.DotRowsFast() && 2*d.step*d.wq <= 3*g.hw()
}

// layout copies images [n0, n0+cnt) of x into their group's padded
// scratch, laying out the zero borders and the taps' offsets when cnt
// changes.
func (d *direct) layout(g *convGeom, x []float32, n0, cnt int) (dgeom, *padded) {
	dg := g.dlay(cnt)
	ss := g.s * g.s
	gi := 0 // one scratch for every group, unless a weight gradient will read them
	if d.keep {
		gi = n0 / groupSize
	}
	for len(d.groups) <= gi {
		d.groups = append(d.groups, padded{})
	}
	pd := &d.groups[gi]
	if pd.cnt != cnt {
		pd.cnt = cnt
		// Zero borders, set once; the slack covers the reads of dropped
		// columns past the last plane.
		pd.xp = make([]float32, g.c*ss*dg.plane+(g.k/g.s+2)*dg.wq+g.k+f32.OffsetSlack)
		pd.off = make([]int, g.ckk())
		for c := 0; c < g.c; c++ {
			for i := 0; i < g.k; i++ {
				for j := 0; j < g.k; j++ {
					pd.off[(c*g.k+i)*g.k+j] = ((c*g.s+i%g.s)*g.s+j%g.s)*dg.plane + i/g.s*dg.wq + j/g.s
				}
			}
		}
	}
	xp := pd.xp
	inPlane := g.h * g.w
	parallelFor(g.c*cnt, inPlane, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			c, m := i/cnt, i%cnt
			src := x[((n0+m)*g.c+c)*inPlane:][:inPlane]
			for ih := 0; ih < g.h; ih++ {
				row := src[ih*g.w:][:g.w]
				a, r := (ih+g.p)%g.s, (ih+g.p)/g.s
				if g.s == 1 {
					copy(xp[c*dg.plane+(m*dg.step+r)*dg.wq+g.p:][:g.w], row)
					continue
				}
				for b := 0; b < g.s; b++ {
					// Pixels iw with (iw+P) mod S = b, at columns (iw+P)/S on.
					iw0 := (b - g.p%g.s + g.s) % g.s
					if iw0 >= g.w {
						continue
					}
					src := row[iw0:]
					dst := xp[((c*g.s+a)*g.s+b)*dg.plane+(m*dg.step+r)*dg.wq+(iw0+g.p)/g.s:][:(len(src)+g.s-1)/g.s]
					for q := range dst {
						dst[q] = src[q*g.s]
					}
				}
			}
		}
	})
	return dg, pd
}

// gradW sets dw[o][(c·K+i)·K+j] = Σ over the group's output pixels of
// dy[m][o][oh][ow]·x[m][c][oh·S+i−P][ow·S+j−P] on dgeom's layout: dy is
// spread over the output columns (zero at the dropped ones, d.dyp), and
// row (c, i, j) of the patch matrix is xp from tap (c, i, j)'s offset on,
// contiguous, so dW = dyp·patchesᵀ reads both in place (f32.DotRows). A
// group at a time, accumulated into dw in group order. After run on the
// same x (fresh) it reads run's layout.
func (d *direct) gradW(g *convGeom, dw, x, dy []float32) {
	step := min(g.n, groupSize)
	hw := g.hw()
	reuse := d.fresh && len(x) > 0 && d.src == &x[0]
	d.fresh = false
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		var dg dgeom
		var pd *padded
		if reuse {
			dg, pd = g.dlay(cnt), &d.groups[n0/groupSize]
		} else {
			dg, pd = d.layout(g, x, n0, cnt)
		}
		// The length fixes the group size, and with it the dropped
		// columns, which stay zero.
		if len(d.dyp) != g.cout*dg.cols {
			d.dyp = make([]float32, g.cout*dg.cols)
		}
		parallelFor(cnt*g.cout, hw, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				src := dy[((n0+m)*g.cout+o)*hw:][:hw]
				dst := d.dyp[o*dg.cols+m*dg.step*dg.wq:]
				for oh := 0; oh < g.oh; oh++ {
					copy(dst[oh*dg.wq:][:g.ow], src[oh*g.ow:][:g.ow])
				}
			}
		})
		f32.DotRows(g.cout, g.ckk(), dg.cols, d.dyp, dg.cols, pd.xp, pd.off, dw, g.ckk(), n0 > 0, runtime.GOMAXPROCS(0))
	}
}

// run sets y (N, Cout, OH, OW) to the convolution of x with w, plus b[o]
// if b is not nil, with no im2col packing: a group of images is copied
// once into dgeom's layout, where the GEMM reads B's rows in place
// (f32.GemmOffsets), then the valid columns are copied out.
//
// Each output element is one f32 sum over (c, i, j) in f32's fixed order
// plus the bias: the result does not depend on the core count, and it
// differs from the packed path (convolve) only in rounding.
func (d *direct) run(g *convGeom, y, x, w, b []float32) {
	step := min(g.n, groupSize)
	hw := g.hw()
	ckk := g.ckk()
	threads := runtime.GOMAXPROCS(0)
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		dg, pd := d.layout(g, x, n0, cnt)
		d.tmp = grow(d.tmp, g.cout*dg.cols)
		f32.GemmOffsets(g.cout, dg.cols, ckk, w, ckk, pd.xp, pd.off, d.tmp, dg.cols, false, threads)
		parallelFor(cnt*g.cout, hw, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				var bo float32
				if b != nil {
					bo = b[o]
				}
				dst := y[((n0+m)*g.cout+o)*hw:][:hw]
				src := d.tmp[o*dg.cols+m*dg.step*dg.wq:]
				for oh := 0; oh < g.oh; oh++ {
					row, out := src[oh*dg.wq:][:g.ow], dst[oh*g.ow:][:g.ow]
					if b == nil {
						copy(out, row)
						continue
					}
					for q, v := range row {
						out[q] = v + bo
					}
				}
			}
		})
	}
	if len(x) > 0 {
		d.fresh, d.src = d.keep, &x[0]
	}
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
		parallelFor(cnt*g.cout, hw, func(i0, i1 int) {
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
	for o := 0; o < g.cout; o++ {
		for c := 0; c < g.c; c++ {
			src := w[(o*g.c+c)*kk:][:kk]
			dst := cv.wT[(c*g.cout+o)*kk:][:kk]
			for t, v := range src {
				dst[kk-1-t] = v
			}
		}
	}
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
	parallelFor(cnt*g.cout, hw, func(i0, i1 int) {
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
	f32.GemmOperands(g.cout, g.ckk(), ld, f32.Dense(cv.dyT, ld, false), patches{g: g, x: x},
		dw, g.ckk(), false, runtime.GOMAXPROCS(0))
}

// gradX: dx[n][c][ih][iw] = Σ_{o,i,j: ih = oh·S+i−P, iw = ow·S+j−P} W[o][c][i][j]·dy[n][o][oh][ow],
// by gradXConv where it applies, else by gradXCol.
func (cv *conv) gradX(dx, w, dy []float32) {
	switch {
	case cv.g.useGradXConv():
		cv.gradXConv(dx, w, dy)
	case cv.g.s > 1 && cv.g.useDirect() && !cv.packed:
		cv.phX.gradX(&cv.g, dx, w, dy)
	default:
		cv.gradXCol(dx, w, dy)
	}
}

// phased is the scratch of a strided convolution's input gradient by
// output phases (see gradX): dy padded, the per-phase weights and tap
// offsets, the output.
type phased struct {
	dyp, tmp []float32
	wph      [][]float32 // per phase (a, b): C × (Cout·Ta·Ub) weights
	off      [][]int     // and the offsets of its taps in dyp
	cnt      int
}

// phaseGeom is the layout of phased for a group of cnt images. Input
// gradient pixel (ih, iw) is padded pixel (IH, IW) = (ih+P, iw+P), in
// phase (a, b) = (IH mod S, IW mod S) at (R, Q) = (IH div S, IW div S);
// the taps that reach it are (i, j) = (a+S·t, b+S·u), t < Ta = ⌈(K−a)/S⌉,
// u < Ub, from dy[R−t][Q−u]:
//
//	dx[ih][iw] = Σ_{o,t,u} W[o][c][a+S·t][b+S·u]·dy[o][R−t][Q−u],
//
// a stride-1 correlation of dy with phase (a, b)'s taps, none of them
// multiplying a zero (as a dilated dy's would). dy is laid out padded by
// T−1 rows on top and T−1 columns on the left (T = ⌈K/S⌉, the most taps
// of a phase), each image's block hq×wq below the previous one, so tap
// (o, t, u) is offset o·plane + (T−1−t)·wq + (T−1−u) from output (R, Q)'s
// column (m·hq + R)·wq + Q.
type phaseGeom struct {
	t, rn, qn, hq, wq, plane, cols int
}

func (g *convGeom) phaseLay(cnt int) phaseGeom {
	var d phaseGeom
	d.t = (g.k + g.s - 1) / g.s
	d.rn, d.qn = (g.p+g.h-1)/g.s+1, (g.p+g.w-1)/g.s+1
	d.hq = max(d.rn, g.oh) + d.t - 1
	d.wq = max(d.qn, g.ow) + d.t - 1
	d.plane = cnt * d.hq * d.wq
	d.cols = ((cnt-1)*d.hq + d.rn) * d.wq
	return d
}

// gradX sets dx by phases (phaseGeom), a group of images at a time: per
// phase one f32.GemmOffsets over the padded dy, then the phase's pixels
// scattered into dx. Every dx element is written once, by its phase, as
// one f32 sum over (o, t, u) in f32's fixed order (zero where no tap
// reaches it): the result does not depend on the core count.
func (ph *phased) gradX(g *convGeom, dx, w, dy []float32) {
	step := min(g.n, groupSize)
	hw := g.hw()
	threads := runtime.GOMAXPROCS(0)
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		d := g.phaseLay(cnt)
		if ph.cnt != cnt {
			ph.cnt = cnt
			// Zero padding set once; slack for the dropped columns' reads.
			ph.dyp = make([]float32, g.cout*d.plane+(d.t+1)*d.wq+d.t+f32.OffsetSlack)
			ph.wph = make([][]float32, g.s*g.s)
			ph.off = make([][]int, g.s*g.s)
			for a := 0; a < min(g.s, g.k); a++ {
				for b := 0; b < min(g.s, g.k); b++ {
					ta, ub := (g.k-a+g.s-1)/g.s, (g.k-b+g.s-1)/g.s
					ph.wph[a*g.s+b] = make([]float32, g.c*g.cout*ta*ub)
					off := make([]int, g.cout*ta*ub)
					for o := 0; o < g.cout; o++ {
						for t := 0; t < ta; t++ {
							for u := 0; u < ub; u++ {
								off[(o*ta+t)*ub+u] = o*d.plane + (d.t-1-t)*d.wq + (d.t - 1 - u)
							}
						}
					}
					ph.off[a*g.s+b] = off
				}
			}
		}
		parallelFor(cnt*g.cout, hw, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				src := dy[((n0+m)*g.cout+o)*hw:][:hw]
				dst := ph.dyp[o*d.plane+(m*d.hq+d.t-1)*d.wq+d.t-1:]
				for r := 0; r < g.oh; r++ {
					copy(dst[r*d.wq:][:g.ow], src[r*g.ow:][:g.ow])
				}
			}
		})
		ph.tmp = grow(ph.tmp, g.c*d.cols)
		for a := 0; a < g.s; a++ {
			for b := 0; b < g.s; b++ {
				wp := ph.wph[a*g.s+b]
				if wp == nil {
					// No tap reaches this phase: its pixels' gradient is 0.
					ph.scatter(g, &d, dx, n0, cnt, a, b, nil)
					continue
				}
				ta, ub := (g.k-a+g.s-1)/g.s, (g.k-b+g.s-1)/g.s
				kk := g.cout * ta * ub
				for c := 0; c < g.c; c++ {
					for o := 0; o < g.cout; o++ {
						for t := 0; t < ta; t++ {
							for u := 0; u < ub; u++ {
								wp[c*kk+(o*ta+t)*ub+u] = w[((o*g.c+c)*g.k+a+g.s*t)*g.k+b+g.s*u]
							}
						}
					}
				}
				f32.GemmOffsets(g.c, d.cols, kk, wp, kk, ph.dyp, ph.off[a*g.s+b], ph.tmp, d.cols, false, threads)
				ph.scatter(g, &d, dx, n0, cnt, a, b, ph.tmp)
			}
		}
	}
}

// scatter writes phase (a, b)'s pixels of images [n0, n0+cnt) of dx from
// src (C × cols, phaseGeom's columns), or zeros if src is nil.
func (ph *phased) scatter(g *convGeom, d *phaseGeom, dx []float32, n0, cnt, a, b int, src []float32) {
	plane := g.h * g.w
	// The first ih with (ih+P) mod S = a, and likewise iw.
	ih0 := ((a-g.p)%g.s + g.s) % g.s
	iw0 := ((b-g.p)%g.s + g.s) % g.s
	parallelFor(cnt*g.c, plane/(g.s*g.s)+1, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			m, c := i/g.c, i%g.c
			img := dx[((n0+m)*g.c+c)*plane:][:plane]
			for ih := ih0; ih < g.h; ih += g.s {
				row := img[ih*g.w:][:g.w]
				if src == nil {
					for iw := iw0; iw < g.w; iw += g.s {
						row[iw] = 0
					}
					continue
				}
				sr := src[c*d.cols+(m*d.hq+(ih+g.p)/g.s)*d.wq:]
				q := (iw0 + g.p) / g.s
				for iw := iw0; iw < g.w; iw += g.s {
					row[iw] = sr[q]
					q++
				}
			}
		}
	})
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
// plane summed by rowSum; channels split over cores.
func (g *convGeom) gradB(db, dy []float32) {
	hw := g.hw()
	parallelFor(g.cout, g.n*hw, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			var s float32
			for n := 0; n < g.n; n++ {
				s += rowSum(dy[(n*g.cout+o)*hw:][:hw])
			}
			db[o] = s
		}
	})
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
