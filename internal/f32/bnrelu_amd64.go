//go:build amd64 && !purego

package f32

// The fused batch-normalization + ReLU/ReLU6 row kernels (see ZAffineReLU):
// zaffineReLUGo and its siblings with each lane's operations in the same
// order, 16 lanes a register.
//
//go:noescape
func zaffineReLUAVX512(out, y *float32, n int, b, rs, mu, k, off, hi float32)

//go:noescape
func zsumdotReLUAVX512(gr, y *float32, n int, b, rs, mu, k, off, hi float32, lanes *float32)

//go:noescape
func zgradReLUAVX512(d, gr, y *float32, n int, a, b0, b1, b, rs, mu, k, off, hi float32, lanes *float32)

func init() {
	if hasAVX512() {
		zaffineReLUK, zsumdotReLUK, zgradReLUK = zaffineReLUAVX512, zsumdotReLUAVX512, zgradReLUAVX512
	}
}

//go:noescape
func addBiasRowsAVX512(dst *float32, ldDst int, src *float32, ldSrc int, rows, cols int, b float32)

func init() {
	if hasAVX512() {
		addBiasRowsK = func(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int, b float32) {
			addBiasRowsAVX512(&dst[0], ldDst, &src[0], ldSrc, rows, cols, b)
		}
	}
}

//go:noescape
func reluGradAVX512(d, y, gr *float32, n int, hi float32)

//go:noescape
func addReLUAVX512(y, a, b *float32, n int)

func init() {
	if hasAVX512() {
		reluGradK, addReLUK = reluGradAVX512, addReLUAVX512
	}
}

//go:noescape
func zaffineAddReLUAVX512(out, y, r *float32, n int, b, rs, mu, k, off float32)

func init() {
	if hasAVX512() {
		zaffineAddReLUK = zaffineAddReLUAVX512
	}
}
