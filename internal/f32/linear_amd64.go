//go:build amd64 && !purego

package f32

// nonFiniteVec reports whether x (a positive multiple of 8 long) holds a
// NaN or ±Inf (AVX2; only levels with vec call it).
func nonFiniteVec(x []float32) bool { return nonFiniteAVX2(&x[0], len(x)) }

//go:noescape
func nonFiniteAVX2(x *float32, n int) bool

// kernel8StridedAVX512 is kernel8AVX512 reading its 8 rows of A in place
// (row i at a + i·lda) instead of from a packed panel: the same products
// in the same order, so the same bits. Linear uses it for full 8-row
// panels of activations, which then need no packing.
//
//go:noescape
func kernel8StridedAVX512(k int, a *float32, lda int, b, c *float32, ldc int, acc bool)

// kernel8x16StridedAVX512 is kernel8StridedAVX512 on the first 16 of the
// panel's 32 columns (the last panel of a layer whose width leaves at
// most 16): the same sums of those columns, half the work.
//
//go:noescape
func kernel8x16StridedAVX512(k int, a *float32, lda int, b, c *float32, ldc int, acc bool)
