//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

//go:noescape
func dwRowAVX512(acc *int32, src *uint8, c, w, k, stride, ow int, wt, bias *int32)

//go:noescape
func dwRowAVX2(acc *int32, src *uint8, c, c8, w, k, stride, ow int, wt, bias *int32)

//go:noescape
func dwRow3AVX2(acc *int32, src *uint8, c, c8, w, stride, ow int, wt, bias *int32)

// dwTaps is dwRowAVX512 where the boundary level is AVX-512 (tests force
// each level), dwRowAVX2 (dwRow3AVX2 for a 3×3 kernel) on whole blocks of
// 8 channels plus dwTapsGo on the rest where it is AVX2, else dwTapsGo. The caller (dwConvU8) checked that
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
	switch {
	case c8 > 0 && k == 3:
		dwRow3AVX2(&acc[0], &src[0], c, c8, w, stride, ow, &d.w[0], &d.bias[0])
	case c8 > 0:
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

//go:noescape
func dwRow3QAVX2(dst *uint8, src *uint8, c, w, stride, ow int, wt, bias *int32, rq *int64)

// dwQ says whether the fused depthwise kernel runs a layer of kernel k
// and c channels with d: k = 3, d has requantization constants, and the
// boundary level is AVX-512 (tests force each level), or AVX2 with c a
// multiple of 8 and the clamped form enabled (dwRow3QAVX2 takes only
// that form; the others run unfused there).
func dwQ(k, c int, d *dwWeights) bool {
	if k != 3 || d.rq == nil {
		return false
	}
	switch boundaryLevel() {
	case boundaryAVX512:
		return true
	case boundaryAVX2:
		return c > 0 && c%8 == 0 && len(d.rq) >= (c+15)/16*rqLanes && d.rq[12*8+2] != 0
	}
	return false
}

// dwRowQ runs a 3×3 depthwise row with the requantization fused
// (dwRow3VNNI, dwRow3QAVX2 or dwRow3QAVX512 by level); dwQ must hold. The caller (dwConvU8Q) checked that
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
	if boundaryLevel() == boundaryAVX2 {
		if c%8 != 0 || d.rq[12*8+2] == 0 {
			panic("infer: dwRowQ: the AVX2 kernel needs whole blocks of 8 channels and the clamped form")
		}
		dwRow3QAVX2(&dst[0], &src[0], c, w, stride, ow, &d.w[0], &d.bias[0], &d.rq[0])
		return
	}
	dwRow3QAVX512(&dst[0], &src[0], c, w, stride, ow, &d.w[0], &d.bias[0], &d.rq[0])
}

//go:noescape
func dwImg3VNNI64(dst, src, padRow *uint8, c, w, h, stride, pad, oh, ow, tail int, pk *int8, padU int)

//go:noescape
func dwImg3VNNI(dst, src, padRow *uint8, c, w, h, stride, pad, oh, ow, tail int, wv *int8, bias *int32, rq *int64, padU int)

// dwImgQ runs a fused 3×3 depthwise convolution of one image on
// dwImg3VNNI, on the unpadded image (no padImage copy: rows outside the
// image read pad[:w·c], which it fills with padU if border, and a pixel
// left or right of a row is padU in the kernel), where the kernel takes
// the layer: dwVNNI, the clamped form (requant32.go), padding 0 or 1 and
// a row whose edge outputs are distinct (dwImgTail); it reports false,
// having done nothing, otherwise. k must be 3 and d.rq set (dwQ).
func dwImgQ(dst, src, pad []uint8, c, h, w, stride, p, oh, ow int, d *dwWeights, border bool) bool {
	if !dwVNNI(c, stride) || p < 0 || p > 1 || c <= 0 || h <= 0 || w <= 0 || oh <= 0 || ow <= 0 {
		return false
	}
	if len(d.rq) < c/16*rqLanes || d.rq[12*8+2] == 0 {
		return false
	}
	tail, ok := dwImgTail(w, stride, p, ow)
	if !ok {
		return false
	}
	// The assembly does not check bounds: these panic before it runs.
	if (oh-1)*stride+3 > h+2*p || (ow-1)*stride+3 > w+2*p || len(src) < h*w*c || len(dst) < oh*ow*c || len(d.bias) < c {
		panic("infer: dwImgQ geometry out of bounds")
	}
	row := src
	if p > 0 {
		row = pad[:w*c]
		if border {
			fillBytes(row, uint8(d.padU))
		}
	}
	if c%64 == 0 {
		pk := d.pack()
		_ = pk[c/64*dw64Block-1]
		dwImg3VNNI64(&dst[0], &src[0], &row[0], c, w, h, stride, p, oh, ow, tail, &pk[0], int(d.padU))
		return true
	}
	wv := d.vnni()
	_ = wv[64+c/16*dwVNNIBlock-1]
	dwImg3VNNI(&dst[0], &src[0], &row[0], c, w, h, stride, p, oh, ow, tail, &wv[0], &d.bias[0], &d.rq[0], int(d.padU))
	return true
}
