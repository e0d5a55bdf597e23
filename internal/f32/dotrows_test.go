package f32

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestDotRows: C = A·Bᵀ with B's rows read at offsets, every kernel
// against the definition in float64 within Gemm's bound (the lane sums
// are shorter chains than Gemm's), no write outside C, for ragged tiles
// (m not a multiple of dotMR = 4, n not of dotNR = 6), k below, at and
// past 16 and past a chunk;
// and the same bits for any number of threads, with parts cut between
// tiles (8×27: two row blocks) or between whole row blocks (16×144 at 2
// threads, 33×10: nine row blocks, the last ragged).
func TestDotRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 15}, {4, 4, 16}, {5, 7, 17}, {16, 144, 1122}, {17, 9, dotChunk + 35}, {8, 27, 2*dotChunk + 16}, {33, 10, 700}}
	for _, kern := range available() {
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			acc := r.IntN(2) == 1
			lda, ldc := k+3, n+2
			a := randMat(r, m*lda)
			b := randMat(r, k+2*n+5)
			boff := make([]int, n)
			for j := range boff {
				boff[j] = r.IntN(2*n + 6)
			}
			raw := make([]float32, m*ldc+2*guard)
			for i := range raw {
				raw[i] = guardVal
			}
			c := raw[guard : guard+m*ldc]
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					c[i*ldc+j] = float32(r.NormFloat64())
				}
			}
			c0 := append([]float32(nil), c...)
			saved := active
			active = kern
			DotRows(m, n, k, a, lda, b, boff, c, ldc, acc, 1)
			active = saved
			for i := range raw {
				inC := i >= guard && i < guard+m*ldc && (i-guard)%ldc < n
				if !inC && raw[i] != guardVal {
					t.Fatalf("%s %dx%dx%d: wrote outside C at %d", kern.name, m, n, k, i-guard)
				}
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var want, mag float64
					if acc {
						want, mag = float64(c0[i*ldc+j]), math.Abs(float64(c0[i*ldc+j]))
					}
					for p := 0; p < k; p++ {
						pr := float64(a[i*lda+p]) * float64(b[boff[j]+p])
						want, mag = want+pr, mag+math.Abs(pr)
					}
					if d := math.Abs(float64(c[i*ldc+j]) - want); d > tolerance(k, mag) {
						t.Fatalf("%s %dx%dx%d acc=%v: c[%d,%d] = %v, want %v (error %g > bound %g)", kern.name, m, n, k, acc, i, j, c[i*ldc+j], want, d, tolerance(k, mag))
					}
				}
			}
			var ref []float32
			for _, th := range []int{1, 2, 3} {
				c := append([]float32(nil), c0...)
				active = kern
				DotRows(m, n, k, a, lda, b, boff, c, ldc, acc, th)
				active = saved
				if ref == nil {
					ref = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("%s %dx%dx%d: %d threads differ from 1 at %d", kern.name, m, n, k, th, i)
					}
				}
			}
		}
	}
}

// TestDotKernels: each assembly DotRows kernel gives its Go twin dotGo's
// bits (both do one fused multiply-add per product, lane p mod 16, in
// increasing p; dotGo's fma32 rounds once as the instruction does), on
// a row of one to five tiles with rows at unaligned offsets, overlapping
// (as a layout's taps) or apart in a sea of NaNs (no element read outside
// its row), from a chunk start p0, and lanes that start nonzero between
// guard bands (no write outside the tiles), for k from 0 to past a chunk
// (at and around dot4x6AVX2's block of 512); and DotRows with each
// kernel gives
// DotRows with dotGo's bits over a ladder of ragged m, n (tails of the
// 4×6 tiles) and k (not multiples of 16: the Go tail), so the summation
// order is the kernel's alone.
func TestDotKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	same := func(x, y []float32) int {
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return i
			}
		}
		return -1
	}
	tested := 0
	for _, kern := range available() {
		if kern.dot == nil {
			continue // DotRows runs dotGo itself
		}
		tested++
		for _, k := range []int{0, 16, 32, 48, 160, 496, 512, 528, 1024, 1040, dotChunk, dotChunk + 16, dotChunk + 528} {
			for nt := 1; nt <= 5; nt++ {
				for _, disjoint := range []bool{false, true} {
					p0 := r.IntN(20)
					var aoff [dotMR]int
					boff := make([]int, nt*dotNR)
					var a, b []float32
					if disjoint {
						// Every row apart, 16 elements or more from the next,
						// at any alignment, in a sea of NaNs: an element
						// read outside its row makes a lane NaN.
						gap := k + 32
						a = make([]float32, p0+dotMR*gap+16)
						b = make([]float32, p0+len(boff)*gap+16)
						for i := range a {
							a[i] = float32(math.NaN())
						}
						for i := range b {
							b[i] = float32(math.NaN())
						}
						for i := range aoff {
							aoff[i] = i*gap + 16 - r.IntN(16)
							copy(a[aoff[i]+p0:][:k], randMat(r, k))
						}
						for j := range boff {
							boff[j] = j*gap + 16 - r.IntN(16)
							copy(b[boff[j]+p0:][:k], randMat(r, k))
						}
					} else {
						// Overlapping rows, as a layout's taps are.
						a = randMat(r, p0+dotMR*k+40)
						b = randMat(r, p0+k+40)
						for i := range aoff {
							aoff[i] = i*k + r.IntN(10)
						}
						for j := range boff {
							boff[j] = r.IntN(40)
						}
					}
					// The tiles' lanes start nonzero, between guard bands.
					const band = 64
					raw := randMat(r, nt*dotMR*dotNR*16+2*band)
					for i := 0; i < band; i++ {
						raw[i], raw[len(raw)-1-i] = guardVal, guardVal
					}
					want := append([]float32(nil), raw...)
					kern.dot(k, p0, &a[0], &aoff[0], &b[0], &boff[0], &raw[band], nt)
					dotGo(k, p0, &a[0], &aoff[0], &b[0], &boff[0], &want[band], nt)
					if i := same(raw, want); i >= 0 {
						t.Fatalf("%s k=%d nt=%d disjoint=%v: lane %d = %v, dotGo's %v", kern.name, k, nt, disjoint, i-band, raw[i], want[i])
					}
				}
			}
		}
		for _, m := range []int{1, 3, 4, 5, 9, 16} {
			for _, n := range []int{1, 5, 6, 7, 13, 27} {
				for _, k := range []int{1, 15, 16, 17, 33, 200, dotChunk + 21} {
					lda, ldc := k+1, n+3
					a := randMat(r, m*lda)
					b := randMat(r, k+3*n)
					boff := make([]int, n)
					for j := range boff {
						boff[j] = r.IntN(3 * n)
					}
					c := randMat(r, m*ldc)
					want := append([]float32(nil), c...)
					saved := active
					active = kern
					DotRows(m, n, k, a, lda, b, boff, c, ldc, true, 1)
					active = goKernel
					DotRows(m, n, k, a, lda, b, boff, want, ldc, true, 1)
					active = saved
					if i := same(c, want); i >= 0 {
						t.Fatalf("%s %dx%dx%d: c[%d] = %v, with dotGo %v", kern.name, m, n, k, i, c[i], want[i])
					}
				}
			}
		}
	}
	t.Logf("%d assembly DotRows kernels", tested)
}

// TestFMA32: fma32 is x·y + z rounded once to float32, as math/big computes
// it exactly and rounds it (to nearest, ties to even), on random operands
// of mixed scales and signs (cancellation included) and on a tie that
// float32(math.FMA) breaks the wrong way: (1+2⁻²³)(1−2⁻²³) + (2²⁴+2) =
// 2²⁴+3−2⁻⁴⁶, whose float64 is the tie 2²⁴+3, rounded to even 2²⁴+4, but
// the exact value is below it, so 2²⁴+2.
func TestFMA32(t *testing.T) {
	exact := func(x, y, z float32) float32 {
		p := new(big.Float).SetPrec(1000).Mul(big.NewFloat(float64(x)), big.NewFloat(float64(y)))
		f, _ := p.Add(p, big.NewFloat(float64(z))).Float32()
		return f
	}
	x, y := float32(1+0x1p-23), float32(1-0x1p-23)
	if got, want := fma32(x, y, 0x1p24+2), float32(0x1p24+2); got != want || exact(x, y, 0x1p24+2) != want {
		t.Fatalf("fma32 on the tie = %v, want %v (math/big: %v)", got, want, exact(x, y, 0x1p24+2))
	}
	if twice := float32(math.FMA(float64(x), float64(y), 0x1p24+2)); twice == float32(0x1p24+2) {
		t.Fatalf("float32(math.FMA) = %v: the tie case tests nothing", twice)
	}
	// At float32's overflow threshold: s = fl64(x·y + z) is the midpoint
	// 2^128 − 2^103 between MaxFloat32 and 2^128 exactly, with the exact
	// sum below it, so the correct result is MaxFloat32 (as VFMADD231PS
	// gives), not the +Inf that rounding s alone gives (found in review);
	// and the same sums' mirror images, and one just past the midpoint.
	for _, c := range [][3]float32{
		{8388607, 1.208926e24, math.MaxFloat32},
		{-8388607, 1.208926e24, -math.MaxFloat32},
		{8388607, -1.208926e24, -math.MaxFloat32},
		{1, 0x1p104, math.MaxFloat32},
	} {
		if got, want := fma32(c[0], c[1], c[2]), exact(c[0], c[1], c[2]); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("fma32(%v, %v, %v) = %v, want %v", c[0], c[1], c[2], got, want)
		}
	}
	if s := float64(float32(8388607))*float64(float32(1.208926e24)) + math.MaxFloat32; s != 0x1p128-0x1p103 {
		t.Fatalf("the overflow case sums to %v in float64, not the midpoint: it tests nothing", s)
	}
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 200000; i++ {
		x := float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
		y := float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
		z := float32(r.NormFloat64() * math.Ldexp(1, r.IntN(60)-30))
		if i%3 == 0 {
			z = -x*y + float32(r.NormFloat64())*z*0x1p-20 // cancellation
		}
		if got, want := fma32(x, y, z), exact(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%v, %v, %v) = %v, want %v", x, y, z, got, want)
		}
	}
}

func TestDotRowsShortBPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a B row past the end")
		}
	}()
	DotRows(1, 2, 8, make([]float32, 8), 8, make([]float32, 12), []int{0, 5}, make([]float32, 2), 2, false, 1)
}

// BenchmarkDotRows: the weight gradients of resnet8-mlperf's 3×3
// convolutions at batch 64 (one group of images) as gradW calls DotRows
// on the padded layout: Cout×C·9 by the layout's columns, B's rows at
// the taps' offsets, one thread.
func BenchmarkDotRows(b *testing.B) {
	for _, s := range []struct{ c, cout, h int }{{16, 16, 32}, {32, 32, 16}, {64, 64, 8}} {
		wq, step := s.h+1, s.h+1
		plane := ((63*step+s.h+2)*wq + 15) &^ 15
		k := (63*step + s.h) * wq
		off := make([]int, s.c*9)
		for c := 0; c < s.c; c++ {
			for t := 0; t < 9; t++ {
				off[c*9+t] = c*plane + t/3*wq + t%3
			}
		}
		lda := (k + 15) &^ 15
		a := Aligned(s.cout*lda, 0)
		x := make([]float32, s.c*plane+3*wq+OffsetSlack)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		c := make([]float32, s.cout*s.c*9)
		var sc OffsetScratch
		b.Run(fmt.Sprintf("%dx%dx%d", s.cout, s.c*9, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sc.DotRows(s.cout, s.c*9, k, a, lda, x, off, c, s.c*9, false, 1)
			}
			b.ReportMetric(float64(s.cout*s.c*9*k)*2*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
