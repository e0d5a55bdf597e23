//go:build !amd64 || purego

package f32

func dw8Here(ConvGeom) bool { return false }

func dw8(dst, src []float32, p *dw8Plan, w4, b4, buf []float32, lo, hi float32) {
	panic("f32: dw8 without AVX2")
}
