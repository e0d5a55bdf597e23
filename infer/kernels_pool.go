package infer

import "encoding/binary"

// Max-pooling of the runtime's channels-last bytes. No floating point may
// appear in this file (TestKernelsUseNoFloat).

// maxPoolU8 is maxPoolHWC (its reference twin), with the AVX-512BW kernel
// for 2×2 windows of stride 2 on at most 64 channels (lenet5's pools)
// where the CPU has it.
func maxPoolU8(dst, src []uint8, c, h, w, k, stride, oh, ow int) {
	if k == 2 && stride == 2 && oh > 0 && ow > 0 && c > 0 {
		// The assembly does not check bounds: these panic before it runs.
		_ = dst[oh*ow*c-1]
		_ = src[((2*oh-1)*w+2*ow)*c-1]
		if 2*oh <= h && 2*ow <= w && maxPool2Vec(dst, src, c, w, oh, ow) {
			return
		}
	}
	maxPoolHWC(dst, src, c, h, w, k, stride, oh, ow)
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

// maxBytes sets o[i] = max(o[i], v[i]), eight bytes at a time: per byte,
// a ≥ b is the borrow-free top bit of (a | 0x80) − (b & 0x7f) when the top
// bits agree, and a's top bit otherwise; the flags widen to byte masks.
func maxBytes(o, v []uint8) {
	const high, low = 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	v = v[:len(o)]
	i := 0
	for {
		if i+8 > len(o) {
			if len(o) < 8 {
				break
			}
			i = len(o) - 8 // the last word overlaps: max is idempotent
		}
		a, b := binary.LittleEndian.Uint64(o[i:]), binary.LittleEndian.Uint64(v[i:])
		ge := ((a | high) - (b & low)) // top bit: a_lo ≥ b_lo
		t := (a &^ b) | (^(a ^ b) & ge)
		mask := ((t & high) >> 7) * 0xff // 0xff where a ≥ b
		binary.LittleEndian.PutUint64(o[i:], (a&mask)|(b&^mask))
		if i += 8; i == len(o) {
			return
		}
	}
	for ; i < len(o); i++ {
		o[i] = max(o[i], v[i])
	}
}
