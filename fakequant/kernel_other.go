//go:build !amd64 || purego

package fakequant

// availableLevels is Go only: no vector kernel in this build.
func availableLevels() []int { return []int{levelGo} }

func fqRun(dst, src []float32, s float32, lo, hi int32) bool { return fqRunGo(dst, src, s, lo, hi) }
func vecLanes() int                                          { return 8 }
func fqLanes(dst, src, s, lo, hi []float32) bool             { return fqLanesGo(dst, src, s, lo, hi) }
func fqTiled(dst, src, s, lo, hi []float32) bool             { return fqTiledGo(dst, src, s, lo, hi) }
func passRun(dx, dy, x []float32, tlo, thi float32)          { passRunGo(dx, dy, x, tlo, thi) }
func passLanes(dx, dy, x, tlo, thi []float32)                { passLanesGo(dx, dy, x, tlo, thi) }

func requantVec(dst, src []float32, k *requantK, lanes bool) int { return 0 }

func requantRunsVec(dst, src []float32, k *requantK, inner, ch int) int { return 0 }

func minMaxLanes(mn, mx, x []float32) bool { return minMaxLanesGo(mn, mx, x) }

func minMaxCols(mn, mx, x []float32) (nan, done bool) { return false, false }

func minMaxRunVec(x []float32) (vmn, vmx float32, n int, nan bool) { return 0, 0, 0, false }

func addVec(dst, a, b []float32, k *addK) int { return 0 }

func sum(v, a, b []float32, lo, hi float32) { sumGo(v, a, b, lo, hi) }

func clampMax(dst, x []float32, hi float32) { clampMaxGo(dst, x, hi) }

func qRun(dst []int32, src []float32, s float32, lo, hi int32) { qRunGo(dst, src, s, lo, hi) }

func qSumRows(sums []int64, x []float32, hw int, s float32, lo, hi int32) bool { return false }
