//go:build !amd64 || purego

package infer

func copyRowsVec(dst []uint8, dstStride int, src []uint8, srcStride, rows, n int) bool {
	return false
}
