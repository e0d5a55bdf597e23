//go:build !amd64 || purego

package infer

func conv1Kernel(lv *level) bool { return false }

func conv1Image(dst, src, pad []uint8, h, w, oh, ow, st, p, ldd int, pw *packedWeights, border bool) bool {
	return false
}
