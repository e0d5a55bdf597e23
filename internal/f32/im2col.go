package f32

import "sync"

// This file holds ConvImages' explicit im2col for small output maps. The
// implicit im2col (rowPatches) multiplies extended pixels: every output
// row of the wide image carries the columns whose windows straddle two
// images or the padding, about (W+Pad)/W − 1 of the work (25% at 4×4,
// 14% at 7×7). For a small map with many output channels that waste
// costs more than writing the im2col out: im2colMat stores the K·K·C
// depths of exactly the images' output pixels, and the GEMM (Conv, the
// same kernels and the same KC blocks in the same order) reads it in
// place. The sums are the same products in the same order as
// ConvImage's: the results are equal bit for bit.

// im2colMat is an explicit im2col: depth p of pixel r at x[p·ld + r]
// (Dense's transposed layout), read in place by the kernels that take
// row offsets.
type im2colMat struct {
	x    []float32
	ld   int
	offs []int
}

func (q *im2colMat) inPlace(p0, depth int) ([]float32, []int) {
	q.offs = q.offs[:0]
	for p := p0; p < p0+depth; p++ {
		q.offs = append(q.offs, p*q.ld)
	}
	return q.x, q.offs
}

func (q *im2colMat) Pack(dst []float32, r0, p0, rows, depth, w int) {
	pack(dst, q.x, q.ld, true, r0, p0, rows, depth, w)
}

// im2colCopy is the work of writing one float of the im2col, in
// multiply-adds of the GEMM (short runs of a few floats: ~8 G floats/s
// against ~65 G FMA/s).
const im2colCopy = 8

// im2colFloats bounds the im2col one GEMM call reads (256 KiB): it stays
// in L2 with the weights.
const im2colFloats = 1 << 16

// useIm2col reports whether ConvImages runs g (stride 1 or 2, m output
// channels) on an explicit im2col: when the multiply-adds spent on the
// wide image's garbage columns, m·K·(q/Stride − OW)·OH per image, exceed
// the cost of writing its K·OH·OW floats. Work counted, not timed.
func useIm2col(g ConvGeom, m int) bool {
	if g.K == 1 || g.Stride > 2 || g.OH*g.OW > 64 {
		return false
	}
	q := (g.W + g.Pad + g.Stride - 1) / g.Stride * g.Stride
	garbage := q/g.Stride - g.OW
	return garbage > 0 && m*garbage > im2colCopy*g.OW
}

// im2colBuffers are convIm2col's wide image (or phase planes), im2col
// and sums.
type im2colBuffers struct {
	img, x, sums []float32
	mat          im2colMat
}

var im2colPool = sync.Pool{New: func() any { return new(im2colBuffers) }}

// convIm2col is ConvImages (same arguments, stride 1 or 2) on an
// explicit im2col of a few images at a time.
func convIm2col(dst []float32, dstStride int, src []float32, srcStride, n int, g ConvGeom, w *Packed, ep *Epilogue) {
	m, P, kk := w.rows, g.OH*g.OW, g.C*g.K*g.K
	hp, wp := g.Padded()
	q := (g.W + g.Pad + g.Stride - 1) / g.Stride * g.Stride
	per := max(1, min(n, im2colFloats/(kk*P)))
	buf := im2colPool.Get().(*im2colBuffers)
	defer im2colPool.Put(buf)
	phased := g.Stride == 2
	for s0 := 0; s0 < n; s0 += per {
		k := min(per, n-s0)
		ww := (k-1)*q + wp
		wg := g
		wg.W, wg.OW = ww-2*g.Pad, (ww-g.K)/g.Stride+1
		// The wide padded image (ConvImages' layout) or its phase
		// planes: plane rows ld apart, image s's output column 0 at
		// s·q/Stride, tap (ci, ky, kx) of output (oy, ox) at
		// tap + oy·ld + ox.
		var img []float32
		ph, ld := hp, ww
		if phased {
			buf.img = growF(buf.img, wg.PhaseSize())
			splitPhasesImages(buf.img, src[s0*srcStride:], srcStride, k, q, g, wg)
			img = buf.img[:wg.PhaseSize()]
			ph, ld = (hp+1)/2, (ww+1)/2
		} else {
			buf.img = growF(buf.img, g.C*hp*ww)
			img = buf.img[:g.C*hp*ww]
			clear(img)
			for s := 0; s < k; s++ {
				in := src[(s0+s)*srcStride:]
				for ci := 0; ci < g.C; ci++ {
					DWCopy(img[(ci*hp+g.Pad)*ww+s*q+g.Pad:], ww, in[ci*g.H*g.W:(ci+1)*g.H*g.W], g.W, g.H, g.W)
				}
			}
		}
		N := k * P
		buf.x = growF(buf.x, kk*N)
		x := buf.x[:kk*N]
		p := 0
		for ci := 0; ci < g.C; ci++ {
			for ky := 0; ky < g.K; ky++ {
				for kx := 0; kx < g.K; kx++ {
					tap := (ci*ph+ky)*ld + kx
					if phased {
						tap = ((ci*4+ky%2*2+kx%2)*ph+ky/2)*ld + kx/2
					}
					im2colRow(x[p*N:(p+1)*N], img[tap:], ld, q/g.Stride, k, g.OH, g.OW)
					p++
				}
			}
		}
		buf.mat = im2colMat{x: x, ld: N, offs: buf.mat.offs}
		if k == 1 {
			Conv(dst[s0*dstStride:], P, P, w, &buf.mat, ep)
			continue
		}
		buf.sums = growF(buf.sums, m*N)
		Conv(buf.sums, N, N, w, &buf.mat, ep)
		for s := 0; s < k; s++ {
			DWCopy(dst[(s0+s)*dstStride:], P, buf.sums[s*P:], N, m, P)
		}
	}
}

// im2colRow writes one depth of the im2col: for image s < k and output
// (oy, ox), d[(s·oh + oy)·ow + ox] = src[s·qs + oy·ld + ox].
func im2colRow(d, src []float32, ld, qs, k, oh, ow int) {
	i := 0
	switch ow {
	case 4:
		for s := 0; s < k; s++ {
			for oy := 0; oy < oh; oy++ {
				o := s*qs + oy*ld
				*(*[4]float32)(d[i : i+4]) = *(*[4]float32)(src[o : o+4])
				i += 4
			}
		}
	case 7:
		for s := 0; s < k; s++ {
			for oy := 0; oy < oh; oy++ {
				o := s*qs + oy*ld
				*(*[4]float32)(d[i : i+4]) = *(*[4]float32)(src[o : o+4])
				*(*[3]float32)(d[i+4 : i+7]) = *(*[3]float32)(src[o+4 : o+7])
				i += 7
			}
		}
	case 8:
		for s := 0; s < k; s++ {
			for oy := 0; oy < oh; oy++ {
				o := s*qs + oy*ld
				*(*[4]float32)(d[i : i+4]) = *(*[4]float32)(src[o : o+4])
				*(*[4]float32)(d[i+4 : i+8]) = *(*[4]float32)(src[o+4 : o+8])
				i += 8
			}
		}
	default:
		for s := 0; s < k; s++ {
			for oy := 0; oy < oh; oy++ {
				o := s*qs + oy*ld
				copy(d[i:i+ow], src[o:o+ow])
				i += ow
			}
		}
	}
}
