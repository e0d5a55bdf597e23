package nn

import (
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
