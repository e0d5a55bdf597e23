package f32

import "fmt"

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
type Patches struct {
	Img []float32
	G   ConvGeom
}

// Pack implements Operand.
func (q Patches) Pack(dst []float32, r0, p0, rows, depth, w int) {
	g := q.G
	hp, wp := g.Padded()
	if w > 32 {
		panic("f32: Patches packs panels of at most 32 rows")
	}
	kk := g.K * g.K
	var base [32]int
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		r := r0 + ir
		oy, ox := r/g.OW, r%g.OW
		run := g.Stride == 1 && ox+h <= g.OW // one output row: contiguous input
		for i := 0; i < h; i++ {
			base[i] = oy*g.Stride*wp + ox*g.Stride
			if ox++; ox == g.OW {
				ox, oy = 0, oy+1
			}
		}
		ci, ky, kx := p0/kk, p0%kk/g.K, p0%g.K
		for p := 0; p < depth; p++ {
			off := (ci*hp+ky)*wp + kx
			row := d[p*w : p*w+w]
			if run {
				copy(row[:h], q.Img[off+base[0]:off+base[0]+h])
			} else {
				src := q.Img[off:]
				for i, b := range base[:h] {
					row[i] = src[b]
				}
			}
			clear(row[h:])
			if kx++; kx == g.K {
				if kx, ky = 0, ky+1; ky == g.K {
					ky, ci = 0, ci+1
				}
			}
		}
	}
}

// Depthwise is a depthwise convolution of one CHW image src (G.C planes
// of H×W, unpadded) with the weights w (channel c's K×K at w[c·K·K:])
// into dst (C planes of OH×OW): each output is the sum of its K·K
// products in (ky, kx) order from zero, then the epilogue (bias per
// channel, clamp). Stride 1 runs the vectorised DWSum on the padded
// plane (its rows' columns past OW are computed and dropped); other
// strides a direct loop.
func Depthwise(dst, src, w []float32, g ConvGeom, ep *Epilogue) {
	g.check()
	hp, wp := g.Padded()
	kk := g.K * g.K
	if len(src) < g.C*g.H*g.W || len(dst) < g.C*g.OH*g.OW || len(w) < g.C*kk || ep.Bias != nil && len(ep.Bias) < g.C {
		panic(fmt.Sprintf("f32: Depthwise %+v: slices of %d, %d, %d", g, len(src), len(dst), len(w)))
	}
	buf := epPool.Get().(*epBuffers)
	defer epPool.Put(buf)
	n := (g.OH*wp + DWBlock - 1) / DWBlock * DWBlock // DWSum's outputs (stride 1)
	// The padded plane, with slack for DWSum's reads past its end.
	plane := hp*wp + (g.K-1)*wp + g.K + n
	buf.a = growF(buf.a, plane)
	buf.b = growF(buf.b, n)
	var offs [64]int
	off := offs[:0]
	if kk <= len(offs) {
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				off = append(off, ky*wp+kx)
			}
		}
	} else {
		off = nil
	}
	for c := 0; c < g.C; c++ {
		pp := buf.a
		clear(pp)
		DWCopy(pp[g.Pad*wp+g.Pad:], wp, src[c*g.H*g.W:(c+1)*g.H*g.W], g.W, g.H, g.W)
		wc := w[c*kk : (c+1)*kk]
		out := dst[c*g.OH*g.OW : (c+1)*g.OH*g.OW]
		if g.Stride == 1 && off != nil {
			DWSum(buf.b, pp, off, wc, n, 0, false)
			for oy := 0; oy < g.OH; oy++ {
				ep.rowOutScalar(out[oy*g.OW:(oy+1)*g.OW], buf.b[oy*wp:], c)
			}
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
			ep.rowOutScalar(out[oy*g.OW:(oy+1)*g.OW], t, c)
		}
	}
}
