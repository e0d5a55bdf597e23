package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestRequant32MatchesRequantize checks the 32-bit form (requant32) with
// quant.Requantize on the edge ladder: accumulators at 0, ±1, the bound
// ±(2^18 − 1) and random, constructed ties (acc·M0 an odd multiple of
// 2^(n−1)) and their neighbours, M0 at both ends, every shift in
// [13, 42], zero points and clamps at the ends.
func TestRequant32MatchesRequantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 27))
	m0s := []int32{quant.MinM0, quant.MinM0 + 1, quant.MaxM0, quant.MaxM0 - 1, 1<<23 + 1<<11, 12582913, 0}
	checked := 0
	for n := int32(13); n <= 42; n++ {
		for _, m0 := range m0s {
			accs := []int32{0, 1, -1, 1<<18 - 1, -(1<<18 - 1), 4095, -4096}
			for range 200 {
				accs = append(accs, rng.Int32N(1<<19)-(1<<18-1))
			}
			// Ties: acc·M0 = (2j + 1)·2^(n−1) when M0 = 2^23 + 2^11… has
			// a power-of-two factor; try acc = 2^s for every s and odd
			// multiples, with their neighbours.
			for s := 0; s < 18; s++ {
				for _, j := range []int32{1, 3, 5, -1, -3} {
					if a := j << s; a > -(1<<18) && a < 1<<18 {
						accs = append(accs, a, a+1, a-1)
					}
				}
			}
			for _, acc := range accs {
				for _, q := range [][3]int32{{0, 0, 255}, {255, 0, 255}, {-256, 0, 255}, {511, 0, 255}, {17, 3, 200}} {
					want := quant.Requantize(acc, m0, n, q[0], q[1], q[2])
					if got := requant32(acc, m0, n, q[0], q[1], q[2]); got != want {
						t.Fatalf("acc %d M0 %d n %d Z %d [%d, %d]: requant32 %d, quant.Requantize %d", acc, m0, n, q[0], q[1], q[2], got, want)
					}
					checked++
				}
			}
		}
	}
	// Ties do occur in the ladder: acc·M0 mod 2^n = 2^(n−1).
	ties := 0
	for n := int64(13); n <= 42; n++ {
		for s := int64(0); s < 18; s++ {
			if p := int64(1<<23+1<<11) << s; p%(1<<n) == 1<<(n-1) {
				ties++
			}
		}
	}
	if ties == 0 || checked == 0 {
		t.Fatalf("no ties (%d) or no values (%d) checked", ties, checked)
	}
}

// TestFused32MatchesUnfused runs the fused kernels (implicit-im2col,
// GEMM and 3×3 ones) with the 32-bit requantization enabled on layers
// whose accumulators reach just below its 2^18 bound (weights of
// magnitude up to 7, bytes up to 255, fan-in 144) and compares every byte
// with gemmConvPacked / gemmPacked followed by requantU8 (the 64-bit
// rule): ragged pixel counts and channel counts, random shifts in
// [13, 42], channels whose products are ties for many accumulators,
// zero points and clamps.
func TestFused32MatchesUnfused(t *testing.T) {
	ran := false
	for _, lv := range availableLevels() {
		if lv.convQ != nil || lv.sconvQ != nil {
			fused32Level(t, lv)
			ran = true
		}
	}
	if !ran {
		t.Skip("no fused kernels on this CPU or build")
	}
}

// fused32Level is TestFused32MatchesUnfused on one level: its implicit
// kernels (convSets: AVX2's on whole panels only), its 3×3 and fused
// GEMM kernels where it has them.
func fused32Level(t *testing.T, lv *level) {
	rng := rand.New(rand.NewPCG(28, 28))
	on := 0
	for _, c := range []int{16, 32} {
		for ow := 1; ow <= 17; ow++ {
			k := 3
			if c == 32 {
				k = 2 // fan-in 128: below the bound with |w| ≤ 7
			}
			m := []int{1, 7, 16, 17, 33}[rng.IntN(5)]
			if lv.sconvQ != nil {
				m = []int{16, 32, 48}[rng.IntN(3)] // whole panels
			}
			st := 1 + rng.IntN(2)
			kc := k * c
			wt := make([]int8, m*k*kc)
			for i := range wt {
				wt[i] = int8(rng.IntN(15) - 7)
				if ow%4 == 0 {
					wt[i] = 7 // the bound, all one sign
				}
			}
			bias := make([]int32, m)
			for i := range bias {
				bias[i] = rng.Int32N(1000) - 500
			}
			pw := packWeights(wt, bias, m, k*kc, 0, 255, 0, lv)
			w := (ow-1)*st + k
			img := make([]uint8, k*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
				if ow%4 == 0 {
					img[i] = 255
				}
			}
			m0, shift := make([]int32, m), make([]int32, m)
			for i := range m0 {
				m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 13+rng.Int32N(30)
				if i%3 == 0 { // 2^23·acc / 2^24 or 2^25: ties for a half or a quarter of acc
					m0[i], shift[i] = quant.MinM0, 24+int32(i%2)
				}
			}
			z := rng.Int32N(256)
			lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
			rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
			if !enableRequant32(rq, m0, shift, lo, hi, accBound(pw, 255)) {
				t.Fatalf("c %d ow %d: 32-bit form refused (bound %d)", c, ow, accBound(pw, 255))
			}
			on++
			conv, convQ := lv.convSets(pw)
			if convQ == nil {
				t.Fatalf("level %s c %d ow %d m %d: no fused kernels", lv.name, c, ow, m)
			}
			acc := make([]int32, ow*pw.mp)
			convRows(conv, acc, pw.mp, img, st*c, pw, ow, k, w*c)
			ldd := m + 1
			want := make([]uint8, ow*ldd)
			requantU8(want, acc, ow, m, pw.mp, m0, shift, z, lo, hi, ldd)
			compare := func(name string, got []uint8) {
				t.Helper()
				for r := 0; r < ow; r++ {
					for ch := 0; ch < ldd; ch++ {
						if ch >= m {
							if got[r*ldd+ch] != guard {
								t.Fatalf("%s c %d ow %d: byte %d, %d overwritten", name, c, ow, r, ch)
							}
							continue
						}
						if got[r*ldd+ch] != want[r*ldd+ch] {
							t.Fatalf("%s c %d ow %d m %d: pixel %d channel %d (acc %d, M0 %d, n %d): %d, want %d",
								name, c, ow, m, r, ch, acc[r*pw.mp+ch], m0[ch], shift[ch], got[r*ldd+ch], want[r*ldd+ch])
						}
					}
				}
			}
			fresh := func() []uint8 {
				b := make([]uint8, ow*ldd)
				for i := range b {
					b[i] = guard
				}
				return b
			}
			got := fresh()
			convRowsQ(convQ, got, ldd, img, st*c, pw, ow, k, w*c, rq)
			compare("convQ", got)
			if k == 3 && lv.k3 != nil {
				got = fresh()
				gemmConvK3Q(lv.k3, got, ldd, img, st, c, pw, ow, w*c, rq)
				compare("k3", got)
			}
			// The GEMM kernels on the im2col rows of the same pixels.
			col := make([]uint8, ow*pw.kp)
			for r := 0; r < ow; r++ {
				for ky := 0; ky < k; ky++ {
					copy(col[r*pw.kp+ky*kc:], img[ky*w*c+r*st*c:ky*w*c+r*st*c+kc])
				}
			}
			if lv.q != nil {
				got = fresh()
				gemmPackedQ(lv.q, got, ldd, col, pw.kp, pw, ow, rq)
				compare("gemmQ", got)
			}
		}
	}
	if on == 0 {
		t.Fatal("nothing compared")
	}
}

// TestDW32MatchesUnfused is TestDWFusedMatchesUnfused with the 32-bit
// requantization enabled: weights of magnitude up to 100 (9 taps of
// bytes up to 255 stay below 2^18, all at the bound in some cases),
// shifts in [13, 42], channels whose products tie for many sums.
func TestDW32MatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 29))
	ran := 0
	for _, c := range []int{1, 7, 16, 17, 33, 64} {
		for rep := range 4 {
			h, w, stride, pad := 3+rng.IntN(7), 3+rng.IntN(7), 1+rng.IntN(2), rng.IntN(2)
			img := make([]uint8, h*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
				if rep == 0 {
					img[i] = 255
				}
			}
			d := &dwWeights{w: make([]int32, 9*c), bias: make([]int32, c), padU: int32(rng.IntN(256))}
			for i := range d.w {
				d.w[i] = int32(rng.IntN(201) - 100)
				if rep == 0 {
					d.w[i] = -100
				}
			}
			for i := range d.bias {
				d.bias[i] = rng.Int32N(2000) - 1000
			}
			m0, shift := make([]int32, c), make([]int32, c)
			for i := range m0 {
				m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 13+rng.Int32N(30)
				if i%3 == 0 {
					m0[i], shift[i] = quant.MinM0, 24+int32(i%2)
				}
			}
			z := rng.Int32N(256)
			lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
			d.rq = newRequantPanels(m0, shift, (c+15)&^15, z, lo, hi)
			if !enableRequant32(d.rq, m0, shift, lo, hi, dwAccBound(d, 255)) {
				t.Fatalf("c %d: 32-bit form refused (bound %d)", c, dwAccBound(d, 255))
			}
			ran += checkDWFused(t, fmt.Sprintf("32-bit c %d h %d w %d stride %d pad %d", c, h, w, stride, pad), img, c, h, w, stride, pad, d, m0, shift, z, lo, hi)
		}
	}
	if avx512 := boundaryLevels()[0].boundary == boundaryAVX512; avx512 && ran == 0 {
		t.Fatal("the fused depthwise kernel never ran on an AVX-512 machine")
	}
}
