//go:build !amd64 || purego

package f32

func dwSum(dst, src []float32, off []int, w []float32, init float32, acc bool) {
	dwSumGo(dst, src, off, w, init, acc)
}

func dwDot(out, dy, src []float32, off []int) { dwDotGo(out, dy, src, off) }

// DWKernel names the depthwise kernels in use.
func DWKernel() string { return "go" }

// dwLevels lists the kernel levels of this build: the Go one only.
func dwLevels() []int { return []int{0} }

func setDWLevel(int) (restore func()) { return func() {} }

func dwCopy(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	dwCopyGo(dst, ldDst, src, ldSrc, rows, cols)
}

func dwSplit2(even, odd []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	dwSplit2Go(even, odd, ldDst, src, ldSrc, rows, cols)
}

func dwMerge2(dst []float32, ldDst int, even, odd []float32, ldSrc int, rows, cols int) {
	dwMerge2Go(dst, ldDst, even, odd, ldSrc, rows, cols)
}
