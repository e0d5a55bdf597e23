//go:build !amd64 || purego

package f32

func dwFlatHere() bool { return false }

func dwFlat(dst, src []float32, f *DWFlat) { dwFlatGo(dst, src, f) }

func dwPhases(dst, src []float32, g ConvGeom, ps int) { dwPhasesGo(dst, src, g, ps) }

func convC1(dst, src []float32, f *ConvC1) { convC1Go(dst, src, f) }
