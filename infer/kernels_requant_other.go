//go:build !amd64 || purego

package infer

func requantVec(dst []uint8, acc []int32, n, m, accStride int, m0, shift []int32, zOut, lo, hi int32, rowStride int) bool {
	return false
}

func addVecU8(dst, x, y []uint8, c *addConsts) int { return 0 }
