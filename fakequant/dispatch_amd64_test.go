//go:build amd64 && !purego

package fakequant

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestVectorPathsTaken: on a CPU with AVX2 and FMA, the requantization
// and residual-add kernels take their vector paths at every vector level
// (the twin tests compare results only, so a dispatch that fell back to
// Go would pass them while running at Go's speed).
func TestVectorPathsTaken(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2+FMA")
	}
	const inner, ch = 49, 3
	src := make([]float32, inner*ch*2)
	for i := range src {
		src[i] = float32(i%97-48) * 0.37 // ordinary accumulators, far from ties
	}
	dst := make([]float32, len(src))
	sa := []float64{0.01, 0.02, 0.03}
	m0 := []int32{1<<30 + 12345, 1<<30 + 999, 1<<30 + 7}
	shift := []int32{8, 9, 10}
	a, b := make([]float32, 64), make([]float32, 64)
	for i := range a {
		a[i], b[i] = float32(i%11)*0.25, float32(i%7)*0.5
	}
	add := &addK{sa: 0.25, sb: 0.5, so: 0.3, aLo: -127, aHi: 127, bLo: -127, bHi: 127,
		m0a: 1<<23 | 4321, m0b: 1<<23 | 77, na: 24, nb: 25, zo: -3, lo: -128, hi: 127}
	add.terms()
	for _, lv := range availableLevels() {
		if lv < levelAVX2 {
			continue
		}
		withLevel(lv, func() {
			k := getRequantK(0.05, -3, -128, 127, ch)
			defer requantPool.Put(k)
			k.channels(sa, m0, shift)
			if n := requantRunsVec(dst, src, k, inner, ch); n != len(src) {
				t.Errorf("level %d: requantRunsVec did %d of %d elements", lv, n, len(src))
			}
			if add.wide {
				t.Fatalf("test addK marked wide")
			}
			if n := addVec(make([]float32, len(a)), a, b, add); n != len(a) {
				t.Errorf("level %d: addVec did %d of %d elements", lv, n, len(a))
			}
		})
	}
}
