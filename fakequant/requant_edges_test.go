package fakequant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestRequantKernelEdges: RequantFakeQuantize gives the reference loop's
// bits (requantFakeQuantizeRef: y/S_acc divided, math.Round) where the
// vector kernel's reciprocal shortcut could err: quotients at, and 2^−8
// to 2^−40 beside, half-integers (on both sides of its 2^−16 threshold),
// under scales whose reciprocal is exact (powers of two) and inexact; at
// and around ±2^31, ±2^32 and 2^52 (the int32 clamp), ±Inf and NaN; on
// ragged runs and rows (the kernel's masked last block: lengths 1 to 17,
// 63 to 65) per channel and with one shared scale, out of place and in
// place, at every level this machine runs. The test checks that both
// sides of the threshold occur.
func TestRequantKernelEdges(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 2))
	var shapes [][]int
	for _, l := range []int{1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65} {
		shapes = append(shapes, []int{3, 5, l}, []int{4, l}) // runs of l; rows of l lanes
	}
	near, far := 0, 0
	for _, shape := range shapes {
		n, ch := 1, shape[1]
		for _, d := range shape {
			n *= d
		}
		inner := n / shape[0] / ch
		for _, perCh := range []bool{true, false} {
			acc := make([]float32, ch)
			for c := range acc {
				switch c % 3 {
				case 0:
					acc[c] = float32(math.Ldexp(1, -10-c%7)) // exact reciprocal
				case 1:
					acc[c] = float32(math.Ldexp(49, -16-c%5)) // inexact reciprocal
				default:
					acc[c] = float32(math.Pow(10, -6+3*rng.Float64()))
				}
			}
			if !perCh {
				acc = acc[:1]
			}
			y := make([]float32, n)
			for i := range y {
				c := 0
				if perCh {
					c = (i / inner) % ch
				}
				sa := float64(acc[c])
				k := float64(rng.IntN(1<<12) - 1<<11)
				switch rng.IntN(6) {
				case 0: // a half-integer quotient, and its float32 neighbours
					y[i] = float32((k + 0.5) * sa)
					for range rng.IntN(3) {
						y[i] = math.Nextafter32(y[i], float32(rng.IntN(2)*2-1))
					}
				case 1, 2: // 2^−8 … 2^−40 beside one
					d := math.Ldexp(1, -8-rng.IntN(33)) * float64(rng.IntN(2)*2-1)
					y[i] = float32((k + 0.5 + d) * sa)
				case 3: // the int32 clamp
					b := []float64{math.Ldexp(1, 31), math.Ldexp(1, 32), math.Ldexp(1, 52), 0.5 + math.Ldexp(1, 31) - 1}[rng.IntN(4)]
					y[i] = float32(b*sa) * float32(rng.IntN(2)*2-1)
					if rng.IntN(2) == 0 {
						y[i] = math.Nextafter32(y[i], 0)
					}
				case 4:
					y[i] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32}[rng.IntN(7)]
				default:
					y[i] = float32(k * sa * (1 + rng.NormFloat64()*1e-3))
				}
				if v := float64(y[i]) * (1 / sa); math.Abs(v) < 1<<31 {
					if e := math.Abs(v - math.RoundToEven(v)); e >= 0.5-0x1p-16 {
						near++
					} else if e > 0.5-0x1p-12 {
						far++
					}
				}
			}
			for _, sch := range []quant.Scheme{quant.Symmetric, quant.Affine} {
				p := &quant.Params{Bits: 8, Scheme: sch, Scale: []float32{0.05}, Zero: []int32{0}}
				if sch == quant.Affine {
					p.Zero[0] = 131
				}
				want := make([]float32, n)
				if err := requantFakeQuantizeRef(want, y, shape, p, acc); err != nil {
					t.Fatal(err)
				}
				for _, lv := range availableLevels() {
					for _, inPlace := range []bool{false, true} {
						got := make([]float32, n)
						src := y
						if inPlace {
							copy(got, y)
							src = got
						}
						var err error
						withLevel(lv, func() { err = RequantFakeQuantize(got, src, shape, p, acc) })
						if err != nil {
							t.Fatal(err)
						}
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s: element %d (y=%v): %v, reference %v",
									fmt.Sprint("level ", lv, " shape ", shape, " per-channel ", perCh, " ", sch, " in place ", inPlace), i, y[i], got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
	if near < 100 || far < 100 {
		t.Fatalf("%d quotients within 2^−16 of a half-integer and %d just beyond: want both", near, far)
	}
	checkRequantLargeTies(t, rng)
}

// checkRequantLargeTies: quotients up to 2^31 within 1/(2M) ≈ 2^−24 of
// a half-integer, where y/S_acc (rounded to float64) is often the
// half-integer itself and y·(1/S_acc) a float64 beside it, on the other
// side: there the reciprocal alone would round the wrong way.
// S_acc = M·2^−40 with M odd, y = m·2^−9 with m·2^31 ≡ (M + 1)/2
// (mod M), so that y/S_acc = k + ½ + 1/(2M); the output scale is chosen
// so that the two candidate accumulators k and k + 1 requantize apart.
func checkRequantLargeTies(t *testing.T, rng *rand.Rand) {
	wrong := 0
	for range 300 {
		M := uint64(1<<23 + 2*rng.IntN(1<<22) + 1)
		inv := modPow((M+1)/2, 31, M) // 2^−31 mod M ((M + 1)/2 is ½)
		m := (M + 1) / 2 * inv % M
		sa := float32(math.Ldexp(float64(M), -40))
		y0 := float32(math.Ldexp(float64(m), -9))
		y := []float32{y0, -y0, math.Nextafter32(y0, 0), math.Nextafter32(y0, 2*y0), y0, -y0, y0, y0, -y0}
		// A 31-bit grid with S about 2^8·S_acc, moved until the
		// requantized outputs of y0/S_acc's two neighbouring accumulators
		// differ (below 2^24: float32(q − Z) keeps them apart).
		v := float64(y0) / float64(sa)
		k := int32(math.Floor(v))
		var p *quant.Params
		for j := range 4096 {
			sc := float32(math.Ldexp(float64(sa), 8) * (1 + float64(j)*0x1p-20))
			m0, sh, err := quant.QuantizeMultiplier(sa, sc)
			if err == nil && quant.Requantize(k, m0, sh, 0, 0, math.MaxInt32) != quant.Requantize(k+1, m0, sh, 0, 0, math.MaxInt32) {
				p = &quant.Params{Bits: 31, Scheme: quant.Affine, Scale: []float32{sc}, Zero: []int32{0}}
				break
			}
		}
		if p == nil {
			t.Fatalf("S_acc %v: no output scale separates the accumulators %d and %d", sa, k, k+1)
		}
		for _, v := range y {
			// The reciprocal's quotient is no tie but rounds otherwise.
			q := float64(v) * (1 / float64(sa))
			if math.Abs(q-math.RoundToEven(q)) < 0.5 && math.RoundToEven(q) != math.Round(float64(v)/float64(sa)) {
				wrong++
			}
		}
		want := make([]float32, len(y))
		shape := []int{1, 1, len(y)}
		if err := requantFakeQuantizeRef(want, y, shape, p, []float32{sa}); err != nil {
			t.Fatal(err)
		}
		for _, lv := range availableLevels() {
			got := make([]float32, len(y))
			var err error
			withLevel(lv, func() { err = RequantFakeQuantize(got, y, shape, p, []float32{sa}) })
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("level %d S_acc %v: y=%v: %v, reference %v", lv, sa, y[i], got[i], want[i])
				}
			}
		}
	}
	if wrong < 10 {
		t.Fatalf("%d quotients where the reciprocal alone rounds the wrong way, want 10 or more", wrong)
	}
}

// modPow is b^e mod m.
func modPow(b, e, m uint64) uint64 {
	r := uint64(1)
	for b %= m; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = r * b % m
		}
		b = b * b % m
	}
	return r
}

// TestRequantShiftTies: accumulators whose requantization acc·M0/2^shift
// is a tie (multipliers 1/2, 1/4, 3/2, 3/4, 3/8 and 5/16: every other,
// or every 16th, accumulator lands on a half), its neighbours, −0
// (−1·1/4 rounds to zero from below) and accumulators at 2^29 − 1, 2^29
// and above (where the vector kernels leave their float64 steps for the
// integer ones), per channel and with one shared scale, on 8- and 16-bit
// grids, give RequantFakeQuantize's reference bits at every level. These
// multipliers have at most 3 significant bits, so their products stay
// exact above 2^29 too: TestRequantFloat64Bound pins the bound.
func TestRequantShiftTies(t *testing.T) {
	const out = 0x1p-12 // S: every multiplier below is exact in float32
	muls := []float32{0.5, 0.25, 1.5, 0.75, 0.375, 0.3125}
	for _, bits := range []int{8, 16} {
		p := &quant.Params{Bits: bits, Scheme: quant.Symmetric, Scale: []float32{out}, Zero: []int32{0}}
		for _, perCh := range []bool{true, false} {
			acc := make([]float32, len(muls))
			for c, m := range muls {
				acc[c] = m * out
			}
			if !perCh {
				acc = acc[:1]
			}
			var accs []float64
			for a := -70; a <= 70; a++ {
				accs = append(accs, float64(a))
			}
			accs = append(accs, 1<<29-1, 1<<29, 1<<29+1, 1<<30, -(1 << 29), 3000, -2999)
			// Runs of every accumulator per channel (N, C, inner), and
			// rows of one lane per channel (N, C): the accumulator of
			// element i is accs[at(i)].
			for _, rows := range []bool{false, true} {
				inner := len(accs)
				shape := []int{2, len(muls), inner}
				at := func(i int) (a, c int) { return i % inner, (i / inner) % len(muls) }
				if rows {
					shape = []int{inner, len(muls)}
					at = func(i int) (a, c int) { return i / len(muls), i % len(muls) }
				}
				n := 2 * len(muls) * inner
				if rows {
					n = len(muls) * inner
				}
				y := make([]float32, n)
				for i := range y {
					a, c := at(i)
					if !perCh {
						c = 0
					}
					y[i] = float32(accs[a] * float64(acc[c])) // exact
				}
				want, got := make([]float32, len(y)), make([]float32, len(y))
				if err := requantFakeQuantizeRef(want, y, shape, p, acc); err != nil {
					t.Fatal(err)
				}
				for _, lv := range availableLevels() {
					var err error
					withLevel(lv, func() { err = RequantFakeQuantize(got, y, shape, p, acc) })
					if err != nil {
						t.Fatal(err)
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							a, _ := at(i)
							t.Fatalf("level %d, %d bits, per-channel %v, shape %v: element %d (acc %v): %v, reference %v", lv, bits, perCh, shape, i, accs[a], got[i], want[i])
						}
					}
				}
			}
		}
	}
}
