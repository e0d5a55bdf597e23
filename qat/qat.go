package qat

import (
	"errors"
	"fmt"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
)

// Quantizer is the quantizer of quantization-aware training and post-training
// quantization: one fakequant.State per slot of a model, and the schedule
// that switches them.
//
//	calibrate   fake-quant off, observers on, N float minibatches
//	fine-tune   fake-quant on, observers on (weights: current min/max;
//	            activations: the chosen observer) for FreezeAfter steps,
//	            then frozen; with LSQ the scales train instead; batch
//	            norm on batch statistics for FreezeBNAfter steps, then
//	            on its frozen running statistics (the folded form)
//	evaluate    fake-quant on, observers off, batch norm folded with
//	            its running statistics
//
// Residual additions and global average pools get the exact integer
// simulation of fakequant.NewAdd and NewMean (Quantizer is an nn.OpQuantizer),
// and a ReLU6 output the runtime's clamp (fakequant.State.Max).
//
// Everything that decides the next step (parameters, observer statistics,
// step count, frozen flag, the learned scales' Adam moments) is in State,
// so a resumed run continues bit for bit.
type Quantizer struct {
	Cfg    Config
	states map[string]*fakequant.State
	order  []string // slot names in model order
	slots  map[string]*nn.Slot

	model    *nn.Model
	steps    int // Quantizer steps taken
	frozen   bool
	training bool

	learnedScales bool // the estimator trains the scales (LSQ)
	scales        lsqScales
}

var (
	_ nn.Quantizer            = (*Quantizer)(nil)
	_ nn.OpQuantizer          = (*Quantizer)(nil)
	_ nn.MaxQuantizer         = (*Quantizer)(nil)
	_ nn.MaskQuantizer        = (*Quantizer)(nil)
	_ train.StatefulQuantizer = (*Quantizer)(nil)
	_ train.Modal             = (*Quantizer)(nil)
	_ train.StepHook          = (*Quantizer)(nil)
)

// ErrSlotOrder is the error of New for a model whose slots are out of
// order: a slot that derives its parameters from other slots (a bias, an
// addition, a mean) comes before them.
var ErrSlotOrder = errors.New("slots out of order")

// New builds the quantizer of every slot of m. A model whose slots are out
// of order is an error (ErrSlotOrder).
func New(m *nn.Model, cfg Config) (*Quantizer, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkSlotBits(m); err != nil {
		return nil, err
	}
	est, err := ste.ByName(cfg.Estimator)
	if err != nil {
		return nil, err
	}
	actScheme := cfg.ActScheme.Scheme()
	q := &Quantizer{Cfg: cfg, states: map[string]*fakequant.State{}, slots: map[string]*nn.Slot{}, scales: lsqScales{},
		learnedScales: est.LearnsScale(), model: m}
	for _, s := range m.Slots {
		st := &fakequant.State{Name: s.Name, Estimator: est}
		switch s.Kind {
		case nn.Weight:
			st.Bits, st.Scheme, st.Axis = cfg.Bits(s), quant.Symmetric, s.Axis
			if cfg.PerTensorWeights {
				st.Axis = -1
			}
			st.Observer = &calibrate.MinMax{Momentum: 1} // the current weights
		case nn.Activation:
			st.Bits, st.Scheme, st.Axis = cfg.Bits(s), actScheme, -1
			st.Max = s.Max
			if s.MeanOf != "" {
				// A global average pool keeps its input's parameters.
				if st.MeanOf = q.states[s.MeanOf]; st.MeanOf == nil {
					return nil, fmt.Errorf("qat: mean slot %s before its input slot %s: %w", s.Name, s.MeanOf, ErrSlotOrder)
				}
				st.Bits = st.MeanOf.Bits
				break
			}
			if s.Add != [2]string{} {
				a, b := q.states[s.Add[0]], q.states[s.Add[1]]
				if a == nil || b == nil {
					return nil, fmt.Errorf("qat: addition slot %s before its summands' slots %v: %w", s.Name, s.Add, ErrSlotOrder)
				}
				st.Add, st.ReLU = &[2]*fakequant.State{a, b}, s.ReLU
			}
			if st.Observer, err = calibrate.New(cfg.Observer, st.Bits, actScheme); err != nil {
				return nil, err
			}
		case nn.Bias:
			in, w := q.states[s.Input], q.states[s.Weight]
			if in == nil || w == nil {
				return nil, fmt.Errorf("qat: bias slot %s before its input slot %s or weight slot %s: %w", s.Name, s.Input, s.Weight, ErrSlotOrder)
			}
			st.Bits, st.Scheme, st.Axis = 32, quant.Symmetric, 0
			st.BiasOf = &[2]*fakequant.State{in, w}
			st.Estimator = ste.STE{}
		}
		q.states[s.Name] = st
		q.slots[s.Name] = s
		q.order = append(q.order, s.Name)
	}
	if !cfg.FloatRequant {
		for _, s := range m.Slots {
			if s.Kind == nn.Bias {
				for _, o := range m.Slots {
					if o.Kind == nn.Activation && o.Layer == s.Layer && o.MeanOf == "" && o.Add == [2]string{} {
						q.states[o.Name].AccOf = q.states[s.Name]
					}
				}
			}
		}
	}
	return q, nil
}

// Quantize implements nn.Quantizer: every slot gets a fake-quant node.
func (q *Quantizer) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	st, ok := q.states[s.Name]
	if !ok {
		return nil, fmt.Errorf("qat: no quantizer for slot %s (model mismatch)", s.Name)
	}
	return fakequant.New(x, st)
}

// QuantizeMasked implements nn.MaskQuantizer: Quantize, the node leaving
// its gradient mask to the batch normalization before it when it can
// (fakequant.NewMasked).
func (q *Quantizer) QuantizeMasked(s *nn.Slot, x *G.Node, extremes func([]float32) (float32, float32, bool)) (*G.Node, func() (float32, bool), error) {
	st, ok := q.states[s.Name]
	if !ok {
		return nil, nil, fmt.Errorf("qat: no quantizer for slot %s (model mismatch)", s.Name)
	}
	if !fuseMask {
		n, err := fakequant.New(x, st)
		return n, nil, err
	}
	if hook := onExtremes; hook != nil && extremes != nil {
		inner := extremes
		extremes = func(x []float32) (float32, float32, bool) {
			lo, hi, ok := inner(x)
			hook(ok)
			return lo, hi, ok
		}
	}
	n, take, err := fakequant.NewMasked(x, st, extremes)
	if hook := onMask; hook != nil && take != nil {
		inner := take
		take = func() (float32, bool) {
			thi, ok := inner()
			hook(thi, ok)
			return thi, ok
		}
	}
	return n, take, err
}

// fuseMask lets QuantizeMasked leave masks and the observers' scans to
// the batch normalization; tests turn it off to compare with the
// quantizer's own passes, and watch the handovers with onMask and
// onExtremes (set before the graphs are built).
var (
	fuseMask   = true
	onMask     func(thi float32, ok bool)
	onExtremes func(ok bool)
)

// QuantizeAdd implements nn.OpQuantizer: the residual addition a + b at
// slot s, simulated exactly (fakequant.NewAdd).
func (q *Quantizer) QuantizeAdd(s *nn.Slot, a, b *G.Node) (*G.Node, error) {
	st, ok := q.states[s.Name]
	if !ok || st.Add == nil {
		return nil, fmt.Errorf("qat: no addition quantizer for slot %s (model mismatch)", s.Name)
	}
	return fakequant.NewAdd(a, b, st)
}

// QuantizeMean implements nn.OpQuantizer: the global average pool of x at
// slot s, with the integer runtime's rounded mean (fakequant.NewMean).
func (q *Quantizer) QuantizeMean(s *nn.Slot, x *G.Node) (*G.Node, error) {
	st, ok := q.states[s.Name]
	if !ok || st.MeanOf == nil {
		return nil, fmt.Errorf("qat: no mean quantizer for slot %s (model mismatch)", s.Name)
	}
	return fakequant.NewMean(x, st)
}

// derived reports whether a state's parameters come from other states (a
// bias, a mean): it has no observer and no saved parameters.
func derived(st *fakequant.State) bool { return st.BiasOf != nil || st.MeanOf != nil }

// ClampsMax implements nn.MaxQuantizer: an activation state with Max set
// (ReLU6) clamps on the integer grid (fakequant.State.Max).
func (q *Quantizer) ClampsMax() bool { return true }

// Slot returns the quantizer of a slot, or nil.
func (q *Quantizer) Slot(name string) *fakequant.State { return q.states[name] }

// Slots lists the slot names in model order.
func (q *Quantizer) Slots() []string { return q.order }

// Frozen reports whether the observers are frozen.
func (q *Quantizer) Frozen() bool { return q.frozen }

func (q *Quantizer) learnsScale(name string) bool {
	return q.learnedScales && !derived(q.states[name])
}

// apply sets every state's switches from the schedule's phase.
func (q *Quantizer) apply(enabled bool) {
	for _, name := range q.order {
		st := q.states[name]
		st.SetEnabled(enabled)
		st.SetObserving(q.training && !q.frozen && !q.learnsScale(name) && !derived(st))
	}
}

// SetTraining switches between training steps (observers may update) and
// evaluation (they do not).
func (q *Quantizer) SetTraining(on bool) {
	q.training = on
	q.apply(true)
}

// BeforeStep freezes the observers once FreezeAfter QAT steps have run,
// and batch normalization's statistics once FreezeBNAfter have.
// FreezeAfter and FreezeBNAfter 0 (one epoch) must have been resolved by
// Calibrate.
func (q *Quantizer) BeforeStep(int) error {
	if q.Cfg.FreezeAfter == 0 || q.Cfg.FreezeBNAfter == 0 {
		return fmt.Errorf("qat: Config.FreezeAfter or FreezeBNAfter 0 means one epoch, which Calibrate resolves; calibrate first or set them")
	}
	if q.Cfg.FreezeAfter > 0 && q.steps >= q.Cfg.FreezeAfter && !q.frozen {
		q.Freeze()
	}
	if q.Cfg.FreezeBNAfter > 0 && q.steps >= q.Cfg.FreezeBNAfter && q.model != nil && !q.model.BNFrozen() {
		q.model.SetBNFrozen(true)
	}
	q.steps++
	return nil
}

// Freeze stops every observer: the parameters stay as they are.
func (q *Quantizer) Freeze() {
	q.frozen = true
	q.apply(true)
}
