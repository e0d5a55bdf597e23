package f32

import "sync"

// subsampledFloats bounds the subsampled images subsampledPointwise
// holds at a time (256 KiB).
const subsampledFloats = 1 << 16

// subBuffers are subsampledPointwise's images, the odd columns that
// DWSplit2 splits off, and the outputs of several images side by side.
type subBuffers struct{ img, odd, out []float32 }

var subPool = sync.Pool{New: func() any { return new(subBuffers) }}

// subsampledPointwise is ConvImages for a 1×1 kernel of stride s > 1
// without padding (a ResNet's projection shortcut): it reads only the
// pixels (oy·s, ox·s), so each plane is subsampled (one DWSplit2 at
// stride 2) into a compact plane of OH·OW pixels, and those run as a
// pointwise convolution: no phase planes, no garbage columns. Outputs of
// pointwiseAlone pixels or more are written in place image by image;
// smaller ones are subsampled side by side, plane c of k images one row
// of k·OH·OW pixels, one GEMM for them all, then copied out. The sums
// are over the same C products in the same order (k = C, the same KC
// blocks) as on the phase planes, so the results are the same bits.
func subsampledPointwise(dst []float32, dstStride int, src []float32, srcStride, n int, g ConvGeom, w *Packed, ep *Epilogue) {
	m, P := w.rows, g.OH*g.OW
	per := 1
	if P < pointwiseAlone {
		per = max(1, min(n, subsampledFloats/(g.C*P), convSamplePixels*4/P))
	}
	buf := subPool.Get().(*subBuffers)
	defer subPool.Put(buf)
	buf.img = growF(buf.img, per*g.C*P)
	buf.odd = growF(buf.odd, P)
	for s0 := 0; s0 < n; s0 += per {
		k := min(per, n-s0)
		row := k * P // one plane of the k images
		for s := 0; s < k; s++ {
			for c := 0; c < g.C; c++ {
				plane := src[(s0+s)*srcStride+c*g.H*g.W:][:g.H*g.W]
				out := buf.img[c*row+s*P:][:P]
				if g.Stride == 2 {
					DWSplit2(out, buf.odd, g.OW, plane, 2*g.W, g.OH, g.W)
					continue
				}
				for oy := 0; oy < g.OH; oy++ {
					in := plane[oy*g.Stride*g.W:]
					for ox := range g.OW {
						out[oy*g.OW+ox] = in[ox*g.Stride]
					}
				}
			}
		}
		pg := ConvGeom{C: g.C, H: 1, W: row, K: 1, Stride: 1, OH: 1, OW: row}
		if k == 1 {
			ConvImage(dst[s0*dstStride:s0*dstStride+m*P], buf.img[:g.C*P], pg, false, w, ep)
			continue
		}
		buf.out = growF(buf.out, m*row)
		ConvImage(buf.out, buf.img[:g.C*row], pg, false, w, ep)
		for s := 0; s < k; s++ {
			DWCopy(dst[(s0+s)*dstStride:], P, buf.out[s*P:], row, m, P)
		}
	}
}
