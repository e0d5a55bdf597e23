package infer

// The pixel-lane stem: a convolution on few input bytes per kernel row
// (a first layer on 1 or 3 channels) with output pixels in the vector
// lanes instead of output channels. No floating point may appear in this
// file (TestKernelsUseNoFloat).

import "unsafe"

// stemMaxQ is the most channel quads one kernel call computes
// (kernels_stem_gen.go: maxQ).
const stemMaxQ = 3

// stemPlan is a convolution's pixel-lane form (doc.go, "Stem"). The T =
// K·K·C taps of a receptive field, in (ky, kx, ci) order (convPerm), are
// cut into g = ⌈T/4⌉ groups of 4. A block is 8 adjacent output pixels
// of each of two adjacent output rows; they read U = K + stride input
// rows, wd = (7·stride + K)·C bytes of each rounded up to 16 or 32 (a
// window) from the block's first pixel on, which fit two 64-byte tables
// when U·wd ≤ 128.
type stemPlan struct {
	c, k, st, oc int
	// rowStride is the (padded) image's row: W·C bytes.
	rowStride int
	// wd is the window (16 or 32 bytes), u the input rows of a block.
	wd, u int
	// w is the weights, a dword per group and channel: w[j·oc + ch] holds
	// taps 4j…4j+3 of channel ch (zero past T).
	w []int32
	// cf is each channel's 8 dwords: the bias (with the operand offset
	// folded in, packWeights) and the clamped form's l, h, ml, mh, c, k
	// (requantClamp), then 0.
	cf []int32
	// idx is each group's 64 byte indices into the tables' 128 bytes
	// (input row r's window at r·wd): byte 4p + b is tap 4j + b of
	// pixel p (p < 8 in the block's first output row, p − 8 in its
	// second; 0 past T).
	idx []uint8
	// tidx and tmask are stemTranspose's permutations: output vector k of
	// a block's half h takes lane i from quad (16k + i) % nq, pixel 8h +
	// (16k + i) / nq (tidx[h][k], ⌈nq/2⌉ vectors a half), for the lanes
	// 16k + i < 8·nq.
	tidx  []int32
	tmask []uint16
	// oh, ow is the output; boffs each block's first pixel's offset in
	// the image, in the tile's order (pairs of rows, then 8-pixel
	// blocks), the last one twice when there is an odd number (the
	// kernels take two a pass; the tile has room for it).
	oh, ow int
	boffs  []int64
	// free says that the requantization's 32-bit arithmetic is exact for
	// every accumulator in ±bound, not only those in the clamped form's
	// [l, h] (stemFree): the kernels skip the clamp of the accumulator
	// and clamp the rounded value to [lo, hi] instead; bytes is their
	// VPSHUFB index, then lo and hi in every byte.
	free   bool
	lo, hi int32
	bytes  []uint8
}

// stemFree says whether a channel's clamped form f computes (acc·Mh +
// (acc·Ml >> 12) + C) >> k exactly (no int32 overflow) for every acc in
// [−bound, bound]. Outside [l, h] the value is then the half-up rounding
// of acc·M0/2^n + Z, which differs from quant.Requantize's half-even
// only at a tie and by at most 1 upwards: below l the exact value is
// below lo, so the rounded one is at most lo, and above h both are above
// hi. Clamping the rounded value to [lo, hi] gives the same byte as
// clamping acc to [l, h] first.
func stemFree(f clampForm, bound int64) bool {
	fits := func(v int64) bool { return v >= -(1<<31) && v < 1<<31 }
	t := func(a int64) int64 { return a*int64(f.mh) + (a*int64(f.ml))>>12 }
	return fits(bound*int64(f.mh)) && fits(bound*int64(f.ml)) && fits(t(bound)+int64(f.c)) && fits(t(-bound)+int64(f.c))
}

// stemWindow is the window of a block's input rows (16 or 32 bytes), 0
// if its rows do not fit the two tables.
func stemWindow(c, k, st int) int {
	need, u := (7*st+k)*c, k+st
	for _, wd := range []int{16, 32} {
		if need <= wd && u*wd <= 128 {
			return wd
		}
	}
	return 0
}

// stemFits says whether a convolution has the pixel-lane form's shape: a
// block's input rows fit the tables (stemWindow: 1 channel with kernels
// up to 7 at stride 1, 3 channels with kernels up to 3 at stride 1) and
// a multiple of 4 output channels up to 32 (whole dwords of the output;
// measured faster than the channel-lane kernels on 16, 20 and 24).
func stemFits(c, k, st, oc int) bool {
	return c >= 1 && k >= 1 && st >= 1 && stemWindow(c, k, st) > 0 && oc >= 4 && oc%4 == 0 && oc <= 32
}

// newStemPlan returns the pixel-lane form of a convolution on c channels
// of a w-pixel-wide (padded) image with kernel k and stride st and an
// oh×ow×oc output: wt its oc rows of k·k·c weights in (ky, kx, ci)
// order, bias its biases with the operand offset folded in, and the
// u-space requantization (m0, shift, z, lo, hi) of accumulators within
// ±bound; nil where stemFits fails or a channel has no clamped form
// (newClampForm).
func newStemPlan(c, k, st, w, oh, ow, oc int, wt []int8, bias, m0, shift []int32, z, lo, hi int32, bound int64) *stemPlan {
	if !stemFits(c, k, st, oc) || oh <= 0 || ow <= 0 || (ow-1)*st+k > w || len(wt) < oc*k*k*c || len(bias) < oc || len(m0) < oc || len(shift) < oc {
		return nil
	}
	sp := &stemPlan{c: c, k: k, st: st, oc: oc, rowStride: w * c, wd: stemWindow(c, k, st), u: k + st, oh: oh, ow: ow,
		free: true, lo: lo, hi: hi}
	for pr := 0; pr < (oh+1)/2; pr++ {
		for x := 0; x < ow; x += 8 {
			sp.boffs = append(sp.boffs, int64(2*pr*st*sp.rowStride+x*st*c))
		}
	}
	if len(sp.boffs)%2 != 0 {
		sp.boffs = append(sp.boffs, sp.boffs[len(sp.boffs)-1])
	}
	sp.cf = make([]int32, 8*oc)
	for ch := 0; ch < oc; ch++ {
		f, ok := newClampForm(m0[ch], shift[ch], z, lo, hi, bound)
		if !ok {
			return nil
		}
		copy(sp.cf[8*ch:], []int32{bias[ch], f.l, f.h, f.ml, f.mh, f.c, f.k})
		sp.free = sp.free && stemFree(f, bound)
	}
	sp.bytes = make([]uint8, 192)
	for i := 0; i < 64; i++ {
		p, ch := i%16/4, i%4
		sp.bytes[i] = uint8(4*ch + p) // VPSHUFB indexes within its lane
		sp.bytes[64+i], sp.bytes[128+i] = uint8(lo), uint8(hi)
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
	for j := 0; j < g; j++ {
		for p := 0; p < 16; p++ {
			for b := 0; b < 4; b++ {
				if i := 4*j + b; i < t {
					row := p/8*st + i/r
					sp.idx[64*j+4*p+b] = uint8(row*sp.wd + p%8*st*c + i%r)
				}
			}
		}
	}
	nq := oc / 4
	nv := (nq + 1) / 2
	sp.tidx = make([]int32, 2*16*nv)
	sp.tmask = make([]uint16, nv*nq)
	for h := 0; h < 2; h++ {
		for k := 0; k < nv; k++ {
			for i := 0; i < 16; i++ {
				if d := 16*k + i; d < 8*nq {
					sp.tidx[16*(h*nv+k)+i] = int32(8*h + d/nq)
					sp.tmask[k*nq+d%nq] |= 1 << i
				}
			}
		}
	}
	return sp
}

// stemArgs is the kernels' view of a plan and an image (field offsets
// fixed by kernels_stem_gen.go: every field is 8 bytes).
type stemArgs struct {
	idx              unsafe.Pointer // 0
	rowStride        int            // 8
	g, wStride       int            // 16, 24
	tileStride, rows int            // 32, 40 (rows: pairs of output rows)
	tabRows          int            // 48
	tidx, tmask      unsafe.Pointer // 56, 64
	ow, rowBytes     int            // 72, 80
	odd              int            // 88
	boffs            unsafe.Pointer // 96: the block table, 2 a pass
	passes           int            // 104
	bytes            unsafe.Pointer // 112: stemPlan.bytes
}

// stemSlack is how many bytes past an image's last row, of rowStride
// bytes, the kernels may read: the rows of the last pair's second output
// row when the output has an odd number of rows, and a window.
func stemSlack(sp *stemPlan) int {
	return sp.st*sp.rowStride + sp.wd
}

// stemTileLen is the tile stemImage needs, in dwords.
func stemTileLen(sp *stemPlan) int {
	return len(sp.boffs) * 4 * sp.oc
}

// stemImage writes the oh×ow×oc channels-last output of the (padded)
// image img (rows sp.rowStride bytes, then stemSlack bytes) to dst, with
// the kernels where the CPU has them (tile: stemTileLen dwords of
// scratch), else stemImageGo, its reference twin
// (TestStemMatchesReference). It panics (Go bounds check) rather than
// let a kernel touch memory outside the slices.
func stemImage(sp *stemPlan, dst []uint8, img []uint8, tile []uint32) {
	oh, ow := sp.oh, sp.ow
	if !stemKernels {
		stemImageGo(sp, dst, img)
		return
	}
	nq := sp.oc / 4
	last := sp.boffs[len(sp.boffs)-1]
	_ = img[int(last)+(sp.u-1)*sp.rowStride+sp.wd-1]
	_ = dst[oh*ow*sp.oc-1]
	_ = tile[len(sp.boffs)*16*nq-1]
	a := stemArgs{idx: unsafe.Pointer(&sp.idx[0]), rowStride: sp.rowStride, g: len(sp.idx) / 64, wStride: 4 * sp.oc,
		tileStride: 64 * nq, rows: (oh + 1) / 2, tabRows: sp.u,
		tidx: unsafe.Pointer(&sp.tidx[0]), tmask: unsafe.Pointer(&sp.tmask[0]), ow: ow, rowBytes: ow * sp.oc, odd: oh % 2,
		boffs: unsafe.Pointer(&sp.boffs[0]), passes: len(sp.boffs) / 2, bytes: unsafe.Pointer(&sp.bytes[0])}
	// Chunks of channel quads as even as they can be (16 channels as 8
	// and 8, not 12 and 4: a short chunk has too few accumulators).
	chunks := (nq + stemMaxQ - 1) / stemMaxQ
	for j, i := 0, 0; i < chunks; i++ {
		q := (nq - j) / (chunks - i)
		stemConv(sp.wd, sp.free, q, &tile[16*j], &img[0], &sp.w[4*j], &sp.cf[32*j], &a)
		j += q
	}
	stemTranspose(nq, &dst[0], &tile[0], &a)
}

// stemImageGo is stemImage in Go, pixel by pixel: the bias plus each
// tap's operand times its weight (the bytes of sp.w), then requantClamp.
func stemImageGo(sp *stemPlan, dst []uint8, img []uint8) {
	oh, ow := sp.oh, sp.ow
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
				if sp.free {
					out[ch] = uint8(min(max((acc*f[4]+(acc*f[3])>>12+f[5])>>f[6], sp.lo), sp.hi))
					continue
				}
				out[ch] = uint8(requantClamp(acc, f[1], f[2], f[3], f[4], f[5], f[6]))
			}
		}
	}
}
