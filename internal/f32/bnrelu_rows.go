package f32

import (
	"fmt"
	"unsafe"
)

// AddBiasRows copies a rows×cols block between row-major planes adding b:
// dst[r·ldDst+c] = src[r·ldSrc+c] + b. It is a training convolution's
// copy of its valid output columns out of the padded layout, with the
// bias, one call per plane (where a Go loop per row ran one element at a
// time). It panics if a slice is too short or a row stride is below cols.
func AddBiasRows(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int, b float32) {
	if rows < 0 || cols < 0 || ldDst < cols || ldSrc < cols {
		panic(fmt.Sprintf("f32: AddBiasRows: %dx%d block, row strides %d and %d", rows, cols, ldDst, ldSrc))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if len(dst) < (rows-1)*ldDst+cols || len(src) < (rows-1)*ldSrc+cols {
		panic(fmt.Sprintf("f32: AddBiasRows: %dx%d block with row strides %d and %d, slices of %d and %d", rows, cols, ldDst, ldSrc, len(dst), len(src)))
	}
	addBiasRowsK(dst, ldDst, src, ldSrc, rows, cols, b)
}

func addBiasRowsGo(dst []float32, ldDst int, src []float32, ldSrc int, rows, cols int, b float32) {
	for r := 0; r < rows; r++ {
		d, s := dst[r*ldDst:][:cols], src[r*ldSrc:][:cols]
		for i, v := range s {
			d[i] = v + b
		}
	}
}

// addBiasRowsK is addBiasRowsGo or its assembly twin (bnrelu_amd64.go,
// bn_avx2_amd64.go).
var addBiasRowsK = addBiasRowsGo

// ReLUGrad sets d[i] = g[i] where lo < y[i] < hi, else +0: the gradient
// of a clamp to [lo, hi] (a ReLU: lo = 0, hi = +Inf) given its output y.
// A NaN y passes no gradient.
func ReLUGrad(d, y, g []float32, hi float32) {
	y, g = y[:len(d)], g[:len(d)]
	n16 := len(d) &^ 15
	if n16 > 0 {
		reluGradK(&d[0], &y[0], &g[0], n16, hi)
	}
	reluGradGo(d[n16:], y[n16:], g[n16:], hi)
}

func reluGradGo(d, y, g []float32, hi float32) {
	for i, v := range y[:len(d)] {
		d[i] = 0
		if v > 0 && v < hi {
			d[i] = g[i]
		}
	}
}

// AddReLU sets y[i] = max(a[i] + b[i], 0) (Go's max: NaN passes, −0
// becomes +0): a residual addition with its ReLU.
func AddReLU(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	n16 := len(y) &^ 15
	if n16 > 0 {
		addReLUK(&y[0], &a[0], &b[0], n16)
	}
	for i := n16; i < len(y); i++ {
		y[i] = max(a[i]+b[i], 0)
	}
}

// The elementwise kernels in use (n a multiple of 16): Go, or assembly
// (bnrelu_amd64.go; AVX2 in bn_avx2_amd64.go).
var (
	reluGradK = func(d, y, g *float32, n int, hi float32) {
		reluGradGo(unsafe.Slice(d, n), unsafe.Slice(y, n), unsafe.Slice(g, n), hi)
	}
	addReLUK = func(y, a, b *float32, n int) {
		ys, as, bs := unsafe.Slice(y, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
		for i := range ys {
			ys[i] = max(as[i]+bs[i], 0)
		}
	}
)
