package f32

// The direct depthwise kernel: a K×K depthwise convolution (strides 1
// and 2) read straight from the unpadded CHW image and written straight
// into the output planes with the epilogue, one output row of 16 lanes
// at a time. Where the padded-plane path (Depthwise) copies each channel
// into a zero-bordered plane (and, at stride 2, splits it into phase
// planes) before one DWSum and a bias-and-clamp pass, this one loads each
// tap's input row with a lane mask: lanes whose input column falls in the
// padding load zero, and a tap whose input row is padding loads zero in
// every lane. So every output is still the sum of all K·K products in
// (ky, kx) order from zero — padding products included, as zeros —
// with one fused multiply-add each, then + bias, max lo, min hi: the
// same operations as DWSum's and biasClampRows', and the same bits.

// dwRec is one tap column's load of one 16-lane output chunk: the lane
// masks of its (up to) 32 input floats and their byte offset from the
// input row's start; the record after a chunk's K tap records holds the
// chunk's store mask in m0.
type dwRec struct {
	m0, m1 uint16
	off    int32
}

// dwDirectOK reports whether the direct kernel takes geometry g: the
// strides and kernel sizes (at most 64 taps) that Depthwise runs with
// DWSum, whose results it equals.
func dwDirectOK(g ConvGeom) bool {
	return (g.Stride == 1 || g.Stride == 2) && g.K*g.K <= 64 && g.W < 1<<20 && g.OW < 1<<20
}

// dwDirectMinOW is the narrowest output row for which DepthwiseImages
// prefers the direct kernel (for one image: see there): it fills a
// 16-lane chunk per row, and with
// 4×4 outputs (a quarter of the lanes) the padded planes, where the
// images lie side by side in 64-float blocks, are faster (mobilenet-tiny's
// 7→4 layer: 2.2 against 1.8 µs per image; at 14→7 the direct kernel
// takes 2.3 against 2.5, at 14×14 stride 1 1.4 against 1.5).
const dwDirectMinOW = 7

// dwDirectRecs writes the tap records of g into recs (chunks·(K+1) of them)
// and returns them: chunk j covers output columns [16j, 16j+16); tap
// column kx reads input columns s·16j + kx − Pad + i for i < 16·s (lane
// l takes i = s·l), bit i of m0 | m1<<16 set where that column is in
// the image.
func dwDirectRecs(recs []dwRec, g ConvGeom) []dwRec {
	chunks := (g.OW + 15) / 16
	recs = recs[:0]
	s := g.Stride
	for j := 0; j < chunks; j++ {
		for kx := 0; kx < g.K; kx++ {
			c0 := s*16*j + kx - g.Pad
			var m uint32
			for i := 0; i < 16*s; i++ {
				if c := c0 + i; c >= 0 && c < g.W {
					m |= 1 << i
				}
			}
			recs = append(recs, dwRec{m0: uint16(m), m1: uint16(m >> 16), off: int32(4 * c0)})
		}
		var st uint16
		for l := 0; l < 16 && 16*j+l < g.OW; l++ {
			st |= 1 << l
		}
		recs = append(recs, dwRec{m0: st})
	}
	return recs
}

// dwDirectGo is the direct kernel's portable twin (and the definition):
// out[c][oy][ox] = clamp(Σ_{ky,kx} w[c][ky][kx]·x(c, oy·s+ky−Pad,
// ox·s+kx−Pad) + b[c]), x zero outside the image, the products added in
// (ky, kx) order from zero (rounded separately: no fused multiply-add).
func dwDirectGo(dst, src, w []float32, g ConvGeom, bias []float32, lo, hi float32) {
	kk := g.K * g.K
	for c := 0; c < g.C; c++ {
		in := src[c*g.H*g.W : (c+1)*g.H*g.W]
		wc := w[c*kk : (c+1)*kk]
		var b float32
		if bias != nil {
			b = bias[c]
		}
		out := dst[c*g.OH*g.OW : (c+1)*g.OH*g.OW]
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				var acc float32
				for ky := 0; ky < g.K; ky++ {
					iy := oy*g.Stride + ky - g.Pad
					for kx := 0; kx < g.K; kx++ {
						ix := ox*g.Stride + kx - g.Pad
						var x float32
						if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
							x = in[iy*g.W+ix]
						}
						acc += wc[ky*g.K+kx] * x
					}
				}
				out[oy*g.OW+ox] = min(max(acc+b, lo), hi)
			}
		}
	}
}
