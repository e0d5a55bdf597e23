//go:build !amd64 || purego

package infer

func maxPool2Vec(dst, src []uint8, c, w, oh, ow int) bool { return false }

func gapSums(sums []uint32, src []uint8, c, hw int) bool { return false }

func gapMeans(dst []uint8, sums []uint32, c int, d *gapDiv) bool { return false }
