package infer

// The reference twins of the runtime's kernels: plain loops on the
// layer's own layout that the tests compare the fast paths with, bit for
// bit. No floating point but the input quantization's (quantizeInput).

import "github.com/tinyqat/tinyqat/quant"

// operand is what the accumulation multiplies with the weights: int8
// activations directly, or int16 activations after subtracting a zero point.
type operand interface{ ~int8 | ~int16 }

// gemmRef is the reference twin of gemmPacked (gemm.go), on the layer's
// own weight layout and operands (the stored activations minus the zero
// point): for each of n rows of x (length
// k) and each of m weight rows of w (length k),
//
//	acc[r·m + c] = bias[c] + Σ_j x[r·k + j] · w[c·k + j]
func gemmRef[T operand](acc []int32, x []T, w []int8, bias []int32, n, m, k int) {
	for r := 0; r < n; r++ {
		xr := x[r*k : (r+1)*k]
		for c := 0; c < m; c++ {
			acc[r*m+c] = bias[c] + dotRef(xr, w[c*k:(c+1)*k])
		}
	}
}

// maxPool takes K×K maxima with the given stride over each of c planes.
// The comparisons are done on int32 so that max compiles to conditional
// moves: which of four neighbours is largest is not predictable.
func maxPool[T act](dst, src []T, c, h, w, k, stride, oh, ow int) {
	for ci := 0; ci < c; ci++ {
		plane := src[ci*h*w : (ci+1)*h*w]
		out := dst[ci*oh*ow : (ci+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				base := oy*stride*w + ox*stride
				best := int32(plane[base])
				for ky := 0; ky < k; ky++ {
					row := plane[base+ky*w : base+ky*w+k]
					for _, v := range row {
						best = max(best, int32(v))
					}
				}
				out[oy*ow+ox] = T(best)
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

// gapRef is gapU8 from the definition, channel by channel: the mean of
// s − Z (s = u + off), rounded, plus Z, stored as s − off.
func gapRef(dst, src []uint8, c, hw int, off, z int32) {
	for ch := 0; ch < c; ch++ {
		sum := int64(0)
		for p := 0; p < hw; p++ {
			sum += int64(int32(src[p*c+ch]) + off - z)
		}
		dst[ch] = uint8(int64(z) + quant.RoundDiv(sum, int64(hw)) - int64(off))
	}
}

// quantizeInput is the input quantization with the same function as the
// simulation's input slot, in the stored type T: the reference that the
// tests' layer-by-layer pipeline uses (the runtime runs quantizeU8, which
// writes the unsigned storage directly).
func quantizeInput[T act](m *Model, q []T, x []float32) {
	q = q[:len(x)]
	qmin, qmax := m.Input.QRange()
	s, z := m.Input.Scale, m.Input.Zero
	// quant.QuantizeValue, unrolled for ≤ 8-bit grids: x/S in float32,
	// rounded half to even, as ONNX Runtime's QuantizeLinear.
	for i, v := range x {
		q[i] = T(quant.RoundClamp(v/s, qmin-z, qmax-z) + z)
	}
}

// dotRef is the reference dot product Σ a[i]·b[i].
func dotRef[T operand](a []T, b []int8) int32 {
	var s int32
	for i, v := range a {
		s += int32(v) * int32(b[i])
	}
	return s
}
