//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

// vecBoundary enables the AVX-512 kernels of the layer boundaries
// (requantization here, input quantization in quantize_input_amd64.go)
// when the CPU has AVX-512F; tests switch it off to run the Go twins.
var vecBoundary = cpu.X86.HasAVX512F

//go:noescape
func requantU8AVX512(dst *uint8, rowStride int, acc *int32, accStride int, n, m int, m0, shift *int32, z, lo, hi int64)

// requantVec runs the vector requantization if the CPU has it (the caller
// checked the bounds) and reports whether it did.
func requantVec(dst []uint8, acc []int32, n, m, accStride int, m0, shift []int32, zOut, lo, hi int32, rowStride int) bool {
	if !vecBoundary {
		return false
	}
	requantU8AVX512(&dst[0], rowStride, &acc[0], accStride, n, m, &m0[0], &shift[0], int64(zOut), int64(lo), int64(hi))
	return true
}
