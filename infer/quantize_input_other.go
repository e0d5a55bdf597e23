//go:build !amd64 || purego

package infer

func quantizeVec(u []uint8, x []float32, s float32, z, qmin, qmax, off int32) int { return 0 }

func quantizeC3Vec(u []uint8, x []float32, hw int, s float32, z, qmin, qmax, off int32, mean, inv []float32) int {
	return 0
}
