package fakequant

import (
	"fmt"
	"math"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// requantLayouts runs RequantFakeQuantize at every level on the three
// layouts whose vector kernels differ, each element of channel c set to
// ys[c] (channel c's accumulator scale accs[c]): per-channel runs
// (N, C, inner), requantRunsAVX512; one lane per channel (N, C),
// requantAVX512 with lanes; and, per channel, the runs under the
// channel's scale shared, requantAVX512 broadcast. Every element must
// be S·(want[c] − Z) and the reference's bits. inner = 11: a whole
// block of 8 and a masked one per run.
func requantLayouts(t *testing.T, name string, p *quant.Params, accs, ys []float32, want []int32) {
	t.Helper()
	ch, inner := len(accs), 11
	check := func(layout string, shape []int, acc []float32, chOf func(i int) int) {
		t.Helper()
		n := 1
		for _, d := range shape {
			n *= d
		}
		y := make([]float32, n)
		for i := range y {
			y[i] = ys[chOf(i)]
		}
		ref := make([]float32, n)
		if err := requantFakeQuantizeRef(ref, y, shape, p, acc); err != nil {
			t.Fatal(err)
		}
		for _, lv := range availableLevels() {
			got := make([]float32, n)
			var err error
			withLevel(lv, func() { err = RequantFakeQuantize(got, y, shape, p, acc) })
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				c := chOf(i)
				w := p.Scale[0] * float32(want[c]-p.Zero[0])
				if math.Float32bits(got[i]) != math.Float32bits(w) || math.Float32bits(ref[i]) != math.Float32bits(w) {
					t.Fatalf("%s, %s, level %d: element %d (y = %v, S_acc = %v): %v, reference %v, want %v (q = %d)",
						name, layout, lv, i, y[i], accs[c], got[i], ref[i], w, want[c])
				}
			}
		}
	}
	check("per-channel runs", []int{2, ch, inner}, accs, func(i int) int { return (i / inner) % ch })
	check("per-channel rows", []int{inner, ch}, accs, func(i int) int { return i % ch })
	for c := range accs {
		check(fmt.Sprint("shared scale of channel ", c), []int{2, 3, inner}, accs[c:c+1], func(int) int { return c })
	}
}

// TestRequantFloat64Bound pins the 2^29 bound below which the vector
// kernels requantize in float64 (r·M0·2^−shift rounded half to even,
// exact only while acc·M0 < 2^53, M0 < 2^24): accumulators above it
// with full-mantissa multipliers whose product acc·M0 is 1 from a tie
// of the shift, where float64 rounds the product onto the tie and then
// the tie to even, the wrong way; the same near-ties below 2^29, where
// the float64 steps are exact and taken; accumulators just below, at
// and above 2^29; per-channel runs, rows and a shared scale.
//
// The ties: S = 1 on a 16-bit affine grid (Z = 0: q up to 65535 kept),
// S_acc = M0·2^−38 (exact in float32, so QuantizeMultiplier gives M0,
// 38), y = j + ½ so that y·2^38 = (2j + 1)·2^37 is a tie. acc =
// round(y/S_acc) and acc·M0 = (2j + 1)·2^37 + d, d = ±1; found by a
// search over odd M0 down from 2^24 − 1 and j in [2^14, 2^16): the
// first hits with acc > 2^29 and the float64 result wrong (acc up to
// 2^30.014), then the first hit of each of four M0 with acc < 2^29
// (j < 2^15; the float64 result right). The test recomputes every
// column (int64 arithmetic).
func TestRequantFloat64Bound(t *testing.T) {
	const shift = 38
	ties := []struct {
		m0    int32
		y     float32
		acc   int64 // round(y/S_acc)
		d     int64 // acc·M0 − (2j + 1)·2^37
		q     int32 // RoundShift(acc·M0, 38): j or j + 1
		float int32 // RoundToEven(fl(acc·M0·2^−38)): the other above 2^29
	}{
		{16777153, 65519.5, 1073475519, -1, 65519, 65520}, // acc ≈ 2^30.000 (the reviewer's)
		{16776069, 37776.5, 618972493, +1, 37777, 37776},  // 2^29.205
		{16774773, 53873.5, 882791971, -1, 53873, 53874},  // 2^29.717
		{16773143, 35496.5, 581715879, +1, 35497, 35496},  // 2^29.116
		{16661139, 65352.5, 1078195099, +1, 65353, 65352}, // 2^30.006
		{16521923, 65176.5, 1084351979, +1, 65177, 65176}, // 2^30.014
		{16515365, 65071.5, 1083034963, -1, 65071, 65072}, // 2^30.012
		{16496499, 64607.5, 1076542021, -1, 64607, 64608}, // 2^30.004
		{16776807, 22214.5, 363971241, -1, 22214, 22214},  // 2^28.439
		{16776747, 27114.5, 444256387, +1, 27115, 27115},  // 2^28.727
		{16776105, 31946.5, 523446119, -1, 31946, 31946},  // 2^28.963
		{16774099, 21219.5, 347724891, +1, 21220, 21220},  // 2^28.373
	}
	p := &quant.Params{Bits: 16, Scheme: quant.Affine, Scale: []float32{1}, Zero: []int32{0}}
	var accs, ys []float32
	var want []int32
	for _, c := range ties {
		sa := float32(math.Ldexp(float64(c.m0), -shift))
		if m0, sh, err := quant.QuantizeMultiplier(sa, 1); err != nil || m0 != c.m0 || sh != shift {
			t.Fatalf("S_acc = %d·2^−38: multiplier %d·2^−%d (%v)", c.m0, m0, sh, err)
		}
		j := int64(c.y - 0.5)
		acc := int64(math.Round(float64(c.y) / float64(sa)))
		tie := (2*j + 1) << (shift - 1)
		q := quant.RoundShift(acc*int64(c.m0), shift)
		fl := math.RoundToEven(float64(acc) * math.Ldexp(float64(c.m0), -shift))
		if acc != c.acc || acc*int64(c.m0)-tie != c.d || q != int64(c.q) || fl != float64(c.float) || (q == int64(fl)) != (acc < 1<<29) {
			t.Fatalf("M0 %d, y %v: acc %d, d %d, q %d, float64 %v; table %+v", c.m0, c.y, acc, acc*int64(c.m0)-tie, q, fl, c)
		}
		accs, ys, want = append(accs, sa), append(ys, c.y), append(want, c.q)
	}
	requantLayouts(t, "near-ties", p, accs, ys, want)

	// Accumulators 2^29 − 1, 2^29, 2^29 + 1 and 2^30 + 1 under each
	// multiplier (y = acc·S_acc rounded to float32, and round(y/S_acc),
	// the accumulator the kernels see, recomputed).
	for _, a := range []float64{1<<29 - 1, 1 << 29, 1<<29 + 1, 1<<30 + 1, -(1<<29 - 1)} {
		p := &quant.Params{Bits: 16, Scheme: quant.Affine, Scale: []float32{1}, Zero: []int32{40000}}
		ys, want := make([]float32, len(accs)), make([]int32, len(accs))
		for c, sa := range accs {
			ys[c] = float32(a * float64(sa))
			acc := int32(math.Round(float64(ys[c]) / float64(sa)))
			want[c] = quant.Requantize(acc, ties[c].m0, shift, 40000, 0, 65535)
		}
		requantLayouts(t, fmt.Sprint("accumulator ", a), p, accs, ys, want)
	}
}

// TestRequantHalfQuotients: quotients y/S_acc exactly half an
// accumulator (y = (k + ½)·S_acc), which math.Round rounds away from
// zero and the kernels' fast path (half to even) would not: they must
// leave it for the division's path, in every layout. Multipliers
// M = S_acc/S of 1 (q = acc), ¼ and 4; want: acc = round half away from
// zero of k + ½ as listed, then quant.Requantize.
func TestRequantHalfQuotients(t *testing.T) {
	cases := []struct {
		k   float32 // y = (k + ½)·S_acc
		acc int32   // math.Round(k + ½)
	}{{2, 3}, {0, 1}, {-1, -1}, {-3, -3}, {4, 5}, {-5, -5}, {6, 7}, {10, 11}}
	for _, m := range []float32{1, 0.25, 4} {
		p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{0.5}, Zero: []int32{0}}
		m0, sh, err := quant.QuantizeMultiplier(m*0.5, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		accs, ys, want := make([]float32, len(cases)), make([]float32, len(cases)), make([]int32, len(cases))
		for c, k := range cases {
			accs[c] = m * 0.5
			ys[c] = (k.k + 0.5) * accs[c]
			want[c] = quant.Requantize(k.acc, m0, sh, 0, -127, 127)
		}
		requantLayouts(t, fmt.Sprint("M = ", m), p, accs, ys, want)
	}
}
