//go:build amd64 && !purego

package infer

//go:noescape
func conv1K3VNNI(dst, img *uint8, oh, ow, stride, pitch, ldd, panels int, w *int8, bias *int32, rq *int64)

// conv1Kernel says whether level lv runs conv1K3VNNI: the VNNI level.
func conv1Kernel(lv *level) bool { return lv == levelVNNI }

// conv1Image writes the oh×ow output pixels of a 3×3 one-channel
// convolution (conv1Layer) of one padded image img (rows pitch bytes
// apart, with gemmConvPackedQ's 3 bytes of slack) to dst, ldd bytes a
// pixel, in one call (conv1K3VNNI) instead of one gemmConvPackedQ call a
// row. It panics (Go bounds check) rather than let the kernel touch
// memory outside the slices.
func conv1Image(dst, img []uint8, oh, ow, stride, pitch, ldd int, pw *packedWeights) {
	if oh <= 0 || ow <= 0 {
		return
	}
	panels := pw.mp / 16
	if stride < 1 || ldd < pw.m || (ow-1)*stride+3 > pitch {
		panic("infer: conv1Image geometry out of bounds")
	}
	_ = img[((oh-1)*stride+2)*pitch+(ow-1)*stride+3]
	_ = dst[(oh*ow-1)*ldd+16*panels-1]
	_ = pw.w[panels*192-1]
	_ = pw.bias[16*panels-1]
	_ = pw.rq[panels*rqLanes-1]
	conv1K3VNNI(&dst[0], &img[0], oh, ow, stride, pitch, ldd, panels, &pw.w[0], &pw.bias[0], &pw.rq[0])
}
