package nn

import (
	"slices"

	"gorgonia.org/tensor"
	"math"
	"testing"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// TestBNMaskHi: maskHi's top of the gradient mask, checked through the
// rule the backward applies (g passes where 0 < pre < top): with the
// quantizer's mask x ≤ thi handed over, pre = thi itself passes and the
// float32 above thi does not (the quantizer's own rule, x ≤ thi); the
// activation's finite top hi (ReLU6) wins where it is the lower, and hi
// stays when no mask is handed over.
func TestBNMaskHi(t *testing.T) {
	inf := float32(math.Inf(1))
	up := func(x float32) float32 { return math.Nextafter32(x, inf) }
	cases := []struct {
		name     string
		hi       float32 // the fused activation's top (+Inf: ReLU, 6: ReLU6)
		mask     func() (float32, bool)
		want     float32   // maskHi()
		pass, no []float32 // pre values the gradient passes, and does not
	}{
		{"no mask", inf, nil, inf, []float32{1, 1e30}, nil},
		{"not handed over", 6, func() (float32, bool) { return 2, false }, 6, []float32{2, up(2), 5.5}, []float32{6}},
		// x ≤ 2.5 passes in the quantizer: 2.5 passes, its successor not.
		{"relu thi 2.5", inf, func() (float32, bool) { return 2.5, true }, up(2.5), []float32{1, 2.5}, []float32{up(2.5), 3}},
		{"relu thi 1/3", inf, func() (float32, bool) { return 1.0 / 3, true }, up(1.0 / 3), []float32{1.0 / 3}, []float32{up(1.0 / 3)}},
		// ReLU6 below the quantizer's top: min(6, next(7)) = 6, and 6
		// itself is clamped (its gradient stops: 0 < out < hi).
		{"relu6 thi 7", 6, func() (float32, bool) { return 7, true }, 6, []float32{5, math.Nextafter32(6, 0)}, []float32{6}},
		{"relu6 thi 6", 6, func() (float32, bool) { return 6, true }, 6, []float32{math.Nextafter32(6, 0)}, []float32{6}},
		{"relu6 thi 4", 6, func() (float32, bool) { return 4, true }, up(4), []float32{4}, []float32{up(4), 5}},
	}
	for _, c := range cases {
		tr := &bnTrain{hi: c.hi, mask: c.mask}
		got := tr.maskHi()
		if got != c.want {
			t.Errorf("%s: maskHi %v, want %v", c.name, got, c.want)
		}
		for _, pre := range c.pass {
			if !(pre < got) {
				t.Errorf("%s: pre = %v masked (top %v), want passed", c.name, pre, got)
			}
		}
		for _, pre := range c.no {
			if pre < got {
				t.Errorf("%s: pre = %v passed (top %v), want masked", c.name, pre, got)
			}
		}
	}
}

// TestBNExtremes: setExtremes reduces the channels' extremes (the
// maximum or the minimum in the first, a middle or the last channel),
// and takeExtremes hands them over once, on the output they were
// measured on, when finite and NaN-free; otherwise it returns ok =
// false, so the quantizer's observer measures the output itself, as
// without the fusion (a NaN anywhere, an infinite extreme, another
// slice, a shorter one, none measured, or taken already).
func TestBNExtremes(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct {
		name   string
		vals   [][]float32 // the values each channel stored
		lo, hi float32     // the wanted extremes
		ok     bool
	}{
		{"max first", [][]float32{{0, 9}, {1, 2}, {0.5, 3}}, 0, 9, true},
		{"max middle", [][]float32{{1, 2}, {0, 9}, {0.5, 3}}, 0, 9, true},
		{"max last", [][]float32{{1, 2}, {0.5, 3}, {0.25, 9}}, 0.25, 9, true},
		{"min and max last", [][]float32{{1, 2}, {0.5, 3}, {0, 9}}, 0, 9, true},
		{"min last", [][]float32{{1, 9}, {0.5, 3}, {0.125, 2}}, 0.125, 9, true},
		{"one channel", [][]float32{{3, 4, 5}}, 3, 5, true},
		// A NaN in any channel, even beside finite extremes in every
		// one: nothing handed over (the unfused observer sees the NaN).
		{"NaN first", [][]float32{{1, nan, 2}, {0, 3}, {0.5, 4}}, 0, 0, false},
		{"NaN last", [][]float32{{1, 2}, {0, 3}, {0.5, nan, 4}}, 0, 0, false},
		{"+Inf", [][]float32{{1, 2}, {0, inf}}, 0, 0, false},
	}
	for _, c := range cases {
		tr := &bnTrain{cext: make([]f32.Extremes16, len(c.vals))}
		for ch, vs := range c.vals {
			e := &tr.cext[ch]
			e.Reset()
			for i, v := range vs {
				l := (3*ch + i) % 16
				if v != v {
					e.NaN |= 1 << l
					continue
				}
				e.Min[l], e.Max[l] = min(e.Min[l], v), max(e.Max[l], v)
			}
		}
		out := make([]float32, 12)
		tr.setExtremes(out)
		lo, hi, ok := tr.takeExtremes(out)
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%s: takeExtremes %v, %v, %v; want %v, %v, %v", c.name, lo, hi, ok, c.lo, c.hi, c.ok)
		}
		if _, _, ok := tr.takeExtremes(out); ok {
			t.Errorf("%s: handed over twice", c.name)
		}
		if !c.ok {
			continue
		}
		// Only on the slice measured, whole.
		for _, x := range [][]float32{make([]float32, 12), out[:11], nil} {
			tr.setExtremes(out)
			if _, _, ok := tr.takeExtremes(x); ok {
				t.Errorf("%s: handed over for a slice of %d other than the output", c.name, len(x))
			}
		}
		tr.setExtremes(out)
		tr.setExtremes(nil)
		if _, _, ok := tr.takeExtremes(out); ok {
			t.Errorf("%s: handed over after setExtremes(nil)", c.name)
		}
	}
}

// TestBNForwardExtremes: the fused forward pass (batch statistics,
// ReLU or ReLU6) hands over the extremes an observer of its output
// would measure itself (a plain loop over out), here both in the last
// channel (γ, β put channels 0 and 1 in [4.7, 5.3], channel 2 from 0 to
// about 8.5 or the clamp 6), and nothing when a NaN reached the output
// (in the first or the last channel): the observer then measures the
// output itself, as without the fusion. (A NaN input makes its channel's
// statistics, so its whole output, NaN: the NaN lanes' extremes are NaN
// too here. TestBNExtremes covers NaN lanes beside finite extremes.)
func TestBNForwardExtremes(t *testing.T) {
	const n, c, hw = 2, 3, 21
	param := func(v ...float32) *Param {
		return &Param{Value: tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))}
	}
	for _, hi := range []float32{float32(math.Inf(1)), 6} {
		for _, nanAt := range []int{-1, 0, c - 1} {
			tr := &bnTrain{bn: &FoldedBN{Mean: param(0, 0, 0), Var: param(1, 1, 1), Eps: 1e-5, Momentum: 0.1},
				m: &Model{}, n: n, c: c, hw: hw, hi: hi, ext: true}
			y := make([]float32, n*c*hw)
			for i := range y {
				y[i] = float32(i%7) - 3 + float32(i%5)*0.25 // mean ≈ 0, σ ≈ 2: z in about [−1.6, 1.8]
			}
			if nanAt >= 0 {
				y[n*c*hw-hw*(c-nanAt)+4] = float32(math.NaN()) // image 1, channel nanAt
			}
			ones := []float32{1, 1, 1}
			gamma, beta := []float32{0.1, 0.1, 3}, []float32{5, 5, 3.5}
			out := make([]float32, len(y))
			tr.forward(out, [][]float32{y, ones, make([]float32, c), gamma, beta})
			lo, hiOut, ok := tr.takeExtremes(out)
			wlo, whi := float32(math.Inf(1)), float32(math.Inf(-1))
			nan := false
			for _, v := range out {
				nan = nan || v != v
				wlo, whi = min(wlo, v), max(whi, v)
			}
			if nanAt >= 0 {
				if !nan || ok {
					t.Errorf("hi %v, NaN in channel %d: output NaN %v, handed over %v (%v, %v); want NaN, nothing", hi, nanAt, nan, ok, lo, hiOut)
				}
				continue
			}
			if !ok || lo != wlo || hiOut != whi || wlo != 0 || whi < 5.5 {
				t.Errorf("hi %v: handed over %v (%v, %v); the output's %v, %v", hi, ok, lo, hiOut, wlo, whi)
			}
			// Only the last channel reaches the extremes.
			for im := range n {
				for ch := range c {
					x := out[(im*c+ch)*hw : (im*c+ch+1)*hw]
					if reach := slices.Min(x) == wlo || slices.Max(x) == whi; reach != (ch == c-1) && (ch < c-1 || im == 0) {
						t.Errorf("hi %v: channel %d of image %d: extremes %v, %v; the output's %v, %v", hi, ch, im, slices.Min(x), slices.Max(x), wlo, whi)
					}
				}
			}
		}
	}
}
