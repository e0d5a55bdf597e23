//go:build !amd64 || purego

package f32

func pickLevel() level { return goLevel }

func levelOf(kernel) level { return goLevel }

func biasClampVec(dst, src []float32, b, lo, hi float32) int { return 0 }

func biasVecClampVec(dst, src, bias []float32, lo, hi float32) int { return 0 }

func packRuns(d, img []float32, r int, offs []int, w int) bool { return false }

func biasClampRows(dst, src []float32, rows, ow, ld int, b, lo, hi float32, vec bool) {
	biasClampRowsGo(dst, src, rows, ow, ld, b, lo, hi)
}

func (lv level) forRows(m int) kernel { return lv.kern }

func (lv level) forConvRows(m int) kernel { return lv.kern }

func extraLevels() []level { return nil }

func convExtraLevels() []level { return nil }

func tileVec(e *Epilogue, c []float32, ldc, rows, cols, i0, j0 int, perRow bool, lo, hi float32) bool {
	return false
}
