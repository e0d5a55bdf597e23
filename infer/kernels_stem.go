package infer

// The pixel-lane stem: a convolution on few input bytes per kernel row
// (a first layer on 1 or 3 channels) with output pixels in the vector
// lanes instead of output channels. No floating point may appear in this
// file (TestKernelsUseNoFloat).

import (
	"fmt"
	"unsafe"
)

// stemMaxQ is the most channel quads one kernel call computes
// (kernels_stem_gen.go: maxQ).
const stemMaxQ = 6

// stemPlan is a convolution's pixel-lane form (doc.go, "Stem"). The T =
// K·K·C taps of a receptive field, in (ky, kx, ci) order (convPerm), are
// cut into g = ⌈T/4⌉ groups of 4; group j's taps lie in at most two
// kernel rows r0 and r0 + 1 (K·C ≥ 3), whose 64-byte runs, from the
// block's first pixel on, hold the group's taps of 16 adjacent output
// pixels when (15·stride + K)·C ≤ 64.
type stemPlan struct {
	c, k, st, oc int
	// rowStride is the (padded) image's row: W·C bytes.
	rowStride int
	// w is the weights, a dword per group and channel: w[j·oc + ch] holds
	// taps 4j…4j+3 of channel ch (zero past T).
	w []int32
	// cf is each channel's 8 dwords: the bias (with the operand offset
	// folded in, packWeights) and the clamped form's l, h, ml, mh, c, k
	// (requantClamp), then 0.
	cf []int32
	// idx is each group's 64 byte indices into the two rows' 128 bytes:
	// byte 4p + b is tap 4j + b of pixel p (0 past T).
	idx []uint8
	// offs is each group's two rows' offsets: r0·rowStride and
	// (r0 + 1)·rowStride (r0·rowStride again for the last row).
	offs []int64
	// tidx and tmask are stemTranspose's permutation: output vector k of
	// a block takes lane i from quad (16k + i) % nq, pixel (16k + i) / nq.
	tidx  []int32
	tmask []uint16
}

// stemFits says whether a convolution has the pixel-lane form's shape:
// K·C ≥ 3 (a group spans at most two kernel rows), (15·stride + K)·C ≤
// 64 (a row of 16 pixels' taps is one 64-byte load) and a multiple of 4
// output channels up to 64 (whole dwords of the output, at most 16
// quads).
func stemFits(c, k, st, oc int) bool {
	return c >= 1 && k >= 1 && st >= 1 && k*c >= 3 && (15*st+k)*c <= 64 && oc >= 4 && oc%4 == 0 && oc <= 64
}

// newStemPlan returns the pixel-lane form of a convolution on c channels
// of a w-pixel-wide (padded) image with kernel k and stride st: wt its
// oc rows of k·k·c weights in (ky, kx, ci) order, bias its biases with
// the operand offset folded in, and the u-space requantization (m0,
// shift, z, lo, hi) of accumulators within ±bound; nil where stemFits
// fails or a channel has no clamped form (newClampForm).
func newStemPlan(c, k, st, w, oc int, wt []int8, bias, m0, shift []int32, z, lo, hi int32, bound int64) *stemPlan {
	if !stemFits(c, k, st, oc) || len(wt) < oc*k*k*c || len(bias) < oc || len(m0) < oc || len(shift) < oc {
		return nil
	}
	sp := &stemPlan{c: c, k: k, st: st, oc: oc, rowStride: w * c}
	sp.cf = make([]int32, 8*oc)
	for ch := 0; ch < oc; ch++ {
		f, ok := newClampForm(m0[ch], shift[ch], z, lo, hi, bound)
		if !ok {
			return nil
		}
		copy(sp.cf[8*ch:], []int32{bias[ch], f.l, f.h, f.ml, f.mh, f.c, f.k})
	}
	r, t := k*c, k*k*c
	g := (t + 3) / 4
	sp.w = make([]int32, g*oc)
	for ch := 0; ch < oc; ch++ {
		for i := 0; i < t; i++ {
			sp.w[i/4*oc+ch] |= int32(uint32(uint8(wt[ch*t+i])) << (8 * uint(i%4)))
		}
	}
	sp.idx = make([]uint8, 64*g)
	sp.offs = make([]int64, 2*g)
	for j := 0; j < g; j++ {
		r0 := 4 * j / r
		r1 := min(r0+1, k-1)
		sp.offs[2*j], sp.offs[2*j+1] = int64(r0*sp.rowStride), int64(r1*sp.rowStride)
		for p := 0; p < 16; p++ {
			for b := 0; b < 4; b++ {
				i := 4*j + b
				if i >= t {
					continue
				}
				v := p*st*c + i%r
				if i/r != r0 {
					v += 64
				}
				sp.idx[64*j+4*p+b] = uint8(v)
			}
		}
	}
	nq := oc / 4
	sp.tidx = make([]int32, 16*nq)
	sp.tmask = make([]uint16, nq*nq)
	for q := 0; q < nq; q++ {
		for i := 0; i < 16; i++ {
			d := 16*q + i
			sp.tidx[16*q+i] = int32(d / nq)
			sp.tmask[q*nq+d%nq] |= 1 << i
		}
	}
	return sp
}

// stemArgs is the kernels' view of a plan and an image (field offsets
// fixed by kernels_stem_gen.go: every field is 8 bytes).
type stemArgs struct {
	idx, offs        unsafe.Pointer
	g, wStride       int
	tileStride, rows int
	rowStep, blocks  int
	blockStep, nq    int
	tidx, tmask      unsafe.Pointer
	ow, oc           int
}

// stemSlack is how many bytes past its last row the kernels may read
// from a (padded) image: a group's 64-byte load from the last block.
const stemSlack = 64

// stemTileLen is the tile stemImage needs for an oh×ow output, in dwords.
func stemTileLen(sp *stemPlan, oh, ow int) int {
	return oh * ((ow + 15) / 16) * 4 * sp.oc
}

// stemImage writes the oh×ow×oc channels-last output of the (padded)
// image img (rows sp.rowStride bytes, at least stemSlack bytes after the
// last one the kernel reads) to dst, with the kernels where the CPU has
// them (tile: stemTileLen dwords of scratch), else stemImageGo, its
// reference twin (TestStemMatchesReference). It panics (Go bounds check)
// rather than let a kernel touch memory outside the slices.
func stemImage(sp *stemPlan, dst []uint8, img []uint8, oh, ow int, tile []uint32) {
	if oh <= 0 || ow <= 0 {
		return
	}
	if !stemKernels {
		stemImageGo(sp, dst, img, oh, ow)
		return
	}
	nb := (ow + 15) / 16
	nq := sp.oc / 4
	g := len(sp.offs) / 2
	if ow > (sp.rowStride/sp.c-sp.k)/sp.st+1 {
		panic(fmt.Sprintf("infer: stemImage: %d output pixels a row from rows of %d bytes (%d channels, kernel %d, stride %d)", ow, sp.rowStride, sp.c, sp.k, sp.st))
	}
	_ = img[(oh-1)*sp.st*sp.rowStride+(nb-1)*16*sp.st*sp.c+(sp.k-1)*sp.rowStride+63]
	_ = dst[oh*ow*sp.oc-1]
	_ = tile[oh*nb*16*nq-1]
	a := stemArgs{idx: unsafe.Pointer(&sp.idx[0]), offs: unsafe.Pointer(&sp.offs[0]), g: g, wStride: 4 * sp.oc,
		tileStride: 64 * nq, rows: oh, rowStep: sp.st * sp.rowStride, blocks: nb, blockStep: 16 * sp.st * sp.c, nq: nq,
		tidx: unsafe.Pointer(&sp.tidx[0]), tmask: unsafe.Pointer(&sp.tmask[0]), ow: ow, oc: sp.oc}
	for j := 0; j < nq; j += stemMaxQ {
		q := min(stemMaxQ, nq-j)
		stemConvQ[q-1](&tile[16*j], &img[0], &sp.w[4*j], &sp.cf[32*j], &a)
	}
	stemTranspose(&dst[0], &tile[0], &a)
}

// stemImageGo is stemImage in Go, pixel by pixel: the bias plus each
// tap's operand times its weight (the bytes of sp.w), then requantClamp.
func stemImageGo(sp *stemPlan, dst []uint8, img []uint8, oh, ow int) {
	r, t := sp.k*sp.c, sp.k*sp.k*sp.c
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			base := oy*sp.st*sp.rowStride + ox*sp.st*sp.c
			out := dst[(oy*ow+ox)*sp.oc : (oy*ow+ox+1)*sp.oc]
			for ch := range out {
				f := sp.cf[8*ch : 8*ch+8]
				acc := f[0]
				for i := 0; i < t; i++ {
					wv := int32(int8(sp.w[i/4*sp.oc+ch] >> (8 * uint(i%4))))
					acc += int32(img[base+i/r*sp.rowStride+i%r]) * wv
				}
				out[ch] = uint8(requantClamp(acc, f[1], f[2], f[3], f[4], f[5], f[6]))
			}
		}
	}
}
