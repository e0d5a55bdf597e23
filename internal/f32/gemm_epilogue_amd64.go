//go:build amd64 && !purego

package f32

import "golang.org/x/sys/cpu"

// pickLevel is the level of the micro-kernel Gemm uses (active).
func pickLevel() level { return levelOf(active) }

// levelOf pairs a micro-kernel with its one-row twin.
func levelOf(k kernel) level {
	switch k.name {
	case avx512Kernel.name:
		return level{kern: k, row: rowAVX512, vec: true, strided8: kernel8StridedAVX512, strided8h: kernel8x16StridedAVX512}
	case avx2Kernel.name:
		return level{kern: k, row: rowAVX2, vec: true}
	}
	return goLevel
}

// avx512Kernel8 is the 8×32 AVX-512 micro-kernel: the same sums as the
// 12×32 one, for row counts that 12-row panels pad more than 8-row ones.
var avx512Kernel8 = kernel{name: "avx512 8x32", mr: 8, nr: 32, f: kernel8AVX512, fo: kernelOff8AVX512, fom: kernelOff8MaskAVX512, fom4: kernelOff4MaskAVX512, fastOff: true}

//go:noescape
func kernel8AVX512(k int, a, b, c *float32, ldc int, acc bool)

// forRows is the micro-kernel of lv's width for m rows: the 8-row
// AVX-512 one when 12-row panels would pad m more.
func (lv level) forRows(m int) kernel {
	if lv.kern.name == avx512Kernel.name && (m+7)/8*8 < (m+11)/12*12 {
		return avx512Kernel8
	}
	return lv.kern
}

// forConvRows is forRows for a convolution's weights (PackA): the 8-row
// AVX-512 kernel also where its last panel of at most four rows (run by
// fom4, half the work) makes it pad m less than 12-row panels
// (20 channels: 8 + 8 + 4, not 12 + 12; 50: 6·8 + 4, not 5·12); on AVX2
// the 4×24 kernel where 6-row panels would compute at least a ninth more
// rows than 4-row ones (16, 20 and 32 channels: 18, 24 and 36 rows on
// 6×16, none wasted on 4×24; resnet8-mlperf's float model 1.09× and
// resnet8's 1.07× faster at batch 64 on a Zen 3, one thread, lenet5's
// 20-channel conv1 1.2×). Where the saving is smaller 6×16 stays: on 50
// channels (54 rows against 52) 4×24 made lenet5's conv2 (depth 500)
// 1.13× slower, its 24-column B panel of 24 KiB crowding the 32 KiB L1
// where 6×16's takes 16 KiB; on 64 (66 against 64) the two measured the
// same.
func (lv level) forConvRows(m int) kernel {
	if lv.kern.name == avx2Kernel.name && 9*((m+5)/6*6) >= 10*((m+3)/4*4) {
		return avx2Kernel4x24
	}
	if lv.kern.name != avx512Kernel.name {
		return lv.kern
	}
	m8 := (m + 7) / 8 * 8
	if m%8 != 0 && m%8 <= 4 {
		m8 -= 4
	}
	if m8 < (m+11)/12*12 {
		return avx512Kernel8
	}
	return lv.kern
}

// extraLevels are levels beyond available()'s kernels (for tests).
func extraLevels() []level {
	if hasAVX512() {
		return []level{
			{kern: avx512Kernel8, row: rowAVX512, vec: true, strided8: kernel8StridedAVX512, strided8h: kernel8x16StridedAVX512},
			{kern: avx512Kernel8, row: rowAVX512, vec: true}, // activations packed
		}
	}
	return nil
}

// convExtraLevels are the convolution-only kernel levels: AVX2's 4×24
// form, which PackA picks for 16, 20 and 32 output channels (it has no
// one-row twin, so Linear never runs it).
func convExtraLevels() []level {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return []level{{kern: avx2Kernel4x24, row: rowAVX2, vec: true}}
	}
	return nil
}

// rowAVX512 is rowGo(32) with fused multiply-adds: four panels at a time
// (eight accumulators, one dependency chain per column), then one.
//
//go:noescape
func rowAVX512(k int, a, b *float32, panels int, c *float32, acc bool)

// rowAVX2 is rowGo(16) with fused multiply-adds, four panels at a time.
//
//go:noescape
func rowAVX2(k int, a, b *float32, panels int, c *float32, acc bool)

// biasClampVec writes dst[j] = min(max(src[j] + b, lo), hi) for the
// first multiple of 8 elements (AVX2, one addition and the clamp: the Go
// loop's operations) and returns how many it wrote. Only levels with vec
// set call it (AVX2 is part of them).
func biasClampVec(dst, src []float32, b, lo, hi float32) int {
	n := len(dst) &^ 7
	if n > 0 {
		biasClampAVX2(&dst[0], &src[0], n, b, lo, hi)
	}
	return n
}

// biasVecClampVec is biasClampVec with a bias per element.
func biasVecClampVec(dst, src, bias []float32, lo, hi float32) int {
	n := len(dst) &^ 7
	if n > 0 {
		biasVecClampAVX2(&dst[0], &src[0], &bias[0], n, lo, hi)
	}
	return n
}

//go:noescape
func biasClampAVX2(dst, src *float32, n int, b, lo, hi float32)

//go:noescape
func biasVecClampAVX2(dst, src, bias *float32, n int, lo, hi float32)

// packRuns packs one full panel of w pixels (a multiple of 8) starting at
// pixel r: d[p·w + i] = img[offs[p] + r + i], with AVX2 moves, and
// reports whether it did (false: the caller packs in Go). The caller
// guarantees the reads are inside img.
func packRuns(d, img []float32, r int, offs []int, w int) bool {
	if !activeLevel.vec || w%8 != 0 || len(offs) == 0 {
		return false
	}
	_ = d[len(offs)*w-1]
	packRunsAVX2(&d[0], &img[r], &offs[0], len(offs), w/8)
	return true
}

//go:noescape
func packRunsAVX2(dst, src *float32, offs *int, depth, w8 int)

// biasClampRows is the epilogue of rows rows of ow outputs stored ld
// apart in src into consecutive rows of dst: dst[y·ow + x] =
// min(max(src[y·ld + x] + b, lo), hi) (AVX2 when vec, else Go: the same
// operations). dst and src must not overlap (the AVX2 kernel rewrites the
// last eight outputs of a row from src).
func biasClampRows(dst, src []float32, rows, ow, ld int, b, lo, hi float32, vec bool) {
	if rows < 1 || ow < 1 {
		return
	}
	_, _ = dst[rows*ow-1], src[(rows-1)*ld+ow-1]
	if vec {
		if hasAVX512() {
			biasClampRowsAVX512(&dst[0], &src[0], rows, ow, ld, b, lo, hi)
			return
		}
		biasClampRowsAVX2(&dst[0], &src[0], rows, ow, ld, b, lo, hi)
		return
	}
	biasClampRowsGo(dst, src, rows, ow, ld, b, lo, hi)
}

// biasClampRowsAVX512 is biasClampRowsAVX2 with masked row tails.
//
//go:noescape
func biasClampRowsAVX512(dst, src *float32, rows, ow, ld int, b, lo, hi float32)

//go:noescape
func biasClampRowsAVX2(dst, src *float32, rows, ow, ld int, b, lo, hi float32)

//go:noescape
func biasRowsClampAVX2(c *float32, ldc, rows, cols int, bias *float32, bstep int, lo, hi float32)

//go:noescape
func biasColsClampAVX2(c *float32, ldc, rows, cols int, bias *float32, lo, hi float32)

// tileVec is tileOut's vector path (AVX2): it reports false when the
// caller must run the Go loops.
func tileVec(e *Epilogue, c []float32, ldc, rows, cols, i0, j0 int, perRow bool, lo, hi float32) bool {
	switch {
	case e.Bias == nil:
		var zero float32
		biasRowsClampAVX2(&c[0], ldc, rows, cols, &zero, 0, lo, hi)
	case perRow:
		biasRowsClampAVX2(&c[0], ldc, rows, cols, &e.Bias[i0], 1, lo, hi)
	default:
		biasColsClampAVX2(&c[0], ldc, rows, cols, &e.Bias[j0], lo, hi)
	}
	return true
}
