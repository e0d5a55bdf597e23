package train

import (
	"fmt"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/ste"
	G "gorgonia.org/gorgonia"
)

// QAT is the quantizer of quantization-aware training and post-training
// quantization: one fakequant.State per slot of a model, and the schedule
// that switches them.
//
//	calibrate   fake-quant off, observers on, N float minibatches
//	fine-tune   fake-quant on, observers on (weights: current min/max;
//	            activations: the chosen observer) for FreezeAfter steps,
//	            then frozen; with LSQ the scales train instead
//	evaluate    fake-quant on, observers off
//
// Everything that decides the next step (parameters, observer statistics,
// step count, frozen flag, the learned scales' Adam moments) is in State,
// so a resumed run continues bit for bit.
type QAT struct {
	Cfg    QATConfig
	states map[string]*fakequant.State
	order  []string // slot names in model order
	slots  map[string]*nn.Slot

	steps    int // QAT steps taken
	frozen   bool
	training bool

	learnedScales bool // the estimator trains the scales (LSQ)
	scales        lsqScales
}

var (
	_ nn.Quantizer      = (*QAT)(nil)
	_ StatefulQuantizer = (*QAT)(nil)
	_ Modal             = (*QAT)(nil)
	_ StepHook          = (*QAT)(nil)
)

// NewQAT builds the quantizer of every slot of m.
func NewQAT(m *nn.Model, cfg QATConfig) (*QAT, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	est, err := ste.ByName(cfg.Estimator)
	if err != nil {
		return nil, err
	}
	actScheme := cfg.ActScheme.Scheme()
	q := &QAT{Cfg: cfg, states: map[string]*fakequant.State{}, slots: map[string]*nn.Slot{}, scales: lsqScales{},
		learnedScales: est.LearnsScale()}
	for _, s := range m.Slots {
		st := &fakequant.State{Name: s.Name, Estimator: est}
		switch s.Kind {
		case nn.Weight:
			st.Bits, st.Scheme, st.Axis = cfg.BitsW, fakequant.Symmetric, s.Axis
			if cfg.PerTensorWeights {
				st.Axis = -1
			}
			st.Observer = &calibrate.MinMax{Momentum: 1} // the current weights
		case nn.Activation:
			st.Bits, st.Scheme, st.Axis = cfg.BitsA, actScheme, -1
			if st.Observer, err = calibrate.New(cfg.Observer, cfg.BitsA, actScheme); err != nil {
				return nil, err
			}
		case nn.Bias:
			in, w := q.states[s.Input], q.states[s.Weight]
			if in == nil || w == nil {
				panic("train: bias slot " + s.Name + " before its input or weight slot")
			}
			st.Bits, st.Scheme, st.Axis = 32, fakequant.Symmetric, 0
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
					if o.Kind == nn.Activation && o.Layer == s.Layer {
						q.states[o.Name].AccOf = q.states[s.Name]
					}
				}
			}
		}
	}
	return q, nil
}

// Quantize implements nn.Quantizer: every slot gets a fake-quant node.
func (q *QAT) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	st, ok := q.states[s.Name]
	if !ok {
		return nil, fmt.Errorf("train: no quantizer for slot %s (model mismatch)", s.Name)
	}
	return fakequant.New(x, st)
}

// Slot returns the quantizer of a slot, or nil.
func (q *QAT) Slot(name string) *fakequant.State { return q.states[name] }

// Slots lists the slot names in model order.
func (q *QAT) Slots() []string { return q.order }

// Frozen reports whether the observers are frozen.
func (q *QAT) Frozen() bool { return q.frozen }

func (q *QAT) learnsScale(name string) bool {
	return q.learnedScales && q.slots[name].Kind != nn.Bias
}

// apply sets every state's switches from the schedule's phase.
func (q *QAT) apply(enabled bool) {
	for _, name := range q.order {
		st := q.states[name]
		st.SetEnabled(enabled)
		st.SetObserving(q.training && !q.frozen && !q.learnsScale(name) && st.BiasOf == nil)
	}
}

// SetTraining switches between training steps (observers may update) and
// evaluation (they do not).
func (q *QAT) SetTraining(on bool) {
	q.training = on
	q.apply(true)
}

// BeforeStep freezes the observers once FreezeAfter QAT steps have run.
// FreezeAfter 0 (one epoch) must have been resolved by Calibrate.
func (q *QAT) BeforeStep(int) error {
	if q.Cfg.FreezeAfter == 0 {
		return fmt.Errorf("train: QATConfig.FreezeAfter 0 means one epoch, which Calibrate resolves; calibrate first or set it")
	}
	if q.Cfg.FreezeAfter > 0 && q.steps >= q.Cfg.FreezeAfter && !q.frozen {
		q.Freeze()
	}
	q.steps++
	return nil
}

// Freeze stops every observer: the parameters stay as they are.
func (q *QAT) Freeze() {
	q.frozen = true
	q.apply(true)
}
