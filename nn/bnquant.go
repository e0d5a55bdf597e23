package nn

import "math"

// The handovers between a training graph's batch normalization fused with
// its ReLU and the quantizer node reading its output (MaskQuantizer): the
// quantizer's gradient mask, applied in the normalization's backward
// passes, and the output's extremes, measured in its forward pass for the
// quantizer's observer.

// maskHi returns the top of the activation's gradient mask for this
// backward pass: hi, lowered to the float32 above thi when the quantizer
// after the node left its mask x ≤ thi here (pre ≤ thi ⇔ pre < that, for
// pre < hi). Where 0 < pre < hi the output is pre itself, so the two
// masks in one give, bit for bit, the quantizer's pass then this node's.
func (t *bnTrain) maskHi() float32 {
	if t.mask == nil {
		return t.hi
	}
	thi, ok := t.mask()
	if !ok {
		return t.hi
	}
	return min(t.hi, math.Nextafter32(thi, float32(math.Inf(1))))
}

// takeExtremes returns and clears the extremes the last forward pass
// measured, if it measured them on x and they are finite.
func (t *bnTrain) takeExtremes(x []float32) (lo, hi float32, ok bool) {
	t.extMu.Lock()
	defer t.extMu.Unlock()
	p := t.extOut
	t.extOut = nil
	if p == nil || len(x) == 0 || &x[0] != p || len(x) != t.extN || !t.extGood {
		return 0, 0, false
	}
	return t.extLo, t.extHi, true
}

// setExtremes records the output's extremes from the channels' (in
// channel order: exact, as no −0 is stored), or none (out nil).
func (t *bnTrain) setExtremes(out []float32) {
	t.extMu.Lock()
	defer t.extMu.Unlock()
	t.extOut = nil
	if out == nil {
		return
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	good := true
	for c := range t.cext {
		mn, mx, nan := t.cext[c].Reduce()
		good = good && !nan
		lo, hi = min(lo, mn), max(hi, mx)
	}
	inf := float32(math.Inf(1))
	t.extOut, t.extN, t.extLo, t.extHi = &out[0], len(out), lo, hi
	t.extGood = good && lo > -inf && hi < inf
}
