package f32

import "fmt"

// The one-input-channel convolution kernel (inference only): a
// convolution of a single input plane (an MNIST stem) is, for each
// output channel, a depthwise convolution of that one plane, so it runs
// on the flat kernel's layout (dwflat.go: the plane read in place at
// stride 1, its four phase planes at stride 2, 16-lane chunks of the
// output plane with a masked load per tap) with the chunk's input loaded
// once per tap for sixteen output channels (sixteen sums, one fused
// multiply-add each per tap), where the implicit GEMM fills its panels
// with one depth row of nine and computes the padding columns.
//
// Every output is the sum of the K·K products in (ky, kx) order from
// zero — padding products included, as zeros — with one fused
// multiply-add each, then + bias, max lo, min hi: the GEMM kernels' and
// the epilogue's operations in the same order on the same values, so the
// results equal ConvImages' bit for bit.

// ConvC1 is a convolution of one input channel into a multiple of 16
// output channels (geometry, weights, bias, clamp) prepared for
// ConvC1Images.
type ConvC1 struct {
	g      ConvGeom
	m      int
	lo, hi float32
	ps     int // stride 2: floats of a phase plane
	// off: the taps' byte offsets; masks[j·K·K + t]: chunk j's load mask
	// for tap t; st[j] its store mask; w: per group of 16 output
	// channels, K·K taps of 16 weights; bias: m floats.
	off   []int32
	masks []uint16
	st    []uint16
	w     []float32
	bias  []float32
}

// NewConvC1 prepares the convolution of geometry g (g.C = 1) with m
// output channels, weights w (m·K·K, PackA's row-major input) and
// epilogue ep for ConvC1Images, or returns nil when the kernel does not
// run it on this CPU (it needs AVX-512, m a multiple of 16, and the flat
// layout's geometries: stride 1 with OW = W, or stride 2 with rows of at
// most 32 floats and ⌈W/2⌉ ≤ OW; callers then use ConvImages).
func NewConvC1(g ConvGeom, m int, w []float32, ep *Epilogue) *ConvC1 {
	if !dwFlatHere() {
		return nil
	}
	return newConvC1(g, m, w, ep)
}

func newConvC1(g ConvGeom, m int, w []float32, ep *Epilogue) *ConvC1 {
	g.check()
	kk := g.K * g.K
	if len(w) < m*kk || ep.Bias != nil && len(ep.Bias) < m {
		panic(fmt.Sprintf("f32: NewConvC1 %+v: %d weights, %d biases for %d outputs", g, len(w), len(ep.Bias), m))
	}
	if g.C != 1 || m <= 0 || m%16 != 0 {
		return nil
	}
	f := &ConvC1{g: g, m: m}
	var ok bool
	if f.ps, ok = flatPlane(g); !ok || int64(m)*int64(g.OH*g.OW)*4 >= 1<<31 {
		return nil
	}
	f.lo, f.hi = ep.bounds()
	off, masks := flatTaps(g, f.ps)
	f.off = make([]int32, kk)
	for t, o := range off {
		f.off[t] = int32(4 * o)
	}
	f.masks = masks
	P := g.OH * g.OW
	f.st = make([]uint16, (P+15)/16)
	for p := 0; p < P; p++ {
		f.st[p/16] |= 1 << (p % 16)
	}
	f.w = make([]float32, m*kk)
	for o := 0; o < m; o++ {
		for t := 0; t < kk; t++ {
			f.w[(o/16*kk+t)*16+o%16] = w[o*kk+t]
		}
	}
	f.bias = make([]float32, m)
	if ep.Bias != nil {
		copy(f.bias, ep.Bias[:m])
	}
	return f
}

// ConvC1Images is ConvImages with the one-channel kernel: n images of
// one H×W plane, image s at src[s·srcStride:], its output (m planes of
// OH×OW) at dst[s·dstStride:]. The results equal ConvImages' with the
// same geometry, weights and epilogue bit for bit.
func ConvC1Images(dst []float32, dstStride int, src []float32, srcStride, n int, f *ConvC1) {
	g := f.g
	size, out := g.H*g.W, f.m*g.OH*g.OW
	if n <= 0 {
		return
	}
	if srcStride < size || dstStride < out || len(src) < (n-1)*srcStride+size || len(dst) < (n-1)*dstStride+out {
		panic(fmt.Sprintf("f32: ConvC1Images %+v: %d images in %d floats (stride %d), out %d (stride %d)",
			g, n, len(src), srcStride, len(dst), dstStride))
	}
	var ph []float32
	if g.Stride == 2 {
		buf := epPool.Get().(*epBuffers)
		defer epPool.Put(buf)
		buf.a = growF(buf.a, 4*f.ps) // cells no input lands in are never read
		ph = buf.a
	}
	for s := 0; s < n; s++ {
		x := src[s*srcStride : s*srcStride+size]
		if ph != nil {
			dwPhases(ph, x, g, f.ps)
			x = ph
		}
		convC1(dst[s*dstStride:s*dstStride+out], x, f)
	}
}

// convC1Go is the kernel's portable twin, chunk by chunk: the same loads
// and sums, the products rounded separately (no fused multiply-add).
// src is the image (stride 1) or its phase planes.
func convC1Go(dst, src []float32, f *ConvC1) {
	kk, P := f.g.K*f.g.K, f.g.OH*f.g.OW
	for og := 0; og < f.m/16; og++ {
		for j, st := range f.st {
			var acc [16][16]float32 // [output channel][lane]
			for t := 0; t < kk; t++ {
				m := f.masks[j*kk+t]
				o := 16*j + int(f.off[t])/4
				for l := 0; l < 16; l++ {
					var x float32
					if m&(1<<l) != 0 {
						x = src[o+l]
					}
					for c := 0; c < 16; c++ {
						acc[c][l] += float32(x * f.w[(og*kk+t)*16+c])
					}
				}
			}
			for c := 0; c < 16; c++ {
				oc := og*16 + c
				for l := 0; l < 16; l++ {
					if st&(1<<l) != 0 {
						dst[oc*P+16*j+l] = min(max(acc[c][l]+f.bias[oc], f.lo), f.hi)
					}
				}
			}
		}
	}
}
