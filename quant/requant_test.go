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

// requantAddRef is RequantizeAdd in big integers over the common shift 63
// (not max(na, nb) as the function): exactRound of
// da·M0a·2^(63−na) + db·M0b·2^(63−nb) by 2^63, plus z, clamped.
func requantAddRef(da, db, m0a, na, m0b, nb, z, lo, hi int32) int32 {
	a := new(big.Int).Mul(big.NewInt(int64(da)), big.NewInt(int64(m0a)))
	a.Lsh(a, uint(63-na))
	b := new(big.Int).Mul(big.NewInt(int64(db)), big.NewInt(int64(m0b)))
	b.Lsh(b, uint(63-nb))
	q := exactRound(a.Add(a, b), 63)
	q.Add(q, big.NewInt(int64(z)))
	if q.Cmp(big.NewInt(int64(lo))) < 0 {
		return lo
	}
	if q.Cmp(big.NewInt(int64(hi))) > 0 {
		return hi
	}
	return int32(q.Int64())
}

func TestRequantizeAddHandComputed(t *testing.T) {
	cases := []struct {
		da, db, m0a, na, m0b, nb, z, lo, hi, want int32
	}{
		// M = 2^23·2^−24 = ½ for both: (3 + 2)/2 = 2.5 → 2 (even); (3 + 4)/2 = 3.5 → 4.
		{3, 2, 1 << 23, 24, 1 << 23, 24, 0, -127, 127, 2},
		{3, 4, 1 << 23, 24, 1 << 23, 24, 0, -127, 127, 4},
		// −2.5 → −2, −3.5 → −4.
		{-3, -2, 1 << 23, 24, 1 << 23, 24, 0, -127, 127, -2},
		{-3, -4, 1 << 23, 24, 1 << 23, 24, 0, -127, 127, -4},
		// Different shifts: 5·½ + 1·¼ = 2.75 → 3, plus z = 10 → 13.
		{5, 1, 1 << 23, 24, 1 << 23, 25, 10, 0, 255, 13},
		// A shift of 63 with a tie only visible in the 2^−63 term:
		// 1·½ + 1·2^−40 (M0 = 2^23, n = 63) is just above ½ → 1.
		{1, 1, 1 << 23, 24, 1 << 23, 63, 0, -127, 127, 1},
		// ½ exactly → 0; clamps.
		{1, 0, 1 << 23, 24, 1 << 23, 63, 0, -127, 127, 0},
		{200, 200, 1<<24 - 1, 23, 1<<24 - 1, 23, 0, -127, 127, 127},
		{-200, -200, 1<<24 - 1, 23, 1<<24 - 1, 23, 5, 5, 127, 5},
	}
	for _, c := range cases {
		if got := RequantizeAdd(c.da, c.db, c.m0a, c.na, c.m0b, c.nb, c.z, c.lo, c.hi); got != c.want {
			t.Errorf("RequantizeAdd%v = %d, want %d", c, got, c.want)
		}
		if ref := requantAddRef(c.da, c.db, c.m0a, c.na, c.m0b, c.nb, c.z, c.lo, c.hi); ref != c.want {
			t.Errorf("oracle%v = %d, want %d", c, ref, c.want)
		}
	}
}

// TestRequantizeAddMatchesBig compares RequantizeAdd with the big-integer
// oracle on the edge ladder of inputs (int32 extremes included), the
// extreme multipliers and every shift pair, then on random draws.
func TestRequantizeAddMatchesBig(t *testing.T) {
	const lo, hi = math.MinInt32, math.MaxInt32
	vals := ladder()
	m0s := []int32{MinM0, MinM0 + 1, 3 << 22, MaxM0 - 1, MaxM0}
	for _, na := range []int32{1, 2, 23, 24, 31, 40, 62, 63} {
		for _, nb := range []int32{1, 2, 23, 24, 31, 40, 62, 63} {
			for _, m0a := range m0s {
				m0b := m0s[(int(na)+int(nb))%len(m0s)]
				for i, da := range vals {
					db := vals[(i*7+int(na))%len(vals)]
					got := RequantizeAdd(da, db, m0a, na, m0b, nb, 0, lo, hi)
					if want := requantAddRef(da, db, m0a, na, m0b, nb, 0, lo, hi); got != want {
						t.Fatalf("RequantizeAdd(%d, %d, %d, %d, %d, %d) = %d, want %d", da, db, m0a, na, m0b, nb, got, want)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(13, 13))
	for i := 0; i < 200000; i++ {
		da, db := rng.Int32N(511)-255, rng.Int32N(511)-255 // uint8 minus zero points
		if i%4 == 0 {
			da, db = int32(rng.Uint32()), int32(rng.Uint32())
		}
		m0a, m0b := MinM0+rng.Int32N(1<<23), MinM0+rng.Int32N(1<<23)
		na, nb := 1+rng.Int32N(63), 1+rng.Int32N(63)
		if i%2 == 0 { // realistic: multipliers near 1 (shifts 22–26), ties frequent
			na, nb = 22+rng.Int32N(5), 22+rng.Int32N(5)
			m0a &^= 1<<uint(rng.IntN(20)) - 1
			m0b &^= 1<<uint(rng.IntN(20)) - 1
		}
		z := rng.Int32N(256) - 128
		got := RequantizeAdd(da, db, m0a, na, m0b, nb, z, -128, 127)
		if want := requantAddRef(da, db, m0a, na, m0b, nb, z, -128, 127); got != want {
			t.Fatalf("RequantizeAdd(%d, %d, %d, %d, %d, %d, %d) = %d, want %d", da, db, m0a, na, m0b, nb, z, got, want)
		}
	}
}

// roundDivRef is n/d rounded half to even in big rationals.
func roundDivRef(n, d int64) int64 {
	q, r := new(big.Int).DivMod(big.NewInt(n), big.NewInt(d), new(big.Int)) // floor, 0 ≤ r < d
	switch new(big.Int).Lsh(r, 1).Cmp(big.NewInt(d)) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

func TestRoundDiv(t *testing.T) {
	// Hand: 5/2 = 2.5 → 2, 7/2 → 4, −5/2 → −2, −7/2 → −4, 7/3 → 2, 8/3 → 3, −8/3 → −3.
	for _, c := range [][3]int64{{5, 2, 2}, {7, 2, 4}, {-5, 2, -2}, {-7, 2, -4}, {7, 3, 2}, {8, 3, 3}, {-8, 3, -3}, {0, 9, 0}, {1, 2, 0}, {-1, 2, 0}} {
		if got := RoundDiv(c[0], c[1]); got != c[2] {
			t.Errorf("RoundDiv(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
	ns := []int64{0, 1, -1, 2, -2, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	ds := []int64{1, 2, 3, 4, 7, 16, 49, 196, 784, math.MaxInt64, math.MaxInt64 - 1, 1 << 62, 1<<62 + 1}
	for _, v := range ladder() {
		ns = append(ns, int64(v), int64(v)*196+98, int64(v)*49-24)
	}
	rng := rand.New(rand.NewPCG(14, 14))
	for i := 0; i < 100000; i++ {
		d := 1 + rng.Int64N(1024)
		n := rng.Int64N(1<<20) - 1<<19
		if i%3 == 0 {
			n = n/d*d + d/2 // a tie for even d
		}
		if got, want := RoundDiv(n, d), roundDivRef(n, d); got != want {
			t.Fatalf("RoundDiv(%d, %d) = %d, want %d", n, d, got, want)
		}
	}
	for _, n := range ns {
		for _, d := range ds {
			if got, want := RoundDiv(n, d), roundDivRef(n, d); got != want {
				t.Fatalf("RoundDiv(%d, %d) = %d, want %d", n, d, got, want)
			}
		}
	}
}
