//go:build amd64 && !purego

package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBiasClampRowsKernels compares the AVX2 and (where the machine has
// it) AVX-512 kernels of biasClampRows with its Go twin bit for bit, on
// row widths around both vector widths, row strides above the width,
// each activation, and guard values after every output row; sums with
// NaN, ±Inf and ±0 among them and a bias of −0 too (Go's max and min
// pass a NaN on and give max(−0, +0) = +0: so must the kernels).
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
					src := withSpecials(r, randMat(r, rows*ld))
					b := []float32{float32(r.NormFloat64()), 0, negZero}[ow%3]
					want := make([]float32, rows*ow)
					biasClampRowsGo(want, src, rows, ow, ld, b, c[0], c[1])
					got := make([]float32, rows*ow+1)
					got[rows*ow] = guardVal
					kern(&got[0], &src[0], rows, ow, ld, b, c[0], c[1])
					for i, v := range want {
						if !sameFloat(got[i], v) {
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
// max-pooling (where the machine has it), the AVX2 planes kernel (which
// runs where the machine has AVX2 but not AVX-512; tested on both) and
// the AVX2 row kernel with the
// definition, exactly, on widths around both vector widths (the plane
// kernel's masked tails, the row kernels' steps of 8, 4 and 1), planes
// of an even and an odd number of rows; with NaN, ±Inf and ±0 among the
// inputs (a window with a NaN gives NaN, as Go's max; sameValue: +0 and
// −0 are one value, whichever of a tie the kernel keeps).
func TestMaxPool2Kernels(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 1))
	for _, ow := range []int{1, 5, 7, 8, 9, 14, 15, 16, 17, 31, 32, 33} {
		for _, oh := range []int{1, 2, 5} {
			w := 2*ow + oh%2 // odd row strides too
			plane := withSpecials(r, randMat(r, 2*oh*w))
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
					if !sameValue(got[i], v) {
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
				src := withSpecials(r, randMat(r, g.C*h*w))
				got := make([]float32, g.C*oh*ow+1)
				got[g.C*oh*ow] = guardVal
				if !maxPool2Planes(got[:g.C*oh*ow], src, g) {
					switch {
					case activeLevel.vec && !hasAVX512():
						t.Fatal("maxPool2Planes declined on an AVX2 machine")
					case !activeLevel.vec:
						continue
					}
					// An AVX-512 machine runs maxPool2Plane; its AVX2
					// kernel is tested here all the same.
					maxPool2PlanesAVX2(&got[0], &src[0], g.C, oh, ow, w, h*w)
				}
				for c := 0; c < g.C; c++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							r0, r1 := src[(c*h+2*oy)*w:], src[(c*h+2*oy+1)*w:]
							want := max(max(r0[2*ox], r0[2*ox+1]), max(r1[2*ox], r1[2*ox+1]))
							if v := got[(c*oh+oy)*ow+ox]; !sameValue(v, want) {
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
					if !sameValue(o[i], want[oy*ow+i]) {
						t.Fatalf("avx2 ow=%d row %d: out[%d] = %v, want %v", ow, oy, i, o[i], want[oy*ow+i])
					}
				}
			}
		}
	}
}

// withSpecials plants NaN, ±Inf, +0 and −0 in about a third of x.
func withSpecials(r *rand.Rand, x []float32) []float32 {
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, negZero}
	for i := range x {
		if k := r.IntN(15); k < len(specials) {
			x[i] = specials[k]
		}
	}
	return x
}

// TestEpilogueKernelsSpecials compares the other AVX2 epilogue kernels —
// a bias for all (biasClampAVX2), per element (biasVecClampAVX2), per row
// and per column of a tile (biasRowsClampAVX2, biasColsClampAVX2) — with
// Go's min(max(v + b, lo), hi) bit for bit, on values and biases with
// NaN, ±Inf and ±0 among them, each activation, lengths around the
// vector width (the tile kernels' scalar tails). A NaN's bits are not
// compared (sameFloat).
func TestEpilogueKernelsSpecials(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 3))
	inf := float32(math.Inf(1))
	def := func(v, b, lo, hi float32) float32 { return min(max(v+b, lo), hi) }
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if !sameFloat(got[i], want[i]) {
				t.Fatalf("%s: [%d] = %v (%#x), want %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	for _, c := range [][2]float32{{-inf, inf}, {0, inf}, {0, 6}} {
		lo, hi := c[0], c[1]
		for _, n := range []int{8, 16, 40} {
			src, bias := withSpecials(r, randMat(r, n)), withSpecials(r, randMat(r, n))
			for _, b := range []float32{0, negZero, 0.75, -inf} {
				got, want := make([]float32, n), make([]float32, n)
				biasClampAVX2(&got[0], &src[0], n, b, lo, hi)
				for j, v := range src {
					want[j] = def(v, b, lo, hi)
				}
				same(fmt.Sprintf("biasClampAVX2 n=%d b=%v lo=%v hi=%v", n, b, lo, hi), got, want)
			}
			got, want := make([]float32, n), make([]float32, n)
			biasVecClampAVX2(&got[0], &src[0], &bias[0], n, lo, hi)
			for j, v := range src {
				want[j] = def(v, bias[j], lo, hi)
			}
			same(fmt.Sprintf("biasVecClampAVX2 n=%d lo=%v hi=%v", n, lo, hi), got, want)
		}
		for _, cols := range []int{1, 7, 8, 13, 24} {
			const rows, ldc = 3, 30
			tile := withSpecials(r, randMat(r, rows*ldc))
			bias := withSpecials(r, randMat(r, max(rows, cols)))
			for _, kind := range []string{"rows", "cols"} {
				got := slices.Clone(tile)
				want := slices.Clone(tile)
				if kind == "rows" {
					biasRowsClampAVX2(&got[0], ldc, rows, cols, &bias[0], 1, lo, hi)
				} else {
					biasColsClampAVX2(&got[0], ldc, rows, cols, &bias[0], lo, hi)
				}
				for i := 0; i < rows; i++ {
					for j := 0; j < cols; j++ {
						b := bias[j]
						if kind == "rows" {
							b = bias[i]
						}
						want[i*ldc+j] = def(tile[i*ldc+j], b, lo, hi)
					}
				}
				same(fmt.Sprintf("bias%sClampAVX2 cols=%d lo=%v hi=%v", kind, cols, lo, hi), got, want)
			}
		}
	}
}

// sameValue reports whether a == b or both are NaN.
func sameValue(a, b float32) bool { return a == b || a != a && b != b }
