package train

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/ste"
	G "gorgonia.org/gorgonia"
)

// QATConfig says how a model is quantized. The zero value of each field
// means the documented default.
type QATConfig struct {
	BitsW int `json:"bits_w"` // weight bits, [2, 8]; default 8
	BitsA int `json:"bits_a"` // activation bits, [2, 16]; default 8
	// ActScheme is "symmetric" (signed, Z = 0; default) or "affine" (uint8 with zero point).
	ActScheme string `json:"act_scheme"`
	// PerTensorWeights uses one weight scale per layer instead of one per output channel.
	PerTensorWeights bool `json:"per_tensor_weights"`
	// Observer is the activation observer: minmax, ema (default), percentile or mse.
	// Weights are always observed by their current per-channel min/max.
	Observer string `json:"observer"`
	// Estimator is the backward pass: ste, clipped (default) or lsq.
	Estimator string `json:"estimator"`
	// CalibBatches is the number of training minibatches run for calibration; default 32.
	CalibBatches int `json:"calib_batches"`
	// FreezeAfter is the number of QAT steps after which observers are
	// frozen; 0 means one epoch, −1 never.
	FreezeAfter int `json:"freeze_after"`
	// FloatRequant makes layer outputs round y/S directly instead of
	// requantizing like the integer runtime (fakequant.RequantFakeQuantize);
	// the simulation then differs from the runtime by up to one LSB.
	FloatRequant bool `json:"float_requant,omitempty"`
}

// Defaults returns c with zero fields set to their defaults.
func (c QATConfig) Defaults() QATConfig {
	if c.BitsW == 0 {
		c.BitsW = 8
	}
	if c.BitsA == 0 {
		c.BitsA = 8
	}
	if c.ActScheme == "" {
		c.ActScheme = "symmetric"
	}
	if c.Observer == "" {
		c.Observer = "ema"
	}
	if c.Estimator == "" {
		c.Estimator = "clipped"
	}
	if c.CalibBatches == 0 {
		c.CalibBatches = 32
	}
	return c
}

// Validate reports settings that cannot work.
func (c QATConfig) Validate() error {
	if c.BitsW < 2 || c.BitsW > 8 {
		return fmt.Errorf("train: weight bits must be in [2, 8], got %d", c.BitsW)
	}
	if c.BitsA < 2 || c.BitsA > 16 {
		return fmt.Errorf("train: activation bits must be in [2, 16], got %d", c.BitsA)
	}
	if c.ActScheme != "symmetric" && c.ActScheme != "affine" {
		return fmt.Errorf("train: activation scheme must be symmetric or affine, got %q", c.ActScheme)
	}
	if !slices.Contains(calibrate.Kinds, c.Observer) {
		return fmt.Errorf("train: unknown observer %q (known: %v)", c.Observer, calibrate.Kinds)
	}
	if !slices.Contains(ste.Names, c.Estimator) {
		return fmt.Errorf("train: unknown estimator %q (known: %v)", c.Estimator, ste.Names)
	}
	if c.CalibBatches < 1 {
		return fmt.Errorf("train: calibration needs at least 1 batch, got %d", c.CalibBatches)
	}
	if c.FreezeAfter < -1 {
		return fmt.Errorf("train: freeze-after must be ≥ −1, got %d", c.FreezeAfter)
	}
	return nil
}

// QAT is the quantizer of quantization-aware training and post-training
// quantization: one fakequant.State per slot of a model, and the schedule
// that switches them.
//
//	calibrate   fake-quant off, observers on, N float minibatches
//	fine-tune   fake-quant on, observers on (weights: current min/max;
//	            activations: the chosen observer) for FreezeAfter steps,
//	            then frozen; with LSQ the scales train instead
//	evaluate    fake-quant on, observers off
type QAT struct {
	Cfg    QATConfig
	states map[string]*fakequant.State
	order  []string // slot names in model order
	slots  map[string]*nn.Slot

	steps    int // QAT steps taken
	frozen   bool
	training bool

	scaleOpt map[string]*scaleAdam
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
	actScheme := fakequant.Symmetric
	if cfg.ActScheme == "affine" {
		actScheme = fakequant.Affine
	}
	q := &QAT{Cfg: cfg, states: map[string]*fakequant.State{}, slots: map[string]*nn.Slot{}, scaleOpt: map[string]*scaleAdam{}}
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

func (q *QAT) learnsScale(name string) bool {
	return q.Cfg.Estimator == "lsq" && q.slots[name].Kind != nn.Bias
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

// Calibrate runs up to CalibBatches shuffled minibatches of set through the
// float model to record ranges, then sets every slot's parameters and turns
// fake quantization on. It errors on NaN or Inf and when no sample was seen.
func (q *QAT) Calibrate(m *nn.Model, set *datasets.Set, batch int, seed uint64) error {
	for _, name := range q.order {
		st := q.states[name]
		st.SetEnabled(false)
		if st.Observer != nil {
			st.Observer.Reset()
		}
		st.SetObserving(st.BiasOf == nil)
	}
	p := nn.NewPredictor(m, q)
	defer p.Close()
	bt := datasets.NewBatcher(set, batch, true, seed)
	x := make([]float32, batch*set.Size())
	labels := make([]int, batch)
	logits := make([]float32, batch*m.Classes)
	seen := 0
	for b := 0; b < q.Cfg.CalibBatches; b++ {
		n := bt.Next(x, labels)
		if n == 0 {
			break
		}
		if err := p.Logits(logits, x, n); err != nil {
			return fmt.Errorf("train: calibration: %w", err)
		}
		seen += n
	}
	if seen == 0 {
		return fmt.Errorf("train: calibration saw no samples")
	}
	for _, name := range q.order {
		st := q.states[name]
		if st.BiasOf != nil {
			continue
		}
		if err := st.UpdateFromObserver(); err != nil {
			return fmt.Errorf("train: calibration: %w", err)
		}
	}
	q.frozen = false
	q.training = false
	q.apply(true)
	return nil
}

// BeforeStep freezes the observers once FreezeAfter QAT steps have run.
func (q *QAT) BeforeStep(int) error {
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

// AfterStep trains the scales with LSQ: Adam on ∂L/∂S with the weights' rate.
func (q *QAT) AfterStep(lr float64) {
	if q.Cfg.Estimator != "lsq" {
		return
	}
	for _, name := range q.order {
		if !q.learnsScale(name) {
			continue
		}
		st := q.states[name]
		g := st.TakeScaleGrad()
		if g == nil {
			continue
		}
		a := q.scaleOpt[name]
		if a == nil {
			a = &scaleAdam{m: make([]float64, len(g)), v: make([]float64, len(g))}
			q.scaleOpt[name] = a
		}
		st.StepScale(a.delta(g, lr*0.1, st.Params().Scale))
	}
}

// scaleAdam is Adam for the scales; the step is relative to each scale so
// that layers of very different scales train alike.
type scaleAdam struct {
	m, v []float64
	t    float64
}

func (a *scaleAdam) delta(g []float64, lr float64, scale []float32) []float64 {
	a.t++
	c1, c2 := 1-math.Pow(0.9, a.t), 1-math.Pow(0.999, a.t)
	d := make([]float64, len(g))
	for i, gi := range g {
		a.m[i] = 0.9*a.m[i] + 0.1*gi
		a.v[i] = 0.999*a.v[i] + 0.001*gi*gi
		d[i] = lr * float64(scale[i]) * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + 1e-12)
	}
	return d
}

// qatMeta is the JSON metadata of a QAT checkpoint.
type qatMeta struct {
	Cfg    QATConfig `json:"config"`
	Steps  int       `json:"steps"`
	Frozen bool      `json:"frozen"`
}

// State implements StatefulQuantizer: each slot's scales and zero points.
func (q *QAT) State() (map[string][]float32, string) {
	ts := map[string][]float32{}
	for _, name := range q.order {
		st := q.states[name]
		if st.BiasOf != nil {
			continue
		}
		p := st.Params()
		if p == nil {
			continue
		}
		ts[name+".scale"] = slices.Clone(p.Scale)
		z := make([]float32, len(p.Zero))
		for i, v := range p.Zero {
			z[i] = float32(v)
		}
		ts[name+".zero"] = z
	}
	meta, _ := json.Marshal(qatMeta{Cfg: q.Cfg, Steps: q.steps, Frozen: q.frozen})
	return ts, string(meta)
}

// SetState implements StatefulQuantizer.
func (q *QAT) SetState(ts map[string][]float32, meta string) error {
	var m qatMeta
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return fmt.Errorf("train: bad quantizer state: %v", err)
	}
	for _, name := range q.order {
		st := q.states[name]
		if st.BiasOf != nil {
			continue
		}
		sc, zf := ts[name+".scale"], ts[name+".zero"]
		if sc == nil || len(sc) != len(zf) {
			return fmt.Errorf("train: checkpoint has no quantizer parameters for %s", name)
		}
		p := &fakequant.Params{Bits: st.Bits, Scheme: st.Scheme, Axis: st.Axis, Scale: slices.Clone(sc), Zero: make([]int32, len(zf))}
		for i, v := range zf {
			p.Zero[i] = int32(v)
		}
		if err := st.SetParams(p); err != nil {
			return fmt.Errorf("train: checkpoint quantizer state: %w", err)
		}
	}
	q.steps, q.frozen = m.Steps, m.Frozen
	q.apply(true)
	return nil
}

// LoadQAT rebuilds the model and quantizer of a QAT or PTQ checkpoint.
func LoadQAT(c *Checkpoint) (*nn.Model, *QAT, error) {
	if c.Quant == nil {
		return nil, nil, fmt.Errorf("train: the checkpoint is a float model (phase %q); run ptq or qat first", c.Phase)
	}
	var meta qatMeta
	if err := json.Unmarshal([]byte(c.QuantMeta), &meta); err != nil {
		return nil, nil, fmt.Errorf("train: bad quantizer metadata: %v", err)
	}
	m, err := c.Model()
	if err != nil {
		return nil, nil, err
	}
	q, err := NewQAT(m, meta.Cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := q.SetState(c.Quant, c.QuantMeta); err != nil {
		return nil, nil, err
	}
	return m, q, nil
}
