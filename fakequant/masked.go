package fakequant

import (
	"math"

	"github.com/tinyqat/tinyqat/quant"
)

// What a node made by NewMasked hands to its input's producer (its
// gradient mask) and takes from it (the input's extremes, for the
// observer).

// ExtremesObserver is an observer that can record a per-tensor batch by
// its extremes alone (calibrate.MinMax): ObserveExtremes(lo, hi), lo and
// hi finite, does what Observe does for a tensor (axis −1) whose minimum
// and maximum they are. A node whose input's producer measured them
// (NewMasked's extremes) then skips the observer's pass over the tensor.
type ExtremesObserver interface {
	Observer
	ObserveExtremes(lo, hi float32)
}

// extremesKnown reports whether the observer can record a batch by its
// extremes: an ExtremesObserver of a per-tensor activation.
func (s *State) extremesKnown() bool {
	_, ok := s.Observer.(ExtremesObserver)
	return ok && s.Axis < 0 && s.BiasOf == nil && s.MeanOf == nil
}

// fusedMask reports whether backwardPass (given the same unclipped) is,
// over x > 0, the mask that passes dy where x ≤ thi: the pass is a copy
// or one interval [tlo, thi] of x (ReLU6's top and an interval
// estimator's bounds, merged as backwardPass merges them) with tlo at or
// below the least positive float32 and thi ≥ 0; NaN bounds (an empty
// interval) are not. NewMasked's producer then applies it.
func (s *State) fusedMask(unclipped *quant.Params) (thi float32, ok bool) {
	tlo, thi := negInf, posInf
	if s.Max > 0 {
		thi = math.Nextafter32(s.Max, negInf)
	}
	if !s.passesThrough(unclipped) {
		elo, ehi, ok := s.passBounds()
		if !ok {
			return 0, false
		}
		tlo, thi = max(tlo, elo), min(thi, ehi)
	}
	if !(tlo <= math.SmallestNonzeroFloat32 && thi >= 0) {
		return 0, false
	}
	return thi, true
}
