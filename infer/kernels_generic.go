//go:build !amd64 || purego

package infer

// gemm is the portable kernel (the purego build, or a CPU without SIMD kernels).
func gemm[T operand](acc []int32, x []T, w []int8, bias []int32, n, m, k int) {
	gemmGo(acc, x, w, bias, n, m, k)
}
