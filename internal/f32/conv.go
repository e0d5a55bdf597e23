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
	// x: the projection's one-tap channels after the C·K·K depths
	// (convWide with a Proj; zero: none).
	x extraDepths
}

// inPlace implements inPlace: the image and Pack's offsets.
func (q *rowPatches) inPlace(p0, depth int) ([]float32, []int) {
	q.setOffs(p0, depth)
	return q.img, q.offs
}

func (q *rowPatches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	q.setOffs(p0, depth)
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

// setOffs sets q.offs[p] to depth p0+p's offset in the image (pixel r
// adds r).
func (q *rowPatches) setOffs(p0, depth int) {
	g := q.g
	kk := g.K * g.K
	q.offs = q.offs[:0]
	ci, ky, kx := p0/kk, p0%kk/g.K, p0%g.K
	for p := 0; p < depth; p++ {
		if q.x.n > 0 && p0+p >= q.x.body {
			q.offs = append(q.offs, q.x.off(p0+p))
			continue
		}
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
	if ld == g.OW { // no garbage columns
		cb.rp = rowPatches{img: img, g: g, hp: hp, ld: ld, phased: phased, offs: cb.rp.offs}
		Conv(dst, P, P, w, &cb.rp, ep)
		return
	}
	sums, n, ld := convRaw(cb, img, g, phased, w, false, nil, extraDepths{})
	epilogueRows(dst, P, sums, n, 0, ld, g, w, ep)
}

// epilogueRows writes the m output planes of one image (OH×OW, plane o
// at dst[o·ldd:]) from raw sums (output channel o's at sums[o·n:], pixel
// (oy, ox) at x0 + oy·ld + ox): bias, then clamp.
func epilogueRows(dst []float32, ldd int, sums []float32, n, x0, ld int, g ConvGeom, w *Packed, ep *Epilogue) {
	P := g.OH * g.OW
	lo, hi := ep.bounds()
	for o := 0; o < w.rows; o++ {
		var b float32
		if ep.Bias != nil {
			b = ep.Bias[o]
		}
		biasClampRows(dst[o*ldd:o*ldd+P], sums[o*n+x0:(o+1)*n], g.OH, g.OW, ld, b, lo, hi, w.lv.vec)
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

// convSamplePixels is about how many output pixels ConvImages gives one
// GEMM call: small images (7×7, 4×4) are put side by side until their
// outputs fill the micro-kernel's 32-column panels; a 28×28 image runs
// alone.
const convSamplePixels = 512

// pointwiseAlone is the output pixels from which ConvImages runs a
// pointwise convolution image by image: the copies into and out of the
// wide image cost more than the padding of one partly filled panel.
const pointwiseAlone = 128

// wideBuffers are ConvImages' wide image and its phase planes.
type wideBuffers struct{ img, phase, odd []float32 }

var widePool = sync.Pool{New: func() any { return new(wideBuffers) }}

// ConvImages is ConvImage for n unpadded CHW images of one group at once:
// image s is src[s·srcStride:] (g.C planes of H×W), its output dst[s·dstStride:]
// (m planes of OH×OW). Images are convolved a few at a time, side by side
// in one wide zero-padded image (each one's left padding the previous
// one's right padding, columns rounded up to the stride), so that one
// GEMM's panels are filled by several small images instead of one image's
// few pixels and padding; the columns whose windows straddle two images
// are computed and dropped. Each output is the same sum, in the same
// order, as ConvImage's on the image alone: the results are equal bit for
// bit. Small stride-1 maps whose garbage columns would cost more than an
// explicit im2col (useIm2col), and a single image whose column planes
// fill fewer panels (useIm2col1), run on column planes instead
// (convIm2col, im2col.go), again with the same sums in the same order.
func ConvImages(dst []float32, dstStride int, src []float32, srcStride, n int, g ConvGeom, w *Packed, ep *Epilogue) {
	g.check()
	if n <= 0 {
		return
	}
	if g.K == 1 && g.Stride == 1 && g.Pad == 0 && g.H > 1 {
		// A pointwise convolution does not see the planes' rows: each
		// plane is one row of H·W pixels, so the side-by-side images
		// are C long rows each (no garbage columns, no short copies).
		// The sums and their order are the same.
		P := g.H * g.W
		g = ConvGeom{C: g.C, H: 1, W: P, K: 1, Stride: 1, OH: 1, OW: P}
	}
	m, P, size := w.rows, g.OH*g.OW, g.C*g.H*g.W
	checkImages("ConvImages", g, n, size, m*P, src, srcStride, dst, dstStride)
	if g.K == 1 && g.Pad == 0 && g.Stride > 1 {
		subsampledPointwise(dst, dstStride, src, srcStride, n, g, w, ep)
		return
	}
	if useIm2col(g, m) || n == 1 && useIm2col1(g) {
		convIm2col(dst, dstStride, src, srcStride, n, g, w, ep, nil)
		return
	}
	convWide(dst, dstStride, src, srcStride, n, g, w, ep, nil)
}

// convWide is ConvImages on the implicit im2col of the wide image; with
// a Proj (stride 1 only), its subsampled planes follow the wide image's
// channels, one per projection channel, laid out as the wide image's
// output rows (OH rows of the wide width, image s's outputs at column
// s·q), and read as one depth each at the end of the body's depths.
func convWide(dst []float32, dstStride int, src []float32, srcStride, n int, g ConvGeom, w *Packed, ep *Epilogue, pr *Proj) {
	pointwise := g.K == 1 && g.Stride == 1 && g.Pad == 0
	m, P, size := w.rows, g.OH*g.OW, g.C*g.H*g.W
	hp, wp := g.Padded()
	// q: the columns of one image in the wide image (its left padding
	// and its pixels), a multiple of the stride so that every image's
	// outputs start on an output column (at q/Stride·s).
	q := (g.W + g.Pad + g.Stride - 1) / g.Stride * g.Stride
	per := max(1, min(n, convSamplePixels/P))
	if pointwise && P >= pointwiseAlone {
		// Read in place and written in place, image by image: no copy
		// in or out, for a partly filled last panel per image.
		per = 1
	}
	buf := widePool.Get().(*wideBuffers)
	defer widePool.Put(buf)
	for s0 := 0; s0 < n; s0 += per {
		k := min(per, n-s0)
		phased := g.Stride == 2
		if k == 1 && pr == nil {
			img := src[s0*srcStride : s0*srcStride+size]
			switch {
			case phased:
				buf.phase = growF(buf.phase, g.PhaseSize())
				splitPhasesImages(buf.phase, img, size, 1, q, g, g)
				img = buf.phase[:g.PhaseSize()]
			case g.Pad > 0:
				buf.img = growF(buf.img, g.C*hp*wp)
				PadImage(buf.img, img, g.C, g.H, g.W, g.Pad)
				img = buf.img[:g.C*hp*wp]
			}
			ConvImage(dst[s0*dstStride:s0*dstStride+m*P], img, g, phased, w, ep)
			continue
		}
		ww := (k-1)*q + wp // the wide padded image's width
		wg := g
		wg.W, wg.OW = ww-2*g.Pad, (ww-g.K)/g.Stride+1
		var img []float32
		if phased {
			buf.phase = growF(buf.phase, wg.PhaseSize())
			splitPhasesImages(buf.phase, src[s0*srcStride:], srcStride, k, q, g, wg)
			img = buf.phase[:wg.PhaseSize()]
		} else {
			body := g.C * hp * ww
			size := body
			if pr != nil {
				size += pr.C * g.OH * ww
			}
			buf.img = growF(buf.img, size)
			img = buf.img[:size]
			if g.Pad > 0 || q > g.W {
				clear(img[:body]) // padding (every DWCopy below writes all the rest)
			}
			if pr != nil {
				xs := img[body:]
				clear(xs) // the columns between the images
				for s := 0; s < k; s++ {
					for c := 0; c < pr.C; c++ {
						pr.subsample(xs[c*g.OH*ww+s*q:], ww, s0+s, c, g.OH, g.OW, &buf.odd)
					}
				}
			}
			for s := 0; s < k; s++ {
				in := src[(s0+s)*srcStride:]
				for ci := 0; ci < g.C; ci++ {
					DWCopy(img[(ci*hp+g.Pad)*ww+s*q+g.Pad:], ww, in[ci*g.H*g.W:(ci+1)*g.H*g.W], g.W, g.H, g.W)
				}
			}
		}
		// The wide image's outputs, channel o's output row oy at row
		// o·OH + oy of stride ld, the epilogue applied by Conv to each
		// tile after its last block (the same operations as ConvImage's:
		// the sum plus the bias, then the clamp), then each image's block.
		cb := convPool.Get().(*convBuffers)
		var x extraDepths
		if pr != nil {
			x = extraDepths{body: g.C * g.K * g.K, n: pr.C, base: g.C * hp * ww, step: g.OH * ww}
		}
		sums, _, ld := convRaw(cb, img, wg, phased, w, true, ep, x)
		for s := 0; s < k; s++ {
			DWCopy(dst[(s0+s)*dstStride:], g.OW, sums[s*q/g.Stride:], ld, m*g.OH, g.OW)
		}
		convPool.Put(cb)
	}
}

// splitPhasesImages writes the phase planes (SplitPhases) of the wide
// padded image of k images (stride 2; wg its geometry, ConvImages'
// layout: image s's pixels at padded column s·q + Pad) straight from the
// unpadded images (image s at src[s·srcStride:], g.C planes of H×W): the
// same planes as SplitPhases on the padded wide image (for a 1×1 kernel,
// the one plane per channel it reads), with one pass over the pixels
// instead of a copy and a split.
func splitPhasesImages(dst, src []float32, srcStride, k, q int, g, wg ConvGeom) {
	hp, ww := wg.Padded()
	hh, wh := (hp+1)/2, (ww+1)/2
	dst = dst[:wg.PhaseSize()]
	// A 1×1 kernel reads phase (0, 0) only: the others are left as
	// they are (the odd columns of its rows land in phase (0, 1)).
	one := g.K == 1
	if one {
		for ci := 0; ci < g.C; ci++ {
			clear(dst[ci*4*hh*wh : (ci*4+1)*hh*wh])
		}
	} else {
		clear(dst)
	}
	for ci := 0; ci < g.C; ci++ {
		for a := 0; a < 2 && !(one && a == 1); a++ {
			// Rows of padded parity a: iy ≡ a − Pad (mod 2), from phase row r0.
			iy0 := (a - g.Pad%2 + 2) % 2
			rows := (g.H - iy0 + 1) / 2
			if rows <= 0 {
				continue
			}
			r0 := (iy0 + g.Pad) / 2
			for s := 0; s < k; s++ {
				x0 := s*q + g.Pad // padded column of pixel 0
				b := x0 % 2
				even := dst[((ci*4+a*2+b)*hh+r0)*wh+x0/2:]
				odd := dst[((ci*4+a*2+1-b)*hh+r0)*wh+(x0+1)/2:]
				DWSplit2(even, odd, wh, src[s*srcStride+(ci*g.H+iy0)*g.W:], 2*g.W, rows, g.W)
			}
		}
	}
}

// convRaw is ConvImage's sums in cb.sums, with the epilogue ep (nil:
// none, the raw sums): m rows of n, output (oy, ox) at oy·ld + ox; the
// rows are n apart, or OH·ld with planes (then row o·OH + oy of every
// plane is ld apart from the next).
func convRaw(cb *convBuffers, img []float32, g ConvGeom, phased bool, w *Packed, planes bool, ep *Epilogue, x extraDepths) (sums []float32, n, ld int) {
	hp, wp := g.Padded()
	var op Operand
	if g.Stride != 1 && !phased {
		n, ld = g.OH*g.OW, g.OW
		cb.pt = Patches{Img: img, G: g}
		op = &cb.pt
	} else {
		if phased {
			hp, wp = (hp+1)/2, (wp+1)/2
		}
		ld = wp
		n = (g.OH-1)*ld + g.OW
		cb.rp = rowPatches{img: img, g: g, hp: hp, ld: ld, phased: phased, offs: cb.rp.offs, x: x}
		op = &cb.rp
	}
	ldc := n
	if planes {
		ldc = g.OH * ld
	}
	cb.sums = growF(cb.sums, w.rows*ldc)
	Conv(cb.sums, ldc, n, w, op, ep)
	return cb.sums, n, ld
}

// checkImages panics unless src holds n images of size floats at
// srcStride apart and dst n outputs of out floats at dstStride apart
// (the batched convolutions' shared precondition; fn names the caller).
func checkImages(fn string, g ConvGeom, n, size, out int, src []float32, srcStride int, dst []float32, dstStride int) {
	if srcStride < size || dstStride < out || len(src) < (n-1)*srcStride+size || len(dst) < (n-1)*dstStride+out {
		panic(fmt.Sprintf("f32: %s %+v: %d images in %d floats (stride %d), out %d (stride %d)", fn, g, n, len(src), srcStride, len(dst), dstStride))
	}
}
