package f32

import "fmt"

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

// addBiasRowsK is addBiasRowsGo or its assembly twin (bnrelu_amd64.go).
var addBiasRowsK = addBiasRowsGo
