//go:build amd64 && !purego

package f32

import "golang.org/x/sys/cpu"

// The batch-normalization row kernels in AVX2 (bn_avx2_amd64.s), for CPUs
// without AVX-512: the Go twins' operations in the same order (no fused
// multiply-adds), 16 lanes in two YMM registers, so their bits are the Go
// twins' and the AVX-512 kernels'. n is a multiple of 16.
//
//go:noescape
func zsumAVX2(y *float32, n int, b, rs float32, lanes *float32)

//go:noescape
func zsqdevAVX2(y *float32, n int, b, rs, mu float32, lanes *float32)

//go:noescape
func zaffineAVX2(out, y *float32, n int, b, rs, mu, k, off float32)

//go:noescape
func zsumdotAVX2(gr, y *float32, n int, b, rs, mu float32, lanes *float32)

//go:noescape
func zgradAVX2(d, gr, y *float32, n int, a, b0, b1, b, rs, mu float32, lanes *float32)

//go:noescape
func zaffineReLUAVX2(out, y *float32, n int, b, rs, mu, k, off, hi float32)

//go:noescape
func zaffineAddReLUAVX2(out, y, r *float32, n int, b, rs, mu, k, off float32)

//go:noescape
func zsumdotReLUAVX2(gr, y *float32, n int, b, rs, mu, k, off, hi float32, lanes *float32)

//go:noescape
func zgradReLUAVX2(d, gr, y *float32, n int, a, b0, b1, b, rs, mu, k, off, hi float32, lanes *float32)

// reluGradAVX2 and addReLUAVX2 take a positive n.
//
//go:noescape
func reluGradAVX2(d, y, gr *float32, n int, hi float32)

//go:noescape
func addReLUAVX2(y, a, b *float32, n int)

// addBiasRowsAVX2 is addBiasRowsGo on rows, cols > 0.
//
//go:noescape
func addBiasRowsAVX2(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int, b float32)

// hasBNAVX2 reports whether the AVX2 batch-normalization kernels are the
// ones in use: an AVX2 CPU without AVX-512 (whose kernels win there).
func hasBNAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA && !hasAVX512() }

func init() {
	if !hasBNAVX2() {
		return
	}
	zsumK, zsqdevK, zaffineK, zsumdotK, zgradK = zsumAVX2, zsqdevAVX2, zaffineAVX2, zsumdotAVX2, zgradAVX2
	zaffineReLUK, zaffineAddReLUK, zsumdotReLUK, zgradReLUK = zaffineReLUAVX2, zaffineAddReLUAVX2, zsumdotReLUAVX2, zgradReLUAVX2
	reluGradK, addReLUK = reluGradAVX2, addReLUAVX2
	addBiasRowsK = func(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int, b float32) {
		addBiasRowsAVX2(&dst[0], ldDst, &src[0], ldSrc, rows, cols, b)
	}
}

// The channel kernels (see ZSumRows) in AVX2: per row the row kernels'
// lane operations above, the row's last hw mod 16 one at a time into the
// first lanes (as the Go tail loop adds them), reduce16's pairwise order,
// then the float64 sum over rows.
//
//go:noescape
func zsumRowsAVX2(y *float32, ld, rows, hw int, b, rs float32) float64

//go:noescape
func zsqdevRowsAVX2(y *float32, ld, rows, hw int, b, rs, mu float32) float64

//go:noescape
func zsumdotRowsAVX2(gr, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, relu bool) (sum, dot float64)

//go:noescape
func zgradRowsAVX2(d, gr, y *float32, ld, rows, hw int, a, b0, b1, b, rs, mu, k, off, hi float32, relu bool) float64

//go:noescape
func zaffineRowsAVX2(out, y, r *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, mode int)

//go:noescape
func zaffineReLURowsExtAVX2(out, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16)

func init() {
	if hasBNAVX2() {
		zsumRowsK, zsqdevRowsK, zsumdotRowsK, zgradRowsK = zsumRowsAVX2, zsqdevRowsAVX2, zsumdotRowsAVX2, zgradRowsAVX2
		zaffineRowsK, zaffineReLURowsExtK = zaffineRowsAVX2, zaffineReLURowsExtAVX2
	}
}
