//go:build amd64 && !purego

package infer

//go:noescape
func dwRowAVX512(acc *int32, src *uint8, c, w, k, stride, ow int, wt, bias *int32)

// dwTaps is dwRowAVX512 where the boundary level is AVX-512 (tests switch
// it), else dwTapsGo. The caller (dwConvU8) checked that every tap of the
// row is inside src and acc holds ow·c values.
func dwTaps(acc []int32, src []uint8, c, w, k, stride, ow int, d *dwWeights) {
	if boundary == boundaryAVX512 && c > 0 && ow > 0 && k > 0 {
		// The assembly does not check bounds: these panic before it runs.
		_ = acc[ow*c-1]
		_ = src[((k-1)*w+(ow-1)*stride+k)*c-1]
		_, _ = d.w[k*k*c-1], d.bias[c-1]
		dwRowAVX512(&acc[0], &src[0], c, w, k, stride, ow, &d.w[0], &d.bias[0])
		return
	}
	dwTapsGo(acc, src, c, w, k, stride, ow, d)
}
