package infer

import "encoding/binary"

// Max-pooling of the runtime's channels-last bytes. No floating point may
// appear in this file (TestKernelsUseNoFloat).

// maxPoolU8 is maxPoolHWC (its reference twin), with the AVX-512BW kernel
// for 2×2 windows of stride 2 on at most 64 channels (lenet5's pools)
// where the boundary level is AVX-512, the AVX2 kernel for them on any
// number of channels where it is AVX2 (maxPool2Vec), and maxPool2Words
// for the other 2×2 windows of stride 2.
func maxPoolU8(dst, src []uint8, c, h, w, k, stride, oh, ow int) {
	if k == 2 && stride == 2 && oh > 0 && ow > 0 && c > 0 {
		// The assembly does not check bounds: these panic before it runs.
		_ = dst[oh*ow*c-1]
		_ = src[((2*oh-1)*w+2*ow)*c-1]
		if 2*oh <= h && 2*ow <= w {
			if !maxPool2Vec(dst, src, c, w, oh, ow) {
				maxPool2Words(dst, src, c, w, oh, ow)
			}
			return
		}
	}
	maxPoolHWC(dst, src, c, h, w, k, stride, oh, ow)
}

// maxPool2Words is maxPoolHWC for 2×2 windows of stride 2 (its twin)
// without a vector kernel: each output pixel's c bytes, eight at a time
// (the last word overlapping for c ≥ 8; max is idempotent), are the
// maxByteWords of the window's four words, and bytes one at a time for c <
// 8. The caller checked 2·oh ≤ h and 2·ow ≤ w.
func maxPool2Words(dst, src []uint8, c, w, oh, ow int) {
	row := w * c
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := dst[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			s := (2*oy*w + 2*ox) * c
			a, b := src[s:s+2*c], src[s+row:s+row+2*c]
			if c < 8 {
				for i := range o {
					o[i] = max(a[i], a[c+i], b[i], b[c+i])
				}
				continue
			}
			for i := 0; ; {
				if i+8 > c {
					i = c - 8
				}
				le := binary.LittleEndian
				m := maxByteWords(maxByteWords(le.Uint64(a[i:]), le.Uint64(a[c+i:])),
					maxByteWords(le.Uint64(b[i:]), le.Uint64(b[c+i:])))
				le.PutUint64(o[i:], m)
				if i += 8; i == c {
					break
				}
			}
		}
	}
}

// maxByteWords is the byte-wise maximum of two words: per byte, a ≥ b is
// the borrow-free top bit of (a | 0x80) − (b & 0x7f) when the top bits
// agree, and a's top bit otherwise; the flags widen to byte masks.
func maxByteWords(a, b uint64) uint64 {
	const high, low = 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	ge := ((a | high) - (b & low)) // top bit: a_lo ≥ b_lo
	t := (a &^ b) | (^(a ^ b) & ge)
	mask := ((t & high) >> 7) * 0xff // 0xff where a ≥ b
	return (a & mask) | (b &^ mask)
}

// maxPoolHWC takes K×K maxima with the given stride over a channels-last
// (h, w, c) image: for each output pixel, the channel vectors of its
// window, compared element by element. maxPool on CHW is its reference
// twin.
func maxPoolHWC(dst, src []uint8, c, h, w, k, stride, oh, ow int) {
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := dst[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			copy(o, src[(oy*stride*w+ox*stride)*c:])
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					if ky|kx != 0 {
						s := ((oy*stride+ky)*w + ox*stride + kx) * c
						maxBytes(o, src[s:s+c])
					}
				}
			}
		}
	}
}

// maxBytes sets o[i] = max(o[i], v[i]), eight bytes at a time
// (maxByteWords).
func maxBytes(o, v []uint8) {
	v = v[:len(o)]
	i := 0
	for {
		if i+8 > len(o) {
			if len(o) < 8 {
				break
			}
			i = len(o) - 8 // the last word overlaps: max is idempotent
		}
		binary.LittleEndian.PutUint64(o[i:], maxByteWords(binary.LittleEndian.Uint64(o[i:]), binary.LittleEndian.Uint64(v[i:])))
		if i += 8; i == len(o) {
			return
		}
	}
	for ; i < len(o); i++ {
		o[i] = max(o[i], v[i])
	}
}
