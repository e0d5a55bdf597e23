package infer

// Depthwise and grouped convolution of the runtime's channels-last bytes.
// No floating point may appear in this file (TestKernelsUseNoFloat).

import (
	"encoding/binary"
	"sync"
)

// dwWeights is a depthwise conv2d's weights for dwConvU8: tap-major
// (w[(ky·k + kx)·c + ch], so that one tap's weights for all channels are
// contiguous, like the channels-last input), widened to int32, with the
// bias corrected for the unsigned operands u = s − lo: bias[ch] =
// Bias[ch] + (lo − Z)·Σ_taps w (gemm.go's correction), and padU = Z − lo,
// the operand of a padding pixel (stored value Z: s − Z = 0).
type dwWeights struct {
	w, bias []int32
	padU    int32
	// rq is the layer's requantization for the fused kernel (dwConvU8Q),
	// nil if it has none.
	rq []int64

	// vnniOnce builds vnniW, the VNNI kernel's weights (dwVNNIWeights),
	// on first use.
	vnniOnce sync.Once
	vnniW    []int8

	// pack64Once builds pack64, the 64-channel kernel's packing
	// (dw64Pack), on first use.
	pack64Once sync.Once
	pack64     []int8
}

// pack returns d's packing for the 64-channel kernel (dw64Pack), built
// once; d.rq must hold the clamped form.
func (d *dwWeights) pack() []int8 {
	d.pack64Once.Do(func() { d.pack64 = dw64Pack(d.w, d.bias, d.rq, len(d.bias)) })
	return d.pack64
}

// vnni returns d's weights for the VNNI depthwise kernel, built once.
func (d *dwWeights) vnni() []int8 {
	d.vnniOnce.Do(func() { d.vnniW = dwVNNIWeights(d.w, len(d.bias)) })
	return d.vnniW
}

// dw64Block is the bytes of dw64Pack per block of 64 channels: 24
// weight vectors, 4 of bias, 24 of constants.
const dw64Block = 52 * 64

// dw64Pack packs a 3×3 depthwise layer of c channels (a multiple of 64)
// with the clamped form in rq (vectors 22–27 of its requantPanels) for
// dwImg3VNNI64: per block of 64 channels, vector j (0…3) of each
// quantity has channel 16l + 4j + i of the block in dword 4l + i (the
// order the kernel's unpacks give); first the weights, per kernel row
// ky form A (dword: w[ky,0], w[ky,1], w[ky,2], 0) then form B (0,
// w[ky,0], w[ky,1], w[ky,2]), 4 vectors each; then the bias; then L, H,
// Ml, Mh, C and k (requantClamp's l, h, ml, mh, c, k).
func dw64Pack(w, bias []int32, rq []int64, c int) []int8 {
	out := make([]int8, c/64*dw64Block)
	put := func(o int, v int32) { // little-endian
		for k := range 4 {
			out[o+k] = int8(v >> (8 * k))
		}
	}
	for b := 0; b < c/64; b++ {
		blk := b * dw64Block
		for j := range 4 {
			for l := range 4 {
				for i := range 4 {
					ch := 64*b + 16*l + 4*j + i
					d := 4 * (4*l + i)
					for ky := range 3 {
						fa := blk + ((ky*2)*4+j)*64 + d
						fb := blk + ((ky*2+1)*4+j)*64 + d
						for kx := range 3 {
							v := int8(w[(ky*3+kx)*c+ch])
							out[fa+kx] = v
							out[fb+kx+1] = v
						}
					}
					put(blk+1536+j*64+d, bias[ch])
					for q := range 6 {
						v := rq[ch/16*rqLanes : (ch/16+1)*rqLanes]
						x := int32(uint64(v[(22+q)*8+ch%16/2]) >> (32 * uint(ch%2)))
						put(blk+1792+(q*4+j)*64+d, x)
					}
				}
			}
		}
	}
	return out
}

// dwVNNIBlock is the bytes of dwVNNIWeights per block of 16 channels.
const dwVNNIBlock = 3 * 2 * 64

// dwVNNIWeights packs a 3×3 depthwise layer's tap-major weights (w[t·c +
// ch], every one in [−128, 127]) of c channels, a multiple of 16, for
// dwRow3VNNI: first the VPERMB index that turns four 16-byte pixel lanes
// into one dword per channel (byte 4·ch + i = lane i's byte ch), then per
// block of 16 channels and kernel row ky two 64-byte vectors, form A
// (dword ch = w[ky,0], w[ky,1], w[ky,2], 0: the output at the first of
// the four pixels) and form B (0, w[ky,0], w[ky,1], w[ky,2]: the output
// at the second).
func dwVNNIWeights(w []int32, c int) []int8 {
	out := make([]int8, 64+c/16*dwVNNIBlock)
	for ch := range 16 {
		for i := range 4 {
			out[4*ch+i] = int8(16*i + ch)
		}
	}
	for b := 0; b < c/16; b++ {
		for ky := range 3 {
			fa := out[64+b*dwVNNIBlock+ky*128:]
			fb := fa[64:]
			for j := range 16 {
				for kx := range 3 {
					v := int8(w[(ky*3+kx)*c+16*b+j])
					fa[4*j+kx] = v
					fb[4*j+kx+1] = v
				}
			}
		}
	}
	return out
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
// (iy = oy·stride + ky − pad, ix likewise), src channels last (h·w·c
// bytes). A padded input is first copied into pad (by padImage, padU
// around it, written only if border: see there), so that every tap is
// inside the image; then each tap is a
// multiply-add over a contiguous run of c channels (dwTaps: AVX-512 or
// AVX2 where the CPU has it). dwConvRef is its reference twin.
func dwConvU8(acc []int32, src, pad []uint8, c, h, w, k, stride, p, oh, ow int, d *dwWeights, border bool) {
	if p > 0 {
		padImage(pad, src, c, h, w, p, uint8(d.padU), border)
		src, h, w = pad, h+2*p, w+2*p
	}
	if (oh-1)*stride+k > h || (ow-1)*stride+k > w || len(src) < h*w*c || len(acc) < oh*ow*c || len(d.w) < k*k*c || len(d.bias) < c {
		panic("infer: dwConvU8 geometry out of bounds")
	}
	for oy := 0; oy < oh; oy++ {
		dwTaps(acc[oy*ow*c:(oy+1)*ow*c], src[oy*stride*w*c:], c, w, k, stride, ow, d)
	}
}

// dwConvU8Q is dwConvU8 with the requantization fused, writing the
// output bytes of each row to dst (ow pixels of c bytes a row) instead
// of accumulators, where the CPU has the fused kernel (dwQ: AVX-512, or
// AVX2 with whole blocks of 8 channels and the clamped form; 3×3, d.rq
// set); it reports false, having done nothing, otherwise.
// dwConvU8 followed by requantU8 is its twin.
func dwConvU8Q(dst, src, pad []uint8, c, h, w, k, stride, p, oh, ow int, d *dwWeights, border bool) bool {
	if !dwQ(k, c, d) {
		return false
	}
	if !dwImgOff && dwImgQ(dst, src, pad, c, h, w, stride, p, oh, ow, d, border) {
		return true
	}
	if p > 0 {
		padImage(pad, src, c, h, w, p, uint8(d.padU), border)
		src, h, w = pad, h+2*p, w+2*p
	}
	if (oh-1)*stride+k > h || (ow-1)*stride+k > w || len(src) < h*w*c || len(dst) < oh*ow*c {
		panic("infer: dwConvU8Q geometry out of bounds")
	}
	for oy := 0; oy < oh; oy++ {
		dwRowQ(dst[oy*ow*c:(oy+1)*ow*c], src[oy*stride*w*c:], c, w, k, stride, ow, d)
	}
	return true
}

// dwTapsGo accumulates channels [c0, c) of one output row of ow pixels
// from src, the image from the row's first input row on (w pixels of c
// channels a row, every tap inside).
func dwTapsGo(acc []int32, src []uint8, c, c0, w, k, stride, ow int, d *dwWeights) {
	bias := d.bias[c0:c]
	for ox := 0; ox < ow; ox++ {
		a := acc[ox*c+c0 : (ox+1)*c]
		copy(a, bias)
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				wt := d.w[(ky*k+kx)*c+c0 : (ky*k+kx+1)*c]
				wt = wt[:len(a)]
				o := (ky*w+ox*stride+kx)*c + c0
				row := src[o : o+c-c0]
				row = row[:len(a)]
				for ch, wv := range wt {
					a[ch] += int32(row[ch]) * wv
				}
			}
		}
	}
}

// padImage copies a channels-last h×w×c image into the middle of dst,
// (h+2p)×(w+2p)×c, with the byte v around it. With border false the
// border is left as it is: it holds v already, from a call of the same
// shape and v on the same dst (the runtime pads a layer's samples one
// after another into one buffer: the first writes the border).
func padImage(dst, src []uint8, c, h, w, p int, v uint8, border bool) {
	wp := (w + 2*p) * c
	dst = dst[:(h+2*p)*wp]
	if !border {
		if h > 0 && copyRowsVec(dst[p*wp+p*c:], wp, src, w*c, h, w*c) {
			return
		}
		for y := 0; y < h; y++ {
			copy(dst[(y+p)*wp+p*c:(y+p)*wp+(p+w)*c], src[y*w*c:(y+1)*w*c])
		}
		return
	}
	fillBytes(dst[:p*wp+p*c], v) // the top rows and the first row's left border
	for y := 0; y < h; y++ {
		row := dst[(y+p)*wp : (y+p+1)*wp]
		copy(row[p*c:], src[y*w*c:(y+1)*w*c])
		if y+1 < h { // right border of this row and left of the next
			fillBytes(dst[(y+p)*wp+(p+w)*c:(y+p+1)*wp+p*c], v)
		}
	}
	fillBytes(dst[(h+p-1)*wp+(p+w)*c:], v) // the last row's right border and the bottom rows
}

// fillBytes sets every byte of b to v, eight at a time.
func fillBytes(b []uint8, v uint8) {
	pattern := uint64(v) * 0x0101010101010101
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, pattern)
		b = b[8:]
	}
	for i := range b {
		b[i] = v
	}
}

// gatherChannels copies channels [c0, c0+cg) of hw channels-last pixels
// of c channels into dst (hw·cg bytes): one group's input.
func gatherChannels(dst, src []uint8, hw, c, c0, cg int) {
	for p := 0; p < hw; p++ {
		copy(dst[p*cg:(p+1)*cg], src[p*c+c0:p*c+c0+cg])
	}
}

// dwImgTail returns the outputs of a row that dwImg3VNNI computes at its
// right edge (the ones that read pixel w: 0, 1 or 2, a stride-1 pair) for
// a 3×3 kernel of this stride and padding on a w-pixel row with ow
// outputs, and whether the kernel takes the row: with padding 1 its
// first outputs read pixel −1 (a pair at stride 1, one at stride 2) and
// must not be the tail's.
func dwImgTail(w, stride, p, ow int) (int, bool) {
	if p == 0 {
		return 0, ow >= 1 && (ow-1)*stride+3 <= w
	}
	if p != 1 || (ow-1)*stride+1 > w {
		return 0, false
	}
	right := (ow-1)*stride+1 == w // the last output reads pixel w
	switch {
	case stride == 1 && !right:
		return 0, ow >= 2
	case stride == 1 && (ow-2)%2 == 0:
		return 2, ow >= 4
	case stride == 1:
		return 1, ow >= 3
	case stride == 2 && right:
		return 1, ow >= 2
	case stride == 2:
		return 0, ow >= 1
	}
	return 0, false
}

// dwImgOff, set by tests, runs the fused depthwise layers without
// dwImgQ (padImage and the row kernels), to compare the two.
var dwImgOff bool
