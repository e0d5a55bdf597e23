//go:build amd64 && !purego

package infer

//go:noescape
func signPlanesAVX2(dst *uint8, plane int, src *uint8, n int)

// signPlanesVec writes signPlanes' planes for the first len(src) &^ 31
// bytes of src with AVX2, where the boundary level has it, and returns
// how many bytes it did (the caller does the rest).
func signPlanesVec(dst []uint8, plane int, src []uint8) int {
	n := len(src) &^ 31
	if boundaryLevel() < boundaryAVX2 || n == 0 {
		return 0
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = dst[n-1]
	_ = dst[plane+n-1]
	signPlanesAVX2(&dst[0], plane, &src[0], n)
	return n
}
