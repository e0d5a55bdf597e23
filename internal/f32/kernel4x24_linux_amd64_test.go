//go:build linux && amd64 && !purego

package f32

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// pageEndFloats returns a function giving the last n float32s of a
// buffer of at least size floats that an inaccessible page follows: a
// kernel reading or writing past such a slice faults.
func pageEndFloats(t *testing.T, size int) func(n int) []float32 {
	t.Helper()
	all := guardedFloats(t, size, false)
	return func(n int) []float32 { return all[len(all)-n:] }
}

// guardedFloats maps at least size float32s (whole pages) with an
// inaccessible page before them (before) or after them, unmapped when
// the test ends.
func guardedFloats(t *testing.T, size int, before bool) []float32 {
	t.Helper()
	ps := syscall.Getpagesize()
	bytes := (4*size + ps - 1) / ps * ps
	mem, err := syscall.Mmap(-1, 0, bytes+ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	guard, data := mem[bytes:], mem[:bytes]
	if before {
		guard, data = mem[:ps], mem[ps:]
	}
	if err := syscall.Mprotect(guard, syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	return unsafe.Slice((*float32)(unsafe.Pointer(&data[0])), bytes/4)
}

// TestKernel4x24PackedBits runs the packed 4×24 AVX2 kernel
// (kernel4x24AVX2: kernelOff4x24AVX2 through panelOff24) on depths 1 to
// KC with A's panel (4·k floats), B's panel (24·k floats: a packed last
// panel of pixels) and C's tile (3·ldc + 24 floats) each ending just
// before an inaccessible page, so that a read or write past one faults,
// and compares the tile with each element's fused multiply-adds in
// increasing p from zero (fma32), stored or added to C; C's padding
// between rows keeps its value. A depth above KC panics.
func TestKernel4x24PackedBits(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2 and FMA")
	}
	r := rand.New(rand.NewPCG(43, 24))
	aT, bT, cT := pageEndFloats(t, 4*kc), pageEndFloats(t, 24*kc), pageEndFloats(t, 3*40+24)
	for _, k := range []int{1, 2, 3, 7, 64, kc - 1, kc} {
		for _, ldc := range []int{24, 25, 40} {
			for _, acc := range []bool{false, true} {
				a, b, c := aT(4*k), bT(24*k), cT(3*ldc+24)
				copy(a, randMat(r, 4*k))
				copy(b, randMat(r, 24*k))
				c0 := randMat(r, len(c))
				copy(c, c0)
				kernel4x24AVX2(k, &a[0], &b[0], &c[0], ldc, acc)
				for i := range 4 {
					for j := range ldc {
						if i == 3 && j >= 24 {
							break
						}
						got, want := c[i*ldc+j], c0[i*ldc+j]
						if j < 24 {
							var s float32
							for p := range k {
								s = fma32(a[p*4+i], b[p*24+j], s)
							}
							if acc {
								want += s
							} else {
								want = s
							}
						}
						if got != want {
							t.Fatalf("k=%d ldc=%d acc %v: c[%d][%d] = %v, want %v", k, ldc, acc, i, j, got, want)
						}
					}
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("kernel4x24AVX2 took a depth above KC")
		}
	}()
	a, b, c := aT(4*kc), bT(24*kc), cT(24)
	kernel4x24AVX2(kc+1, &a[0], &b[0], &c[0], 24, false)
}
