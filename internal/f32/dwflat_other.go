//go:build !amd64 || purego

package f32

func dwFlatHere() bool { return false }

func dwFlat(dst, src []float32, f *DWFlat) { dwFlatGo(dst, src, f) }

func dwPhases(dst, src []float32, g ConvGeom, ps int) { dwPhasesGo(dst, src, g, ps) }

func convFlat(dst, src, src2 []float32, f *ConvFlat) { convFlatGo(dst, src, src2, f) }

func convFlat2(dstA, dstB, srcA, srcB, src2A, src2B []float32, f *ConvFlat) {
	convFlatGo(dstA, srcA, src2A, f)
	convFlatGo(dstB, srcB, src2B, f)
}

func dwSub2(dst, src []float32, g ConvGeom) { dwSub2Go(dst, src, g) }

func dwFlat4Here() bool { return false }

func dwFlat4(dst []float32, dstStride int, src []float32, srcStride int, f *DWFlat) {
	panic("f32: dwFlat4 without AVX-512")
}
