//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

// hasAVX512BW gates the byte-masked pooling kernel (the boundary level
// needs only AVX-512F).
var hasAVX512BW = cpu.X86.HasAVX512BW

//go:noescape
func maxPool2U8AVX512(dst, src *uint8, c, w, oh, ow int)

// maxPool2Vec runs the vector 2×2, stride 2 pooling for c ≤ 64 channels
// if the CPU has it (the caller checked the bounds) and reports whether
// it did.
func maxPool2Vec(dst, src []uint8, c, w, oh, ow int) bool {
	if boundary != boundaryAVX512 || !hasAVX512BW || c > 64 {
		return false
	}
	maxPool2U8AVX512(&dst[0], &src[0], c, w, oh, ow)
	return true
}
