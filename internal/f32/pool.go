package f32

import "fmt"

// MaxPool takes the maximum of each K×K window (stride Stride, no
// padding: g.Pad must be 0) of the g.C planes of H×W in src into the
// planes of OH×OW in dst. It is exact, and NaN when the window holds a
// NaN (Go's max); where +0 and −0 tie, the vector kernels may give
// either.
func MaxPool(dst, src []float32, g ConvGeom) {
	g.check()
	if g.Pad != 0 || len(src) < g.C*g.H*g.W || len(dst) < g.C*g.OH*g.OW {
		panic(fmt.Sprintf("f32: MaxPool %+v: slices of %d and %d", g, len(src), len(dst)))
	}
	if g.K == 2 && g.Stride == 2 && maxPool2Planes(dst, src, g) {
		return
	}
	for c := 0; c < g.C; c++ {
		plane := src[c*g.H*g.W : (c+1)*g.H*g.W]
		out := dst[c*g.OH*g.OW : (c+1)*g.OH*g.OW]
		if g.K == 2 && g.Stride == 2 {
			if maxPool2Plane(out, plane, g.OH, g.OW, g.W) {
				continue
			}
			for oy := 0; oy < g.OH; oy++ {
				r0 := plane[2*oy*g.W : 2*oy*g.W+2*g.OW]
				r1 := plane[(2*oy+1)*g.W : (2*oy+1)*g.W+2*g.OW]
				o := out[oy*g.OW : (oy+1)*g.OW]
				for ox := maxPool2Rows(o, r0, r1); ox < len(o); ox++ {
					o[ox] = max(max(r0[2*ox], r0[2*ox+1]), max(r1[2*ox], r1[2*ox+1]))
				}
			}
			continue
		}
		for oy := 0; oy < g.OH; oy++ {
			o := out[oy*g.OW : (oy+1)*g.OW]
			for ox := range o {
				best := plane[oy*g.Stride*g.W+ox*g.Stride]
				for ky := 0; ky < g.K; ky++ {
					row := plane[(oy*g.Stride+ky)*g.W+ox*g.Stride:]
					for _, v := range row[:g.K] {
						best = max(best, v)
					}
				}
				o[ox] = best
			}
		}
	}
}

// GlobalAvgPool writes the mean of each of the len(dst) planes of hw
// values in src: the sum, divided by hw. The sum runs in eight lanes
// (value i in lane i mod 8, for i below the last multiple of 8, in
// increasing i from zero), the lanes added pairwise
// ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then the remaining values in
// increasing order: eight independent additions in flight instead of one
// chain, the order fixed by hw alone; hw roundings and the division.
// With AVX2 the lanes are one ymm register (globalAvgPoolVec): the same
// operations.
func GlobalAvgPool(dst, src []float32, hw int) {
	if hw < 1 || len(src) < len(dst)*hw {
		panic(fmt.Sprintf("f32: GlobalAvgPool of %d planes of %d from %d values", len(dst), hw, len(src)))
	}
	if globalAvgPoolVec(dst, src, hw) {
		return
	}
	globalAvgPoolGo(dst, src, hw)
}

// globalAvgPoolGo is GlobalAvgPool's portable loop, the twin of
// globalAvgPoolVec.
func globalAvgPoolGo(dst, src []float32, hw int) {
	d := float32(hw)
	n8 := hw &^ 7
	for i := range dst {
		plane := src[i*hw : (i+1)*hw]
		var l0, l1, l2, l3, l4, l5, l6, l7 float32
		for j := 0; j < n8; j += 8 {
			v := plane[j : j+8 : j+8]
			l0 += v[0]
			l1 += v[1]
			l2 += v[2]
			l3 += v[3]
			l4 += v[4]
			l5 += v[5]
			l6 += v[6]
			l7 += v[7]
		}
		s := ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
		for _, v := range plane[n8:] {
			s += v
		}
		dst[i] = s / d
	}
}

// Add writes dst[i] = clamp(a[i] + b[i]) with the epilogue's activation
// (its Bias is not used): a residual connection. It is exact up to the
// one rounding of the addition.
func Add(dst, a, b []float32, ep *Epilogue) {
	if len(a) < len(dst) || len(b) < len(dst) {
		panic(fmt.Sprintf("f32: Add of %d values from %d and %d", len(dst), len(a), len(b)))
	}
	a, b = a[:len(dst)], b[:len(dst)]
	if !ep.ReLU {
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
		return
	}
	lo, hi := ep.bounds()
	i := 0
	if activeLevel.vec {
		i = biasVecClampVec(dst, a, b, lo, hi) // a[i] + b[i], then the clamp
	}
	for ; i < len(dst); i++ {
		dst[i] = ep.clamp(a[i] + b[i])
	}
}
