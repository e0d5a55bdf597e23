package infer

// Depthwise and grouped convolution of the runtime's channels-last bytes.
// No floating point may appear in this file (TestKernelsUseNoFloat).

// dwWeights is a depthwise conv2d's weights for dwConvU8: tap-major
// (w[(ky·k + kx)·c + ch], so that one tap's weights for all channels are
// contiguous, like the channels-last input), widened to int32, with the
// bias corrected for the unsigned operands u = s − lo: bias[ch] =
// Bias[ch] + (lo − Z)·Σ_taps w (gemm.go's correction), and padU = Z − lo,
// the operand of a padding pixel (stored value Z: s − Z = 0).
type dwWeights struct {
	w, bias []int32
	padU    int32
}

// newDWWeights builds a depthwise layer's dwWeights for inputs stored
// from lo.
func newDWWeights(l *Layer, lo int32) *dwWeights {
	c, kk := l.OutC, l.K*l.K
	d := &dwWeights{w: make([]int32, kk*c), bias: make([]int32, c), padU: l.In.Zero - lo}
	for ch := 0; ch < c; ch++ {
		sum := int32(0)
		for t := 0; t < kk; t++ {
			v := int32(l.W[ch*kk+t])
			d.w[t*c+ch] = v
			sum += v
		}
		d.bias[ch] = l.Bias[ch] + (lo-l.In.Zero)*sum
	}
	return d
}

// dwConvU8 is the depthwise convolution's accumulation for one sample:
// acc[(oy·ow + ox)·c + ch] = bias[ch] + Σ_{ky,kx} u[iy, ix, ch]·w[ch, ky, kx]
// (iy = oy·stride + ky − pad, ix likewise; padU outside the image), src
// channels last (h·w·c bytes). Each tap is a multiply-add over a
// contiguous run of c channels; dwConvRef is its reference twin.
func dwConvU8(acc []int32, src []uint8, c, h, w, k, stride, pad, oh, ow int, d *dwWeights) {
	bias := d.bias[:c]
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			a := acc[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			copy(a, bias)
			for ky := 0; ky < k; ky++ {
				iy := oy*stride + ky - pad
				for kx := 0; kx < k; kx++ {
					ix := ox*stride + kx - pad
					wt := d.w[(ky*k+kx)*c : (ky*k+kx+1)*c]
					wt = wt[:len(a)]
					if iy < 0 || iy >= h || ix < 0 || ix >= w {
						pv := d.padU
						for ch, wv := range wt {
							a[ch] += pv * wv
						}
						continue
					}
					row := src[(iy*w+ix)*c : (iy*w+ix+1)*c]
					row = row[:len(a)]
					for ch, wv := range wt {
						a[ch] += int32(row[ch]) * wv
					}
				}
			}
		}
	}
}

// dwConvRef is dwConvU8's reference twin, from the definition: channel by
// channel on the layer's own (OutC, K·K) weights and uncorrected bias, with
// operands s − Z = u + lo − Z and 0 for padding pixels.
func dwConvRef(acc []int32, src []uint8, c, h, w, k, stride, pad, oh, ow int, wt []int8, bias []int32, lo, z int32) {
	for ch := 0; ch < c; ch++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				sum := bias[ch]
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						iy, ix := oy*stride+ky-pad, ox*stride+kx-pad
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						sum += (int32(src[(iy*w+ix)*c+ch]) + lo - z) * int32(wt[(ch*k+ky)*k+kx])
					}
				}
				acc[(oy*ow+ox)*c+ch] = sum
			}
		}
	}
}

// gatherChannels copies channels [c0, c0+cg) of hw channels-last pixels
// of c channels into dst (hw·cg bytes): one group's input.
func gatherChannels(dst, src []uint8, hw, c, c0, cg int) {
	for p := 0; p < hw; p++ {
		copy(dst[p*cg:(p+1)*cg], src[p*c+c0:p*c+c0+cg])
	}
}
