//go:build amd64 && !purego

package infer

//go:noescape
func requantU8AVX512(dst *uint8, rowStride int, acc *int32, accStride int, n, m int, m0, shift *int32, z, lo, hi int64)

//go:noescape
func requantU8AVX2(dst *uint8, rowStride int, acc *int32, accStride int, n, m int, m0, shift *int32, z, lo, hi int64)

// requantVec runs the vector requantization if the CPU has it (the caller
// checked the bounds) and reports whether it did. The AVX2 kernel takes
// whole groups of 8 channels; the rest are the last 8 again (m > 8) or run
// in Go (m < 8).
func requantVec(dst []uint8, acc []int32, n, m, accStride int, m0, shift []int32, zOut, lo, hi int32, rowStride int) bool {
	switch boundaryLevel() {
	case boundaryAVX512:
		requantU8AVX512(&dst[0], rowStride, &acc[0], accStride, n, m, &m0[0], &shift[0], int64(zOut), int64(lo), int64(hi))
		return true
	case boundaryAVX2:
		m8 := m &^ 7
		if m8 > 0 {
			requantU8AVX2(&dst[0], rowStride, &acc[0], accStride, n, m8, &m0[0], &shift[0], int64(zOut), int64(lo), int64(hi))
		}
		switch {
		case m8 < m && m8 > 0:
			// The last eight channels again, overlapping: each byte is
			// a function of its own channel's sums, so rewriting one
			// stores the same value.
			t := m - 8
			requantU8AVX2(&dst[t], rowStride, &acc[t], accStride, n, 8, &m0[t], &shift[t], int64(zOut), int64(lo), int64(hi))
		case m8 < m:
			requantRows(dst[m8:], acc[m8:], n, m-m8, accStride, m0[m8:], shift[m8:], zOut, lo, hi, rowStride, 1)
		}
		return true
	}
	return false
}

//go:noescape
func addU8AVX512(dst, x, y *uint8, n int, v *addVec)

//go:noescape
func addU8AVX2(dst, x, y *uint8, n int, v *addVec)

//go:noescape
func addU8WordAVX2(dst, x, y *uint8, n int, w *[8]int32)

// addVecU8 runs a vector add on the first elements and returns how many
// it did: with AVX-512 the first len(x) &^ 7; with AVX2 the first
// len(x) &^ 15 with the word kernel where c.word is set, else the first
// len(x) &^ 7 where c.vec.dword (addU8AVX2's 32-bit clamp is exact).
func addVecU8(dst, x, y []uint8, c *addConsts) int {
	v := c.vec
	n := len(x) &^ 7
	if n == 0 {
		return 0
	}
	switch boundaryLevel() {
	case boundaryAVX512:
		_, _ = dst[n-1], y[n-1]
		addU8AVX512(&dst[0], &x[0], &y[0], n, v)
		return n
	case boundaryAVX2:
		if c.word != nil {
			n = len(x) &^ 15
			if n == 0 {
				return 0
			}
			_, _ = dst[n-1], y[n-1]
			addU8WordAVX2(&dst[0], &x[0], &y[0], n, c.word)
			return n
		}
		if !v.dword {
			return 0
		}
		_, _ = dst[n-1], y[n-1]
		addU8AVX2(&dst[0], &x[0], &y[0], n, v)
		return n
	}
	return 0
}
