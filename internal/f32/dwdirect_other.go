//go:build !amd64 || purego

package f32

func dwDirectHere(ConvGeom) bool { return false }

// dwDirect reports false: the direct depthwise kernel is AVX-512 assembly.
func dwDirect(dst, src, w []float32, g ConvGeom, bias []float32, lo, hi float32, recs []dwRec) bool {
	return false
}
