//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

//go:noescape
func dwRowAVX512(acc *int32, src *uint8, c, w, k, stride, ow int, wt, bias *int32)

//go:noescape
func dwRowAVX2(acc *int32, src *uint8, c, c8, w, k, stride, ow int, wt, bias *int32)

// dwTaps is dwRowAVX512 where the boundary level is AVX-512 (tests force
// each level), dwRowAVX2 on whole blocks of 8 channels plus dwTapsGo on the rest
// where it is AVX2, else dwTapsGo. The caller (dwConvU8) checked that
// every tap of the row is inside src and acc holds ow·c values.
func dwTaps(acc []int32, src []uint8, c, w, k, stride, ow int, d *dwWeights) {
	b := boundaryLevel()
	if b == boundaryGo || c <= 0 || ow <= 0 || k <= 0 {
		dwTapsGo(acc, src, c, 0, w, k, stride, ow, d)
		return
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = acc[ow*c-1]
	_ = src[((k-1)*w+(ow-1)*stride+k)*c-1]
	_, _ = d.w[k*k*c-1], d.bias[c-1]
	if b == boundaryAVX512 {
		dwRowAVX512(&acc[0], &src[0], c, w, k, stride, ow, &d.w[0], &d.bias[0])
		return
	}
	c8 := c &^ 7
	if c8 > 0 {
		dwRowAVX2(&acc[0], &src[0], c, c8, w, k, stride, ow, &d.w[0], &d.bias[0])
	}
	if c8 < c {
		dwTapsGo(acc, src, c, c8, w, k, stride, ow, d)
	}
}

//go:noescape
func dwRow3QAVX512(dst *uint8, src *uint8, c, w, stride, ow int, wt, bias *int32, rq *int64)

//go:noescape
func dwRow3VNNI(dst *uint8, src *uint8, c, w, stride, ow int, wv *int8, bias *int32, rq *int64)

// hasVBMI says whether the CPU has VPERMB (AVX-512 VBMI), which the
// VNNI depthwise kernel transposes with.
var hasVBMI = cpu.X86.HasAVX512VBMI

// dwVNNI says whether a fused 3×3 depthwise row of c channels and this
// stride runs on dwRow3VNNI: the level in effect is the VNNI one (tests
// force each level; the AVX-512 level keeps dwRow3QAVX512), the CPU has
// VBMI, c is whole blocks of 16 and the stride is 1 or 2.
func dwVNNI(c, stride int) bool {
	lv := activeLevel
	if testLevel != nil {
		lv = testLevel
	}
	return lv == levelVNNI && hasVBMI && c%16 == 0 && (stride == 1 || stride == 2)
}

// dwQ says whether the fused depthwise kernel runs a layer of kernel k
// with d: the boundary level is AVX-512 (tests force each level), k = 3 and d has
// requantization constants.
func dwQ(k int, d *dwWeights) bool { return boundaryLevel() == boundaryAVX512 && k == 3 && d.rq != nil }

// dwRowQ runs a 3×3 depthwise row with the requantization fused
// (dwRow3QAVX512); dwQ must hold. The caller (dwConvU8Q) checked that
// every tap of the row is inside src.
func dwRowQ(dst []uint8, src []uint8, c, w, k, stride, ow int, d *dwWeights) {
	if c <= 0 || ow <= 0 {
		return
	}
	// The assembly does not check bounds: these panic before it runs.
	_ = dst[ow*c-1]
	_ = src[((k-1)*w+(ow-1)*stride+k)*c-1]
	_, _ = d.w[k*k*c-1], d.bias[c-1]
	_ = d.rq[(c+15)/16*rqLanes-1]
	if dwVNNI(c, stride) {
		wv := d.vnni()
		_ = wv[64+c/16*dwVNNIBlock-1]
		dwRow3VNNI(&dst[0], &src[0], c, w, stride, ow, &wv[0], &d.bias[0], &d.rq[0])
		return
	}
	dwRow3QAVX512(&dst[0], &src[0], c, w, stride, ow, &d.w[0], &d.bias[0], &d.rq[0])
}
