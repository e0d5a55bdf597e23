package ste

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

func params(bits int, scheme quant.Scheme, s float32, z int32) *quant.Params {
	return &quant.Params{Bits: bits, Scheme: scheme, Scale: []float32{s}, Zero: []int32{z}}
}

var one = quant.Layout{Inner: 1, Channels: 1}

func TestClippedMaskAtBoundaries(t *testing.T) {
	tests := []struct {
		name string
		p    *quant.Params
		x    []float32
		pass []bool
	}{
		// S = 1, symmetric 8 bits, grid [−127, 127]: 127.5 rounds to 128
		// (half to even) and is clipped; the float32 just below passes.
		{"symmetric", params(8, quant.Symmetric, 1, 0),
			[]float32{127.5, math.Nextafter32(127.5, 0), -127.5, math.Nextafter32(-127.5, 0), 0, 200, -200},
			[]bool{false, true, false, true, true, false, false}},
		// Affine 4 bits, Z = 3: grid [0, 15] ↔ x/S in [−3, 12]: −3.5 rounds
		// to −4, clipped; 12.5 rounds to the even 12, inside; 12.5 + ulp
		// rounds to 13, clipped.
		{"affine", params(4, quant.Affine, 1, 3),
			[]float32{-3.5, math.Nextafter32(-3.5, 0), 12.5, math.Nextafter32(12.5, 0), 12, -3, math.Nextafter32(12.5, 13)},
			[]bool{false, true, true, true, true, true, false}},
		// Affine 8 bits, Z = 128: x/S in [−128, 127]: −128.5 rounds to the
		// even −128, inside.
		{"affine-even-lo", params(8, quant.Affine, 1, 128),
			[]float32{-128.5, math.Nextafter32(-128.5, -129), 127.5},
			[]bool{true, false, false}},
		// S = 0.1, 2 bits symmetric, grid {−1, 0, 1}: x = 0.15 → 1.5 → 2, clipped.
		{"2-bit", params(2, quant.Symmetric, 0.1, 0),
			[]float32{0.15, 0.14, -0.15, -0.14},
			[]bool{false, true, false, true}},
	}
	for _, tc := range tests {
		dy := make([]float32, len(tc.x))
		for i := range dy {
			dy[i] = float32(i + 1)
		}
		dx := make([]float32, len(tc.x))
		Clipped{}.Backward(dx, dy, tc.x, one, tc.p, nil)
		// The mask must agree with what the forward pass did.
		fwd := make([]int32, len(tc.x))
		quant.Quantize(fwd, tc.x, []int{len(tc.x)}, tc.p)
		qmin, qmax := tc.p.QRange()
		for i := range tc.x {
			want := float32(0)
			if tc.pass[i] {
				want = dy[i]
			}
			if dx[i] != want {
				t.Errorf("%s: x=%v: dx %v, want %v", tc.name, tc.x[i], dx[i], want)
			}
			u := math.RoundToEven(float64(tc.x[i]/tc.p.Scale[0])) + float64(tc.p.Zero[0])
			if clipped := u < float64(qmin) || u > float64(qmax); clipped == tc.pass[i] {
				t.Errorf("%s: x=%v: table disagrees with the forward pass (q=%d)", tc.name, tc.x[i], fwd[i])
			}
		}
	}
}

func TestClippedPerChannelRows(t *testing.T) {
	// A (2, 3) Linear weight with per-column scales 1, 2, 4 (channels on the last axis).
	p := &quant.Params{Bits: 2, Scheme: quant.Symmetric, Axis: 1, Scale: []float32{1, 2, 4}, Zero: []int32{0, 0, 0}}
	x := []float32{1.4, 3.1, 6.1, 1.6, 2.9, 5.9}
	// x/S = 1.4, 1.55, 1.525 | 1.6, 1.45, 1.475: the grid is {−1,0,1}, so pass iff |x/S| < 1.5.
	want := []float32{1, 0, 0, 0, 1, 1}
	dx := make([]float32, 6)
	dy := []float32{1, 1, 1, 1, 1, 1}
	Clipped{}.Backward(dx, dy, x, quant.LayoutOf(p, []int{2, 3}), p, nil)
	for i := range want {
		if dx[i] != want[i] {
			t.Fatalf("dx = %v, want %v", dx, want)
		}
	}
}

func TestSTEIsIdentity(t *testing.T) {
	dx := make([]float32, 2)
	STE{}.Backward(dx, []float32{3, -4}, []float32{1e9, -1e9}, one, params(8, quant.Symmetric, 1, 0), nil)
	if dx[0] != 3 || dx[1] != -4 {
		t.Fatal(dx)
	}
}

func TestLSQHandDerived(t *testing.T) {
	// S = 0.5, 4-bit symmetric (Q_p = 7), three elements, dy = 1.
	// x = 0.3: x/S = 0.6, round = 1, ∂r̂/∂S = 1 − 0.6 = 0.4, ∂r̂/∂x = 1.
	// x = 100: clipped high, ∂r̂/∂S = Q_p = 7, ∂r̂/∂x = 0.
	// x = −0.9: x/S = −1.8, round = −2, ∂r̂/∂S = −2 + 1.8 = −0.2.
	// Sum 7.2, times g = 1/√(3·7).
	p := params(4, quant.Symmetric, 0.5, 0)
	x := []float32{0.3, 100, -0.9}
	dx := make([]float32, 3)
	ds := make([]float64, 1)
	LSQ{}.Backward(dx, []float32{1, 1, 1}, x, one, p, ds)
	want := (0.4 + 7 - 0.2) / math.Sqrt(21)
	if math.Abs(ds[0]-want) > 1e-6 {
		t.Errorf("∂L/∂S = %v, want %v", ds[0], want)
	}
	if dx[0] != 1 || dx[1] != 0 || dx[2] != 1 {
		t.Errorf("dx = %v", dx)
	}
}

func TestLSQScaleGradientFiniteDifference(t *testing.T) {
	// Where every element is clipped, r̂(S) = S·q_max is smooth in S and
	// LSQ's gradient (divided by its g) is the true derivative.
	p := params(8, quant.Symmetric, 0.01, 0)
	x := []float32{5, 7, -6}
	dy := []float32{0.3, -1.2, 0.7}
	ds := make([]float64, 1)
	LSQ{}.Backward(make([]float32, 3), dy, x, one, p, ds)
	loss := func(s float32) float64 {
		pp := params(8, quant.Symmetric, s, 0)
		out := make([]float32, 3)
		quant.FakeQuantize(out, x, []int{3}, pp)
		var l float64
		for i := range out {
			l += float64(dy[i]) * float64(out[i])
		}
		return l
	}
	h := float32(1e-4)
	fd := (loss(0.01+h) - loss(0.01-h)) / float64(2*h)
	got := ds[0] / GradScale(3, 127)
	if math.Abs(fd-got) > 1e-2*math.Abs(fd) {
		t.Fatalf("LSQ ∂L/∂S = %v, finite difference %v", got, fd)
	}
}

func TestByName(t *testing.T) {
	for _, n := range Kinds {
		e, err := ByName(n)
		if err != nil || Kind(e.Name()) != n {
			t.Errorf("%s: %v %v", n, e, err)
		}
	}
	if _, err := ByName("bogus"); err == nil {
		t.Error("unknown estimator accepted")
	}
}

// TestClippedMatchesScalar: Clipped.Backward (on fakequant's vector
// kernels) gives its scalar reference's bits per tensor and per channel
// on the first and the last axis, on special values (NaN, ±Inf, ±0,
// subnormals), exact ties and clamp boundaries of every channel's grid,
// and gradients of both signs including −0.
func TestClippedMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 3))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
		float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -1e-39, math.MaxFloat32, -math.MaxFloat32}
	for _, sch := range []quant.Scheme{quant.Symmetric, quant.Affine} {
		// (13, 300): lenet300's widest row, a ragged tail of 4 lanes.
		for _, tc := range []struct {
			shape []int
			axis  int
		}{{[]int{13, 300}, 1}, {[]int{300, 13}, 0}, {[]int{5, 3, 7}, -1}} {
			n, ch := 1, 1
			for _, d := range tc.shape {
				n *= d
			}
			axis := max(tc.axis, 0)
			if tc.axis >= 0 {
				ch = tc.shape[tc.axis]
			}
			p := &quant.Params{Bits: 8, Scheme: sch, Axis: axis, Scale: make([]float32, ch), Zero: make([]int32, ch)}
			qmin, qmax := p.QRange()
			for c := range ch {
				p.Scale[c] = float32(math.Pow(10, -3+3*rng.Float64()))
				if sch == quant.Affine {
					p.Zero[c] = int32(rng.IntN(256))
				}
			}
			l := quant.LayoutOf(p, tc.shape)
			x, dy := make([]float32, n), make([]float32, n)
			for i := range x {
				c := l.Channel(i)
				s, lo, hi := p.Scale[c], float32(qmin-p.Zero[c]), float32(qmax-p.Zero[c])
				switch i % 6 {
				case 0:
					x[i] = specials[(i/6)%len(specials)]
				case 1:
					x[i] = (lo - 0.5) * s
				case 2:
					x[i] = math.Nextafter32((hi+0.5)*s, float32(rng.NormFloat64()))
				case 3:
					x[i] = (float32(rng.IntN(300)-150) + 0.5) * s
				default:
					x[i] = float32(rng.NormFloat64()) * 130 * s
				}
				dy[i] = float32(rng.NormFloat64())
				if i%7 == 0 {
					dy[i] = float32(math.Copysign(0, -1))
				}
			}
			want, got := make([]float32, n), make([]float32, n)
			clippedGo(want, dy, x, l, p)
			Clipped{}.Backward(got, dy, x, l, p, nil)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %v: element %d (x=%v): %v, scalar %v", sch, tc.shape, i, x[i], got[i], want[i])
				}
			}
		}
	}
}
