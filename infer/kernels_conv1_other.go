//go:build !amd64 || purego

package infer

func conv1Kernel(lv *level) bool { return false }

func conv1Image(dst, img []uint8, oh, ow, stride, pitch, ldd int, pw *packedWeights) {
	panic("infer: no one-channel stem kernel on this build")
}
