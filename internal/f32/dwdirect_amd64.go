//go:build amd64 && !purego

package f32

// dwDirectHere reports whether dwDirect runs g on this CPU.
func dwDirectHere(g ConvGeom) bool { return dwLevel >= 2 && dwDirectOK(g) }

// dwDirect runs the direct depthwise kernel on one image (src: g.C planes
// of H×W, dst: g.C planes of OH×OW) when this CPU has it (AVX-512) and
// reports whether it did; recs are g's tap records (dwDirectRecs).
func dwDirect(dst, src, w []float32, g ConvGeom, bias []float32, lo, hi float32, recs []dwRec) bool {
	if !dwDirectHere(g) {
		return false
	}
	kk := g.K * g.K
	_, _, _ = dst[g.C*g.OH*g.OW-1], src[g.C*g.H*g.W-1], w[g.C*kk-1]
	if len(recs) != (g.OW+15)/16*(g.K+1) {
		panic("f32: dwDirect: tap records of another geometry")
	}
	var zero float32
	b, bstep := &zero, 0
	if bias != nil {
		_ = bias[g.C-1]
		b, bstep = &bias[0], 4
	}
	dwDirectAVX512(&dst[0], &src[0], &w[0], b, &recs[0], g.C, g.H, g.W, g.OH, 4*g.OW, g.K, g.Stride, g.Pad,
		64*((g.OW+15)/16), 4*g.H*g.W, 4*kk, bstep, lo, hi)
	return true
}

// dwDirectAVX512 is dwDirectGo with fused multiply-adds, an output row's
// 16-lane chunk at a time, each tap's inputs a masked load (two and a
// VPERMI2PS of the even floats at stride 2), padding loads zero; recs
// from dwDirectRecs, owBytes = 4·OW, chunkBytes = 64·chunks, planeBytes =
// 4·H·W, wBytes = 4·K·K, bias advanced by bstep bytes a channel.
//
//go:noescape
func dwDirectAVX512(dst, src, w, bias *float32, recs *dwRec, c, h, ldIn, oh, owBytes, k, s, pad, chunkBytes, planeBytes, wBytes, bstep int, lo, hi float32)
