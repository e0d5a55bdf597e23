package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestConvAddFusedBothFormsMatchUnfused compares the fused residual add
// in the epilogue of the implicit-im2col kernels (gemmConvPackedQA) and
// of the 3×3 kernels (gemmConvK3QA), each in the 64-bit and the 32-bit
// form of the requantization (enableRequant32), with the unfused path:
// gemmConvPacked's sums, requantU8, then quant.RequantizeAdd with the
// convolution as either operand, and with the reference twin
// addFusedRef. Shapes are ragged (1 to 31 pixels: every K3 tile width
// and the splits past 8 and 14; 1 to 49 output channels: a short
// panel, a pair, a short last pair), the add constants run from the
// ordinary to the extremes the vector form takes, and some cases put
// every weight and byte at its bound (the accumulators just below the
// 32-bit form's 2^18). Every byte around the outputs keeps its guard.
func TestConvAddFusedBothFormsMatchUnfused(t *testing.T) {
	var lv *level
	for _, l := range availableLevels() {
		if l.convQA != nil {
			lv = l
			break
		}
	}
	if lv == nil {
		t.Skip("no fused-add kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(41, 41))
	adds := []struct{ ka, kb, m0a, na, m0b, nb, z, lo, hi int32 }{
		{-128, -128, quant.MinM0, 20, quant.MinM0 + 12345, 21, 0, 0, 255},
		{0, 0, quant.MaxM0, 30, quant.MaxM0, 30, 128, 128, 255},
		{-255, 255, quant.MaxM0, 31, quant.MinM0, 24, 255, 0, 255},
		{255, -255, quant.MinM0, 24, quant.MaxM0, 31, -256, 0, 255},
		{-383, -383, quant.MaxM0 - 1, 38, quant.MaxM0 - 1, 38, 511, 3, 250},
		{7, -3, 12582913, 17, 13207024, 23, 17, 0, 127},
	}
	counts := map[string]int{}
	for ai, ad := range adds {
		ac := testAddConsts(ad.ka, ad.kb, ad.m0a, ad.na, ad.m0b, ad.nb, ad.z, ad.lo, ad.hi)
		if ac.vec == nil {
			t.Fatalf("add %d: no vector form", ai)
		}
		for _, c := range []int{16, 32, 64} {
			for _, r32 := range []bool{false, true} {
				for ow := 1 + ai; ow <= 31; ow += 3 {
					m := []int{1, 7, 16, 17, 32, 33, 49}[rng.IntN(7)]
					st := 1 + rng.IntN(2)
					extreme := ow%4 == 0
					// The 32-bit form's bound: |acc| < 2^18 for every byte.
					wmax := map[int]int{16: 7, 32: 3, 64: 1}[c]
					if !r32 {
						wmax = 127
					}
					wt := make([]int8, m*9*c)
					for i := range wt {
						wt[i] = int8(rng.IntN(2*wmax+1) - wmax)
						if extreme {
							wt[i] = int8(wmax)
						}
					}
					bias := make([]int32, m)
					for i := range bias {
						bias[i] = rng.Int32N(1000) - 500
					}
					pw := packWeights(wt, bias, m, 9*c, 0, 255, 0, lv)
					w := (ow-1)*st + 3 + rng.IntN(2)
					img := make([]uint8, 3*w*c)
					for i := range img {
						img[i] = uint8(rng.IntN(256))
						if extreme {
							img[i] = 255
						}
					}
					m0, shift := make([]int32, m), make([]int32, m)
					for i := range m0 {
						m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 13+rng.Int32N(30)
						if i%3 == 0 { // ties for many accumulators
							m0[i], shift[i] = quant.MinM0, 24+int32(i%2)
						}
					}
					z := rng.Int32N(256)
					lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
					rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
					if r32 != enableRequant32(rq, m0, shift, lo, hi, accBound(pw, 255)) {
						t.Fatalf("c %d ow %d: 32-bit form %v, want %v (bound %d)", c, ow, !r32, r32, accBound(pw, 255))
					}
					acc := make([]int32, ow*pw.mp)
					gemmConvPacked(lv.conv, acc, pw.mp, img, st*c, pw, ow, 3, w*c)
					ldd := m + 3
					conv := make([]uint8, ow*ldd)
					requantU8(conv, acc, ow, m, pw.mp, m0, shift, z, lo, hi, ldd)
					short := make([]uint8, ow*ldd)
					for i := range short {
						short[i] = uint8(rng.IntN(256))
					}
					short[0], short[len(short)-1] = 0, 255
					for op := 0; op < 2; op++ {
						fa := newFusedAdd(ac, op, 0)
						kernels := map[string]func(dst []uint8){
							"convQA": func(dst []uint8) {
								gemmConvPackedQA(lv.convQA, dst, ldd, img, st*c, pw, ow, 3, w*c, rq, short, fa)
							},
						}
						if lv.k3a != nil {
							kernels["k3a"] = func(dst []uint8) {
								gemmConvK3QA(lv.k3a, dst, ldd, img, st, c, pw, ow, w*c, rq, short, fa)
							}
						}
						for name, run := range kernels {
							where := fmt.Sprintf("%s add %d c %d 32-bit %v ow %d stride %d m %d op %d", name, ai, c, r32, ow, st, m, op)
							const band = 64
							buf := make([]uint8, band+ow*ldd+band)
							for i := range buf {
								buf[i] = guard
							}
							run(buf[band : band+ow*ldd])
							ref := make([]uint8, m)
							for i, v := range buf {
								r, ch := (i-band)/ldd, (i-band)%ldd
								if i < band || r >= ow || ch >= m {
									if v != guard {
										t.Fatalf("%s: byte %d outside the outputs overwritten (%d)", where, i-band, v)
									}
									continue
								}
								if ch == 0 {
									addFusedRef(ref, short[r*ldd:r*ldd+m], conv[r*ldd:r*ldd+m], fa)
								}
								sb, cb := int32(short[r*ldd+ch]), int32(conv[r*ldd+ch])
								da, db := sb+ad.ka, cb+ad.kb
								if op == 0 {
									da, db = cb+ad.ka, sb+ad.kb
								}
								want := quant.RequantizeAdd(da, db, ad.m0a, ad.na, ad.m0b, ad.nb, ad.z, ad.lo, ad.hi)
								if int32(v) != want || ref[ch] != v {
									t.Fatalf("%s: pixel %d channel %d (short %d, conv %d): fused %d, reference twin %d, quant.RequantizeAdd %d", where, r, ch, sb, cb, v, ref[ch], want)
								}
								counts[fmt.Sprintf("%s/%v", name, r32)]++
							}
						}
					}
				}
			}
		}
	}
	want := []string{"convQA/false", "convQA/true"}
	if lv.k3a != nil {
		want = append(want, "k3a/false", "k3a/true")
	}
	for _, k := range want {
		if counts[k] == 0 {
			t.Fatalf("%s: no output compared", k)
		}
	}
}
