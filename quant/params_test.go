package quant

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestScaleZeroHandComputed(t *testing.T) {
	tests := []struct {
		name       string
		bits       int
		scheme     Scheme
		rmin, rmax float32
		scale      float32
		zero       int32
	}{
		// (3 − (−1)) / 255 = 0.0156862745; Z = round(1/S) = round(63.75) = 64.
		{"affine 8", 8, Affine, -1, 3, 4.0 / 255, 64},
		// max(2, 1) / 127.
		{"symmetric 8", 8, Symmetric, -2, 1, 2.0 / 127, 0},
		// Widened to [0, 3]: 3/255, Z = 0.
		{"affine positive range", 8, Affine, 1, 3, 3.0 / 255, 0},
		// Widened to [−4, 0]: 4/255, Z = round(4/(4/255)) = 255.
		{"affine negative range", 8, Affine, -4, -1, 4.0 / 255, 255},
		// 4 bits symmetric: Q_p = 7.
		{"symmetric 4", 4, Symmetric, -0.5, 0.7, 0.7 / 7, 0},
		// 2 bits symmetric: the grid is {−1, 0, 1}.
		{"symmetric 2", 2, Symmetric, -3, 1, 3, 0},
		// Degenerate ranges give MinScale, never 0.
		{"all zeros", 8, Symmetric, 0, 0, MinScale, 0},
		{"all zeros affine", 8, Affine, 0, 0, MinScale, 0},
		// A constant positive range is widened to [0, 5].
		{"constant", 8, Symmetric, 5, 5, 5.0 / 127, 0},
	}
	for _, tc := range tests {
		s, z, err := ScaleZero(tc.bits, tc.scheme, tc.rmin, tc.rmax)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if math.Abs(float64(s-tc.scale)) > 1e-7*float64(tc.scale) || z != tc.zero {
			t.Errorf("%s: got S=%v Z=%d, want S=%v Z=%d", tc.name, s, z, tc.scale, tc.zero)
		}
	}
}

func TestScaleZeroErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, r := range [][2]float32{{nan, 1}, {0, nan}, {-inf, 0}, {0, inf}, {2, 1}} {
		if _, _, err := ScaleZero(8, Symmetric, r[0], r[1]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
}

func TestCheckBitsPanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "got 1") {
			t.Fatalf("panic %v", r)
		}
	}()
	ScaleZero(1, Symmetric, 0, 1)
}

func TestQuantizeHandComputed(t *testing.T) {
	// S = 4/255, Z = 64 (see above).
	p := &Params{Bits: 8, Scheme: Affine, Scale: []float32{4.0 / 255}, Zero: []int32{64}}
	in := []float32{0, 3, -1, 1, 100, -100}
	// 0 → Z; 3/S = 191.25 → 191 + 64 = 255; −1/S = −63.75 → −64 + 64 = 0;
	// 1/S = 63.75 → 64 + 64 = 128; out of range clips to 255 and 0.
	want := []int32{64, 255, 0, 128, 255, 0}
	got := make([]int32, len(in))
	Quantize(got, in, []int{len(in)}, p)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("q(%v) = %d, want %d", in[i], got[i], want[i])
		}
	}
	// Ties round half to even: with S = 1, 2.5 → 2, −2.5 → −2, ±0.5 → 0, 1.5 → 2.
	ps := &Params{Bits: 8, Scheme: Symmetric, Scale: []float32{1}, Zero: []int32{0}}
	Quantize(got[:5], []float32{2.5, -2.5, 0.5, -0.5, 1.5}, []int{5}, ps)
	if got[0] != 2 || got[1] != -2 || got[2] != 0 || got[3] != 0 || got[4] != 2 {
		t.Errorf("ties: %v", got[:4])
	}
	// Symmetric restricted range: −200 clips to −127, not −128.
	Quantize(got[:1], []float32{-200}, []int{1}, ps)
	if got[0] != -127 {
		t.Errorf("restricted range: %d", got[0])
	}
}

func TestRoundClampMatchesReference(t *testing.T) {
	ref := func(v float32, lo, hi int32) int32 {
		r := math.RoundToEven(float64(v))
		if math.IsNaN(r) {
			return lo
		}
		return int32(math.Max(float64(lo), math.Min(float64(hi), r)))
	}
	vals := []float32{0, 0.5, -0.5, 1.5, -1.5, 126.5, 127.5, -127.5, -128.5, 0.49999997, -0.49999997,
		1 << 23, -(1 << 23), 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Nextafter32(127.5, 0), math.Nextafter32(-127.5, 0)}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		vals = append(vals, float32(rng.NormFloat64()*100), float32(int(rng.IntN(600))-300)/2)
	}
	for _, b := range [][2]int32{{-127, 127}, {-7, 7}, {-1, 1}, {0, 255}, {-64, 191}, {-32767, 32767}} {
		for _, v := range vals {
			if got, want := RoundClamp(v, b[0], b[1]), ref(v, b[0], b[1]); got != want {
				t.Fatalf("RoundClamp(%v, %d, %d) = %d, want %d", v, b[0], b[1], got, want)
			}
		}
	}
}

// refFakeQuant is the slow twin of FakeQuantize: element by element through
// Layout.Channel and QuantizeValue.
func refFakeQuant(src []float32, shape []int, p *Params) []float32 {
	l := LayoutOf(p, shape)
	qmin, qmax := p.QRange()
	out := make([]float32, len(src))
	for i, r := range src {
		c := l.Channel(i)
		out[i] = p.Scale[c] * float32(QuantizeValue(r, p.Scale[c], p.Zero[c], qmin, qmax)-p.Zero[c])
	}
	return out
}

func TestFakeQuantizeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := []struct {
		shape []int
		axis  int
	}{{[]int{7, 5}, 1}, {[]int{7, 5}, 0}, {[]int{3, 4, 5}, 1}, {[]int{4, 2, 3, 3}, 0}, {[]int{17}, -1}}
	for _, sh := range shapes {
		for _, scheme := range []Scheme{Symmetric, Affine} {
			for _, bits := range []int{2, 4, 8, 16} {
				n := 1
				for _, d := range sh.shape {
					n *= d
				}
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				ch := 1
				if sh.axis >= 0 {
					ch = sh.shape[sh.axis]
				}
				lo, hi := make([]float32, ch), make([]float32, ch)
				for c := range lo {
					lo[c], hi[c] = -float32(rng.Float64()), float32(rng.Float64())
				}
				p, err := FromRanges(bits, scheme, sh.axis, lo, hi)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, n)
				FakeQuantize(got, x, sh.shape, p)
				want := refFakeQuant(x, sh.shape, p)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("shape %v axis %d %v %d bits: element %d got %v want %v", sh.shape, sh.axis, scheme, bits, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestFakeQuantProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, scheme := range []Scheme{Symmetric, Affine} {
		for _, bits := range []int{2, 3, 4, 8} {
			rmin, rmax := float32(-1.3), float32(2.1)
			s, z, _ := ScaleZero(bits, scheme, rmin, rmax)
			p := &Params{Bits: bits, Scheme: scheme, Scale: []float32{s}, Zero: []int32{z}}
			qmin, qmax := p.QRange()
			lo, hi := s*float32(qmin-z), s*float32(qmax-z)
			x := make([]float32, 10000)
			for i := range x {
				x[i] = lo + float32(rng.Float64())*(hi-lo)
			}
			x = append(x, 0)
			once := make([]float32, len(x))
			FakeQuantize(once, x, []int{len(x)}, p)
			twice := make([]float32, len(x))
			FakeQuantize(twice, once, []int{len(x)}, p)
			for i := range x {
				// Inside the representable range the error is at most half a
				// step (plus float32 rounding of S·q, a few ulps).
				if d := math.Abs(float64(x[i] - once[i])); d > float64(s)/2*(1+1e-5) {
					t.Fatalf("%v %d bits: |%v − %v| = %v > S/2 = %v", scheme, bits, x[i], once[i], d, s/2)
				}
				if once[i] != twice[i] {
					t.Fatalf("%v %d bits: not idempotent at %v: %v then %v", scheme, bits, x[i], once[i], twice[i])
				}
			}
			if once[len(x)-1] != 0 {
				t.Fatalf("%v %d bits: zero maps to %v", scheme, bits, once[len(x)-1])
			}
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []*Params{
		{Bits: 1, Scale: []float32{1}, Zero: []int32{0}},
		{Bits: 8, Scale: []float32{0}, Zero: []int32{0}},
		{Bits: 8, Scale: []float32{float32(math.NaN())}, Zero: []int32{0}},
		{Bits: 8, Scale: []float32{1}, Zero: []int32{3}},
		{Bits: 8, Scheme: Affine, Scale: []float32{1}, Zero: []int32{256}},
		{Bits: 8, Scale: []float32{1, 2}, Zero: []int32{0}},
		{Bits: 32, Scheme: Affine, Scale: []float32{1}, Zero: []int32{0}},
	}
	for i, p := range bad {
		if p.Validate() == nil {
			t.Errorf("case %d accepted: %+v", i, p)
		}
	}
	good := &Params{Bits: 8, Scheme: Affine, Scale: []float32{0.1}, Zero: []int32{128}}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}
