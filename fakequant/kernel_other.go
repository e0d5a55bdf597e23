//go:build !amd64 || purego

package fakequant

// vectorized is false: no vector kernel in this build.
const vectorized = false

func fqRun(dst, src []float32, s float32, lo, hi int32) { fqRunGo(dst, src, s, lo, hi) }
func fqLanes(dst, src, s, lo, hi []float32)             { fqLanesGo(dst, src, s, lo, hi) }
func clipRun(dx, dy, x []float32, s, ulo, uhi float32)  { clipRunGo(dx, dy, x, s, ulo, uhi) }
func clipLanes(dx, dy, x, s, ulo, uhi []float32)        { clipLanesGo(dx, dy, x, s, ulo, uhi) }

const requantVectorized = false

func requantVec(dst, src []float32, k *requantK, lanes bool) int { return 0 }

func minMaxLanes(mn, mx, x []float32) bool { return minMaxLanesGo(mn, mx, x) }

func minMaxRunVec(x []float32) (vmn, vmx float32, n int, nan bool) { return 0, 0, 0, false }
