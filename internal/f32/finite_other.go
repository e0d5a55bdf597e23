//go:build !amd64 || purego

package f32

func nonFiniteVec(x []float32) bool { return firstNonFiniteGo(x) >= 0 }
