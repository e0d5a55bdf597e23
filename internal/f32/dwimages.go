package f32

import "fmt"

// dwImagesFloats bounds the wide padded plane of DepthwiseImages (64 KiB).
const dwImagesFloats = 1 << 14

// DepthwiseImages is Depthwise for n CHW images at once: image s is
// src[s·srcStride:] (g.C planes of H×W), its output dst[s·dstStride:]
// (g.C planes of OH×OW). For strides 1 and 2 (kernels of at most 64
// taps) a channel of several images is laid side by side in one wide
// zero-padded plane (ConvImages' layout: each image's left padding the
// previous one's right padding, columns rounded up to the stride), and
// one DWSum call covers them all instead of one short call per image and
// channel; each output is the same sum of the same values in the same
// order as Depthwise's, then the same epilogue, so the results are equal
// bit for bit. Other geometries run Depthwise image by image.
func DepthwiseImages(dst []float32, dstStride int, src []float32, srcStride, n int, w []float32, g ConvGeom, ep *Epilogue) {
	g.check()
	if n <= 0 {
		return
	}
	kk, size, P := g.K*g.K, g.C*g.H*g.W, g.OH*g.OW
	if srcStride < size || dstStride < g.C*P || len(src) < (n-1)*srcStride+size || len(dst) < (n-1)*dstStride+g.C*P ||
		len(w) < g.C*kk || ep.Bias != nil && len(ep.Bias) < g.C {
		panic(fmt.Sprintf("f32: DepthwiseImages %+v: %d images in %d floats (stride %d), out %d (stride %d), %d weights",
			g, n, len(src), srcStride, len(dst), dstStride, len(w)))
	}
	if dwDirectHere(g) && n == 1 && g.OW >= dwDirectMinOW {
		// Straight from the image into the outputs (dwdirect.go): the
		// same operations, no padded planes. Only for one image: with
		// several, the padded planes (the images side by side) measured
		// faster (CPU time, one thread, AVX-512, µs per image, planes
		// against direct, mobilenet-tiny's layers at its 27-image
		// chunks: 1.25 against 1.40 at 16×14×14, 1.78 against 2.27 at
		// 32×14×14 stride 2, 2.2 against 2.9 at 64×7×7), while on one
		// image the two were within a few percent either way.
		var rb [32]dwRec
		recs := dwDirectRecs(rb[:0], g)
		lo, hi := ep.bounds()
		for s := 0; s < n; s++ {
			dwDirect(dst[s*dstStride:s*dstStride+g.C*P], src[s*srcStride:s*srcStride+size], w, g, ep.Bias, lo, hi, recs)
		}
		return
	}
	if dw8Here(g) {
		// AVX2 without AVX-512: straight from the images into the outputs
		// (dw8.go), image by image; the same operations, no padded planes.
		p := dw8PlanOf(g)
		groups := (g.C + 3) / 4
		buf := epPool.Get().(*epBuffers)
		defer epPool.Put(buf)
		buf.a = growF(buf.a, groups*4*(kk+1))
		buf.b = growF(buf.b, p.buf)
		w4, b4 := buf.a[:groups*4*kk], buf.a[groups*4*kk:groups*4*(kk+1)]
		dw8Weights(w4, b4, w, ep.Bias, g)
		lo, hi := ep.bounds()
		for s := 0; s < n; s++ {
			dw8(dst[s*dstStride:s*dstStride+g.C*P], src[s*srcStride:s*srcStride+size], p, w4, b4, buf.b, lo, hi)
		}
		return
	}
	if kk > 64 || g.Stride != 1 && g.Stride != 2 {
		for s := 0; s < n; s++ {
			Depthwise(dst[s*dstStride:s*dstStride+g.C*P], src[s*srcStride:s*srcStride+size], w, g, ep)
		}
		return
	}
	hp, wp := g.Padded()
	q := (g.W + g.Pad + g.Stride - 1) / g.Stride * g.Stride
	per := max(1, min(n, dwImagesFloats/(hp*wp)))
	lo, hi := ep.bounds()
	buf := epPool.Get().(*epBuffers)
	defer epPool.Put(buf)
	for s0 := 0; s0 < n; s0 += per {
		k := min(per, n-s0)
		ww := (k-1)*q + wp // the wide padded plane's width
		hh, wh := (hp+1)/2, (ww+1)/2
		ld := ww
		if g.Stride == 2 {
			ld = wh
		}
		nOut := (g.OH*ld + DWBlock - 1) / DWBlock * DWBlock // DWSum's outputs
		var offs [64]int
		off := offs[:0]
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				if g.Stride == 1 {
					off = append(off, ky*ww+kx)
				} else {
					off = append(off, (ky%2*2+kx%2)*hh*wh+ky/2*wh+kx/2)
				}
			}
		}
		// The wide plane and its phase planes, each with slack for
		// DWSum's reads past its end (zeros), as in Depthwise.
		plane := hp*ww + (g.K-1)*ww + g.K + nOut
		phases := 4*hh*wh + nOut
		buf.a = growF(buf.a, plane+phases)
		buf.b = growF(buf.b, nOut)
		pp, ph := buf.a[:plane], buf.a[plane:]
		clear(buf.a) // borders and slack stay zero: every channel writes the same places
		for c := 0; c < g.C; c++ {
			for s := 0; s < k; s++ {
				DWCopy(pp[g.Pad*ww+s*q+g.Pad:], ww, src[(s0+s)*srcStride+c*g.H*g.W:][:g.H*g.W], g.W, g.H, g.W)
			}
			in := pp
			if g.Stride == 2 {
				for a := 0; a < 2 && a < hp; a++ {
					DWSplit2(ph[a*2*hh*wh:], ph[(a*2+1)*hh*wh:], wh, pp[a*ww:], 2*ww, (hp-a+1)/2, ww)
				}
				in = ph
			}
			DWSum(buf.b, in, off, w[c*kk:(c+1)*kk], nOut, 0, false)
			var b float32
			if ep.Bias != nil {
				b = ep.Bias[c]
			}
			for s := 0; s < k; s++ {
				biasClampRows(dst[(s0+s)*dstStride+c*P:][:P], buf.b[s*q/g.Stride:], g.OH, g.OW, ld, b, lo, hi, activeLevel.vec)
			}
		}
	}
}
