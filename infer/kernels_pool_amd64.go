//go:build amd64 && !purego

package infer

//go:noescape
func maxPool2U8AVX512(dst, src *uint8, c, w, oh, ow int)

// maxPool2Vec runs the vector 2×2, stride 2 pooling for c ≤ 64 channels
// if the CPU has it (the caller checked the bounds) and reports whether
// it did.
func maxPool2Vec(dst, src []uint8, c, w, oh, ow int) bool {
	if boundaryLevel() != boundaryAVX512 || c > 64 {
		return false
	}
	maxPool2U8AVX512(&dst[0], &src[0], c, w, oh, ow)
	return true
}
