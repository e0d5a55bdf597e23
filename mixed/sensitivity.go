package mixed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
	G "gorgonia.org/gorgonia"
)

// Default candidates.
var (
	DefaultWeightBits = []int{2, 3, 4, 6, 8}
	DefaultActBits    = []int{4, 8}
)

// Options are the settings of a sensitivity pass. Each field's zero
// value means the default written beside it.
type Options struct {
	// WeightBits are the candidates of weight slots, in [2, 8]; nil:
	// DefaultWeightBits.
	WeightBits []int
	// ActBits are the candidates of activation slots, in [2, 8]; nil:
	// DefaultActBits; empty and not nil: activations are not measured.
	ActBits []int
	// Batch is the batch size; 0: 128 (the set's size if smaller).
	Batch int
	// Batches is the number of calibration batches the loss increases
	// are measured on; 0: 16.
	Batches int
	// HessianBatches is the number of those batches (the first ones) the
	// Hessian traces are estimated on; 0: 4.
	HessianBatches int
	// Probes is the number of Hutchinson vectors; 0: 16.
	Probes int
	// Seed draws the calibration batches and the probe vectors.
	Seed uint64
	// Observer and ActScheme quantize activations as the QAT run will
	// (qat.Config's defaults for "").
	Observer  calibrate.Kind
	ActScheme qat.ActScheme
	// Norm normalizes the input as the model was trained (nil: none).
	Norm *datasets.Norm
	// Engine runs the loss probes' forward passes; "": EngineInfer,
	// falling back to EngineGorgonia for a network the float runtime
	// cannot run.
	Engine Engine
	// Progress, if not nil, receives a line per finished step.
	Progress func(string)
}

func (o Options) defaults() Options {
	if o.WeightBits == nil {
		o.WeightBits = DefaultWeightBits
	}
	if o.ActBits == nil {
		o.ActBits = DefaultActBits
	}
	if o.Batch == 0 {
		o.Batch = 128
	}
	if o.Batches == 0 {
		o.Batches = 16
	}
	if o.HessianBatches == 0 {
		o.HessianBatches = 4
	}
	if o.Probes == 0 {
		o.Probes = 16
	}
	if o.Observer == "" {
		o.Observer = calibrate.KindEMA
	}
	if o.ActScheme == "" {
		o.ActScheme = qat.ActSymmetric
	}
	return o
}

func (o Options) validate() error {
	for _, b := range o.WeightBits {
		if b < 2 || b > 8 {
			return fmt.Errorf("mixed: weight candidate %d bits outside [2, 8]", b)
		}
	}
	for _, b := range o.ActBits {
		if b < 2 || b > 8 {
			return fmt.Errorf("mixed: activation candidate %d bits outside [2, 8]", b)
		}
	}
	if len(o.WeightBits) == 0 {
		return errors.New("mixed: no weight candidates")
	}
	if o.Engine != "" && o.Engine != EngineInfer && o.Engine != EngineGorgonia {
		return fmt.Errorf("mixed: unknown loss engine %q (known: %s, %s)", o.Engine, EngineInfer, EngineGorgonia)
	}
	if o.Batch < 1 || o.Batches < 1 || o.HessianBatches < 1 || o.Probes < 1 {
		return fmt.Errorf("mixed: batch %d, batches %d, Hessian batches %d and probes %d must be at least 1", o.Batch, o.Batches, o.HessianBatches, o.Probes)
	}
	return nil
}

// Candidate is one slot at one bit-width.
type Candidate struct {
	Bits int `json:"bits"`
	// LossDelta is the loss increase with only this slot quantized.
	LossDelta float64 `json:"loss_delta"`
	// QuantErr is ‖Q(x) − x‖²: of the weights, or of one batch of
	// activations (averaged over the calibration batches).
	QuantErr float64 `json:"quant_err"`
	// HAWQ is Tr(H)/n · QuantErr (HAWQ-V2's Ω).
	HAWQ float64 `json:"hawq"`
}

// Slot is the sensitivity of one quantizable slot.
type Slot struct {
	Name string `json:"name"`
	// Weight is true for a weight slot, false for an activation.
	Weight bool `json:"weight"`
	// Elems is the weight count, or the activation's elements per sample.
	Elems int `json:"elems"`
	// Trace is the Hutchinson estimate of Tr(H) of the slot's block: of
	// the loss (mean over a batch) with respect to the weights, or to one
	// batch of the activation.
	Trace float64 `json:"trace"`
	// RMS is the root mean square of the float tensor.
	RMS        float64     `json:"rms"`
	Candidates []Candidate `json:"candidates"`
}

// Candidate returns the slot's candidate of b bits, or nil.
func (s *Slot) Candidate(b int) *Candidate {
	for i := range s.Candidates {
		if s.Candidates[i].Bits == b {
			return &s.Candidates[i]
		}
	}
	return nil
}

// Sensitivity is the result of Measure.
type Sensitivity struct {
	Arch      string  `json:"arch"`
	FloatLoss float64 `json:"float_loss"`
	// Samples and HessianSamples are the images the loss increases and
	// the traces were measured on.
	Samples        int    `json:"samples"`
	HessianSamples int    `json:"hessian_samples"`
	Batch          int    `json:"batch"`
	Probes         int    `json:"probes"`
	Slots          []Slot `json:"slots"`
	// LossEngine is the engine that ran the loss probes (Options.Engine).
	LossEngine     Engine  `json:"loss_engine"`
	LossSeconds    float64 `json:"loss_seconds"`
	HessianSeconds float64 `json:"hessian_seconds"`
	Seconds        float64 `json:"seconds"`
}

// Slot returns the named slot, or nil.
func (s *Sensitivity) Slot(name string) *Slot {
	for i := range s.Slots {
		if s.Slots[i].Name == name {
			return &s.Slots[i]
		}
	}
	return nil
}

// batch is one calibration batch held in memory.
type batch struct {
	x      []float32
	labels []int
}

// Measure runs the sensitivity pass of float model m on batches of set
// (normally training images): for every weight slot and every activation
// slot that qat.Config.SlotBits can set, and every candidate, the loss
// increase and the HAWQ-V2 measure (package documentation). The model is
// left as it was.
func Measure(ctx context.Context, m *nn.Model, set *datasets.Set, opt Options) (*Sensitivity, error) {
	start := time.Now()
	opt = opt.defaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if set.C != m.In.C || set.H != m.In.H || set.W != m.In.W {
		return nil, fmt.Errorf("mixed: the data is %dx%dx%d, the model takes %v", set.C, set.H, set.W, m.In)
	}
	lw, err := m.Lower()
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	opt.Batch = min(opt.Batch, set.N)
	opt.Batches = max(1, min(opt.Batches, set.N/opt.Batch))
	opt.HessianBatches = min(opt.HessianBatches, opt.Batches)
	bs, err := loadBatches(set, opt)
	if err != nil {
		return nil, err
	}
	res := &Sensitivity{Arch: m.Arch, Samples: opt.Batch * opt.Batches, HessianSamples: opt.Batch * opt.HessianBatches,
		Batch: opt.Batch, Probes: opt.Probes}
	pr, units, err := newProbe(m, lw, opt, res)
	if err != nil {
		return nil, err
	}
	note := func(format string, args ...any) {
		if opt.Progress != nil {
			opt.Progress(fmt.Sprintf(format, args...))
		}
	}
	if err := losses(ctx, m, lw, bs, opt, res, pr, units, note); err != nil {
		return nil, err
	}
	res.LossSeconds = time.Since(start).Seconds()
	hs := time.Now()
	if err := traces(ctx, m, lw, bs[:opt.HessianBatches], res, opt); err != nil {
		return nil, err
	}
	res.HessianSeconds = time.Since(hs).Seconds()
	for i := range res.Slots {
		s := &res.Slots[i]
		n := float64(s.Elems)
		if !s.Weight {
			n *= float64(opt.Batch)
		}
		for j := range s.Candidates {
			s.Candidates[j].HAWQ = s.Trace / n * s.Candidates[j].QuantErr
		}
	}
	res.Seconds = time.Since(start).Seconds()
	note("sensitivity: %d slots in %.1fs (losses %.1fs, Hessian traces %.1fs)", len(res.Slots), res.Seconds, res.LossSeconds, res.HessianSeconds)
	return res, nil
}

// gorgoniaLosses measures the float loss, the candidates' quantization
// errors and the loss increases of res's slots with a Gorgonia predictor
// of m through pr (EngineGorgonia): two float passes, then one pass of
// the whole network per slot and candidate.
func gorgoniaLosses(ctx context.Context, m *nn.Model, bs []batch, opt Options, res *Sensitivity, pr *probe, units map[string]*nn.Unit, note func(string, ...any)) error {
	var err error
	p := nn.NewPredictor(m, pr)
	defer p.Close()
	// Pass 1: float loss; the activation observers calibrate.
	if res.FloatLoss, err = meanLoss(ctx, p, m.Classes, bs); err != nil {
		return err
	}
	// Pass 2: float again, each activation recorder measuring the error
	// of every candidate with the calibrated range.
	for _, r := range pr.recorders {
		if err := r.start(opt.ActBits); err != nil {
			return err
		}
	}
	if _, err := meanLoss(ctx, p, m.Classes, bs); err != nil {
		return err
	}
	if err := fillCandidates(res, pr, units, opt); err != nil {
		return err
	}
	// Pass 3: one slot and one candidate at a time.
	for i := range res.Slots {
		s := &res.Slots[i]
		st := pr.states[s.Name]
		for j := range s.Candidates {
			c := &s.Candidates[j]
			st.Bits = c.Bits
			if !s.Weight {
				if err := st.UpdateFromObserver(); err != nil {
					return fmt.Errorf("mixed: %w", err)
				}
			}
			st.SetEnabled(true)
			l, err := meanLoss(ctx, p, m.Classes, bs)
			st.SetEnabled(false)
			if err != nil {
				return err
			}
			c.LossDelta = l - res.FloatLoss
		}
		note("sensitivity: %s measured", s.Name)
	}
	return nil
}

// fillCandidates lists each slot's candidates with their quantization
// errors (pass 2 done: the recorders hold the activations') and the
// slot's RMS, and stops the recorders.
func fillCandidates(res *Sensitivity, pr *probe, units map[string]*nn.Unit, opt Options) error {
	for i := range res.Slots {
		s := &res.Slots[i]
		st := pr.states[s.Name]
		if s.Weight {
			s.RMS = rms(units[s.Name].W.Data())
			errs, err := weightErrors(units[s.Name], st.Axis, opt.WeightBits)
			if err != nil {
				return err
			}
			for _, b := range opt.WeightBits {
				s.Candidates = append(s.Candidates, Candidate{Bits: b, QuantErr: errs[b]})
			}
			continue
		}
		r := pr.recorders[s.Name]
		r.measuring = false
		st.SetObserving(false)
		s.RMS = math.Sqrt(r.sq / float64(r.n))
		for _, b := range opt.ActBits {
			s.Candidates = append(s.Candidates, Candidate{Bits: b, QuantErr: r.errs[b] / float64(opt.Batches)})
		}
	}
	return nil
}

// loadBatches draws opt.Batches full batches of set.
func loadBatches(set *datasets.Set, opt Options) ([]batch, error) {
	bt := datasets.NewBatcher(set, opt.Batch, true, opt.Seed)
	if opt.Norm != nil {
		if err := bt.SetNorm(*opt.Norm); err != nil {
			return nil, fmt.Errorf("mixed: %w", err)
		}
	}
	var bs []batch
	for len(bs) < opt.Batches {
		b := batch{x: make([]float32, opt.Batch*set.Size()), labels: make([]int, opt.Batch)}
		if n := bt.Next(b.x, b.labels); n < opt.Batch {
			break
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("mixed: the data has no full batch of %d images", opt.Batch)
	}
	return bs, nil
}

// probe is the quantizer of the sensitivity pass: a state for every
// measured slot, all off unless one is switched on.
type probe struct {
	states    map[string]*fakequant.State
	recorders map[string]*recorder
}

func (p *probe) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	st, ok := p.states[s.Name]
	if !ok {
		return x, nil
	}
	return fakequant.New(x, st)
}

// newProbe builds the states and lists the slots in res (model order);
// units maps a weight slot to its unit.
func newProbe(m *nn.Model, lw *nn.Lowered, opt Options, res *Sensitivity) (*probe, map[string]*nn.Unit, error) {
	pr := &probe{states: map[string]*fakequant.State{}, recorders: map[string]*recorder{}}
	units := map[string]*nn.Unit{}
	elems := map[string]int{"input": m.In.Size()}
	for i := range lw.Units {
		u := &lw.Units[i]
		if u.Kind.Weighted() {
			units[u.WeightSlot] = u
		}
		if u.OwnsOut() && u.OutSlot != "" {
			n := 1
			for _, d := range u.Out {
				n *= d
			}
			elems[u.OutSlot] = n
		}
	}
	scheme := opt.ActScheme.Scheme()
	for _, s := range m.Slots {
		switch {
		case s.Kind == nn.Weight:
			u := units[s.Name]
			if u == nil {
				return nil, nil, fmt.Errorf("mixed: weight slot %s belongs to no weighted unit", s.Name)
			}
			st := &fakequant.State{Name: s.Name, Bits: 8, Scheme: quant.Symmetric, Axis: s.Axis, Estimator: ste.STE{},
				Observer: &calibrate.MinMax{Momentum: 1}}
			st.SetObserving(true)
			pr.states[s.Name] = st
			res.Slots = append(res.Slots, Slot{Name: s.Name, Weight: true, Elems: u.W.Value.Size()})
		case s.Kind == nn.Activation && s.MeanOf == "" && len(opt.ActBits) > 0:
			obs, err := calibrate.New(opt.Observer, 8, scheme)
			if err != nil {
				return nil, nil, fmt.Errorf("mixed: %w", err)
			}
			r := &recorder{inner: obs, scheme: scheme}
			st := &fakequant.State{Name: s.Name, Bits: 8, Scheme: scheme, Axis: -1, Estimator: ste.STE{}, Observer: r}
			st.SetObserving(true)
			pr.states[s.Name], pr.recorders[s.Name] = st, r
			if elems[s.Name] == 0 {
				return nil, nil, fmt.Errorf("mixed: activation slot %s has no unit of its own", s.Name)
			}
			res.Slots = append(res.Slots, Slot{Name: s.Name, Elems: elems[s.Name]})
		}
	}
	return pr, units, nil
}

// recorder is an activation observer: while calibrating it passes what
// it sees to the chosen observer; while measuring it adds, for each
// candidate, ‖Q(x) − x‖² with the calibrated range, and keeps the range.
type recorder struct {
	inner     fakequant.Observer
	scheme    quant.Scheme
	measuring bool
	params    map[int]*quant.Params
	errs      map[int]float64
	sq        float64 // Σx² while measuring
	n         int
	buf       []float32
}

// start switches to measuring the candidates' errors.
func (r *recorder) start(bits []int) error {
	lo, hi, err := r.inner.Range()
	if err != nil {
		return err
	}
	r.params, r.errs = map[int]*quant.Params{}, map[int]float64{}
	for _, b := range bits {
		if r.params[b], err = quant.FromRanges(b, r.scheme, -1, lo, hi); err != nil {
			return err
		}
	}
	r.measuring = true
	return nil
}

func (r *recorder) Observe(x []float32, shape []int, axis int) error {
	if !r.measuring {
		return r.inner.Observe(x, shape, axis)
	}
	r.buf = slices.Grow(r.buf[:0], len(x))[:len(x)]
	for b, p := range r.params {
		quant.FakeQuantize(r.buf, x, shape, p)
		var e float64
		for i, v := range x {
			d := float64(r.buf[i]) - float64(v)
			e += d * d
		}
		r.errs[b] += e
	}
	for _, v := range x {
		r.sq += float64(v) * float64(v)
	}
	r.n += len(x)
	return nil
}

func (r *recorder) Range() ([]float32, []float32, error) { return r.inner.Range() }
func (r *recorder) Reset()                               { r.inner.Reset() }

// meanLoss is the mean cross-entropy of p over the batches.
func meanLoss(ctx context.Context, p *nn.Predictor, classes int, bs []batch) (float64, error) {
	var sum float64
	var n int
	logits := make([]float32, len(bs[0].labels)*classes)
	for _, b := range bs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k := len(b.labels)
		if err := p.Logits(logits, b.x, k); err != nil {
			return 0, fmt.Errorf("mixed: %w", err)
		}
		sum = addLosses(sum, logits, b.labels, classes)
		n += k
	}
	return sum / float64(n), nil
}

// addLosses adds to sum the cross-entropy of each sample of logits (one
// row of classes per label), in order.
func addLosses(sum float64, logits []float32, labels []int, classes int) float64 {
	for i, y := range labels {
		z := logits[i*classes : (i+1)*classes]
		mx := float64(slices.Max(z))
		var s float64
		for _, v := range z {
			s += math.Exp(float64(v) - mx)
		}
		sum += mx + math.Log(s) - float64(z[y])
	}
	return sum
}

// weightErrors is ‖Q_b(W) − W‖² for each candidate b, in the coordinates
// of the weight parameter: the folded weight's error, divided by the
// square of its channel's batch-norm scale when the unit has one.
func weightErrors(u *nn.Unit, axis int, bits []int) (map[int]float64, error) {
	wf, shape, grids, err := weightGrids(u, axis, bits)
	if err != nil {
		return nil, err
	}
	var inv2 []float64 // 1/s² per channel
	if u.BN != nil {
		g, v := u.BN.Gamma.Data(), u.BN.Var.Data()
		inv2 = make([]float64, len(g))
		for c := range g {
			s := float64(g[c]) / math.Sqrt(float64(v[c])+float64(u.BN.Eps))
			inv2[c] = 1 / max(s*s, 1e-30)
		}
	}
	out := map[int]float64{}
	q := make([]float32, len(wf))
	for _, b := range bits {
		p := grids[b]
		quant.FakeQuantize(q, wf, shape, p)
		l := quant.LayoutOf(p, shape)
		var e float64
		for i, v := range wf {
			d := float64(q[i]) - float64(v)
			if inv2 != nil {
				d *= d * inv2[l.Channel(i)]
			} else {
				d *= d
			}
			e += d
		}
		out[b] = e
	}
	return out, nil
}

func rms(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s / float64(max(len(v), 1)))
}

// weightGrids is u's folded weight (shape: the weight parameter's), and
// for each candidate b the grid QAT quantizes it on: symmetric, per
// channel along axis, the range its own min and max.
func weightGrids(u *nn.Unit, axis int, bits []int) ([]float32, []int, map[int]*quant.Params, error) {
	wf, _ := u.Fold()
	shape := u.W.Value.Shape()
	obs := &calibrate.MinMax{Momentum: 1}
	if err := obs.Observe(wf, shape, axis); err != nil {
		return nil, nil, nil, fmt.Errorf("mixed: %s: %w", u.Name, err)
	}
	lo, hi, err := obs.Range()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mixed: %s: %w", u.Name, err)
	}
	grids := map[int]*quant.Params{}
	for _, b := range bits {
		if grids[b], err = quant.FromRanges(b, quant.Symmetric, axis, lo, hi); err != nil {
			return nil, nil, nil, fmt.Errorf("mixed: %s: %w", u.Name, err)
		}
	}
	return wf, shape, grids, nil
}
