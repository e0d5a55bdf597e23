//go:build amd64 && !purego

package infer

//go:noescape
func copyRowsAVX512(dst *uint8, dstStride int, src *uint8, srcStride, rows, n int)

// copyRowsVec copies rows ≥ 1 rows of n ≥ 16 bytes, srcStride bytes apart
// in src and dstStride apart in dst (the two not overlapping), with
// 64-byte moves where the boundary level is AVX-512, and reports whether
// it did (else the caller copies: copy is its reference twin,
// TestCopyRowsMatchesCopy). A few hundred bytes a row is where copy's
// call and 16-byte moves cost the most (an image padded for a 3×3
// convolution).
func copyRowsVec(dst []uint8, dstStride int, src []uint8, srcStride, rows, n int) bool {
	if boundaryLevel() != boundaryAVX512 || rows < 1 || n < 16 || dstStride < n || srcStride < n {
		return false
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = dst[(rows-1)*dstStride+n-1]
	_ = src[(rows-1)*srcStride+n-1]
	copyRowsAVX512(&dst[0], dstStride, &src[0], srcStride, rows, n)
	return true
}
