//go:build !amd64 || purego

package f32

func dwSum(dst, src []float32, off []int, w []float32, init float32, acc bool) {
	dwSumGo(dst, src, off, w, init, acc)
}

func dwDot(out, dy, src []float32, off []int) { dwDotGo(out, dy, src, off) }

// DWKernel names the depthwise kernels in use.
func DWKernel() string { return "go" }

// dwLevel is 0 (Go) in this build; tests range over dwLevels.
var dwLevel = 0

func dwLevels() []int { return []int{0} }
