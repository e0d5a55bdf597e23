package quant

import (
	"go/parser"
	"go/token"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"
)

// exactRound is round(num / 2^shift), half to even, in big integers only:
// an oracle that shares nothing with RoundShift and never goes through a
// float.
func exactRound(num *big.Int, shift int32) *big.Int {
	d := new(big.Int).Lsh(big.NewInt(1), uint(shift))
	q, r := new(big.Int).DivMod(num, d, new(big.Int)) // Euclidean: 0 ≤ r < d, q = floor
	switch new(big.Int).Lsh(r, 1).Cmp(d) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// requantRef is clamp(exactRound(acc·M0, shift) + z, lo, hi) in big integers.
func requantRef(acc, m0, shift, z, lo, hi int32) int32 {
	p := new(big.Int).Mul(big.NewInt(int64(acc)), big.NewInt(int64(m0)))
	q := exactRound(p, shift)
	q.Add(q, big.NewInt(int64(z)))
	if q.Cmp(big.NewInt(int64(lo))) < 0 {
		return lo
	}
	if q.Cmp(big.NewInt(int64(hi))) > 0 {
		return hi
	}
	return int32(q.Int64())
}

// ladder is gemmlowp's edge ladder: 0, ±(2^i + {−2, …, 2}) and the int32
// extremes.
func ladder() []int32 {
	vals := []int32{0, math.MinInt32, math.MinInt32 + 1, math.MaxInt32, math.MaxInt32 - 1}
	for i := 0; i < 31; i++ {
		for d := int64(-2); d <= 2; d++ {
			if v := int64(1)<<i + d; v <= math.MaxInt32 {
				vals = append(vals, int32(v), int32(-v))
			}
		}
	}
	return vals
}

func TestRoundShiftHandComputed(t *testing.T) {
	// Ties go to the even neighbour for both signs: 1/2 → 0, 3/2 → 2,
	// 5/2 → 2, −1/2 → 0, −3/2 → −2, −5/2 → −2; 7/4 = 1.75 → 2; −5/4 → −1.
	cases := []struct {
		p     int64
		shift int32
		want  int64
	}{{1, 1, 0}, {3, 1, 2}, {5, 1, 2}, {-1, 1, 0}, {-3, 1, -2}, {-5, 1, -2}, {7, 2, 2}, {-5, 2, -1},
		{1 << 61, 62, 0}, {3 << 60, 62, 1}, {-(3 << 60), 62, -1}, {1<<55 - 1, 63, 0}, {-(1 << 55), 63, 0}}
	for _, c := range cases {
		if got := RoundShift(c.p, c.shift); got != c.want {
			t.Errorf("RoundShift(%d, %d) = %d, want %d", c.p, c.shift, got, c.want)
		}
	}
}

func TestRequantizeEdgeLadder(t *testing.T) {
	accs := ladder()
	// M0: the mantissa bounds, 1.5·2^23 (products on ties for odd acc
	// with shift 24), odd mantissas.
	m0s := []int32{MinM0, MinM0 + 1, MaxM0, MaxM0 - 1, 3 << 22, 12582913, 13207024}
	ranges := [][3]int32{{0, -127, 127}, {128, 0, 255}, {0, math.MinInt32, math.MaxInt32}}
	n := 0
	for _, acc := range accs {
		for _, m0 := range m0s {
			for shift := int32(MinShift); shift <= MaxShift; shift++ {
				for _, r := range ranges {
					got, want := Requantize(acc, m0, shift, r[0], r[1], r[2]), requantRef(acc, m0, shift, r[0], r[1], r[2])
					if got != want {
						t.Fatalf("Requantize(%d, %d, %d, %v) = %d, exact %d", acc, m0, shift, r, got, want)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d cases", n)
}

func TestRequantizeTies(t *testing.T) {
	// M = 2^23 · 2^−24 = 1/2: every odd acc is a tie. Round half to even:
	// ±1 → 0, ±3 → ±2, ±5 → ±2, ±7 → ±4.
	for _, c := range [][2]int32{{1, 0}, {3, 2}, {5, 2}, {7, 4}, {-1, 0}, {-3, -2}, {-5, -2}, {-7, -4}} {
		if got := Requantize(c[0], MinM0, 24, 0, -127, 127); got != c[1] {
			t.Errorf("%d·½ = %d, want %d", c[0], got, c[1])
		}
	}
	// Random ties with random mantissas: acc·M0 = (2k+1)·2^(shift−1).
	rng := rand.New(rand.NewPCG(4, 4))
	ties := 0
	for ties < 20000 {
		m0 := int32(MinM0 + rng.IntN(MinM0))
		shift := int32(1 + rng.IntN(40))
		acc := int32(rng.Uint32())
		p := int64(acc) * int64(m0)
		// Nudge p onto a tie by changing acc only when M0 divides the tie.
		half := int64(1) << (shift - 1)
		tie := (p>>shift)<<shift + half
		if tie%int64(m0) != 0 {
			continue
		}
		a := tie / int64(m0)
		if a < math.MinInt32 || a > math.MaxInt32 {
			continue
		}
		ties++
		acc = int32(a)
		if got, want := Requantize(acc, m0, shift, 0, math.MinInt32, math.MaxInt32), requantRef(acc, m0, shift, 0, math.MinInt32, math.MaxInt32); got != want {
			t.Fatalf("tie acc %d, M0 %d, shift %d: %d, exact %d", acc, m0, shift, got, want)
		}
	}
}

func TestRequantizeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 200000; i++ {
		acc := int32(rng.Uint32())
		if i%2 == 0 {
			acc >>= rng.IntN(31)
		}
		m0 := int32(MinM0 + rng.IntN(MinM0))
		shift := int32(MinShift + rng.IntN(MaxShift))
		if got, want := Requantize(acc, m0, shift, 3, -100, 200), requantRef(acc, m0, shift, 3, -100, 200); got != want {
			t.Fatalf("Requantize(%d, %d, %d) = %d, exact %d", acc, m0, shift, got, want)
		}
	}
}

func TestSplitMultiplierIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	vals := []float32{1, 0.5, 0.75, 1.5, math.Nextafter32(1<<23, 0), 1.0 / (1 << 40), 0.0123}
	for i := 0; i < 10000; i++ {
		vals = append(vals, float32(math.Exp(rng.Float64()*40-25)))
	}
	for _, m := range vals {
		m0, shift, err := SplitMultiplier(m)
		if err != nil {
			t.Fatalf("SplitMultiplier(%v): %v", m, err)
		}
		if m0 < MinM0 || m0 > MaxM0 || shift < MinShift || shift > MaxShift {
			t.Fatalf("SplitMultiplier(%v) = %d, %d out of range", m, m0, shift)
		}
		// M0·2^−shift == m exactly, compared as rationals.
		got := new(big.Rat).SetFrac(big.NewInt(int64(m0)), new(big.Int).Lsh(big.NewInt(1), uint(shift)))
		want := new(big.Rat).SetFloat64(float64(m)) // exact: every float32 is a float64
		if got.Cmp(want) != 0 {
			t.Fatalf("SplitMultiplier(%v) = %d·2^−%d = %v", m, m0, shift, got)
		}
	}
	for _, bad := range []float32{0, -1, float32(math.NaN()), float32(math.Inf(1)), 1 << 23, 1e30,
		math.Nextafter32(1.0/(1<<40), 0), math.SmallestNonzeroFloat32} {
		if _, _, err := SplitMultiplier(bad); err == nil {
			t.Errorf("SplitMultiplier(%v) accepted", bad)
		}
	}
	// The multiplier is ONNX Runtime's float32 (S_x·S_w)/S_y.
	sx, sw, sy := float32(0.0078125), float32(0.0031), float32(0.11)
	m0, shift, _ := QuantizeMultiplier(sx*sw, sy)
	if f := float32(float64(m0) / math.Ldexp(1, int(shift))); f != sx*sw/sy {
		t.Errorf("QuantizeMultiplier = %v, float32 (S_x·S_w)/S_y = %v", f, sx*sw/sy)
	}
}

// TestRequantMatchesFloat32Pipeline compares Requantize with ONNX Runtime's
// float pipeline, round_half_even(float32(float32(acc)·M)), and checks the
// doc's claim: they differ only where the float32 product's own rounding
// lands on or crosses a tie (the exact product is within half a float32
// ulp of k + ½), which the exact integer form does not do.
func TestRequantMatchesFloat32Pipeline(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	differ := 0
	const N = 1000000
	for i := 0; i < N; i++ {
		acc := int32(rng.IntN(1<<20) - 1<<19) // |acc| < 2^24: float32(acc) exact
		m := float32(math.Exp(rng.Float64()*8 - 14))
		m0, shift, _ := SplitMultiplier(m)
		got := Requantize(acc, m0, shift, 0, math.MinInt32, math.MaxInt32)
		prod := float32(acc) * m
		ort := int32(math.RoundToEven(float64(prod)))
		if got == ort {
			continue
		}
		differ++
		exact := float64(acc) * float64(m) // exact: 20 + 24 bits
		frac := exact - math.Floor(exact)
		ulp := float64(math.Nextafter32(float32(math.Abs(exact)), float32(math.Inf(1)))) - math.Abs(float64(float32(math.Abs(exact))))
		if math.Abs(frac-0.5) > ulp {
			t.Fatalf("acc %d, M %v: exact %v rounds to %d, float32 pipeline %d, not near a tie", acc, m, exact, got, ort)
		}
	}
	t.Logf("%d of %d differ from the float32 pipeline (product rounding onto a tie)", differ, N)
}

// TestRequantUsesNoFloat fails if requant.go mentions a float type, a float
// literal or the math package: requantization is integer-only.
func TestRequantUsesNoFloat(t *testing.T) {
	const f = "requant.go"
	fs := token.NewFileSet()
	tree, err := parser.ParseFile(fs, f, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range tree.Imports {
		if imp.Path.Value == `"math"` {
			t.Errorf("%s imports math", f)
		}
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`float(32|64)|\d\.\d|\de-?\d`).FindString(string(b)); m != "" {
		t.Errorf("%s mentions %q", f, m)
	}
}
