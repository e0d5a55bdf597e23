//go:build amd64 && !purego

package infer

//go:noescape
func maxPool2U8AVX512(dst, src *uint8, c, w, oh, ow int)

//go:noescape
func maxPool2U8AVX2(dst, src *uint8, c, w, oh, ow int)

// maxPool2Vec runs the vector 2×2, stride 2 pooling if the CPU has it
// (the caller checked the bounds) and reports whether it did: the
// AVX-512 kernel for c ≤ 64 channels where the boundary level is
// AVX-512, the AVX2 kernel for any c ≥ 1 where it is AVX2.
func maxPool2Vec(dst, src []uint8, c, w, oh, ow int) bool {
	switch boundaryLevel() {
	case boundaryAVX512:
		if c > 64 {
			return false
		}
		maxPool2U8AVX512(&dst[0], &src[0], c, w, oh, ow)
		return true
	case boundaryAVX2:
		if c < 1 {
			return false
		}
		maxPool2U8AVX2(&dst[0], &src[0], c, w, oh, ow)
		return true
	}
	return false
}

//go:noescape
func gapSumsAVX512(sums *uint32, src *uint8, c, hw int)

//go:noescape
func gapSumsAVX2(sums *uint32, src *uint8, c, hw int)

// gapSums writes the channel sums of hw ≥ 1 channels-last pixels of c ≥
// 1 channels to sums (room for c rounded up to 32) where the boundary
// level is AVX-512, or AVX2 and c a multiple of 16, and hw < 2^24 (the
// sums fit 32 bits), and reports whether it did.
func gapSums(sums []uint32, src []uint8, c, hw int) bool {
	if c < 1 || hw < 1 || hw >= 1<<24 {
		return false
	}
	if boundaryLevel() == boundaryAVX2 && c%16 == 0 {
		_ = sums[c-1]
		_ = src[hw*c-1]
		gapSumsAVX2(&sums[0], &src[0], c, hw)
		return true
	}
	if boundaryLevel() != boundaryAVX512 {
		return false
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = sums[(c+31)&^31-1]
	_ = src[hw*c-1]
	gapSumsAVX512(&sums[0], &src[0], c, hw)
	return true
}

//go:noescape
func gapMeansAVX512(dst *uint8, sums *uint32, c int, k *gapVecK)

// gapMeans writes d.mean of each of the c sums to dst with
// gapMeansAVX512 where the boundary level is AVX-512 and d has the
// vector form (gapVecK), and reports whether it did.
func gapMeans(dst []uint8, sums []uint32, c int, d *gapDiv) bool {
	if boundaryLevel() != boundaryAVX512 || d.vec == nil || c < 1 {
		return false
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = dst[c-1]
	_ = sums[(c+15)&^15-1]
	gapMeansAVX512(&dst[0], &sums[0], c, d.vec)
	return true
}
