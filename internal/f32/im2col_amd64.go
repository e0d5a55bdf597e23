//go:build amd64 && !purego

package f32

// im2colRowsAVX512 copies rows rows of at most 32 floats: row y's lane
// j < 32 is src[y·sld/4 + j − back/4] where lmask has bit j (zero where
// it has not; those floats are not read), stored at dst[y·dld/4 + j]
// where smask has bit j.
//
//go:noescape
func im2colRowsAVX512(dst, src *float32, back, rows, dld, sld int, lmask, smask uint32)

// im2colRows is im2colRowsGo with AVX-512 masked loads and stores where
// the CPU has them and ow ≤ 32; it reports whether it ran.
func im2colRows(d []float32, dld int, s []float32, sld, rows, ow, a, b int) bool {
	if !dwFlatHere() || ow > 32 || rows <= 0 || a >= b {
		return false
	}
	_, _ = d[(rows-1)*dld+ow-1], s[(rows-1)*sld+b-a-1]
	lm := uint32(uint64(1)<<b - uint64(1)<<a)
	sm := uint32(uint64(1)<<ow - 1)
	im2colRowsAVX512(&d[0], &s[0], 4*a, rows, 4*dld, 4*sld, lm, sm)
	return true
}

// im2colRowsHere reports whether im2colRows runs rows of ow floats.
func im2colRowsHere(ow int) bool { return dwFlatHere() && ow <= 32 }
