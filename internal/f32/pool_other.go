//go:build !amd64 || purego

package f32

func maxPool2Rows(o, r0, r1 []float32) int { return 0 }

func maxPool2Plane(out, plane []float32, oh, ow, w int) bool { return false }

func maxPool2Planes(dst, src []float32, g ConvGeom) bool { return false }

func globalAvgPoolVec(dst, src []float32, hw int) bool { return false }
