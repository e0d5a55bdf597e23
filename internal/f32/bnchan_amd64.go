//go:build amd64 && !purego

package f32

// The channel kernels (see ZSumRows): per row the single-row AVX-512
// kernel's lane operations, the hw mod 16 tail under a mask into the
// first lanes (as the Go tail loop adds it), reduce16's pairwise order,
// then the float64 sum over rows.
//
//go:noescape
func zsumRowsAVX512(y *float32, ld, rows, hw int, b, rs float32) float64

//go:noescape
func zsqdevRowsAVX512(y *float32, ld, rows, hw int, b, rs, mu float32) float64

//go:noescape
func zsumdotRowsAVX512(gr, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, relu bool) (sum, dot float64)

//go:noescape
func zgradRowsAVX512(d, gr, y *float32, ld, rows, hw int, a, b0, b1, b, rs, mu, k, off, hi float32, relu bool) float64

//go:noescape
func zaffineRowsAVX512(out, y, r *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, mode int)

//go:noescape
func zaffineReLURowsExtAVX512(out, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16)

func init() {
	if hasAVX512() {
		zaffineReLURowsExtK = zaffineReLURowsExtAVX512
		zsumRowsK, zsqdevRowsK, zsumdotRowsK, zgradRowsK = zsumRowsAVX512, zsqdevRowsAVX512, zsumdotRowsAVX512, zgradRowsAVX512
		zaffineRowsK = zaffineRowsAVX512
	}
}
