//go:build !amd64 || purego

package f32

func pick() kernel { return goKernel }

// available lists the micro-kernels this build runs (for tests and benchmarks).
func available() []kernel { return []kernel{goKernel} }

func adamVec(w, g, m, v []float32, c AdamCoef) int { return 0 }
