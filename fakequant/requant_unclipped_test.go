package fakequant

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// presetObserver proposes a preset range whatever it sees and keeps the
// extremes of the last batch (a BatchRanger): the parameters and the
// measured tensor are then independent, so a tensor's extreme can sit on
// any edge of the grid.
type presetObserver struct {
	lo, hi     float32
	bmin, bmax []float32
}

func (o *presetObserver) Observe(x []float32, _ []int, _ int) error {
	o.bmin, o.bmax = nil, nil
	mn, mx := x[0], x[0]
	for _, v := range x {
		if v != v || math.IsInf(float64(v), 0) {
			return errors.New("non-finite")
		}
		mn, mx = min(mn, v), max(mx, v)
	}
	o.bmin, o.bmax = []float32{mn}, []float32{mx}
	return nil
}
func (o *presetObserver) Range() ([]float32, []float32, error) {
	return []float32{o.lo}, []float32{o.hi}, nil
}
func (o *presetObserver) Reset()                         {}
func (o *presetObserver) BatchRange() (lo, hi []float32) { return o.bmin, o.bmax }

// presetObserverNoBatch is presetObserver without BatchRange.
type presetObserverNoBatch struct{ lo, hi float32 }

func (o *presetObserver) plain() *presetObserverNoBatch { return &presetObserverNoBatch{o.lo, o.hi} }

func (o *presetObserverNoBatch) Observe([]float32, []int, int) error { return nil }
func (o *presetObserverNoBatch) Range() ([]float32, []float32, error) {
	return []float32{o.lo}, []float32{o.hi}, nil
}
func (o *presetObserverNoBatch) Reset() {}

// TestRequantUnclippedReport: a requantized output (AccOf) whose observer
// just measured x reports "nothing clipped" exactly when the definition
// holds (every round(x/S) in [q_min − Z, q_max − Z]), on inputs inside
// the grid and with one element put on each edge value (ties and
// neighbours of both edges, just outside); the backward pass then copies
// and otherwise runs the estimator, whose mask applies; either way dx is
// the estimator's own output. No report when the observer is not
// observing, cannot give the batch's extremes, or measured min(x, Max).
// The forward values are RequantFakeQuantize's, report or not.
func TestRequantUnclippedReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 9))
	const rows, ch = 4, 3
	shape := []int{rows, ch}
	accScale := []float32{0.0013, 0.0021, 0.0007}
	bias := &State{Name: "b", Bits: 32, Scheme: quant.Symmetric, Axis: 0}
	if err := bias.SetParams(&quant.Params{Bits: 32, Scheme: quant.Symmetric, Axis: 0, Scale: accScale, Zero: make([]int32, ch)}); err != nil {
		t.Fatal(err)
	}
	bias.SetEnabled(true)
	reported, masked := 0, 0
	for _, sch := range []quant.Scheme{quant.Affine, quant.Symmetric} {
		for _, rg := range [][2]float32{{-1, 2}, {0, 3}, {-0.7, 0.4}} {
			obs := &presetObserver{lo: rg[0], hi: rg[1]}
			calls := 0
			s := &State{Name: "y", Bits: 8, Scheme: sch, Axis: -1, AccOf: bias, Observer: obs, Estimator: countingClipped{&calls}}
			s.SetEnabled(true)
			s.SetObserving(true)
			if err := s.UpdateFromObserver(); err != nil {
				t.Fatal(err)
			}
			p := s.current()
			sc, z := p.Scale[0], p.Zero[0]
			qmin, qmax := p.QRange()
			lo, hi := qmin-z, qmax-z
			var odd []float32
			for _, k := range []int32{lo - 1, lo, hi, hi + 1} {
				for _, f := range []float32{(float32(k) - 0.5) * sc, (float32(k) + 0.5) * sc, float32(k) * sc} {
					odd = append(odd, f, math.Nextafter32(f, posInf), math.Nextafter32(f, negInf))
				}
			}
			x := make([]float32, rows*ch)
			for i := range x {
				x[i] = (float32(lo) + 1 + float32(rng.Float64())*float32(hi-lo-2)) * sc
			}
			inputs := [][]float32{x}
			for _, v := range odd {
				for _, pos := range []int{0, len(x) - 1} {
					inputs = append(inputs, withElem(x, pos, v))
				}
			}
			for _, in := range inputs {
				what := fmt.Sprintf("%v range %v x=%v", sch, rg, in)
				want := noneClipped(in, func(int) (float32, int32, int32) { return sc, lo, hi })
				dst, ref := make([]float32, len(in)), make([]float32, len(in))
				rep, err := s.forwardPass(dst, in, shape)
				if err != nil {
					t.Fatal(err)
				}
				if err := RequantFakeQuantize(ref, in, shape, p, accScale); err != nil {
					t.Fatal(err)
				}
				sameBits(t, what, dst, ref, in)
				if (rep != nil) != want || (rep != nil && rep != s.current()) {
					t.Fatalf("%s: report %v, want unclipped %v", what, rep, want)
				}
				dy := make([]float32, len(in))
				for i := range dy {
					dy[i] = float32(i + 1)
				}
				dx, wdx := make([]float32, len(in)), make([]float32, len(in))
				before := calls
				s.backwardPass(dx, dy, in, shape, rep)
				countingClipped{new(int)}.Backward(wdx, dy, in, quant.LayoutOf(p, shape), p, nil)
				if !slicesEqual(dx, wdx) {
					t.Fatalf("%s: dx %v, the estimator's %v", what, dx, wdx)
				}
				if copied := calls == before; copied != want {
					t.Fatalf("%s: backward copied %v, want %v", what, copied, want)
				}
				if want {
					reported++
				} else {
					masked++
				}
			}
			// No report without a fresh measurement of x itself: xc
			// clips (one element past the top), its clamp min(xc, Max)
			// does not.
			xc := withElem(x, 1, float32(hi+5)*sc)
			s.SetObserving(false)
			if rep, _ := s.forwardPass(make([]float32, len(xc)), xc, shape); rep != nil {
				t.Fatalf("%v range %v: report while not observing", sch, rg)
			}
			s.SetObserving(true)
			s.Observer = obs.plain()
			if rep, _ := s.forwardPass(make([]float32, len(xc)), xc, shape); rep != nil {
				t.Fatalf("%v range %v: report from an observer without batch extremes", sch, rg)
			}
			s.Observer = obs
			s.Max = float32(hi-1) * sc
			if rep, _ := s.forwardPass(make([]float32, len(xc)), xc, shape); rep != nil {
				t.Fatalf("%v range %v: report from min(x, Max)", sch, rg)
			}
		}
	}
	if reported == 0 || masked == 0 {
		t.Fatalf("%d unclipped and %d clipped inputs: the test checks one side only", reported, masked)
	}
}

// reusingObserver is a RangeReuser with a settable per-channel range; it
// counts the calls of each method.
type reusingObserver struct {
	lo, hi        []float32
	ranges, intos int
}

func (o *reusingObserver) Observe([]float32, []int, int) error { return nil }
func (o *reusingObserver) Reset()                              {}
func (o *reusingObserver) Range() ([]float32, []float32, error) {
	o.ranges++
	return append([]float32(nil), o.lo...), append([]float32(nil), o.hi...), nil
}
func (o *reusingObserver) RangeInto(lo, hi []float32) ([]float32, []float32, error) {
	o.intos++
	return append(lo[:0], o.lo...), append(hi[:0], o.hi...), nil
}

// TestUpdateReusesRangeBuffers: a state whose observer is a RangeReuser
// reads the range through RangeInto into its own buffers, from update to
// update, and publishes the parameters FromRanges gives for that range;
// a set published earlier is not changed by a later update (FromRanges
// keeps nothing of the buffers).
func TestUpdateReusesRangeBuffers(t *testing.T) {
	obs := &reusingObserver{lo: []float32{-1, -2, 0}, hi: []float32{1, 0.5, 3}}
	s := &State{Name: "w", Bits: 8, Scheme: quant.Symmetric, Axis: 1, Observer: obs}
	var published []*quant.Params
	var wants []*quant.Params
	var buf *float32
	for step := range 3 {
		obs.lo[0], obs.hi[2] = -1-float32(step), 3+float32(step)
		want, err := quant.FromRanges(8, quant.Symmetric, 1, obs.lo, obs.hi)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateFromObserver(); err != nil {
			t.Fatal(err)
		}
		published, wants = append(published, s.current()), append(wants, want)
		if len(s.rlo) != 3 {
			t.Fatalf("step %d: range buffer of %d values", step, len(s.rlo))
		}
		if step == 0 {
			buf = &s.rlo[0]
		} else if &s.rlo[0] != buf {
			t.Fatalf("step %d: the range buffer was not reused", step)
		}
	}
	if obs.intos != 3 || obs.ranges != 0 {
		t.Fatalf("RangeInto called %d times, Range %d; want 3, 0", obs.intos, obs.ranges)
	}
	for i, p := range published {
		for c := range p.Scale {
			if math.Float32bits(p.Scale[c]) != math.Float32bits(wants[i].Scale[c]) || p.Zero[c] != wants[i].Zero[c] {
				t.Fatalf("update %d channel %d: (%v, %d), want (%v, %d)", i, c, p.Scale[c], p.Zero[c], wants[i].Scale[c], wants[i].Zero[c])
			}
		}
	}
}
