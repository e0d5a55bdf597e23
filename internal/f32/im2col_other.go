//go:build !amd64 || purego

package f32

func im2colRows(d []float32, dld int, s []float32, sld, rows, ow, a, b int) bool { return false }

func im2colRowsHere(ow int) bool { return false }
