//go:build !amd64 || purego

package infer

// dwTaps is dwTapsGo: no vector depthwise kernel on this build.
func dwTaps(acc []int32, src []uint8, c, w, k, stride, ow int, d *dwWeights) {
	dwTapsGo(acc, src, c, 0, w, k, stride, ow, d)
}

func dwQ(k, c int, d *dwWeights) bool { return false }

func dwRowQ(dst []uint8, src []uint8, c, w, k, stride, ow int, d *dwWeights) {
	panic("infer: no fused depthwise kernel on this build")
}

func dwImgQ(dst, src, pad []uint8, c, h, w, stride, p, oh, ow int, d *dwWeights, border bool) bool {
	return false
}
