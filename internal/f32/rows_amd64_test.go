//go:build amd64 && !purego

package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBiasClampRowsKernels compares the AVX2 and (where the machine has
// it) AVX-512 kernels of biasClampRows with its Go twin bit for bit, on
// row widths around both vector widths, row strides above the width,
// each activation, and guard values after every output row.
func TestBiasClampRowsKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 2))
	kernels := map[string]func(dst, src *float32, rows, ow, ld int, b, lo, hi float32){"avx2": biasClampRowsAVX2}
	if hasAVX512() {
		kernels["avx512"] = biasClampRowsAVX512
	}
	inf := float32(math.Inf(1))
	for name, kern := range kernels {
		for _, ow := range []int{1, 4, 7, 8, 9, 14, 15, 16, 17, 31, 32, 33, 49} {
			for _, rows := range []int{1, 3, 14} {
				for _, c := range [][2]float32{{-inf, inf}, {0, inf}, {0, 0.5}} {
					ld := ow + rows%3
					src := randMat(r, rows*ld)
					b := float32(r.NormFloat64())
					want := make([]float32, rows*ow)
					biasClampRowsGo(want, src, rows, ow, ld, b, c[0], c[1])
					got := make([]float32, rows*ow+1)
					got[rows*ow] = guardVal
					kern(&got[0], &src[0], rows, ow, ld, b, c[0], c[1])
					for i, v := range want {
						if math.Float32bits(got[i]) != math.Float32bits(v) {
							t.Fatalf("%s rows=%d ow=%d ld=%d: dst[%d] = %v, want %v", name, rows, ow, ld, i, got[i], v)
						}
					}
					if got[rows*ow] != guardVal {
						t.Fatalf("%s rows=%d ow=%d: wrote past the end", name, rows, ow)
					}
				}
			}
		}
	}
	t.Logf("%d kernels", len(kernels))
}

// TestMaxPool2Kernels compares the AVX-512 plane kernel of 2×2 stride-2
// max-pooling (where the machine has it), the AVX2 planes kernel (where
// the machine has AVX2 but not AVX-512) and the AVX2 row kernel with the
// definition, exactly, on widths around both vector widths (the plane
// kernel's masked tails, the row kernels' steps of 8, 4 and 1), planes
// of an even and an odd number of rows.
func TestMaxPool2Kernels(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 1))
	for _, ow := range []int{1, 5, 7, 8, 9, 14, 15, 16, 17, 31, 32, 33} {
		for _, oh := range []int{1, 2, 5} {
			w := 2*ow + oh%2 // odd row strides too
			plane := randMat(r, 2*oh*w)
			want := make([]float32, oh*ow)
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					r0, r1 := plane[2*oy*w:], plane[(2*oy+1)*w:]
					want[oy*ow+ox] = max(max(r0[2*ox], r0[2*ox+1]), max(r1[2*ox], r1[2*ox+1]))
				}
			}
			if hasAVX512() {
				got := make([]float32, oh*ow+1)
				got[oh*ow] = guardVal
				if !maxPool2Plane(got, plane, oh, ow, w) {
					t.Fatal("maxPool2Plane declined on an AVX-512 machine")
				}
				for i, v := range want {
					if got[i] != v {
						t.Fatalf("avx512 oh=%d ow=%d: out[%d] = %v, want %v", oh, ow, i, got[i], v)
					}
				}
				if got[oh*ow] != guardVal {
					t.Fatalf("avx512 oh=%d ow=%d: wrote past the end", oh, ow)
				}
			}
			// The AVX2 plane kernel on three planes of 2·oh (or 2·oh+1)
			// rows, with a guard after the outputs.
			for _, h := range []int{2 * oh, 2*oh + 1} {
				g := ConvGeom{C: 3, H: h, W: w, K: 2, Stride: 2, OH: oh, OW: ow}
				src := randMat(r, g.C*h*w)
				got := make([]float32, g.C*oh*ow+1)
				got[g.C*oh*ow] = guardVal
				if !maxPool2Planes(got[:g.C*oh*ow], src, g) {
					if activeLevel.vec && !hasAVX512() {
						t.Fatal("maxPool2Planes declined on an AVX2 machine")
					}
					continue
				}
				for c := 0; c < g.C; c++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							r0, r1 := src[(c*h+2*oy)*w:], src[(c*h+2*oy+1)*w:]
							want := max(max(r0[2*ox], r0[2*ox+1]), max(r1[2*ox], r1[2*ox+1]))
							if v := got[(c*oh+oy)*ow+ox]; v != want {
								t.Fatalf("avx2 planes oh=%d ow=%d h=%d: (%d,%d,%d) = %v, want %v", oh, ow, h, c, oy, ox, v, want)
							}
						}
					}
				}
				if got[g.C*oh*ow] != guardVal {
					t.Fatalf("avx2 planes oh=%d ow=%d: wrote past the end", oh, ow)
				}
			}
			for oy := 0; oy < oh; oy++ {
				o := make([]float32, ow)
				n := maxPool2Rows(o, plane[2*oy*w:2*oy*w+2*ow], plane[(2*oy+1)*w:(2*oy+1)*w+2*ow])
				for i := 0; i < n; i++ {
					if o[i] != want[oy*ow+i] {
						t.Fatalf("avx2 ow=%d row %d: out[%d] = %v, want %v", ow, oy, i, o[i], want[oy*ow+i])
					}
				}
			}
		}
	}
}
