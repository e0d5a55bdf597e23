package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestAVX2FusedMatchesUnfused runs the AVX2 GEMM kernels with the
// requantization fused in either form (kernelSet.q: plain, split and
// signed; the 32-bit form where enableRequant32 allows it) on every
// level that has them, forced on this CPU, and compares every byte with
// the portable GEMM followed by requantU8 (the 64-bit rule, their
// reference twin): whole panels (16 to 48 channels), ragged row counts
// (1 to 9: every tile height and a remainder) and row lengths, weights
// up to 7 in magnitude (so that the plain kernels' pairs stay in int16
// and the sums below 2^18) or, for the 64-bit form of the exact sets, up
// to 127, all at the bound in some cases, shifts in [13, 42] with ties
// for many sums, zero points and clamps. fusedQ must
// pick the fused set for such layers and refuse a partial panel. Bytes
// around the rows keep the guard.
func TestAVX2FusedMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 45))
	ran := 0
	for _, lv := range availableLevels() {
		for _, ks := range []*kernelSet{lv.fast, lv.exact, lv.exact2} {
			if ks == nil || ks.q == nil {
				continue
			}
			for it := 0; it < 36; it++ {
				n, r32 := 1+it%9, it < 18
				wmax := 7
				if !r32 && ks != lv.fast {
					wmax = 127
				}
				m := 16 * (1 + rng.IntN(3))
				k := 4 + rng.IntN(140)
				extreme := n%4 == 0
				wt := make([]int8, m*k)
				for i := range wt {
					wt[i] = int8(rng.IntN(2*wmax+1) - wmax)
					if extreme {
						wt[i] = int8(wmax)
						if !r32 && i%2 == 1 {
							wt[i] = int8(-wmax)
						}
					}
				}
				bias := make([]int32, m)
				for i := range bias {
					bias[i] = rng.Int32N(1000) - 500
				}
				pw := packWeights(wt, bias, m, k, 0, 255, 0, lv)
				m0, shift := make([]int32, m), make([]int32, m)
				for i := range m0 {
					m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 13+rng.Int32N(30)
					if i%3 == 0 {
						m0[i], shift[i] = quant.MinM0, 24+int32(i%2)
					}
				}
				z := rng.Int32N(256)
				lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
				pw.rq = newRequantPanels(m0, shift, pw.mp, z, lo, hi)
				if r32 && !enableRequant32(pw.rq, m0, shift, lo, hi, accBound(pw, 255)) {
					t.Fatalf("m %d k %d: 32-bit form refused", m, k)
				}
				if ks == lv.kernels(pw) && lv.q == nil && lv.fusedQ(pw) != ks.q {
					t.Fatalf("level %s: fusedQ does not pick the fused set", lv.name)
				}
				ldu := pw.kp + rng.IntN(3)*4
				u := make([]uint8, n*ldu)
				for i := range u {
					u[i] = uint8(rng.IntN(256))
					if extreme {
						u[i] = 255
					}
				}
				acc := make([]int32, n*pw.mp)
				gemmPackedGo(acc, pw.mp, u, ldu, pw, n)
				ldd := m + 5
				want := make([]uint8, n*ldd)
				requantU8(want, acc, n, m, pw.mp, m0, shift, z, lo, hi, ldd)
				const band = 64
				buf := make([]uint8, band+n*ldd+band)
				for i := range buf {
					buf[i] = guard
				}
				gemmPackedQ(ks.q, buf[band:band+n*ldd], ldd, u, ldu, pw, n, pw.rq)
				where := fmt.Sprintf("level %s signed %v 32-bit %v rows %d m %d k %d", lv.name, ks.signed, r32, n, m, k)
				for i, v := range buf {
					r, ch := (i-band)/ldd, (i-band)%ldd
					if i < band || r >= n || ch >= m {
						if v != guard {
							t.Fatalf("%s: byte %d outside the outputs overwritten (%d)", where, i-band, v)
						}
						continue
					}
					if v != want[r*ldd+ch] {
						t.Fatalf("%s: row %d channel %d (acc %d, M0 %d, n %d): %d, want %d", where, r, ch, acc[r*pw.mp+ch], m0[ch], shift[ch], v, want[r*ldd+ch])
					}
				}
				ran++
				// A partial last panel runs unfused.
				pw2 := packWeights(wt[:(m-1)*k], bias[:m-1], m-1, k, 0, 255, 0, lv)
				pw2.rq = newRequantPanels(m0[:m-1], shift[:m-1], pw2.mp, z, lo, hi)
				enableRequant32(pw2.rq, m0[:m-1], shift[:m-1], lo, hi, accBound(pw2, 255))
				if lv.q == nil && lv.fusedQ(pw2) != nil {
					t.Fatalf("level %s: fusedQ picks a fused set for %d channels", lv.name, m-1)
				}
			}
		}
	}
	if ran == 0 {
		t.Skip("no AVX2 fused kernels on this CPU or build")
	}
}
