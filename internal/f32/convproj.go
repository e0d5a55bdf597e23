package f32

import "fmt"

// This file holds ConvImagesProj: a ResNet block's projection shortcut
// (a 1×1 convolution of any stride) folded into the block's last
// convolution as extra one-tap depths, on ConvImages' wide image
// (convWide) or column planes (convIm2col).

// Proj is a second input summed into a convolution's products through a
// 1×1 kernel of stride Stride without padding: a ResNet block's
// projection shortcut folded into the block's last convolution, so that
// the shortcut's GEMM, its output and the residual add are not needed.
// Image s of it is Src[s·SrcStride:], C planes of H×W, and its pixel
// (oy·Stride, ox·Stride) meets output pixel (oy, ox): (H−1)/Stride + 1
// is the convolution's OH, and likewise for W.
type Proj struct {
	Src       []float32
	SrcStride int
	C, H, W   int
	Stride    int
}

// subsample writes plane c of image s's subsampled pixels, the OH×OW
// pixels (oy·Stride, ox·Stride), into dst with row stride ld; odd is
// DWSplit2's scratch for the odd columns it splits off (stride 2).
func (pr *Proj) subsample(dst []float32, ld, s, c, oh, ow int, odd *[]float32) {
	plane := pr.Src[s*pr.SrcStride+c*pr.H*pr.W:][:pr.H*pr.W]
	switch pr.Stride {
	case 1:
		DWCopy(dst, ld, plane, pr.W, oh, ow)
	case 2:
		*odd = growF(*odd, (oh-1)*ld+pr.W/2)
		DWSplit2(dst, *odd, ld, plane, 2*pr.W, oh, pr.W)
	default:
		for oy := 0; oy < oh; oy++ {
			in, out := plane[oy*pr.Stride*pr.W:], dst[oy*ld:oy*ld+ow]
			for ox := range out {
				out[ox] = in[ox*pr.Stride]
			}
		}
	}
}

// ConvImagesProj is ConvImages (stride 1, K > 1) with the projection pr
// summed into each output: w (PackA) holds, for output channel o, the
// C·K·K weights of the convolution followed by the pr.C weights of the
// projection, and ep's bias is the sum of both biases. Each output is
// the sum of those C·K·K + pr.C products in that order (the same KC
// blocks as any Conv), plus the bias, then the clamp — the same bits
// whatever n, and on the wide image or the column planes alike.
func ConvImagesProj(dst []float32, dstStride int, src []float32, srcStride, n int, g ConvGeom, w *Packed, ep *Epilogue, pr *Proj) {
	g.check()
	if n <= 0 {
		return
	}
	m, P, size := w.rows, g.OH*g.OW, g.C*g.H*g.W
	psize := pr.C * pr.H * pr.W
	if g.Stride != 1 || g.K < 2 || pr.C < 1 || pr.Stride < 1 || (pr.H-1)/pr.Stride+1 != g.OH || (pr.W-1)/pr.Stride+1 != g.OW ||
		w.k != g.C*g.K*g.K+pr.C || len(src) < (n-1)*srcStride+size || len(dst) < (n-1)*dstStride+m*P || srcStride < size || dstStride < m*P ||
		pr.SrcStride < psize || len(pr.Src) < (n-1)*pr.SrcStride+psize {
		panic(fmt.Sprintf("f32: ConvImagesProj %+v (%d×%d weights) with a %d×%d×%d projection of stride %d: %d images in %d floats (stride %d), %d (stride %d), out %d (stride %d)",
			g, m, w.k, pr.C, pr.H, pr.W, pr.Stride, n, len(src), srcStride, len(pr.Src), pr.SrcStride, len(dst), dstStride))
	}
	if useIm2col(g, m) {
		convIm2col(dst, dstStride, src, srcStride, n, g, w, ep, pr)
		return
	}
	convWide(dst, dstStride, src, srcStride, n, g, w, ep, pr)
}

// extraDepths are a Proj's depths after a convolution's own body depths:
// depth body + c (c < n) at offset base + c·step, read at pixel r's
// offset plus r like the others.
type extraDepths struct{ body, n, base, step int }

// off is extra depth p's offset (p ≥ body).
func (x extraDepths) off(p int) int { return x.base + (p-x.body)*x.step }
