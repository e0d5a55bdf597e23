//go:build !amd64 || purego

package infer

func signPlanesVec(dst []uint8, plane int, src []uint8) int { return 0 }
