//go:build amd64 && !purego

package f32

import (
	"runtime"
	"sync"
	"unsafe"
)

// dwFlatHere reports whether this CPU runs the flat depthwise kernel
// (AVX-512).
func dwFlatHere() bool { return dwLevel >= 2 }

// dwFlat runs the flat kernel on one image (src: its planes at stride 1,
// its phase planes at stride 2) into dst (C planes of OH×OW).
func dwFlat(dst, src []float32, f *DWFlat) {
	if !dwFlatHere() {
		dwFlatGo(dst, src, f)
		return
	}
	g := f.g
	n := g.C * g.H * g.W
	if g.Stride == 2 {
		n = g.C * 4 * f.ps
	}
	_, _ = dst[g.C*g.OH*g.OW-1], src[n-1]
	if f.c4tab != nil && flatRows != 16 {
		dwFlatC4(dst, src, f)
		return
	}
	dwFlatAVX512(&dst[0], &src[0], &f.tab[0], f.groups, g.K*g.K, f.lo, f.hi)
}

// dwFlatC4 runs the four-channel kernel on one image (C ≥ 4): the
// groups of four channels, then, when 4 does not divide C, the last four
// channels again (the overlap computes the same outputs again).
func dwFlatC4(dst, src []float32, f *DWFlat) {
	g := f.g
	kk, P, planeIn := g.K*g.K, g.OH*g.OW, f.inSize()/g.C
	full := g.C / 4
	dwFlatC4AVX512(&dst[0], &src[0], &f.c4tab[0], &f.c4w[0], &f.c4b[0], full, f.c4pairs, kk, 4*planeIn, 4*P, f.lo, f.hi)
	if g.C%4 != 0 {
		c := g.C - 4
		dwFlatC4AVX512(&dst[c*P], &src[c*planeIn], &f.c4tab[0], &f.c4w[full*kk*4], &f.c4b[full*4], 1, f.c4pairs, kk, 4*planeIn, 4*P, f.lo, f.hi)
	}
}

// dwFlatC4AVX512: per group of four channels (planes planeIn and
// planeOut bytes apart; w per tap the four weights; bias the four
// biases), per pair of 16-lane chunks (tab: per tap its byte offset and
// the two chunks' load masks, then the two store masks): two masks and
// four weights a tap, eight masked loads and fused multiply-adds (eight
// sums), then + bias, max lo, min hi and eight masked stores: dwFlat's
// operations on each output.
//
//go:noescape
func dwFlatC4AVX512(dst, src *float32, tab *int32, w, bias *float32, groups, pairs, kk, planeIn, planeOut int, lo, hi float32)

// dwFlat4Here reports whether dwFlat4 runs (AVX-512; flatRows, the
// tests' switch, not 16).
func dwFlat4Here() bool { return dwFlatHere() && flatRows != 16 }

// dwFlat4 runs the four-image kernel on images s < 4 at
// src[s·srcStride:] (their planes, or phase planes at stride 2) into
// dst[s·dstStride:]: the same sums as dwFlat's on each.
func dwFlat4(dst []float32, dstStride int, src []float32, srcStride int, f *DWFlat) {
	g := f.g
	out, in := g.C*g.OH*g.OW, f.inSize()
	_, _ = dst[3*dstStride+out-1], src[3*srcStride+in-1]
	kk := g.K * g.K
	P := g.OH * g.OW
	dwFlat4AVX512(&dst[0], &src[0], &f.off4[0], &f.masks4[0], &f.w[0], &f.bias[0],
		g.C, (P+15)/16, kk, 4*in/g.C, 4*P, 4*srcStride, 4*dstStride, f.lo, f.hi)
}

// dwFlat4AVX512: per channel (input plane planeIn bytes, output plane
// planeOut bytes, kk weights, a bias), per 16-lane chunk (masks: its kk
// load masks, then its store mask), four images srcB (dstB) bytes apart:
// each tap's one mask and weight, four masked loads and fused
// multiply-adds (four sums), then + bias, max lo, min hi and four masked
// stores.
//
//go:noescape
func dwFlat4AVX512(dst, src *float32, off *int64, masks *uint16, w, bias *float32, c, chunks, kk, planeIn, planeOut, srcB, dstB int, lo, hi float32)

// dwPhases is dwPhasesGo, with AVX-512 when the CPU has it (rows of at
// most 32 floats).
func dwPhases(dst, src []float32, g ConvGeom, ps int) {
	if !dwFlatHere() || g.W > 32 || g.W < 2 {
		dwPhasesGo(dst, src, g, ps)
		return
	}
	_, _ = dst[g.C*4*ps-1], src[g.C*g.H*g.W-1]
	lanes := func(n int) int { return 1<<n - 1 }
	ne, no := (g.W+1)/2, g.W/2
	masks := lanes(min(g.W, 16)) | lanes(max(g.W-16, 0))<<16 | lanes(ne)<<32 | lanes(no)<<48
	dwPhasesAVX512(&dst[0], &src[0], g.C, g.H, 4*g.W, 4*g.OW, 4*ps, masks)
}

// dwFlatAVX512 runs groups groups of the table at tab (DWFlat.tab, kk
// taps) on the image src into dst: per group, four 16-lane
// sums of masked loads and fused multiply-adds, then + bias, max lo,
// min hi and a masked store.
//
//go:noescape
func dwFlatAVX512(dst, src *float32, tab *uint32, groups, kk int, lo, hi float32)

// dwPhasesAVX512 is dwPhasesGo for rows of wBytes/4 ≤ 32 floats: masks
// holds the load masks of a row's two vectors (bits 0–15 and 16–31) and
// the store masks of its even and odd floats (32–47, 48–63).
//
//go:noescape
func dwPhasesAVX512(dst, src *float32, c, h, wBytes, owBytes, psBytes, masks int)

// convFlat runs the flat convolution kernel on one image (src: its
// planes at stride 1, its phase planes at stride 2; src2 a projection's
// subsampled planes, or nil) into dst (m planes of OH×OW).
func convFlat(dst, src, src2 []float32, f *ConvFlat) {
	if !dwFlatHere() {
		convFlatGo(dst, src, src2, f)
		return
	}
	P := f.g.OH * f.g.OW
	f.checkIn(dst, src, src2)
	off, ob := f.offsets(src, src2)
	var scratch [256]float32
	if flatRows == 8 || flatRows == 0 && len(f.st) >= 2 {
		// Chunks 2i and 2i+1 together.
		convFlat8x2AVX512(&dst[0], &src[0], &off[0], &f.kmSame[0], &f.w8[0], &f.bias[0], &scratch[0],
			(len(f.st)+1)/2, len(off), f.m/8, 4*P, 64, 64, 128, f.lo, f.hi)
	} else {
		convFlatAVX512(&dst[0], &src[0], &off[0], &f.masks[0], &f.st[0], &f.w[0], &f.bias[0], &scratch[0],
			len(f.st), len(off), f.m/16, 4*P, f.lo, f.hi)
	}
	// The kernel reaches src2 only through offsets from src: keep it
	// alive until the kernel is done.
	runtime.KeepAlive(src2)
	if ob != nil {
		offPool.Put(ob)
	}
}

// convFlat2 is convFlat on two images, A and B: the two-chunk kernel
// takes chunk j of both together. src2B must lie as far from src2A as
// srcB from srcA (the kernel reads B at one distance from A).
func convFlat2(dstA, dstB, srcA, srcB, src2A, src2B []float32, f *ConvFlat) {
	if !dwFlatHere() || flatRows == 16 {
		convFlat(dstA, srcA, src2A, f)
		convFlat(dstB, srcB, src2B, f)
		return
	}
	f.checkIn(dstA, srcA, src2A)
	f.checkIn(dstB, srcB, src2B)
	dsrc, ddst := ptrDiff(srcB, srcA), ptrDiff(dstB, dstA)
	if src2A != nil && ptrDiff(src2B, src2A) != dsrc {
		panic("f32: convFlat2: the projections lie apart otherwise than the images")
	}
	P := f.g.OH * f.g.OW
	off, ob := f.offsets(srcA, src2A)
	var scratch [256]float32
	convFlat8x2AVX512(&dstA[0], &srcA[0], &off[0], &f.kmImg[0], &f.w8[0], &f.bias[0], &scratch[0],
		len(f.st), len(off), f.m/8, 4*P, dsrc, ddst, 64, f.lo, f.hi)
	// The kernel reaches image B and the projections only through byte
	// distances from image A's slices: keep them alive until it is done.
	runtime.KeepAlive(srcB)
	runtime.KeepAlive(dstB)
	runtime.KeepAlive(src2A)
	runtime.KeepAlive(src2B)
	if ob != nil {
		offPool.Put(ob)
	}
}

// checkIn checks the lengths of one image's slices for the kernels.
func (f *ConvFlat) checkIn(dst, src, src2 []float32) {
	g := f.g
	n := g.C * g.H * g.W
	if g.Stride == 2 {
		n = g.C * 4 * f.ps
	}
	_, _ = dst[f.m*g.OH*g.OW-1], src[n-1]
	if f.body < len(f.off) {
		_ = src2[f.pg.C*g.OH*g.OW-1]
	}
}

// offsets returns the kernel's depth offsets for an image at src with
// its projection at src2: f.off, or with a projection a copy from
// offPool (returned too, to put back) whose projection depths are made
// offsets from src's chunk (the kernel reads both from one base).
func (f *ConvFlat) offsets(src, src2 []float32) ([]int64, *[]int64) {
	if f.body == len(f.off) {
		return f.off, nil
	}
	ob := offPool.Get().(*[]int64)
	if cap(*ob) < len(f.off) {
		*ob = make([]int64, len(f.off))
	}
	off := (*ob)[:len(f.off)]
	copy(off, f.off)
	delta := int64(ptrDiff(src2, src))
	for d := f.body; d < len(off); d++ {
		off[d] += delta
	}
	return off, ob
}

// ptrDiff is the byte distance from a's first float to b's.
func ptrDiff(b, a []float32) int {
	return int(uintptr(unsafe.Pointer(&b[0])) - uintptr(unsafe.Pointer(&a[0])))
}

// offPool holds convFlat's offsets for a projection.
var offPool = sync.Pool{New: func() any { return new([]int64) }}

// dwSub2 is dwSub2Go, with AVX-512 when the CPU has it (rows of at most
// 32 floats).
func dwSub2(dst, src []float32, g ConvGeom) {
	if !dwFlatHere() || g.W > 32 || g.W < 2 || g.OH != (g.H+1)/2 || g.OW < (g.W+1)/2 {
		dwSub2Go(dst, src, g)
		return
	}
	_, _ = dst[g.C*g.OH*g.OW-1], src[g.C*g.H*g.W-1]
	lanes := func(n int) int { return 1<<n - 1 }
	masks := lanes(min(g.W, 16)) | lanes(max(g.W-16, 0))<<16 | lanes((g.W+1)/2)<<32
	dwSub2AVX512(&dst[0], &src[0], g.C, g.H, g.OH, 4*g.W, 4*g.OW, masks)
}

// dwSub2AVX512 writes dwSub2Go's planes: per channel (of h rows), oh
// rows (input rows 0, 2, …) of the even floats of wBytes/4 ≤ 32,
// owBytes apart;
// masks holds the row's two load masks (bits 0–15, 16–31) and the store
// mask (32–47).
//
//go:noescape
func dwSub2AVX512(dst, src *float32, c, h, oh, wBytes, owBytes, masks int)

// convFlatAVX512 is convFlatGo with fused multiply-adds: per group of 16
// output channels (weights 16 a depth, depths of them) and per 16-lane
// chunk, each depth's masked load of the chunk's inputs (byte offset
// off[d] from the chunk, mask masks[j·depths + d]) times the 16 weights
// into 16 sums (the depths in blocks of kc, each block's sums added to
// the total, kept in scratch's 256 floats), then + bias, max lo, min hi,
// and a masked store into each output plane (planeBytes apart).
//
//go:noescape
func convFlatAVX512(dst, src *float32, off *int64, masks, st *uint16, w, bias, scratch *float32, chunks, depths, groups, planeBytes int, lo, hi float32)

// convFlat8x2AVX512 is convFlatAVX512 on groups of 8 output channels
// (weights 8 a depth) and pairs of chunks: chunk A at src + step·i,
// output dst + step·i, chunk B srcB and dstB bytes further; masks holds
// per pair its depths' two load masks, then its two store masks. Each
// depth's two masked loads times 8 broadcast weights into 16 sums: the
// same fused multiply-adds in the same order for every output.
//
//go:noescape
func convFlat8x2AVX512(dst, src *float32, off *int64, masks *uint16, w, bias, scratch *float32, pairs, depths, groups, planeBytes, srcB, dstB, step int, lo, hi float32)
