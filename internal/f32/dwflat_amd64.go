//go:build amd64 && !purego

package f32

import (
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
	dwFlatAVX512(&dst[0], &src[0], &f.tab[0], f.groups, g.K*g.K, f.lo, f.hi)
}

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
// phase planes, or nil) into dst (m planes of OH×OW).
func convFlat(dst, src, src2 []float32, f *ConvFlat) {
	if !dwFlatHere() {
		convFlatGo(dst, src, src2, f)
		return
	}
	g := f.g
	n := g.C * g.H * g.W
	if g.Stride == 2 {
		n = g.C * 4 * f.ps
	}
	P := g.OH * g.OW
	_, _ = dst[f.m*P-1], src[n-1]
	off := f.off
	var ob *[]int64
	if f.body < len(f.off) {
		// The projection's depths: their offsets from src2's chunk made
		// offsets from src's (the kernel reads both from one base).
		_ = src2[f.pg.C*4*f.pps-1]
		ob = offPool.Get().(*[]int64)
		if cap(*ob) < len(f.off) {
			*ob = make([]int64, len(f.off))
		}
		off = (*ob)[:len(f.off)]
		copy(off, f.off)
		delta := int64(uintptr(unsafe.Pointer(&src2[0])) - uintptr(unsafe.Pointer(&src[0])))
		for d := f.body; d < len(off); d++ {
			off[d] += delta
		}
	}
	var scratch [256]float32
	if f.rows == 8 {
		convFlat8x2AVX512(&dst[0], &src[0], &off[0], &f.kmasks[0], &f.kst[0], &f.w[0], &f.bias[0], &scratch[0],
			len(f.kst)/2, len(off), f.m/8, 4*P, f.lo, f.hi)
	} else {
		convFlatAVX512(&dst[0], &src[0], &off[0], &f.kmasks[0], &f.kst[0], &f.w[0], &f.bias[0], &scratch[0],
			len(f.kst), len(off), f.m/16, 4*P, f.lo, f.hi)
	}
	if ob != nil {
		offPool.Put(ob)
	}
}

// offPool holds convFlat's offsets for a projection.
var offPool = sync.Pool{New: func() any { return new([]int64) }}

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

// convFlat8x2AVX512 is convFlatAVX512 on groups of 8 output channels and
// pairs of chunks (pairs of them; masks [pair][depth][2], st [pair][2],
// weights 8 a depth): each depth's two masked loads times 8 broadcast
// weights into 16 sums, the same fused multiply-adds in the same order
// for every output.
//
//go:noescape
func convFlat8x2AVX512(dst, src *float32, off *int64, masks, st *uint16, w, bias, scratch *float32, pairs, depths, groups, planeBytes int, lo, hi float32)
