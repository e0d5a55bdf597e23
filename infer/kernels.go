package infer

// Integer kernels: int8/int16 operands, int32 accumulators. No floating
// point may appear in this file (TestKernelsUseNoFloat).

// act is the storage of activations between layers: int8 (symmetric) or
// uint8 (asymmetric, with a zero point).
type act interface{ ~int8 | ~uint8 }

// im2col lays out the receptive fields of one CHW image as rows of length
// rowLen ≥ c·k·k (the excess, if any, is left as it is: zero padding for
// the kernels):
// dst[(oy·ow + ox)·rowLen + (ci·k + ky)·k + kx] = src[ci, oy·s+ky−p, ox·s+kx−p],
// with padV outside the image.
func im2col[T ~int8 | ~uint8 | ~int16](dst, src []T, c, h, w, k, stride, pad, oh, ow, rowLen int, padV T) {
	row := c * k * k
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			d := dst[(oy*ow+ox)*rowLen : (oy*ow+ox)*rowLen+row]
			inside := oy*stride-pad >= 0 && ox*stride-pad >= 0 && oy*stride-pad+k <= h && ox*stride-pad+k <= w
			i := 0
			for ci := 0; ci < c; ci++ {
				plane := src[ci*h*w : (ci+1)*h*w]
				if inside { // the whole field is in the image: copy k-runs
					base := (oy*stride-pad)*w + ox*stride - pad
					for ky := 0; ky < k; ky++ {
						copy(d[i:i+k], plane[base+ky*w:base+ky*w+k])
						i += k
					}
					continue
				}
				for ky := 0; ky < k; ky++ {
					iy := oy*stride + ky - pad
					for kx := 0; kx < k; kx++ {
						ix := ox*stride + kx - pad
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							d[i] = padV
						} else {
							d[i] = plane[iy*w+ix]
						}
						i++
					}
				}
			}
		}
	}
}

// requantRows requantizes the first m columns of an (n, accStride)
// accumulator block channel by channel (channel = column) into dst at
// dst[r·rowStride + c·colStride], so that a convolution's (positions,
// channels) block lands in CHW order. It computes quant.Requantize (its
// reference twin, compared in tests) with the per-channel constants
// hoisted:
//
//	q = clamp(⌊(acc·M0 + 2^(n−1) − 1 + odd) / 2^n⌋ + Z, lo, hi),  odd = ⌊acc·M0 / 2^n⌋ mod 2
//
// one 64-bit multiply and one rounding shift, half to even.
func requantRows[T act | ~int32](dst []T, acc []int32, n, m, accStride int, m0, shift []int32, zOut, lo, hi int32, rowStride, colStride int) {
	lo64, hi64, z := int64(lo), int64(hi), int64(zOut)
	for c := 0; c < m; c++ {
		mul, sh := int64(m0[c]), uint(shift[c])
		bias := int64(1)<<(sh-1) - 1
		for r := 0; r < n; r++ {
			p := int64(acc[r*accStride+c]) * mul
			v := (p+bias+(p>>sh)&1)>>sh + z
			dst[r*rowStride+c*colStride] = T(min(max(v, lo64), hi64))
		}
	}
}
