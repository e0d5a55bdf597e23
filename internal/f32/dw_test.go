package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDWKernels checks every depthwise kernel level against float64 sums.
// Each result is a float32 sum of m terms, so it lies within
// γ_m·Σ|terms| (γ_m = m·u/(1−m·u), u = 2⁻²⁴; Higham, "Accuracy and
// stability of numerical algorithms", 2002, §4.2) of the exact sum,
// whatever the order and with or without fused multiply-adds; the
// float64 reference is exact to far below that. Guard elements past n
// must stay untouched.
func TestDWKernels(t *testing.T) {
	defer setDWLevel(0)()
	r := rand.New(rand.NewPCG(1, 2))
	const guard = 777.0
	for _, level := range dwLevels() {
		setDWLevel(level)
		for _, tc := range []struct{ n, taps, spread int }{
			{64, 9, 40}, {128, 1, 0}, {192, 25, 300}, {64, 2, 3}, {256, 4, 7},
		} {
			src := make([]float32, tc.n+tc.spread+5)
			for i := range src {
				src[i] = float32(r.NormFloat64())
			}
			off := make([]int, tc.taps)
			w := make([]float32, tc.taps)
			for i := range off {
				off[i] = r.IntN(tc.spread + 1)
				w[i] = float32(r.NormFloat64())
			}
			for _, acc := range []bool{false, true} {
				dst := make([]float32, tc.n+3)
				for i := range dst {
					dst[i] = float32(r.NormFloat64())
				}
				dst[tc.n], dst[tc.n+1], dst[tc.n+2] = guard, guard, guard
				start := append([]float32(nil), dst...)
				const init = 0.25
				DWSum(dst, src, off, w, tc.n, init, acc)
				for q := 0; q < tc.n; q++ {
					s, abs := float64(init), math.Abs(init)
					if acc {
						s, abs = float64(start[q]), math.Abs(float64(start[q]))
					}
					for i, o := range off {
						p := float64(w[i]) * float64(src[q+o])
						s += p
						abs += math.Abs(p)
					}
					if d := math.Abs(float64(dst[q]) - s); d > gamma(tc.taps+1)*abs {
						t.Fatalf("level %d %+v acc %v: DWSum[%d] = %g, want %g", level, tc, acc, q, dst[q], s)
					}
				}
				if dst[tc.n] != guard || dst[tc.n+2] != guard {
					t.Fatalf("level %d: DWSum wrote past n", level)
				}
			}
			dy := make([]float32, tc.n)
			for i := range dy {
				dy[i] = float32(r.NormFloat64())
			}
			out := make([]float32, tc.taps+1)
			for i := range out {
				out[i] = float32(i)
			}
			out[tc.taps] = guard
			DWDot(out[:tc.taps], dy, src, off, tc.n)
			for i, o := range off {
				s, abs := float64(i), float64(i)
				for q := 0; q < tc.n; q++ {
					p := float64(dy[q]) * float64(src[q+o])
					s += p
					abs += math.Abs(p)
				}
				if d := math.Abs(float64(out[i]) - s); d > gamma(tc.n+1)*abs {
					t.Fatalf("level %d %+v: DWDot[%d] = %g, want %g", level, tc, i, out[i], s)
				}
			}
			if out[tc.taps] != guard {
				t.Fatalf("level %d: DWDot wrote past its taps", level)
			}
		}
	}
}

// TestDWCopy: every level copies exactly the block, bit for bit (random
// bit patterns, NaNs included), and nothing else.
func TestDWCopy(t *testing.T) {
	defer setDWLevel(0)()
	r := rand.New(rand.NewPCG(1, 4))
	for _, level := range dwLevels() {
		setDWLevel(level)
		for trial := 0; trial < 200; trial++ {
			rows, cols := 1+r.IntN(9), 1+r.IntN(40)
			ldd, lds := cols+r.IntN(5), cols+r.IntN(5)
			src := make([]float32, (rows-1)*lds+cols+r.IntN(3))
			for i := range src {
				src[i] = math.Float32frombits(r.Uint32())
			}
			dst := make([]float32, (rows-1)*ldd+cols+r.IntN(3))
			const sentinel = 0x7fc01234 // a NaN no random draw is likely to repeat
			for i := range dst {
				dst[i] = math.Float32frombits(sentinel)
			}
			DWCopy(dst, ldd, src, lds, rows, cols)
			for i, v := range dst {
				want := uint32(sentinel)
				if rr, c := i/ldd, i%ldd; rr < rows && c < cols {
					want = math.Float32bits(src[rr*lds+c])
				}
				if math.Float32bits(v) != want {
					t.Fatalf("level %d, %dx%d strides %d %d: dst[%d] = %#x, want %#x", level, rows, cols, ldd, lds, i, math.Float32bits(v), want)
				}
			}
		}
	}
}

// TestDWSplit2: every level splits exactly the block's columns by parity,
// bit for bit, into even and odd planes of one buffer (as the stride-2
// packing does), writing nothing else; widths cover whole 32- and
// 16-float chunks and every tail length.
func TestDWSplit2(t *testing.T) {
	defer setDWLevel(0)()
	r := rand.New(rand.NewPCG(1, 5))
	for _, level := range dwLevels() {
		setDWLevel(level)
		for cols := 1; cols <= 70; cols++ {
			rows := 1 + r.IntN(4)
			ne, no := (cols+1)/2, cols/2
			ldd, lds := ne+r.IntN(3), cols+r.IntN(3)
			src := make([]float32, (rows-1)*lds+cols)
			for i := range src {
				src[i] = math.Float32frombits(r.Uint32())
			}
			plane := rows*ldd + 1
			buf := make([]float32, 2*plane)
			const sentinel = 0x7fc01234
			for i := range buf {
				buf[i] = math.Float32frombits(sentinel)
			}
			DWSplit2(buf, buf[plane:], ldd, src, lds, rows, cols)
			for i, v := range buf {
				want := uint32(sentinel)
				ph, rr, c := i/plane, i%plane/ldd, i%plane%ldd
				if rr < rows && (ph == 0 && c < ne || ph == 1 && c < no) {
					want = math.Float32bits(src[rr*lds+2*c+ph])
				}
				if math.Float32bits(v) != want {
					t.Fatalf("level %d, %dx%d strides %d %d: plane %d [%d][%d] = %#x, want %#x",
						level, rows, cols, ldd, lds, ph, rr, c, math.Float32bits(v), want)
				}
			}
		}
	}
}

// TestDWMerge2: every level interleaves exactly, bit for bit, and writes
// nothing outside the block (the odd rows of a stride-2 dx are left alone).
func TestDWMerge2(t *testing.T) {
	defer setDWLevel(0)()
	r := rand.New(rand.NewPCG(1, 6))
	for _, level := range dwLevels() {
		setDWLevel(level)
		for cols := 1; cols <= 70; cols++ {
			rows := 1 + r.IntN(4)
			ne, no := (cols+1)/2, cols/2
			ldd, lds := cols+r.IntN(3), ne+r.IntN(3)
			plane := rows*lds + 1
			src := make([]float32, 2*plane)
			for i := range src {
				src[i] = math.Float32frombits(r.Uint32())
			}
			dst := make([]float32, rows*ldd+2)
			const sentinel = 0x7fc01234
			for i := range dst {
				dst[i] = math.Float32frombits(sentinel)
			}
			DWMerge2(dst, ldd, src, src[plane:], lds, rows, cols)
			for i, v := range dst {
				want := uint32(sentinel)
				if rr, c := i/ldd, i%ldd; rr < rows && c < cols {
					want = math.Float32bits(src[c%2*plane+rr*lds+c/2])
				}
				if math.Float32bits(v) != want {
					t.Fatalf("level %d, %dx%d strides %d %d: dst[%d] = %#x, want %#x (%d odd)",
						level, rows, cols, ldd, lds, i, math.Float32bits(v), want, no)
				}
			}
		}
	}
}

func gamma(m int) float64 {
	u := math.Ldexp(1, -24)
	return float64(m) * u / (1 - float64(m)*u)
}

func TestDWPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"ragged n":   func() { DWSum(make([]float32, 64), make([]float32, 64), []int{0}, []float32{1}, 63, 0, false) },
		"short src":  func() { DWSum(make([]float32, 64), make([]float32, 64), []int{1}, []float32{1}, 64, 0, false) },
		"neg offset": func() { DWDot(make([]float32, 1), make([]float32, 64), make([]float32, 80), []int{-1}, 64) },
		"weights":    func() { DWSum(make([]float32, 64), make([]float32, 64), []int{0}, nil, 64, 0, false) },
		"copy short": func() { DWCopy(make([]float32, 10), 4, make([]float32, 12), 4, 3, 4) },
		"copy ld":    func() { DWCopy(make([]float32, 10), 3, make([]float32, 12), 4, 2, 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// BenchmarkDW: the depthwise kernels on one 28×28 plane's work (3×3 taps,
// rows 30 wide: n = 896), data in L1, for every kernel level this CPU
// runs; DWDot/taps1 is DWDot called a tap at a time (no three-tap passes).
func BenchmarkDW(b *testing.B) {
	defer setDWLevel(0)()
	const n, ld = 896, 30
	r := rand.New(rand.NewPCG(1, 3))
	src := make([]float32, n+3*ld)
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	dst, dy := make([]float32, n), make([]float32, n)
	copy(dy, src)
	var off []int
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			off = append(off, i*ld+j)
		}
	}
	w := make([]float32, 9)
	gflops := func(b *testing.B) {
		b.ReportMetric(2*9*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	for _, level := range dwLevels() {
		setDWLevel(level)
		name := [...]string{"go", "avx2", "avx512"}[level]
		b.Run("DWSum/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				DWSum(dst, src, off, w, n, 0, false)
			}
			gflops(b)
		})
		b.Run("DWDot/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				DWDot(w, dy, src, off, n)
			}
			gflops(b)
		})
		b.Run("DWDot/taps1/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for t := range off {
					DWDot(w[t:t+1], dy, src, off[t:t+1], n)
				}
			}
			gflops(b)
		})
	}
}
