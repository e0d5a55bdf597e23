package infer

// The batched u8×s8 GEMM of the integer runtime: weights packed once per
// model, activations as unsigned bytes, int32 accumulators. No floating
// point may appear in this file (TestKernelsUseNoFloat).

import (
	"encoding/binary"
	"unsafe"
)

//
// Activations are stored as int8 (w8a8) or uint8 with a zero point
// (w8a8-asym); a layer multiplies the weights with s − Z. The kernels take
// unsigned bytes u = s − lo, lo the lowest value the layer's input can take
// (its storage range, or the previous layer's clamp), so u ∈ [0, hi − lo]:
//
//	Σ_j (s_j − Z)·w_j = Σ_j u_j·w_j + (lo − Z)·Σ_j w_j
//
// and the second term is folded into the bias at load (packedWeights.bias).

// kernelFunc is a micro-kernel of gemm_gen.go: R rows × P panels of 16
// output channels (see there for the exact contract).
type kernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, c *int32, ldc int, groups int)

// kernelSet is one level's kernels: fn[r-1][p-1] computes r ≤ R rows and
// p ≤ P panels.
type kernelSet struct {
	r, p int
	fn   [][]kernelFunc
}

// level is a kernel level of the CPU. fast may saturate and is used only
// for layers whose operands provably do not (packedWeights.safe16);
// exact is used otherwise. A nil exact means the portable Go kernel.
type level struct {
	name        string
	fast, exact *kernelSet
}

// goLevel is the portable reference level, available everywhere.
var goLevel = &level{name: "go"}

// activeLevel is the level new models pack for: the best one the CPU has
// (gemm_amd64.go), chosen once at start-up.
var activeLevel = availableLevels()[0]

// testLevel, when not nil, overrides every model's level (tests only).
var testLevel *level

// packedWeights is a layer's weights in the kernels' layout: panels of 16
// output channels (m padded with zero channels to mp, a multiple of 16),
// each panel kp/4 groups of 16 channels × 4 consecutive weights (k padded
// with zeros to kp, a multiple of 4):
//
//	w[q·16·kp + g·64 + 4j + b] = W[16q + j][4g + b]
//
// Zero weights add nothing, so the padding changes no real output and the
// kernels need no scalar tails.
type packedWeights struct {
	m, k, mp, kp int
	w            []int8
	// bias is the layer's bias plus (lo − Z)·Σ_j W[c][j] (see the top of
	// this file), zero for the padding channels.
	bias []int32
	// lo is the lowest stored input value: u = s − lo.
	lo int32
	// padU is the operand of a padding pixel (stored value Z) for im2col.
	padU uint8
	// safe16 says that every pair of a group, u_a·w_a + u_b·w_b, fits int16
	// for all inputs in range: the AVX2 kernels need no split.
	safe16 bool
	level  *level
}

// packWeights packs the (m, k) row-major weights w of a layer whose stored
// inputs lie in [lo, hi] (which includes the zero point zero) and returns
// them with the corrected bias.
func packWeights(w []int8, bias []int32, m, k int, lo, hi, zero int32, lv *level) *packedWeights {
	p := &packedWeights{m: m, k: k, mp: (m + 15) &^ 15, kp: (k + 3) &^ 3, lo: lo, padU: uint8(zero - lo), level: lv}
	p.w = make([]int8, p.mp*p.kp)
	p.bias = make([]int32, p.mp)
	maxPair := int32(0)
	for c := 0; c < m; c++ {
		row := w[c*k : (c+1)*k]
		sum := int32(0)
		for j, v := range row {
			p.w[(c/16)*16*p.kp+(j/4)*64+(c%16)*4+j%4] = v
			sum += int32(v)
			if j%2 == 0 {
				pair := iabs(int32(v))
				if j+1 < k {
					pair += iabs(int32(row[j+1]))
				}
				maxPair = max(maxPair, pair)
			}
		}
		// |lo − Z| ≤ 255 and |sum| ≤ 127·k, which Validate keeps below 2^30:
		// the product and the sum with |bias| < 2^30 fit int32.
		p.bias[c] = bias[c] + (lo-zero)*sum
	}
	p.safe16 = (hi-lo)*maxPair <= 32767
	return p
}

func iabs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// gemmPacked computes, for the n rows of u (row stride ldu ≥ kp bytes, of
// which only the first kp are read; bytes k…kp−1 may hold anything, their
// weights are zero),
//
//	c[r·ldc + j] = bias[j] + Σ_{i<kp} u[r·ldu + i] · W[j][i],  j < mp,
//
// with the kernels of lv. It panics (Go bounds check) rather than let a
// kernel touch memory outside the slices.
func gemmPacked(lv *level, c []int32, ldc int, u []uint8, ldu int, pw *packedWeights, n int) {
	if n == 0 {
		return
	}
	_ = u[(n-1)*ldu+pw.kp-1]
	_ = c[(n-1)*ldc+pw.mp-1]
	if ldu < pw.kp || ldc < pw.mp {
		panic("infer: gemmPacked: row strides shorter than a row")
	}
	ks := lv.exact
	if pw.safe16 && lv.fast != nil {
		ks = lv.fast
	}
	if ks == nil {
		gemmPackedGo(c, ldc, u, ldu, pw, n)
		return
	}
	panels, ldw, groups := pw.mp/16, pw.kp*16, pw.kp/4
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.fn[rr-1][pp-1](&u[r*ldu], ldu, &pw.w[q*ldw], ldw, &pw.bias[16*q], &c[r*ldc+16*q], ldc*4, groups)
		}
	}
}

// gemmPackedGo is the portable kernel on the packed layout: the same sums
// as the assembly, in plain Go (int32 arithmetic wraps like the SIMD
// lanes; the true sums fit, so the order does not matter).
func gemmPackedGo(c []int32, ldc int, u []uint8, ldu int, pw *packedWeights, n int) {
	groups := pw.kp / 4
	for q := 0; q < pw.mp/16; q++ {
		panel := pw.w[q*16*pw.kp : (q+1)*16*pw.kp]
		for r := 0; r < n; r++ {
			var s [16]int32
			copy(s[:], pw.bias[16*q:16*q+16])
			ur := u[r*ldu : r*ldu+pw.kp]
			for g := 0; g < groups; g++ {
				u0, u1, u2, u3 := int32(ur[4*g]), int32(ur[4*g+1]), int32(ur[4*g+2]), int32(ur[4*g+3])
				wg := panel[g*64 : g*64+64]
				for j := range s {
					s[j] += u0*int32(wg[4*j]) + u1*int32(wg[4*j+1]) + u2*int32(wg[4*j+2]) + u3*int32(wg[4*j+3])
				}
			}
			copy(c[r*ldc+16*q:r*ldc+16*q+16], s[:])
		}
	}
}

// toUnsigned writes u[i] = s[i] − lo for stored activations s (int8 or
// uint8) whose values are ≥ lo: the difference modulo 256, which is the
// exact value because it lies in [0, 255]. Eight bytes at a time, as one
// uint64 whose bytes are added without carries between them (the top bit
// of each byte is summed apart, by xor); toUnsignedRef is its twin.
func toUnsigned[T act](u []uint8, s []T, lo int32) {
	if len(s) == 0 {
		return
	}
	u = u[:len(s)]
	src := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
	const high = 0x8080808080808080
	add := uint64(uint8(-lo)) * 0x0101010101010101
	i := 0
	for ; i+8 <= len(src); i += 8 {
		x := binary.LittleEndian.Uint64(src[i:])
		binary.LittleEndian.PutUint64(u[i:], ((x&^high)+(add&^high))^((x^add)&high))
	}
	for ; i < len(src); i++ {
		u[i] = src[i] - uint8(lo)
	}
}

// toUnsignedRef is the reference twin of toUnsigned.
func toUnsignedRef[T act](u []uint8, s []T, lo int32) {
	for i, v := range s {
		u[i] = uint8(int32(v) - lo)
	}
}

// im2colU8 is im2col for unsigned operands, its fast twin: fields that
// lie inside the image (no padding) copy each run of k ≤ 8 pixels as one
// 8-byte load and store; the bytes beyond the run land where the next run
// (or the next row, written later, or the row's padding, ignored by the
// kernels) goes. A store that would pass the end of dst, a load past the
// end of src, k > 8 and padded fields take im2col's path.
func im2colU8(dst, src []uint8, c, h, w, k, stride, pad, oh, ow, rowLen int, padV uint8) {
	row := c * k * k
	if k > 8 || pad > 0 {
		im2col(dst, src, c, h, w, k, stride, pad, oh, ow, rowLen, padV)
		return
	}
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			i := (oy*ow + ox) * rowLen
			if i+row+8 > len(dst) { // the last fields: no room to spill
				im2colField(dst[i:i+row], src, c, h, w, k, oy*stride, ox*stride)
				continue
			}
			for ci := 0; ci < c; ci++ {
				base := ci*h*w + oy*stride*w + ox*stride
				for ky := 0; ky < k; ky++ {
					s := base + ky*w
					if s+8 > len(src) {
						copy(dst[i:i+k], src[s:s+k])
					} else {
						binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[s:]))
					}
					i += k
				}
			}
		}
	}
}

// im2colField copies the unpadded field at (y, x) into d, run by run.
func im2colField(d, src []uint8, c, h, w, k, y, x int) {
	i := 0
	for ci := 0; ci < c; ci++ {
		for ky := 0; ky < k; ky++ {
			s := ci*h*w + (y+ky)*w + x
			copy(d[i:i+k], src[s:s+k])
			i += k
		}
	}
}

// maxPoolU8 is maxPool on unsigned activations, with a fast path for the
// common 2×2 window of stride 2 (maxPool is its reference twin).
func maxPoolU8(dst, src []uint8, c, h, w, k, stride, oh, ow int) {
	if k != 2 || stride != 2 {
		maxPool(dst, src, c, h, w, k, stride, oh, ow)
		return
	}
	for ci := 0; ci < c; ci++ {
		plane := src[ci*h*w : (ci+1)*h*w]
		out := dst[ci*oh*ow : (ci+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			r0 := plane[2*oy*w : 2*oy*w+2*ow]
			r1 := plane[(2*oy+1)*w : (2*oy+1)*w+2*ow]
			o := out[oy*ow : oy*ow+ow]
			for ox := range o {
				o[ox] = max(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
			}
		}
	}
}
