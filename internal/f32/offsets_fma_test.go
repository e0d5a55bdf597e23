package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmOffsetsFMA is GemmOffsets' definition with the assembly kernels'
// roundings: each KC block of each element summed from zero in
// increasing p by fused multiply-adds (fma32), then stored (the first
// block, not accumulating) or added to C.
func gemmOffsetsFMA(m, n, k int, a []float32, lda int, x []float32, off []int, c []float32, ldc int, accumulate bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for pc := 0; pc < k; pc += kc {
				var s float32
				for p := pc; p < min(pc+kc, k); p++ {
					s = fma32(a[i*lda+p], x[j+off[p]], s)
				}
				if accumulate || pc > 0 {
					c[i*ldc+j] += s
				} else {
					c[i*ldc+j] = s
				}
			}
		}
	}
}

// TestGemmOffsetsFMABits: GemmOffsets on each assembly offset kernel of
// this CPU, alone and with its narrow form where GemmOffsets picks it
// (AVX2: 4×24 for m a multiple of 4 but not of 6, …), gives
// gemmOffsetsFMA's bits, so every kernel and tile shape sums each
// element in the same order: m = 1…70 (every edge panel of 4, 6, 8 and
// 12 rows), n around the 16-, 24- and 32-column tiles, k = 1…300 (across
// the KC edge), accumulating or not, on 1 and 2 threads; nothing outside
// C is written.
func TestGemmOffsetsFMABits(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	ns := []int{1, 7, 16, 23, 24, 25, 33, 47, 49, 71, 96, 97}
	ks := []int{1, 2, 5, 9, 27, 144, kc - 1, kc, kc + 1, 300}
	var kerns []kernel
	for _, kern := range available() {
		if !kern.fastOff {
			continue
		}
		kerns = append(kerns, kern)
		if kern.narrow != nil {
			alone := kern
			alone.name += " alone"
			alone.narrow = nil
			kerns = append(kerns, alone)
		}
	}
	if len(kerns) == 0 {
		t.Skip("no assembly offset kernel on this CPU")
	}
	for _, kern := range kerns {
		for m := 1; m <= 70; m++ {
			n, k := ns[r.IntN(len(ns))], ks[r.IntN(len(ks))]
			if m%10 == 0 {
				k = kc + 1 + r.IntN(2*kc-1)
			}
			acc, threads := r.IntN(2) == 1, 1+r.IntN(2)
			name := fmt.Sprintf("%s %dx%dx%d acc=%v threads=%d", kern.name, m, n, k, acc, threads)
			lda, ldc := k+1, n+3
			a := randMat(r, m*lda)
			off := make([]int, k)
			for p := range off {
				off[p] = r.IntN(2*n + 40)
			}
			x := randMat(r, 3*n+40+OffsetSlack)
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
			want := append([]float32(nil), c...)
			gemmOffsetsFMA(m, n, k, a, lda, x, off, want, ldc, acc)
			saved := active
			active = kern
			GemmOffsets(m, n, k, a, lda, x, off, c, ldc, acc, threads)
			active = saved
			for i := range raw {
				inC := i >= guard && i < guard+m*ldc && (i-guard)%ldc < n
				if !inC && raw[i] != guardVal {
					t.Fatalf("%s: wrote outside C at %d", name, i-guard)
				}
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					if got, w := c[i*ldc+j], want[i*ldc+j]; math.Float32bits(got) != math.Float32bits(w) {
						t.Fatalf("%s: c[%d,%d] = %v, fused multiply-adds in order give %v", name, i, j, got, w)
					}
				}
			}
		}
	}
}
