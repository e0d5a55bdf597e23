package f32

import (
	"fmt"
	"sync"
)

// ConvGeom is a convolution's (or a pooling's) geometry on one CHW image:
// C input channels (of one group) of H×W, a K×K kernel, stride and zero
// padding, and the OH×OW output, OH = (H + 2·Pad − K)/Stride + 1 (and OW).
type ConvGeom struct {
	C, H, W        int
	K, Stride, Pad int
	OH, OW         int
}

// check panics unless g is consistent.
func (g ConvGeom) check() {
	if g.C < 1 || g.H < 1 || g.W < 1 || g.K < 1 || g.Stride < 1 || g.Pad < 0 ||
		g.OH != (g.H+2*g.Pad-g.K)/g.Stride+1 || g.OW != (g.W+2*g.Pad-g.K)/g.Stride+1 || g.OH < 1 || g.OW < 1 {
		panic(fmt.Sprintf("f32: inconsistent convolution geometry %+v", g))
	}
}

// Padded is the size of the padded planes: (H + 2·Pad)×(W + 2·Pad).
func (g ConvGeom) Padded() (hp, wp int) { return g.H + 2*g.Pad, g.W + 2*g.Pad }

// PadImage writes the c planes of h×w in src into dst as planes of
// (h+2·pad)×(w+2·pad) with a zero border (dst holds at least that many).
func PadImage(dst, src []float32, c, h, w, pad int) {
	hp, wp := h+2*pad, w+2*pad
	dst = dst[:c*hp*wp]
	clear(dst)
	for ci := 0; ci < c; ci++ {
		DWCopy(dst[ci*hp*wp+pad*wp+pad:], wp, src[ci*h*w:(ci+1)*h*w], w, h, w)
	}
}

// Patches is the implicit im2col of a CHW image whose planes are already
// zero-padded (Img: G.C planes of Hp×Wp, G.Padded()): the Operand of
// G.OH·G.OW rows (output pixels r = oy·OW + ox) and depth C·K·K,
// p = (ci·K + ky)·K + kx, with
//
//	X[r][p] = Img[(ci·Hp + oy·Stride + ky)·Wp + ox·Stride + kx]
//
// packed straight from the image by Conv, KC×NC at a time: no im2col
// matrix is ever stored. Runs of a stride-1 output row are copied whole.
//
// With Phased (stride 2 only), Img holds instead the image's four phase
// planes per channel (SplitPhases), in which a stride-2 window row is
// contiguous: every run is then a copy.
type Patches struct {
	Img    []float32
	G      ConvGeom
	Phased bool
}

// PhaseSize is the number of floats SplitPhases writes for g (stride 2):
// 4 planes of ⌈Hp/2⌉×⌈Wp/2⌉ per channel.
func (g ConvGeom) PhaseSize() int {
	hp, wp := g.Padded()
	return g.C * 4 * ((hp + 1) / 2) * ((wp + 1) / 2)
}

// SplitPhases writes the phase planes of the padded image img (g.C planes
// of Hp×Wp) into dst: plane (ci, a, b) holds the pixels of rows ≡ a and
// columns ≡ b (mod 2), ⌈Hp/2⌉×⌈Wp/2⌉ (unused corners zero).
func SplitPhases(dst, img []float32, g ConvGeom) {
	hp, wp := g.Padded()
	hh, wh := (hp+1)/2, (wp+1)/2
	dst = dst[:g.PhaseSize()]
	clear(dst)
	for ci := 0; ci < g.C; ci++ {
		for a := 0; a < 2 && a < hp; a++ {
			even := dst[((ci*4+a*2)*hh)*wh:]
			odd := dst[((ci*4+a*2+1)*hh)*wh:]
			DWSplit2(even, odd, wh, img[(ci*hp+a)*wp:], 2*wp, (hp-a+1)/2, wp)
		}
	}
}

// Pack implements Operand. A panel's w pixels fall in a few output
// rows; each row's run of pixels (a segment) reads one input row per
// depth p: a copy at stride 1, a strided gather otherwise.
func (q Patches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	g := q.G
	hp, wp := g.Padded()
	// The image's row stride and the step between a panel's pixels.
	ld, step := wp, g.Stride
	if q.Phased {
		if g.Stride != 2 {
			panic("f32: phase planes are for stride 2")
		}
		hp, wp = (hp+1)/2, (wp+1)/2
		ld, step = wp, 1
	}
	if w > 32 {
		panic("f32: Patches packs panels of at most 32 rows")
	}
	kk := g.K * g.K
	type segment struct{ i0, n, base int }
	var segs [33]segment
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		r := r0 + ir
		oy, ox := r/g.OW, r%g.OW
		ns := 0
		for i := 0; i < h; {
			n := min(h-i, g.OW-ox)
			segs[ns] = segment{i, n, oy*step*ld + ox*step}
			ns++
			i += n
			ox, oy = 0, oy+1
		}
		ci, ky, kx := p0/kk, p0%kk/g.K, p0%g.K
		for p := 0; p < depth; p++ {
			off := (ci*hp+ky)*wp + kx
			if q.Phased {
				off = ((ci*4+ky%2*2+kx%2)*hp+ky/2)*wp + kx/2
			}
			row := d[p*w : p*w+w]
			for _, sg := range segs[:ns] {
				src := q.Img[off+sg.base:]
				out := row[sg.i0 : sg.i0+sg.n]
				if step == 1 {
					copyShort(out, src[:sg.n])
					continue
				}
				src = src[:(sg.n-1)*step+1]
				for t := range out {
					out[t] = src[t*step]
				}
			}
			if h < w {
				clear(row[h:])
			}
			if kx++; kx == g.K {
				if kx, ky = 0, ky+1; ky == g.K {
					ky, ci = 0, ci+1
				}
			}
		}
	}
}

// rowPatches is Patches over extended pixels: row r = oy·ld + ox with ox
// running over the whole row stride ld of the (padded, or phase) planes,
// so that a panel's pixels are one contiguous run of the image for every
// depth p — one copy per depth and panel. The outputs at ox ≥ OW are
// garbage that ConvImage drops.
type rowPatches struct {
	img    []float32
	g      ConvGeom
	hp, ld int
	phased bool
	offs   []int // Pack's per-depth offsets (kept: no allocation per call)
}

func (q *rowPatches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	g := q.g
	kk := g.K * g.K
	// offs[p] is depth p0+p's offset in the image; pixel r adds r.
	q.offs = q.offs[:0]
	ci, ky, kx := p0/kk, p0%kk/g.K, p0%g.K
	for p := 0; p < depth; p++ {
		off := (ci*q.hp+ky)*q.ld + kx
		if q.phased {
			off = ((ci*4+ky%2*2+kx%2)*q.hp+ky/2)*q.ld + kx/2
		}
		q.offs = append(q.offs, off)
		if kx++; kx == g.K {
			if kx, ky = 0, ky+1; ky == g.K {
				ky, ci = 0, ci+1
			}
		}
	}
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		r := r0 + ir
		if h == w && packRuns(d, q.img, r, q.offs, w) {
			continue
		}
		for p, off := range q.offs {
			row := d[p*w : p*w+w]
			copyShort(row[:h], q.img[off+r:off+r+h])
			if h < w {
				clear(row[h:])
			}
		}
	}
}

// convBuffers are ConvImage's operands and raw sums (pooled: an operand
// passed as an interface would otherwise be allocated per call).
type convBuffers struct {
	sums []float32
	rp   rowPatches
	pt   Patches
}

var convPool = sync.Pool{New: func() any { return new(convBuffers) }}

// ConvImage is a whole convolution of one image by w (from PackA, m
// output channels) into dst (m planes of OH×OW), with the epilogue. img
// holds the zero-padded planes (PadImage; the image itself when Pad is
// 0), or, with phased (stride 2), their phase planes (SplitPhases).
// Stride 1, and stride 2 from phase planes, multiply extended pixels
// (rowPatches: one copy per depth and panel of 16 or 32 pixels) and drop
// the garbage columns in the epilogue; other strides pack Patches. The
// sums are the same as Conv's on Patches, in the same order.
func ConvImage(dst, img []float32, g ConvGeom, phased bool, w *Packed, ep *Epilogue) {
	g.check()
	P := g.OH * g.OW
	hp, ld := g.Padded()
	if phased {
		hp, ld = (hp+1)/2, (ld+1)/2
	}
	cb := convPool.Get().(*convBuffers)
	defer convPool.Put(cb)
	if g.Stride != 1 && !phased {
		cb.pt = Patches{Img: img, G: g}
		Conv(dst, P, P, w, &cb.pt, ep)
		return
	}
	cb.rp = rowPatches{img: img, g: g, hp: hp, ld: ld, phased: phased, offs: cb.rp.offs}
	if ld == g.OW { // no garbage columns
		Conv(dst, P, P, w, &cb.rp, ep)
		return
	}
	n := (g.OH-1)*ld + g.OW
	m := w.rows
	cb.sums = growF(cb.sums, m*n)
	Conv(cb.sums, n, n, w, &cb.rp, nil)
	lo, hi := ep.bounds()
	for o := 0; o < m; o++ {
		var b float32
		if ep.Bias != nil {
			b = ep.Bias[o]
		}
		biasClampRows(dst[o*P:(o+1)*P], cb.sums[o*n:(o+1)*n], g.OH, g.OW, ld, b, lo, hi, w.lv.vec)
	}
}

// biasClampRowsGo is biasClampRows in Go.
func biasClampRowsGo(dst, src []float32, rows, ow, ld int, b, lo, hi float32) {
	for y := 0; y < rows; y++ {
		d, s := dst[y*ow:(y+1)*ow], src[y*ld:y*ld+ow]
		for x, v := range s {
			d[x] = min(max(v+b, lo), hi)
		}
	}
}

// Depthwise is a depthwise convolution of one CHW image src (G.C planes
// of H×W, unpadded) with the weights w (channel c's K×K at w[c·K·K:])
// into dst (C planes of OH×OW): each output is the sum of its K·K
// products in (ky, kx) order from zero, then the epilogue (bias per
// channel, clamp). Strides 1 and 2 run the vectorised DWSum on the
// padded plane or its phase planes (the columns past OW of each row are
// computed and dropped); other strides, and kernels of more than 64
// taps, a direct loop.
func Depthwise(dst, src, w []float32, g ConvGeom, ep *Epilogue) {
	g.check()
	hp, wp := g.Padded()
	kk := g.K * g.K
	if len(src) < g.C*g.H*g.W || len(dst) < g.C*g.OH*g.OW || len(w) < g.C*kk || ep.Bias != nil && len(ep.Bias) < g.C {
		panic(fmt.Sprintf("f32: Depthwise %+v: slices of %d, %d, %d", g, len(src), len(dst), len(w)))
	}
	buf := epPool.Get().(*epBuffers)
	defer epPool.Put(buf)
	// DWSum runs on the padded plane (stride 1) or on its four phase
	// planes (stride 2: plane (a, b) holds rows ≡ a, columns ≡ b mod 2,
	// hh×wh), where output row oy starts at oy·ld and tap (ky, kx) is at
	// a fixed offset.
	hh, wh := (hp+1)/2, (wp+1)/2
	ld, dwsum := wp, kk <= 64 && (g.Stride == 1 || g.Stride == 2)
	if g.Stride == 2 {
		ld = wh
	}
	n := (g.OH*ld + DWBlock - 1) / DWBlock * DWBlock // DWSum's outputs
	var offs [64]int
	off := offs[:0]
	for ky := 0; ky < g.K && dwsum; ky++ {
		for kx := 0; kx < g.K; kx++ {
			if g.Stride == 1 {
				off = append(off, ky*wp+kx)
			} else {
				off = append(off, (ky%2*2+kx%2)*hh*wh+ky/2*wh+kx/2)
			}
		}
	}
	// The padded plane, and the phase planes after it, each with slack
	// for DWSum's reads past its end (zeros).
	plane := hp*wp + (g.K-1)*wp + g.K + n
	phases := 4*hh*wh + n
	buf.a = growF(buf.a, plane+phases)
	buf.b = growF(buf.b, n+g.OW)
	pp, ph := buf.a[:plane], buf.a[plane:]
	lo, hi := ep.bounds()
	clear(buf.a) // borders and slack stay zero: every channel writes the same places
	for c := 0; c < g.C; c++ {
		DWCopy(pp[g.Pad*wp+g.Pad:], wp, src[c*g.H*g.W:(c+1)*g.H*g.W], g.W, g.H, g.W)
		wc := w[c*kk : (c+1)*kk]
		out := dst[c*g.OH*g.OW : (c+1)*g.OH*g.OW]
		if dwsum {
			in := pp
			if g.Stride == 2 {
				for a := 0; a < 2 && a < hp; a++ {
					DWSplit2(ph[a*2*hh*wh:], ph[(a*2+1)*hh*wh:], wh, pp[a*wp:], 2*wp, (hp-a+1)/2, wp)
				}
				in = ph
			}
			DWSum(buf.b, in, off, wc, n, 0, false)
			var b float32
			if ep.Bias != nil {
				b = ep.Bias[c]
			}
			biasClampRows(out, buf.b, g.OH, g.OW, ld, b, lo, hi, activeLevel.vec)
			continue
		}
		t := buf.b[:g.OW]
		for oy := 0; oy < g.OH; oy++ {
			clear(t)
			for ky := 0; ky < g.K; ky++ {
				rowIn := pp[(oy*g.Stride+ky)*wp:]
				for kx := 0; kx < g.K; kx++ {
					wt := wc[ky*g.K+kx]
					in := rowIn[kx:]
					for ox := range t {
						t[ox] += wt * in[ox*g.Stride]
					}
				}
			}
			ep.rowOutScalar(out[oy*g.OW:(oy+1)*g.OW], t, c, activeLevel.vec)
		}
	}
}

// copyShort is copy for the short runs of a panel: one memmove call
// (an [8]float32 assignment compiles to one call per eight floats).
func copyShort(dst, src []float32) { copy(dst, src) }
