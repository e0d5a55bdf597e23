//go:build amd64 && !purego

package f32

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestDotRowsKernelInUse: a CPU with AVX2 and FMA runs DotRows on an
// assembly kernel, so nn's weight gradient runs direct there, and
// TestDotKernels has a kernel to compare with dotGo (without one it
// compares nothing and passes).
func TestDotRowsKernelInUse(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2+FMA")
	}
	if !DotRowsFast() {
		t.Fatalf("DotRowsFast() is false on a CPU with AVX2+FMA (kernel %s)", active.name)
	}
	n := 0
	for _, k := range available() {
		if k.dot != nil {
			n++
		}
	}
	if want := map[bool]int{false: 1, true: 2}[hasAVX512()]; n != want {
		t.Fatalf("%d kernels with a DotRows kernel, want %d", n, want)
	}
}
