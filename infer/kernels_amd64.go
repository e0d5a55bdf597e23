//go:build amd64 && !purego

package infer

import "golang.org/x/sys/cpu"

// hasAVX2 selects the assembly kernels; without AVX2 the portable ones run.
var hasAVX2 = cpu.X86.HasAVX2

// dot4I8AVX2 sets out[j] = Σ_{i<k} x[i]·wj[i], j = 0…3, for k a positive
// multiple of 16. Its reference twin is dotRef.
//
//go:noescape
func dot4I8AVX2(x, w0, w1, w2, w3 *int8, k int, out *[4]int32)

// dot4I16AVX2 is dot4I8AVX2 for int16 activations.
//
//go:noescape
func dot4I16AVX2(x *int16, w0, w1, w2, w3 *int8, k int, out *[4]int32)

// gemm dispatches to the AVX2 kernels for the bulk of each dot product
// (four weight rows per call, 16 elements per step) and finishes the
// remaining k mod 16 elements and m mod 4 rows in Go.
func gemm[T operand](acc []int32, x []T, w []int8, bias []int32, n, m, k int) {
	k16 := k &^ 15
	if !hasAVX2 || k16 == 0 {
		gemmGo(acc, x, w, bias, n, m, k)
		return
	}
	var s [4]int32
	for r := 0; r < n; r++ {
		xr := x[r*k : (r+1)*k]
		out := acc[r*m : (r+1)*m]
		c := 0
		for ; c+4 <= m; c += 4 {
			w0, w1, w2, w3 := w[c*k:(c+1)*k], w[(c+1)*k:(c+2)*k], w[(c+2)*k:(c+3)*k], w[(c+3)*k:(c+4)*k]
			switch xs := any(xr).(type) {
			case []int8:
				dot4I8AVX2(&xs[0], &w0[0], &w1[0], &w2[0], &w3[0], k16, &s)
			case []int16:
				dot4I16AVX2(&xs[0], &w0[0], &w1[0], &w2[0], &w3[0], k16, &s)
			}
			if k16 < k {
				tail := xr[k16:]
				s[0] += dotRef(tail, w0[k16:])
				s[1] += dotRef(tail, w1[k16:])
				s[2] += dotRef(tail, w2[k16:])
				s[3] += dotRef(tail, w3[k16:])
			}
			out[c], out[c+1], out[c+2], out[c+3] = bias[c]+s[0], bias[c+1]+s[1], bias[c+2]+s[2], bias[c+3]+s[3]
		}
		for ; c < m; c++ {
			out[c] = bias[c] + dotRef(xr, w[c*k:(c+1)*k])
		}
	}
}
