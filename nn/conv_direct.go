package nn

import (
	"runtime"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
)

// direct is the scratch of a convolution run by f32.GemmOffsets and
// f32.DotRows on a padded layout (see dgeom): the padded input, the
// offsets of the taps, the output, dy on the output columns.
type direct struct {
	groups   []padded  // the layout of each group of images
	tmp, dyp []float32 // run's output; gradW's dy on the output columns
	dypCols  int       // the output columns dyp is laid out for
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
	// dyFrom, if set, is the direct scratch of the same convolution's
	// stride-1 input gradient (conv.gradXConv, a convolution of dy): when
	// it ran on this dy (fresh), gradW reads dy from its layout instead of
	// spreading dy again (see gradW).
	dyFrom *direct
	sc     f32.OffsetScratch // GemmOffsets' and DotRows' working space
	tiles  f32.OffsetTiles   // run's packed weights when it writes y in place
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
	// A multiple of 16: with the layout's first pixel 64-byte aligned
	// (layout), every channel's is, so when gradW reads a layout of dy as
	// DotRows' A, its rows start on a cache line.
	d.plane = (rows*d.wq + 15) &^ 15
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
		// columns past the last plane. The first pixel (row P, column P)
		// on a cache line, as every channel's then is (dgeom.plane).
		pd.xp = f32.Aligned(g.c*ss*dg.plane+(g.k/g.s+2)*dg.wq+g.k+f32.OffsetSlack, g.p*dg.wq+g.p)
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
	par.For(g.c*cnt, par.Pass(inPlane, 1), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			c, m := i/cnt, i%cnt
			src := x[((n0+m)*g.c+c)*inPlane:][:inPlane]
			switch g.s {
			case 1:
				// The plane at row m·step+P, column P, in one call.
				f32.DWCopy(xp[c*dg.plane+(m*dg.step+g.p)*dg.wq+g.p:], dg.wq, src, g.w, g.h, g.w)
				continue
			case 2:
				// Rows ih of parity a' go to phase row a = (ih+P) mod 2 from
				// row (ih+P)/2 on; their even columns to phase column
				// P mod 2 from column P/2, the odd ones to (P+1) mod 2 from
				// (P+1)/2.
				// Phase row a holds the taps i ≡ a (mod 2): none at a ≥ K
				// (a 1×1 shortcut reads only the even rows' phases),
				// whose planes are left as they are (zero; never read
				// for a kept column).
				for a := 0; a < min(2, g.k); a++ {
					ih0 := (a - g.p%2 + 2) % 2
					if ih0 >= g.h {
						continue
					}
					base := c*4*dg.plane + (m*dg.step+(ih0+g.p)/2)*dg.wq
					even := xp[base+(2*a+g.p%2)*dg.plane+g.p/2:]
					odd := xp[base+(2*a+(g.p+1)%2)*dg.plane+(g.p+1)/2:]
					f32.DWSplit2(even, odd, dg.wq, src[ih0*g.w:], 2*g.w, (g.h-ih0+1)/2, g.w)
				}
				continue
			}
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
//
// At stride 1 the input gradient's layout of dy (dyFrom, padded by
// P' = K−1−P) has the same row step H+P = OH+P' and width W+P = OW+P' as
// dgeom's output columns, so dy's column (m·step + oh)·wq + ow is its
// element P'·wq + P' further on, and the dropped columns and rows fall on
// its zero padding: after dyFrom ran on dy, gradW reads dy there in
// place (the same numbers, so the same sums).
func (d *direct) gradW(g *convGeom, dw, x, dy []float32) {
	step := min(g.n, groupSize)
	hw := g.hw()
	reuse := d.fresh && len(x) > 0 && d.src == &x[0]
	d.fresh = false
	dl := d.dyFrom
	dyReuse := dl != nil && dl.fresh && g.s == 1 && len(dy) > 0 && dl.src == &dy[0]
	if dl != nil {
		dl.fresh = false
	}
	gT := convGeom{n: g.n, c: g.cout, h: g.oh, w: g.ow, cout: g.c, k: g.k, s: 1, p: g.k - 1 - g.p, oh: g.h, ow: g.w}
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		var dg dgeom
		var pd *padded
		if reuse {
			dg, pd = g.dlay(cnt), &d.groups[n0/groupSize]
		} else {
			dg, pd = d.layout(g, x, n0, cnt)
		}
		if dyReuse {
			dT := gT.dlay(cnt)
			if gi := n0 / groupSize; dT.step == dg.step && dT.wq == dg.wq && gi < len(dl.groups) && dl.groups[gi].cnt == cnt {
				d.sc.DotRows(g.cout, g.ckk(), dg.cols, dl.groups[gi].xp[gT.p*dT.wq+gT.p:], dT.plane, pd.xp, pd.off, dw, g.ckk(), n0 > 0, runtime.GOMAXPROCS(0))
				continue
			}
		}
		// dyp's rows start on cache lines (DotRows reads them as A). The
		// columns fix the group size, and with it the dropped columns,
		// which stay zero.
		ld := (dg.cols + 15) &^ 15
		if d.dypCols != dg.cols || len(d.dyp) != g.cout*ld {
			d.dyp, d.dypCols = f32.Aligned(g.cout*ld, 0), dg.cols
		}
		par.For(cnt*g.cout, par.Pass(hw, 1), func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				src := dy[((n0+m)*g.cout+o)*hw:][:hw]
				f32.DWCopy(d.dyp[o*ld+m*dg.step*dg.wq:], dg.wq, src, g.ow, g.oh, g.ow)
			}
		})
		d.sc.DotRows(g.cout, g.ckk(), dg.cols, d.dyp, ld, pd.xp, pd.off, dw, g.ckk(), n0 > 0, runtime.GOMAXPROCS(0))
	}
}

// run sets y (N, Cout, OH, OW) to the convolution of x with w, plus b[o]
// if b is not nil, with no im2col packing: a group of images is copied
// once into dgeom's layout, where the GEMM reads B's rows in place
// (f32.GemmOffsets), then the valid columns are copied out. Where the
// output rows are whole GEMM tiles wide (OW a multiple of NR: resnet20's
// first stack, 32 columns on AVX-512), the tiles of each output row are
// written into y in place instead (f32.OffsetTiles), an image at a time
// followed by its bias: no scratch to copy out, no dropped column
// computed.
//
// Each output element is one f32 sum over (c, i, j) in f32's fixed order
// plus the bias, the same bits either way: the result does not depend on
// the core count, and it differs from the packed path (convolve) only in
// rounding.
func (d *direct) run(g *convGeom, y, x, w, b []float32) {
	step := min(g.n, groupSize)
	hw := g.hw()
	ckk := g.ckk()
	threads := runtime.GOMAXPROCS(0)
	nr := f32.TileWidth(g.cout)
	inPlace := g.ow%nr == 0
	if inPlace {
		d.tiles.PackA(g.cout, ckk, w, ckk)
	}
	for n0 := 0; n0 < g.n; n0 += step {
		cnt := min(step, g.n-n0)
		dg, pd := d.layout(g, x, n0, cnt)
		if inPlace {
			per := g.oh * g.ow / nr // tiles per image
			par.For(cnt, g.cout*ckk*hw+par.Pass(g.cout*hw, g.cout), func(m0, m1 int) {
				j0, dst := make([]int, per), make([]int, per)
				for m := m0; m < m1; m++ {
					base := (n0 + m) * g.cout * hw
					for t := range j0 {
						oh, q := t/(g.ow/nr), t%(g.ow/nr)
						j0[t] = (m*dg.step+oh)*dg.wq + q*nr
						dst[t] = base + oh*g.ow + q*nr
					}
					d.tiles.Tiles(pd.xp, pd.off, j0, dst, y, hw)
					if b != nil {
						for o := 0; o < g.cout; o++ {
							plane := y[base+o*hw:][:hw]
							f32.AddBiasRows(plane, hw, plane, hw, 1, hw, b[o])
						}
					}
				}
			})
			continue
		}
		d.tmp = grow(d.tmp, g.cout*dg.cols)
		d.sc.GemmOffsets(g.cout, dg.cols, ckk, w, ckk, pd.xp, pd.off, d.tmp, dg.cols, false, threads)
		par.For(cnt*g.cout, par.Pass(hw, 1), func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				m, o := i/g.cout, i%g.cout
				dst := y[((n0+m)*g.cout+o)*hw:][:hw]
				src := d.tmp[o*dg.cols+m*dg.step*dg.wq:]
				if b == nil {
					f32.DWCopy(dst, g.ow, src, dg.wq, g.oh, g.ow)
				} else {
					f32.AddBiasRows(dst, g.ow, src, dg.wq, g.oh, g.ow, b[o])
				}
			}
		})
	}
	if len(x) > 0 {
		d.fresh, d.src = d.keep, &x[0]
	}
	if d.dyFrom != nil {
		// A new forward pass: a layout of dy is the last step's.
		d.dyFrom.fresh = false
	}
}

// layoutPatches is patches' transposed operand (rows are patch elements,
// depth runs over pixels) read from the forward pass's layout of x (the
// batch's one group, fresh: see direct.fresh) instead of from x: patch
// element r of pixel (m, oh, ow) is xp[off[r] + (m·step + oh)·wq + ow],
// the padding's zeros included, so packing needs no bounds tests where
// packPatchRows tests every window that crosses the border (at 4×4 with
// padding 1, 12 pixels of 16). The elements are patches', so the GEMM's
// sums are the same bits.
type layoutPatches struct {
	g   *convGeom
	dg  dgeom
	xp  []float32
	off []int
}

// layoutPatches returns the layout of x as a GEMM operand if run left
// one (fresh, of x, a single group) and marks it read, as gradW does.
func (d *direct) layoutPatches(g *convGeom, x []float32) (layoutPatches, bool) {
	if !d.fresh || len(x) == 0 || d.src != &x[0] || g.n > groupSize || len(d.groups) == 0 || d.groups[0].cnt != g.n {
		return layoutPatches{}, false
	}
	d.fresh = false
	pd := &d.groups[0]
	return layoutPatches{g: g, dg: g.dlay(g.n), xp: pd.xp, off: pd.off}, true
}

func (lp layoutPatches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	g := lp.g
	hw := g.hw()
	col := make([]int, depth)
	for p := range col {
		q := p0 + p
		m, rem := q/hw, q%hw
		col[p] = (m*lp.dg.step+rem/g.ow)*lp.dg.wq + rem%g.ow
	}
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		offs := lp.off[r0+ir : r0+ir+h]
		for p, c := range col {
			dp := d[p*w : p*w+w]
			src := lp.xp[c:]
			for j, o := range offs {
				dp[j] = src[o]
			}
			clear(dp[h:])
		}
	}
}
