package fakequant

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/tinyqat/tinyqat/quant"
)

// Observer watches the tensors that pass a fake-quant node and proposes
// their range (package calibrate implements it).
type Observer interface {
	// Observe records a batch; shape is the tensor's shape and axis the
	// channel axis (−1 per tensor). NaN or Inf values are an error.
	Observe(x []float32, shape []int, axis int) error
	// Range returns the current range per channel (or one), or an error if
	// nothing has been observed.
	Range() (rmin, rmax []float32, err error)
	// Reset forgets what was observed.
	Reset()
}

// Estimator computes the backward pass of fake quantization (package ste
// implements it). Forward values are never its business.
type Estimator interface {
	Name() string
	// Backward writes ∂L/∂x into dx from ∂L/∂r̂ in dy and the input x.
	// When dScale is not nil it also adds ∂L/∂S for each scale into it
	// (learned step size); estimators that do not learn scales leave it.
	Backward(dx, dy, x []float32, l quant.Layout, p *quant.Params, dScale []float64)
	// LearnsScale reports whether Backward produces scale gradients.
	LearnsScale() bool
}

// identityEstimator is an estimator whose Backward copies ∂L/∂r̂ into
// ∂L/∂x whatever the parameters (ste.STE): the backward pass then skips
// building them (a bias's are derived and allocated on every call).
type identityEstimator interface {
	Estimator
	Identity() bool
}

// unclippedPasser is an estimator whose Backward, when the forward pass
// clipped no element of x (every round(x/S) inside [q_min − Z, q_max − Z],
// none NaN), is a copy of ∂L/∂r̂ into ∂L/∂x (ste.Clipped). The backward
// pass then copies instead of deriving and applying the mask.
type unclippedPasser interface {
	Estimator
	PassesUnclipped() bool
}

// boundsEstimator is an estimator whose Backward passes ∂L/∂r̂ on the
// elements of channel c with tlo ≤ x ≤ thi and writes +0 elsewhere, with
// (tlo, thi) = PassBounds(p, c): one PassGrad per run (ste.Clipped). A
// per-tensor node with ReLU6's or a ReLU's mask then applies both masks
// in one PassGrad on the intersection of the two intervals.
type boundsEstimator interface {
	Estimator
	PassBounds(p *quant.Params, c int) (tlo, thi float32)
}

// BatchRanger is an observer that keeps the extremes of the batch it last
// observed (calibrate.MinMax): BatchRange returns them per channel, or
// nil, nil when its last Observe recorded nothing. A requantized output
// (State.AccOf) uses them to report that its forward pass clipped
// nothing, as fakeQuantize reports for the other nodes.
type BatchRanger interface {
	Observer
	BatchRange() (lo, hi []float32)
}

// RangeReuser is an observer whose Range can write into buffers the
// caller owns (calibrate.MinMax): RangeInto returns what Range returns,
// in lo[:n] and hi[:n] when their capacity suffices (else new slices). A
// state updating its parameters every step reuses its buffers: quant's
// FromRanges reads the range and keeps none of it.
type RangeReuser interface {
	Observer
	RangeInto(lo, hi []float32) (rmin, rmax []float32, err error)
}

// StatefulObserver is an observer whose statistics can be saved and
// restored exactly (checkpoints); package calibrate's observers are.
type StatefulObserver interface {
	Observer
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// State is the quantizer of one tensor, shared by the fake-quant nodes of
// every graph built from a model. Its methods are safe for concurrent use:
// they hold the state's lock around every use of the observer and the
// parameters. Calling the Observer directly while graphs run is not.
type State struct {
	Name      string
	Bits      int
	Scheme    quant.Scheme
	Axis      int // channel axis, or −1 for per tensor
	Estimator Estimator
	Observer  Observer // may be nil when the parameters are set directly

	// BiasOf, when set, makes this the int32 quantizer of a bias whose
	// scale is S_in · S_w[c] from the input and weight states.
	BiasOf *[2]*State

	// AccOf, when set on a layer's output, is that layer's bias state: the
	// node then requantizes from the accumulator scale like the integer
	// runtime (RequantFakeQuantize) instead of rounding y/S directly.
	AccOf *State

	// Max, if not 0, is the upper clamp of a fused ReLU6 (6): the node
	// outputs min(x, Max) when disabled, its observer sees min(x, Max),
	// and enabled it quantizes x with q_max replaced by ClampHi(Max, S,
	// Z, q_max), the integer runtime's clamp, so the simulation equals
	// clamp(requant(acc), Z, Hi) exactly. Its backward pass is zero where
	// x ≥ Max (ReLU6's gradient).
	Max float32

	// Add, when set, makes this the output of a residual addition of the
	// two summands' states (NewAdd); ReLU then fuses a ReLU into it.
	Add  *[2]*State
	ReLU bool

	// MeanOf, when set, makes this the output of a global average pool of
	// the tensor quantized by MeanOf (NewMean): it has no observer and
	// its parameters are MeanOf's.
	MeanOf *State

	mu        sync.Mutex
	enabled   bool
	observing bool
	params    *quant.Params // never modified once set: replaced
	dScale    []float64     // accumulated ∂L/∂S (learned step size)
	// rlo and rhi are updateLocked's buffers for a RangeReuser's range.
	rlo, rhi []float32
	// bias caches a bias state's parameters with the input and weight
	// parameters they were derived from.
	bias struct{ in, w, p *quant.Params }
}

// SetEnabled turns fake quantization on or off (off: the node is identity).
func (s *State) SetEnabled(on bool) { s.mu.Lock(); s.enabled = on; s.mu.Unlock() }

// SetObserving turns observation on or off (off: parameters are frozen).
func (s *State) SetObserving(on bool) { s.mu.Lock(); s.observing = on; s.mu.Unlock() }

// Enabled reports whether fake quantization is on.
func (s *State) Enabled() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.enabled }

// Observing reports whether the observer is updating.
func (s *State) Observing() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.observing }

// Params returns a copy of the current parameters, or nil if there are none yet.
func (s *State) Params() *quant.Params { return s.current().Clone() }

// current returns the current parameters, shared: a published parameter
// set is never modified (SetParams, UpdateFromObserver and StepScale
// replace it), so the passes read it without copying it. A bias's are
// derived from its input's and weight's and kept until either changes.
func (s *State) current() *quant.Params {
	if s.MeanOf != nil {
		return s.MeanOf.current()
	}
	if s.BiasOf != nil {
		in, w := s.BiasOf[0].current(), s.BiasOf[1].current()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.bias.p == nil || s.bias.in != in || s.bias.w != w {
			s.bias.in, s.bias.w, s.bias.p = in, w, biasParams(in, w)
		}
		return s.bias.p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params
}

// SetParams replaces the parameters after validating them.
func (s *State) SetParams(p *quant.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	s.mu.Lock()
	s.params = p.Clone()
	s.mu.Unlock()
	return nil
}

// UpdateFromObserver recomputes the parameters from the observer's range.
func (s *State) UpdateFromObserver() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updateLocked()
}

// updateLocked is UpdateFromObserver with s.mu held.
func (s *State) updateLocked() error {
	if s.Observer == nil {
		return fmt.Errorf("fakequant: %s has no observer", s.Name)
	}
	var lo, hi []float32
	var err error
	if rr, ok := s.Observer.(RangeReuser); ok {
		lo, hi, err = rr.RangeInto(s.rlo, s.rhi)
		if err == nil {
			s.rlo, s.rhi = lo, hi
		}
	} else {
		lo, hi, err = s.Observer.Range()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	p, err := quant.FromRanges(s.Bits, s.Scheme, s.Axis, lo, hi)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	s.params = p
	return nil
}

// ResetObserver makes the observer forget what it saw.
func (s *State) ResetObserver() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Observer != nil {
		s.Observer.Reset()
	}
}

// ObserverState returns the observer's saved statistics, or nil when the
// state has no observer. An observer that cannot save its statistics is an
// error: a checkpoint without them would not resume exactly.
func (s *State) ObserverState() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Observer == nil {
		return nil, nil
	}
	so, ok := s.Observer.(StatefulObserver)
	if !ok {
		return nil, fmt.Errorf("fakequant: %s: observer %T cannot save its statistics", s.Name, s.Observer)
	}
	return so.MarshalBinary()
}

// SetObserverState restores what ObserverState returned.
func (s *State) SetObserverState(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	so, ok := s.Observer.(StatefulObserver)
	if !ok {
		return fmt.Errorf("fakequant: %s: observer %T cannot restore statistics", s.Name, s.Observer)
	}
	if err := so.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return nil
}

// biasParams derives the int32 bias parameters from the input's and the
// weight's (nil if either is).
func biasParams(in, w *quant.Params) *quant.Params {
	if in == nil || w == nil {
		return nil
	}
	p := &quant.Params{Bits: 32, Scheme: quant.Symmetric, Axis: 0, Scale: make([]float32, len(w.Scale)), Zero: make([]int32, len(w.Scale))}
	for c, sw := range w.Scale {
		p.Scale[c] = max(in.Scale[0]*sw, quant.MinScale*quant.MinScale)
	}
	return p
}

// ErrNoParams is returned by a forward pass through an enabled node whose
// state has neither parameters nor an observer that is observing.
var ErrNoParams = errors.New("fakequant: no quantization parameters yet (calibrate first)")

// observe feeds x to the observer and updates the parameters when the
// state is observing; it reports whether fake quantization is on and,
// when the observer is a per-tensor BatchRanger that just measured x,
// x's extremes (measured true).
//
// known, when not nil, holds x's extremes, measured by its producer
// (extremesKnown): the observer records them instead of scanning x.
func (s *State) observe(x []float32, shape []int, known *[2]float32) (enabled bool, bmin, bmax float32, measured bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.observing && s.Observer != nil && s.BiasOf == nil && s.MeanOf == nil {
		// The observer is not safe for concurrent use: observe and
		// update under the lock.
		if known != nil {
			s.Observer.(ExtremesObserver).ObserveExtremes(known[0], known[1])
		} else if err := s.Observer.Observe(x, shape, s.Axis); err != nil {
			return false, 0, 0, false, fmt.Errorf("%s: %w", s.Name, err)
		}
		if err := s.updateLocked(); err != nil {
			return false, 0, 0, false, err
		}
		if br, ok := s.Observer.(BatchRanger); ok && s.Axis < 0 {
			if lo, hi := br.BatchRange(); len(lo) == 1 && len(hi) == 1 {
				bmin, bmax, measured = lo[0], hi[0], true
			}
		}
	}
	return s.enabled, bmin, bmax, measured, nil
}

// unclippedRange reports whether fake quantization with scale sc onto
// the grid [lo, hi] (q_min − Z, the top − Z) clips no element of a tensor
// whose extremes are mn and mx: whether round(mn/S) ≥ lo and round(mx/S)
// ≤ hi (half to even, the float32 quotient), the kernels' rule. Division
// by S > 0 and rounding are monotone, so every element between the
// extremes lies inside too; NaN extremes are outside.
func unclippedRange(mn, mx, sc float32, lo, hi int32) bool {
	if int64(hi)-int64(lo) > 1<<24 {
		return false // 32-bit grids: not checked, as fakeQuantize
	}
	return quant.Round(mn/sc) >= float32(lo) && quant.Round(mx/sc) <= float32(hi)
}

// ClampHi is the upper clamp of an output with a fused ReLU6 (or any
// upper bound max > 0) quantized with scale s, zero point z and grid top
// qmax: min(qmax, round(max/s) + z), the float32 quotient rounded half to
// even. The exporter stores this clamp; the simulation uses the same.
func ClampHi(max, s float32, z, qmax int32) int32 {
	v := float64(quant.Round(max/s)) + float64(z)
	if v >= float64(qmax) {
		return qmax
	}
	return int32(v)
}

// hi returns the grid top of p for this state: q_max, or the ReLU6 clamp.
func (s *State) hi(p *quant.Params) int32 {
	_, qmax := p.QRange()
	if s.Max > 0 && !p.PerChannel() {
		return ClampHi(s.Max, p.Scale[0], p.Zero[0], qmax)
	}
	return qmax
}

// forward applies the node's forward pass to x (of the given shape) into dst.
func (s *State) forward(dst, x []float32, shape []int) error {
	_, err := s.forwardPass(dst, x, shape)
	return err
}

// forwardPass is forward that also returns the parameters with which it
// fake-quantized x when it clipped no element of x against their grid
// [q_min − Z, q_max − Z] (fakeQuantize's report, or for a requantized
// output the observer's extremes of x: unclippedRange); nil when it
// clipped one, did not check (a requantized output not just measured,
// 32-bit grids) or was disabled.
func (s *State) forwardPass(dst, x []float32, shape []int) (*quant.Params, error) {
	return s.forwardPassExt(dst, x, shape, nil)
}

// forwardPassExt is forwardPass given ext, when not nil, which returns
// x's extremes (both finite) if x's producer measured them while writing
// x (NewMasked): an observer that takes them (extremesKnown) then skips
// its pass over x, and so does ReLU6's clamp before it.
func (s *State) forwardPassExt(dst, x []float32, shape []int, ext func(x []float32) (lo, hi float32, ok bool)) (*quant.Params, error) {
	var known *[2]float32
	if ext != nil {
		if lo, hi, ok := ext(x); ok && len(x) > 0 && s.extremesKnown() {
			known = &[2]float32{lo, hi}
		}
	}
	// min(x, Max) is both what the observer sees and the disabled
	// output: it goes to dst, which the enabled pass overwrites from x.
	// Its extremes are min(lo, Max) and min(hi, Max).
	clamped, wrote := false, false
	obs := x
	if s.Max > 0 && s.Observing() {
		clamped = true
		if known != nil {
			known[0], known[1] = min(known[0], s.Max), min(known[1], s.Max)
		} else {
			clampMax(dst, x, s.Max)
			obs, wrote = dst[:len(x)], true
		}
	}
	enabled, bmin, bmax, measured, err := s.observe(obs, shape, known)
	if err != nil {
		return nil, err
	}
	if !enabled {
		if s.Max > 0 {
			if !wrote {
				clampMax(dst, x, s.Max)
			}
		} else {
			copy(dst, x)
		}
		return nil, nil
	}
	p := s.current()
	if p == nil {
		return nil, fmt.Errorf("%s: %w", s.Name, ErrNoParams)
	}
	hi := s.hi(p)
	if s.AccOf != nil {
		if bp := s.AccOf.current(); bp != nil {
			err := requantFakeQuantize(dst, x, shape, p, bp.Scale, hi)
			if err == nil {
				// The observer just measured x itself (min(x, Max) is
				// another tensor): its extremes tell whether round(x/S)
				// left the grid anywhere, the clipped estimator's test.
				qmin, _ := p.QRange()
				if measured && !clamped && len(x) > 0 && unclippedRange(bmin, bmax, p.Scale[0], qmin-p.Zero[0], hi-p.Zero[0]) {
					return p, nil
				}
				return nil, nil
			}
			// A multiplier with no integer form (quant.ErrMultiplier)
			// cannot be exported either: simulate with the plain rule and
			// let export report it. Anything else is an error.
			if !errors.Is(err, quant.ErrMultiplier) {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
		}
	}
	if fakeQuantizeHi(dst, x, shape, p, hi) {
		return p, nil
	}
	return nil, nil
}

// fakeQuantizeHi is fakeQuantize with the grid top of a per-tensor p
// lowered to hi; it reports whether it clipped no element (against the
// lowered grid, so none against p's either).
func fakeQuantizeHi(dst, x []float32, shape []int, p *quant.Params, hi int32) bool {
	qmin, qmax := p.QRange()
	if hi == qmax || p.PerChannel() {
		return fakeQuantize(dst, x, shape, p)
	}
	return fqRun(dst[:len(x)], x, p.Scale[0], qmin-p.Zero[0], hi-p.Zero[0])
}

// backward applies the estimator (and ReLU6's mask when Max is set).
func (s *State) backward(dx, dy, x []float32, shape []int) {
	s.backwardPass(dx, dy, x, shape, nil)
}

// backwardPass is backward given forwardPass's report on this x:
// unclipped, when not nil, are parameters with which the forward pass
// clipped no element of x.
func (s *State) backwardPass(dx, dy, x []float32, shape []int, unclipped *quant.Params) {
	if s.Max > 0 {
		// Zero where !(x < Max): x ≤ the float32 below Max passes, NaN
		// does not. When the estimator copies, the mask applies to dy in
		// the same pass, and so does the estimator's own mask when it is
		// one interval of x (boundsEstimator).
		src, tlo, thi := dy, negInf, math.Nextafter32(s.Max, negInf)
		if !s.passesThrough(unclipped) {
			if elo, ehi, ok := s.passBounds(); ok {
				// min and max give NaN for an empty interval (NaN).
				PassGrad(dx, dy, x, max(tlo, elo), min(thi, ehi))
				return
			}
			s.estimatePass(dx, dy, x, shape, unclipped)
			src = dx
		}
		PassGrad(dx, src, x, tlo, thi)
		return
	}
	s.estimatePass(dx, dy, x, shape, unclipped)
}

// passBounds returns the interval of x where the estimator passes the
// gradient, when it is one interval for the whole tensor: an estimator
// that does not learn scales, is a boundsEstimator, and per-tensor
// parameters.
func (s *State) passBounds() (tlo, thi float32, ok bool) {
	e, ok := s.Estimator.(boundsEstimator)
	if !ok || e.LearnsScale() {
		return 0, 0, false
	}
	p := s.current()
	if p == nil || len(p.Scale) != 1 {
		return 0, 0, false
	}
	tlo, thi = e.PassBounds(p, 0)
	return tlo, thi, true
}

// passesThrough reports whether the estimator's gradient, given
// forwardPass's report unclipped (see backwardPass), is ∂L/∂r̂ itself:
// the node is disabled, the estimator is the identity, or it passes
// unclipped inputs unchanged and the current parameters are the ones
// with which nothing was clipped. ReLU6's mask (Max) is not part of it.
func (s *State) passesThrough(unclipped *quant.Params) bool {
	if !s.Enabled() {
		return true
	}
	if id, ok := s.Estimator.(identityEstimator); ok && id.Identity() && !id.LearnsScale() {
		return true // what its Backward writes; no parameters needed
	}
	if unclipped != nil && !s.Estimator.LearnsScale() && unclipped == s.current() {
		// A published parameter set is never modified, so the same
		// pointer is the same grid.
		if e, ok := s.Estimator.(unclippedPasser); ok && e.PassesUnclipped() {
			return true // what its Backward writes when nothing was clipped
		}
	}
	return false
}

// estimate applies the estimator: dx from dy and the input x.
func (s *State) estimate(dx, dy, x []float32, shape []int) {
	s.estimatePass(dx, dy, x, shape, nil)
}

// estimatePass is estimate given forwardPass's report (see backwardPass):
// when the current parameters are the ones with which nothing was
// clipped, an estimator that passes unclipped inputs unchanged copies.
func (s *State) estimatePass(dx, dy, x []float32, shape []int, unclipped *quant.Params) {
	if s.passesThrough(unclipped) {
		copy(dx, dy)
		return
	}
	p := s.current()
	l := quant.LayoutOf(p, shape)
	if s.Estimator.LearnsScale() && s.BiasOf == nil && s.MeanOf == nil {
		ds := make([]float64, len(p.Scale))
		s.Estimator.Backward(dx, dy, x, l, p, ds)
		s.mu.Lock()
		if len(s.dScale) != len(ds) {
			s.dScale = make([]float64, len(ds))
		}
		for i, v := range ds {
			s.dScale[i] += v
		}
		s.mu.Unlock()
		return
	}
	s.Estimator.Backward(dx, dy, x, l, p, nil)
}

// TakeScaleGrad returns and clears the accumulated ∂L/∂S (nil if none).
func (s *State) TakeScaleGrad() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.dScale
	s.dScale = nil
	return g
}

// StepScale applies a gradient step to the scales (learned step size):
// S ← max(S − Δ, MinScale).
func (s *State) StepScale(delta []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.params == nil || len(delta) != len(s.params.Scale) {
		return
	}
	p := s.params.Clone() // a new set: passes may hold the old one
	for i, d := range delta {
		v := float64(p.Scale[i]) - d
		if !(v >= quant.MinScale) || math.IsInf(v, 0) {
			v = quant.MinScale
		}
		p.Scale[i] = float32(v)
	}
	s.params = p
}
