package f32

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

// allocBytes is the heap bytes allocated per call of f (after a warm-up
// call), over runs calls.
func allocBytes(runs int, f func()) uint64 {
	f()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&m1)
	return (m1.TotalAlloc - m0.TotalAlloc) / uint64(runs)
}

// TestOffsetsScratch: OffsetScratch's GemmOffsets and DotRows reuse its
// packed A, edge tiles and lane sums (a 64×576×4096 DotRows allocated
// 2.3 MB per call, ~11 MB per CIFAR ResNet-8 step), and scratch dirtied
// by a larger call gives the bits of the package functions (fresh
// scratch), at 1 and 3 threads.
func TestOffsetsScratch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 64, 576, 4096
	a := randMat(r, m*k)
	x := randMat(r, k+n+OffsetSlack)
	off := make([]int, n)
	for j := range off {
		off[j] = r.IntN(n)
	}
	c := make([]float32, m*n)
	var s OffsetScratch
	dot := func() { s.DotRows(m, n, k, a, k, x, off, c, n, false, 1) }
	gemm := func() { s.GemmOffsets(m, n, n, a, n, x, off, c, n, false, 1) }
	for _, tc := range []struct {
		name string
		f    func()
	}{{"DotRows", dot}, {"GemmOffsets", gemm}} {
		if b := allocBytes(5, tc.f); b > 1024 {
			t.Errorf("%s: %d bytes allocated per call, want scratch reused", tc.name, b)
		}
	}
	// Smaller calls after large ones (dirty scratch), accumulating or not.
	const sm, sn, sk = 13, 37, 300
	for _, th := range []int{1, 3} {
		for _, acc := range []bool{false, true} {
			c0 := randMat(r, sm*sn)
			want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
			DotRows(sm, sn, sk, a, sk, x, off, want, sn, acc, th)
			dot()
			s.DotRows(sm, sn, sk, a, sk, x, off, got, sn, acc, th)
			same(t, "DotRows", th, acc, got, want)
			want, got = append([]float32(nil), c0...), append([]float32(nil), c0...)
			GemmOffsets(sm, sn, sk, a, sk, x, off, want, sn, acc, th)
			gemm()
			s.GemmOffsets(sm, sn, sk, a, sk, x, off, got, sn, acc, th)
			same(t, "GemmOffsets", th, acc, got, want)
		}
	}
}

func same(t *testing.T, name string, th int, acc bool, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s on reused scratch (%d threads, accumulate %v): c[%d] = %v, fresh scratch gives %v", name, th, acc, i, got[i], want[i])
		}
	}
}

// TestAligned: Aligned's element at is on a 64-byte boundary (and so is
// every 16th after it), the slice is n long, zeroed, with no room to
// append into (a caller's append cannot alias the padding), for at at
// both ends and n around the 16-element edge; at out of range panics.
func TestAligned(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 100, 4099} {
		for _, at := range []int{0, min(1, n-1), n / 2, n - 1} {
			s := Aligned(n, at)
			if len(s) != n || cap(s) != n {
				t.Fatalf("Aligned(%d, %d): len %d, cap %d", n, at, len(s), cap(s))
			}
			if a := uintptr(unsafe.Pointer(&s[at])) % 64; a != 0 {
				t.Fatalf("Aligned(%d, %d): element %d is %d bytes past a 64-byte boundary", n, at, at, a)
			}
			for i, v := range s {
				if v != 0 {
					t.Fatalf("Aligned(%d, %d)[%d] = %v", n, at, i, v)
				}
			}
		}
	}
	for _, c := range [][2]int{{4, 4}, {4, -1}, {0, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Aligned(%d, %d) did not panic", c[0], c[1])
				}
			}()
			Aligned(c[0], c[1])
		}()
	}
}

// TestOffsetTiles: each tile OffsetTiles writes holds the bits of the
// same columns of GemmOffsets' product (the same kernels and KC blocks),
// for every micro-kernel (and its narrow form), m with and without an
// edge panel (12 and 24 rows take the 12-row AVX-512 kernel, the others
// its 8-row form; on AVX2, 6×16 tiles, the last panel of 1, 7, 13, 16
// and 25 rows by the four-row kernel, in place at 16, against
// GemmOffsets' 4×24 tiles), k below and across the KC edge, tiles at any
// column (unaligned, overlapping) scattered to any place in C; nothing
// else of C is written; and a tile reading past x or writing past C
// panics.
func TestOffsetTiles(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, kern := range available() {
		for _, s := range [][2]int{{1, 1}, {7, 9}, {8, 27}, {12, 50}, {13, 144}, {16, kc + 5}, {24, kc + 1}, {25, 2*kc + 3}} {
			m, k := s[0], s[1]
			lda := k + 2
			a := randMat(r, m*lda)
			off := make([]int, k)
			for p := range off {
				off[p] = r.IntN(200)
			}
			const n = 300
			x := randMat(r, n+200+OffsetSlack)
			saved := active
			active = kern
			var ot OffsetTiles
			nr := ot.PackA(m, k, a, lda)
			want := make([]float32, m*n)
			GemmOffsets(m, n, k, a, lda, x, off, want, n, false, 1)
			active = saved
			if nr != kern.nr && (kern.narrow == nil || nr != kern.narrow.nr) {
				t.Fatalf("%s: PackA says tiles are %d wide", kern.name, nr)
			}
			j0 := []int{0, 5, n - nr, 37, 38}
			ldc := 3*nr + 1
			dst := []int{0, nr + 1, 2*nr + 1, m * ldc, m*ldc + nr}
			c := make([]float32, 2*m*ldc)
			for i := range c {
				c[i] = guardVal
			}
			ot.Tiles(x, off, j0, dst, c, ldc)
			written := make([]bool, len(c))
			for tt, j := range j0 {
				for i := 0; i < m; i++ {
					for q := 0; q < nr; q++ {
						got := c[dst[tt]+i*ldc+q]
						written[dst[tt]+i*ldc+q] = true
						if math.Float32bits(got) != math.Float32bits(want[i*n+j+q]) {
							t.Fatalf("%s %dx%d tile %d: c[%d][%d] = %v, GemmOffsets gives %v", kern.name, m, k, tt, i, q, got, want[i*n+j+q])
						}
					}
				}
			}
			for i, v := range c {
				if !written[i] && v != guardVal {
					t.Fatalf("%s %dx%d: wrote outside the tiles at %d", kern.name, m, k, i)
				}
			}
			for _, bad := range []func(){
				func() { ot.Tiles(x[:n+slices.Max(off)+OffsetSlack-1], off, []int{n - nr}, []int{0}, c, ldc) },
				func() { ot.Tiles(x, off, []int{0}, []int{len(c) - (m-1)*ldc - nr + 1}, c, ldc) },
			} {
				func() {
					defer func() {
						if recover() == nil {
							t.Fatalf("%s %dx%d: no panic for a tile out of bounds", kern.name, m, k)
						}
					}()
					bad()
				}()
			}
		}
	}
}
