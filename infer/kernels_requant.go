package infer

// Requantization into the runtime's unsigned storage. No floating point
// may appear in this file (TestKernelsUseNoFloat).

// The levels of the boundary kernels (requantization, input quantization,
// add, depthwise, pooling): a field of the one CPU level (level.boundary,
// read through boundaryLevel).
const (
	boundaryGo = iota
	boundaryAVX2
	boundaryAVX512
)

// requantU8 is requantRows (its reference twin) for the runtime's layout:
// n rows of m channels, channels contiguous in dst (colStride 1), with the
// AVX-512 or AVX2 kernel where the CPU has one (kernels_requant_amd64.s). lo and hi
// must lie in [0, 255] (the unsigned storage u = s − off).
func requantU8(dst []uint8, acc []int32, n, m, accStride int, m0, shift []int32, zOut, lo, hi int32, rowStride int) {
	if n <= 0 || m <= 0 {
		return
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = acc[(n-1)*accStride+m-1]
	_ = dst[(n-1)*rowStride+m-1]
	_, _ = m0[m-1], shift[m-1]
	if lo < 0 || hi > 255 || lo > hi {
		panic("infer: requantU8 clamp outside [0, 255]")
	}
	// The vector kernels narrow to int16 before adding Z: exact for the
	// zero points models have (|Z| ≤ 255 + 128), not for any int32.
	if zOut > -(1<<9) && zOut < 1<<9 && requantVec(dst, acc, n, m, accStride, m0, shift, zOut, lo, hi, rowStride) {
		return
	}
	requantRows(dst, acc, n, m, accStride, m0, shift, zOut, lo, hi, rowStride, 1)
}
