//go:build amd64 && !purego

package f32

// maxPool2Rows writes o[j] = max(r0[2j], r0[2j+1], r1[2j], r1[2j+1]) for
// the first multiple of 8 outputs (AVX2) and returns how many it wrote.
func maxPool2Rows(o, r0, r1 []float32) int {
	n := len(o) &^ 7
	if n == 0 || !activeLevel.vec {
		return 0
	}
	_, _ = r0[2*n-1], r1[2*n-1]
	maxPool2AVX2(&o[0], &r0[0], &r1[0], n/8)
	return n
}

//go:noescape
func maxPool2AVX2(dst, r0, r1 *float32, n8 int)

// maxPool2Planes writes the 2×2 stride-2 max-pooling of all g.C planes
// (H×W each, no padding) of src into dst (planes of OH×OW) in one AVX2
// call, on CPUs with AVX2 but without AVX-512 (which runs
// maxPool2Plane), and reports whether it did. A row takes eight outputs
// at a time as maxPool2AVX2 does, then four with the same operations on
// 128-bit registers, then one at a time with VMAXSS in the same operand
// order, so every output is the maximum of the same four values as the
// Go loop's and maxPool2Rows' (TestMaxPool2Kernels). One call instead of
// one a plane and a Go tail a row: lenet5's 8×8 planes have rows of four
// outputs, which the row kernel left to Go.
func maxPool2Planes(dst, src []float32, g ConvGeom) bool {
	if !activeLevel.vec || hasAVX512() || g.C < 1 || g.OH < 1 || g.OW < 1 || 2*g.OH > g.H || 2*g.OW > g.W {
		return false
	}
	_, _ = dst[g.C*g.OH*g.OW-1], src[g.C*g.H*g.W-1]
	maxPool2PlanesAVX2(&dst[0], &src[0], g.C, g.OH, g.OW, g.W, g.H*g.W)
	return true
}

//go:noescape
func maxPool2PlanesAVX2(dst, src *float32, planes, oh, ow, w, hw int)

// poolIdx selects the even (first half) and the odd (second half) lanes
// of two vectors of sixteen.
var poolIdx = [32]int32{
	0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
	1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
}

// maxPool2Plane writes the 2×2 stride-2 max-pooling of one plane (oh
// rows of ow outputs from rows of stride w) with AVX-512 and reports
// whether it did (false: the caller runs maxPool2Rows and Go). Every
// output is the maximum of the same four values as the Go loop's.
func maxPool2Plane(out, plane []float32, oh, ow, w int) bool {
	if !activeLevel.vec || !hasAVX512() || oh < 1 || ow < 1 {
		return false
	}
	_, _ = out[oh*ow-1], plane[(2*oh-1)*w+2*ow-1]
	maxPool2PlaneAVX512(&out[0], &plane[0], oh, ow, w, &poolIdx[0])
	return true
}

//go:noescape
func maxPool2PlaneAVX512(dst, src *float32, oh, ow, w int, idx *int32)

// globalAvgPoolVec is GlobalAvgPool's loop with AVX2 (the same
// operations in the same order) and reports whether it ran.
func globalAvgPoolVec(dst, src []float32, hw int) bool {
	if !activeLevel.vec || len(dst) == 0 {
		return false
	}
	_ = src[len(dst)*hw-1]
	globalAvgPoolAVX2(&dst[0], &src[0], len(dst), hw, float32(hw))
	return true
}

//go:noescape
func globalAvgPoolAVX2(dst, src *float32, planes, hw int, d float32)
