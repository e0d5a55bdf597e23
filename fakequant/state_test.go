package fakequant

import (
	"sync"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// countingObserver keeps a running range with no locking of its own, as
// package calibrate's observers do: concurrent calls are data races that
// the race detector reports.
type countingObserver struct {
	n      int
	lo, hi float32
}

func (o *countingObserver) Observe(x []float32, _ []int, _ int) error {
	for _, v := range x {
		if o.n == 0 || v < o.lo {
			o.lo = v
		}
		if o.n == 0 || v > o.hi {
			o.hi = v
		}
		o.n++
	}
	return nil
}

func (o *countingObserver) Range() ([]float32, []float32, error) {
	return []float32{o.lo}, []float32{o.hi}, nil
}

func (o *countingObserver) Reset() { *o = countingObserver{} }

// TestStateConcurrentForward runs forward passes of one observing state
// from several goroutines, as predictors of different batch sizes sharing
// a model do. Run with -race: before the observer was called under the
// state's lock, the detector reported the race in Observe.
func TestStateConcurrentForward(t *testing.T) {
	obs := &countingObserver{}
	s := &State{Name: "x", Bits: 8, Scheme: quant.Symmetric, Axis: -1, Observer: obs}
	s.SetEnabled(true)
	s.SetObserving(true)
	const workers, rounds, n = 4, 400, 256 // enough overlap for the race detector on 2 cores
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float32, n)
			dst := make([]float32, n)
			for r := range rounds {
				for i := range x {
					x[i] = float32(w*rounds+r) - float32(i)
				}
				if err := s.forward(dst, x, []int{n}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if obs.n != workers*rounds*n {
		t.Fatalf("observer saw %d values, want %d (lost updates)", obs.n, workers*rounds*n)
	}
	// The values span [−(n−1), workers·rounds − 1]: w·rounds + r − i.
	if obs.lo != -(n-1) || obs.hi != workers*rounds-1 {
		t.Fatalf("range [%v, %v]", obs.lo, obs.hi)
	}
}

// TestRequantFallbackOnlyForMultipliers: a layer output that requantizes
// from its accumulator falls back to plain rounding only when the
// multiplier has no integer form (export reports that case); any other
// failure — here per-channel output parameters, which the runtime cannot
// requantize to — is an error, not a silent switch of rounding rule.
func TestRequantFallbackOnlyForMultipliers(t *testing.T) {
	bias := &State{Name: "b", Bits: 32, Scheme: quant.Symmetric, Axis: -1}
	out := &State{Name: "y", Bits: 8, Scheme: quant.Symmetric, Axis: 1, AccOf: bias}
	out.SetEnabled(true)
	// Accumulator scale 1e-30 over output scale 1: M = 1e-30 < 2^−40.
	if err := bias.SetParams(&quant.Params{Bits: 32, Scheme: quant.Symmetric, Axis: -1, Scale: []float32{1e-30}, Zero: []int32{0}}); err != nil {
		t.Fatal(err)
	}
	x, dst := []float32{0.5, -2}, make([]float32, 2)
	if err := out.SetParams(&quant.Params{Bits: 8, Scheme: quant.Symmetric, Axis: -1, Scale: []float32{1}, Zero: []int32{0}}); err != nil {
		t.Fatal(err)
	}
	if err := out.forward(dst, x, []int{1, 2}); err != nil {
		t.Fatalf("unrepresentable multiplier: %v, want the plain rule", err)
	}
	if dst[0] != 0 || dst[1] != -2 { // round half to even: 0.5 → 0
		t.Errorf("plain rule gave %v, want [0 -2]", dst)
	}
	if err := out.SetParams(&quant.Params{Bits: 8, Scheme: quant.Symmetric, Axis: 1, Scale: []float32{1, 1}, Zero: []int32{0, 0}}); err != nil {
		t.Fatal(err)
	}
	if err := out.forward(dst, x, []int{1, 2}); err == nil {
		t.Error("per-channel output parameters: no error, want one")
	}
}
