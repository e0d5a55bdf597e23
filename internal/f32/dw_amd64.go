//go:build amd64 && !purego

package f32

import "golang.org/x/sys/cpu"

// dwLevel is the widest depthwise kernel the CPU runs: 2 AVX-512, 1 AVX2+FMA, 0 Go.
var dwLevel = dwLevels()[len(dwLevels())-1]

// DWKernel names the depthwise kernels in use ("avx512", "avx2", "go").
func DWKernel() string { return [...]string{"go", "avx2", "avx512"}[dwLevel] }

// setDWLevel makes the kernels use level l and returns a function that
// restores the level (for tests).
func setDWLevel(l int) (restore func()) {
	old := dwLevel
	dwLevel = l
	return func() { dwLevel = old }
}

func dwSum(dst, src []float32, off []int, w []float32, init float32, acc bool) {
	switch dwLevel {
	case 2:
		dwSumAVX512(&dst[0], &src[0], &off[0], &w[0], len(off), len(dst), init, acc)
	case 1:
		dwSumAVX2(&dst[0], &src[0], &off[0], &w[0], len(off), len(dst), init, acc)
	default:
		dwSumGo(dst, src, off, w, init, acc)
	}
}

func dwDot(out, dy, src []float32, off []int) {
	switch dwLevel {
	case 2:
		dwDotAVX512(&out[0], &dy[0], &src[0], &off[0], len(off), len(dy))
	case 1:
		dwDotAVX2(&out[0], &dy[0], &src[0], &off[0], len(off), len(dy))
	default:
		dwDotGo(out, dy, src, off)
	}
}

func dwCopy(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	switch dwLevel {
	case 2:
		dwCopyAVX512(&dst[0], ldDst, &src[0], ldSrc, rows, cols)
	case 1:
		dwCopyAVX2(&dst[0], ldDst, &src[0], ldSrc, rows, cols)
	default:
		dwCopyGo(dst, ldDst, src, ldSrc, rows, cols)
	}
}

func dwSplit2(even, odd []float32, ldDst int, src []float32, ldSrc int, rows, cols int) {
	switch dwLevel {
	case 2:
		dwSplit2AVX512(&even[0], &odd[0], ldDst, &src[0], ldSrc, rows, cols)
	case 1:
		dwSplit2AVX2(&even[0], &odd[0], ldDst, &src[0], ldSrc, rows, cols)
	default:
		dwSplit2Go(even, odd, ldDst, src, ldSrc, rows, cols)
	}
}

// dwSplit2AVX512 is dwSplit2Go for rows > 0, cols > 1: 32 source floats
// at a time into 16 even and 16 odd (VPERMI2PS), the row's last cols mod
// 32 with masked loads and stores.
//
//go:noescape
func dwSplit2AVX512(even, odd *float32, ldDst int, src *float32, ldSrc int, rows, cols int)

// dwSplit2AVX2 is dwSplit2Go for rows > 0, cols > 1: 16 source floats at
// a time (VSHUFPS, VPERMPD), then pairs one at a time.
//
//go:noescape
func dwSplit2AVX2(even, odd *float32, ldDst int, src *float32, ldSrc int, rows, cols int)

func dwMerge2(dst []float32, ldDst int, even, odd []float32, ldSrc int, rows, cols int) {
	switch dwLevel {
	case 2:
		dwMerge2AVX512(&dst[0], ldDst, &even[0], &odd[0], ldSrc, rows, cols)
	case 1:
		dwMerge2AVX2(&dst[0], ldDst, &even[0], &odd[0], ldSrc, rows, cols)
	default:
		dwMerge2Go(dst, ldDst, even, odd, ldSrc, rows, cols)
	}
}

// dwMerge2AVX512 is dwMerge2Go for rows > 0, cols > 1: 16 even and 16 odd
// floats at a time into 32 (VPERMI2PS), the row's last cols mod 32 with
// masked loads and stores.
//
//go:noescape
func dwMerge2AVX512(dst *float32, ldDst int, even, odd *float32, ldSrc int, rows, cols int)

// dwMerge2AVX2 is dwMerge2Go for rows > 0, cols > 1: 8 even and 8 odd
// floats at a time (VUNPCKLPS/VUNPCKHPS, VPERM2F128), then pairs one at a time.
//
//go:noescape
func dwMerge2AVX2(dst *float32, ldDst int, even, odd *float32, ldSrc int, rows, cols int)

// dwCopyAVX512 is dwCopyGo for rows, cols > 0: 16 floats at a time, the
// row's last cols mod 16 with a masked load and store.
//
//go:noescape
func dwCopyAVX512(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int)

// dwCopyAVX2 is dwCopyGo for rows, cols > 0: 8 floats at a time, then
// one at a time.
//
//go:noescape
func dwCopyAVX2(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int)

// dwSumAVX512 is dwSumGo on n (a multiple of 64, > 0) elements and taps
// (> 0) taps, 64 outputs at a time in four registers, with fused
// multiply-adds: for q, dst[q] = (acc ? dst[q] : init) + Σ_t w[t]·src[q+off[t]].
//
//go:noescape
func dwSumAVX512(dst, src *float32, off *int, w *float32, taps, n int, init float32, acc bool)

// dwSumAVX2 is dwSumAVX512 with 32 outputs at a time.
//
//go:noescape
func dwSumAVX2(dst, src *float32, off *int, w *float32, taps, n int, init float32, acc bool)

// dwDotAVX512: for each tap t, out[t] += Σ_q dy[q]·src[q+off[t]], the sum
// in four 16-lane accumulators (lane l of accumulator a takes the q ≡
// 16a+l mod 64), then a+b, c+d, (a+b)+(c+d), then halves added down to one.
//
//go:noescape
func dwDotAVX512(out, dy, src *float32, off *int, taps, n int)

// dwDotAVX2 is dwDotAVX512 with four 8-lane accumulators (32 elements a step).
//
//go:noescape
func dwDotAVX2(out, dy, src *float32, off *int, taps, n int)

// dwLevels lists the depthwise kernel levels this CPU runs (for tests).
func dwLevels() []int {
	l := []int{0}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, 1)
	}
	if hasAVX512() {
		l = append(l, 2)
	}
	return l
}
