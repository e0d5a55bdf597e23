//go:build !amd64 || purego

package infer

// vecBoundary is false: no vector boundary kernels on this build.
var vecBoundary = false

func requantVec(dst []uint8, acc []int32, n, m, accStride int, m0, shift []int32, zOut, lo, hi int32, rowStride int) bool {
	return false
}
