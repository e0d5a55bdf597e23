package export

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/rundir"
)

// Export converts a checkpoint in memory to a model of the given mode,
// the export the checkpoint calls for: a cluster run's codebook export
// (see exportCluster) for a cluster checkpoint, the float model (Float)
// for mode F32, and otherwise the uniform integer export of a PTQ or QAT
// checkpoint described here. The weights and biases are quantized with
// the checkpoint's own quantizer parameters, so the runtime computes what
// the fake-quant simulation computed.
//
// The network's lowered form (nn.Model.Lower) becomes the integer
// layers, one per unit: a weighted unit (Linear or Conv2D with its
// groups, its batch norm folded with Unit.Fold — the values the
// simulation's weight and bias slots quantized — and its ReLU or ReLU6
// fused into the output clamp) is a linear or conv2d layer; max pool,
// flatten, global average pool (with its input's parameters) and add
// (the residual's, reading its two inputs, with a fused ReLU when the
// block has one) are theirs. A network that breaks a rule of the
// lowering (nn.Model.CheckLowering) is an error naming the layer.
//
// ctx is checked between layers: a cancelled export returns ctx.Err().
func Export(ctx context.Context, c *rundir.Checkpoint, mode infer.Mode) (*infer.Model, error) {
	if c == nil {
		return nil, fmt.Errorf("export: no checkpoint")
	}
	if mode == infer.F32 {
		return Float(ctx, c)
	}
	if _, err := infer.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	if c.Phase == rundir.PhaseCluster {
		return exportCluster(ctx, c, mode)
	}
	return exportUniform(ctx, c, mode)
}

// exportUniform is Export of a PTQ or QAT checkpoint (or a cluster
// checkpoint's decoded weights, for exportCluster).
func exportUniform(ctx context.Context, c *rundir.Checkpoint, mode infer.Mode) (*infer.Model, error) {
	nm, q, err := qat.Load(c)
	if err != nil {
		return nil, err
	}
	lw, err := nm.Lower()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	qc := q.Cfg
	// Bit-widths are per slot (qat.Config.SlotBits): each integer layer
	// takes its own (infer.Layer.WBits, packed per layer; QParams.Bits).
	maxW, maxA := qc.MaxBits(nm)
	if maxW > 8 {
		return nil, fmt.Errorf("export: %d-bit weights do not fit int8", maxW)
	}
	if mode != infer.W8Only {
		if maxA > 8 {
			return nil, fmt.Errorf("export: %d-bit activations do not fit an 8-bit runtime; quantize with --bits-a 8 or fewer (and no wider slot bits)", maxA)
		}
		if want := map[infer.Mode]string{infer.W8A8: "symmetric", infer.W8A8Asym: "affine"}[mode]; string(qc.ActScheme) != want {
			return nil, fmt.Errorf("export: mode %s needs %s activations, the checkpoint was quantized with %s (run ptq/qat with --act-scheme %s)", mode, want, qc.ActScheme, want)
		}
	}
	testAcc := c.TestAcc
	out := &infer.Model{Version: infer.FormatVersion, Arch: nm.Arch, Mode: mode, InC: nm.In.C, InH: nm.In.H, InW: nm.In.W, Classes: nm.Classes,
		Source: infer.Source{Phase: string(c.Phase), BitsW: qc.BitsW, BitsA: qc.BitsA,
			Estimator: string(qc.Estimator), Observer: string(qc.Observer), TestAccSim: &testAcc}}
	withData(&out.Source, c)
	if qc.Mixed() {
		out.Source.SlotBits = SlotBitsString(qc.SlotBits)
	}
	e := &exporter{ctx: ctx, nm: nm, q: q, mode: mode, out: out}
	in := ref{idx: -1, slot: "input", c: nm.In.C, h: nm.In.H, w: nm.In.W}
	if mode != infer.W8Only {
		if in.q, err = e.actParams("input"); err != nil {
			return nil, err
		}
		out.Input = in.q
	}
	if err := e.units(lw, in); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("export: export produced an invalid model (a bug): %w", err)
	}
	// The run's class names and input normalization travel with the model,
	// so the runtime normalizes (and folds into its byte tables) exactly
	// as the training batches did.
	var mean, std []float32
	if n := c.Norm(); n != nil {
		mean, std = n.Mean, n.Std
	}
	if err := WithInput(out, c.ClassNames, mean, std); err != nil {
		return nil, err
	}
	return out, nil
}

// withData records in s the layout and fingerprint of the data run c was
// trained on and its resize, so that predict reads a photo as the run
// read its images (and knows an MNIST model from other 28×28 ones).
func withData(s *infer.Source, c *rundir.Checkpoint) {
	s.Data, s.ResizeH, s.ResizeW = c.DataLayout, c.Config.ResizeH, c.Config.ResizeW
	s.DataSHA = c.DataSHA
}

// SlotBitsString writes per-slot bit-widths (qat.Config.SlotBits) as
// the model file's source records them: "name=bits" pairs in name order,
// comma-separated; "" for none.
func SlotBitsString(bits map[string]int) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(bits)) {
		parts = append(parts, name+"="+strconv.Itoa(bits[name]))
	}
	return strings.Join(parts, ",")
}

// WithInput records in m the class names and the per-channel input
// normalization its network was trained with (mean and std: one per
// input channel, as datasets.Batcher.SetNorm took them; both empty: none),
// so that the model file and the ONNX graph carry them, predict names
// classes, and the runtime normalizes its pixels (and folds the
// normalization into its byte tables) exactly as the training batches did.
// An empty classNames leaves the classes unnamed. It returns an error,
// leaving m unchanged, when they do not fit m (counts, non-finite values,
// a std not positive, a name empty, repeated or not printable). Call it
// before the model first runs: a model is immutable once it has run.
func WithInput(m *infer.Model, classNames []string, mean, std []float32) error {
	oldNames, oldNorm, oldVersion := m.ClassNames, m.Norm, m.Version
	m.ClassNames, m.Norm = nil, nil
	if len(classNames) > 0 {
		m.ClassNames = append([]string(nil), classNames...)
	}
	if len(mean) > 0 || len(std) > 0 {
		m.Norm = &infer.InputNorm{Mean: append([]float32(nil), mean...), Std: append([]float32(nil), std...)}
	}
	if m.Mode != infer.F32 && (m.ClassNames != nil || m.Norm != nil) { // a float model has its own versions
		m.Version = max(m.Version, infer.FormatVersion)
	}
	if err := m.Validate(); err != nil {
		m.ClassNames, m.Norm, m.Version = oldNames, oldNorm, oldVersion
		return fmt.Errorf("export: class names and input normalization: %w", err)
	}
	return nil
}

// ref is a value the integer model has computed: the output of flat layer
// idx (−1: the quantized model input), its parameters, the simulation's
// slot that last quantized it (a max-pool or flatten keeps its input's
// slot) and its per-sample shape.
type ref struct {
	idx     int
	q       infer.QParams
	slot    string
	c, h, w int
}

type exporter struct {
	ctx  context.Context
	nm   *nn.Model
	q    *qat.Quantizer
	mode infer.Mode
	out  *infer.Model
}

// actParams are the parameters of an activation slot (per tensor).
func (e *exporter) actParams(slot string) (infer.QParams, error) {
	st := e.q.Slot(slot)
	if st == nil {
		return infer.QParams{}, fmt.Errorf("export: the quantizer has no slot %s", slot)
	}
	p := st.Params()
	if p == nil {
		return infer.QParams{}, fmt.Errorf("export: slot %s has no quantization parameters", slot)
	}
	if p.PerChannel() {
		return infer.QParams{}, fmt.Errorf("export: activation slot %s is quantized per channel; the runtime takes one scale per activation", slot)
	}
	return infer.QParams{Scale: p.Scale[0], Zero: p.Zero[0], Bits: p.Bits, Signed: p.Scheme == quant.Symmetric}, nil
}

// emit appends l reading from (its only input), sets its input shape and
// Inputs (when from is not the previous layer) and returns its output,
// quantized by slot with parameters q (a max-pool or flatten passes its
// input's on).
func (e *exporter) emit(l *infer.Layer, from ref, slot string, q infer.QParams) ref {
	l.InC, l.InH, l.InW = from.c, from.h, from.w
	if from.idx != len(e.out.Layers)-1 {
		l.Inputs = []int{from.idx}
	}
	e.out.Layers = append(e.out.Layers, l)
	return ref{idx: len(e.out.Layers) - 1, q: q, slot: slot, c: l.OutC, h: l.OutH, w: l.OutW}
}

// where names unit u for error messages.
func (e *exporter) where(u *nn.Unit) string {
	return fmt.Sprintf("%s layer %s (%s %s)", e.nm.Arch, u.Path, u.Kind, u.Name)
}

// units exports the lowered network's units, the first reading in: unit
// i becomes integer layer i.
func (e *exporter) units(lw *nn.Lowered, in ref) error {
	refs := make([]ref, len(lw.Units))
	at := func(j int) ref {
		if j < 0 {
			return in
		}
		return refs[j]
	}
	for i := range lw.Units {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		u := &lw.Units[i]
		cur, where := at(u.Inputs[0]), e.where(u)
		var err error
		switch u.Kind {
		case nn.UnitFlatten:
			cur = e.emit(&infer.Layer{Kind: infer.KindFlatten, OutC: cur.c * cur.h * cur.w, OutH: 1, OutW: 1}, cur, cur.slot, cur.q)
		case nn.UnitMaxPool:
			cur = e.emit(&infer.Layer{Kind: infer.KindMaxPool2D, K: u.K, Stride: u.Stride, OutC: u.Out[0], OutH: u.Out[1], OutW: u.Out[2]}, cur, cur.slot, cur.q)
		case nn.UnitGlobalAvgPool:
			cur, err = e.globalAvgPool(u, cur, where)
		case nn.UnitAdd:
			cur, err = e.add(u, cur, at(u.Inputs[1]), where)
		case nn.UnitLinear, nn.UnitConv2D:
			var l *infer.Layer
			if l, err = e.weighted(u, cur, where); err == nil {
				cur = e.emit(l, cur, u.OutSlot, l.Out)
			}
		default:
			err = fmt.Errorf("export: %s: unit kind %s is not supported by the integer runtime", where, u.Kind)
		}
		if err != nil {
			return err
		}
		if cur.idx != i {
			panic(fmt.Sprintf("export: unit %d became integer layer %d", i, cur.idx))
		}
		refs[i] = cur
	}
	return nil
}

// globalAvgPool exports a global average pool: an integer mean with the
// input's parameters.
func (e *exporter) globalAvgPool(u *nn.Unit, cur ref, where string) (ref, error) {
	slot := u.OutSlot
	l := &infer.Layer{Kind: infer.KindGlobalAvgPool, Name: u.Name, OutC: cur.c, OutH: 1, OutW: 1, In: cur.q, Out: cur.q}
	if e.mode != infer.W8Only {
		if s := e.nm.Slot(slot); s == nil || s.MeanOf != cur.slot {
			return ref{}, fmt.Errorf("export: %s: the simulation's slot %s does not average %s", where, slot, cur.slot)
		}
		// The simulation's mean keeps its input's parameters; a state of
		// its own, if the quantizer has one, must say the same.
		if st := e.q.Slot(slot); st != nil && st.Params() != nil {
			p, err := e.actParams(slot)
			if err != nil {
				return ref{}, err
			}
			if p != cur.q {
				return ref{}, fmt.Errorf("export: %s: slot %s has parameters %+v, its input %+v (the integer mean keeps the input's)", where, slot, p, cur.q)
			}
		}
		l.Lo, l.Hi = cur.q.QRange()
	}
	return e.emit(l, cur, slot, l.Out), nil
}

// add exports a residual block's addition of a (its body) and b (its
// shortcut, or its input).
func (e *exporter) add(u *nn.Unit, a, b ref, where string) (ref, error) {
	relu := u.Act == nn.ActReLU
	slot := u.OutSlot
	l := &infer.Layer{Kind: infer.KindAdd, Name: u.Name, ReLU: relu, OutC: a.c, OutH: a.h, OutW: a.w,
		Inputs: []int{a.idx, b.idx}, In: a.q, In2: b.q}
	l.InC, l.InH, l.InW = a.c, a.h, a.w
	if e.mode != infer.W8Only {
		s := e.nm.Slot(slot)
		if s == nil || s.Add != [2]string{a.slot, b.slot} {
			return ref{}, fmt.Errorf("export: %s: the simulation's slot %s does not add %s and %s", where, slot, a.slot, b.slot)
		}
		if s.ReLU != relu || s.Max != 0 {
			return ref{}, fmt.Errorf("export: %s: slot %s has ReLU=%v max=%v, the block ReLU=%v", where, slot, s.ReLU, s.Max, relu)
		}
		var err error
		if l.Out, err = e.actParams(slot); err != nil {
			return ref{}, err
		}
		l.M0, l.Shift = make([]int32, 2), make([]int32, 2)
		for k, p := range []infer.QParams{a.q, b.q} {
			// M = float32(S_in/S_out), held exactly (quant.RequantizeAdd).
			if l.M0[k], l.Shift[k], err = quant.QuantizeMultiplier(p.Scale, l.Out.Scale); err != nil {
				return ref{}, fmt.Errorf("export: %s: residual %s input %d: %v", where, u.Name, k, err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
		if relu {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
	}
	e.out.Layers = append(e.out.Layers, l)
	return ref{idx: len(e.out.Layers) - 1, q: l.Out, slot: slot, c: l.OutC, h: l.OutH, w: l.OutW}, nil
}

// weighted exports a Linear or Conv2D unit (with its folded batch norm
// and its fused activation) reading from in.
func (e *exporter) weighted(u *nn.Unit, in ref, where string) (*infer.Layer, error) {
	name, act := u.Name, u.Act
	l := &infer.Layer{Kind: infer.KindLinear, Name: name, ReLU: act != nn.ActNone, In: in.q, OutC: u.Out[0], OutH: 1, OutW: 1}
	if u.Kind == nn.UnitConv2D {
		l.Kind, l.K, l.Stride, l.Pad = infer.KindConv2D, u.K, u.Stride, u.Pad
		l.OutH, l.OutW = u.Out[1], u.Out[2]
		if u.Groups > 1 {
			l.Groups = u.Groups
		}
	}
	slot := e.nm.Slot(u.OutSlot)
	if slot == nil {
		return nil, fmt.Errorf("export: %s: the model has no slot %s", where, u.OutSlot)
	}
	if slot.ReLU != (act != nn.ActNone) || slot.Max != act.Max() {
		return nil, fmt.Errorf("export: %s: slot %s has ReLU=%v max=%v, the layers fuse %s", where, u.OutSlot, slot.ReLU, slot.Max, act)
	}
	// The float values the simulation's weight and bias slots quantized.
	wv, bv := u.Fold()
	if len(bv) != l.OutC || len(wv)%l.OutC != 0 {
		return nil, fmt.Errorf("export: %s: %s has %d weights and %d biases for %d channels", where, name, len(wv), len(bv), l.OutC)
	}
	for what, v := range map[string][]float32{"weight": wv, "bias": bv} {
		if i := quant.FirstNonFinite(v); i >= 0 {
			return nil, fmt.Errorf("export: %s: %s %s %d is %v", where, name, what, i, v[i])
		}
	}
	wq := e.q.Slot(u.WeightSlot).Params()
	if wq == nil {
		return nil, fmt.Errorf("export: %s: %s has no weight quantization parameters", where, name)
	}
	shape := u.W.Value.Shape()
	ints := make([]int32, len(wv))
	quant.Quantize(ints, wv, shape, wq)
	outC := l.OutC
	fan := len(ints) / outC
	l.W = make([]int8, len(ints))
	l.WBits = wq.Bits
	if l.Kind == infer.KindLinear { // nn stores (in, out); rows of the runtime are output channels
		for k := 0; k < fan; k++ {
			for c := 0; c < outC; c++ {
				l.W[c*fan+k] = int8(ints[k*outC+c])
			}
		}
	} else { // (Out, In/Groups, K, K): already the runtime's rows
		for i, v := range ints {
			l.W[i] = int8(v)
		}
	}
	l.WScale = make([]float32, outC)
	for c := range l.WScale {
		l.WScale[c] = wq.Scale[min(c, len(wq.Scale)-1)]
	}
	if e.mode == infer.W8Only {
		l.Max = act.Max() // float activations: the clamp is min(·, 6) itself
		l.FBias = bv
		return l, nil
	}
	bslot := e.nm.Slot(u.BiasSlot)
	if bslot == nil || bslot.Input != in.slot {
		got := ""
		if bslot != nil {
			got = bslot.Input
		}
		return nil, fmt.Errorf("export: %s: the simulation's %s reads slot %q, the integer model slot %q", where, name, got, in.slot)
	}
	var err error
	if l.Out, err = e.actParams(u.OutSlot); err != nil {
		return nil, err
	}
	bq := e.q.Slot(bslot.Name).Params()
	if bq == nil {
		return nil, fmt.Errorf("export: %s: %s has no bias quantization parameters", where, name)
	}
	l.Bias = make([]int32, outC)
	quant.Quantize(l.Bias, bv, []int{outC}, bq)
	l.M0, l.Shift = make([]int32, outC), make([]int32, outC)
	for c := 0; c < outC; c++ {
		// The accumulator's real scale is the bias scale S_x·S_w[c] exactly
		// as the simulation used it (a float32 product); M is its float32
		// quotient by S_y, as ONNX Runtime computes it.
		if l.M0[c], l.Shift[c], err = quant.QuantizeMultiplier(bq.Scale[min(c, len(bq.Scale)-1)], l.Out.Scale); err != nil {
			return nil, fmt.Errorf("export: %s: %s channel %d: %v", where, name, c, err)
		}
	}
	l.Lo, l.Hi = l.Out.QRange()
	if act != nn.ActNone {
		l.Lo = max(l.Lo, l.Out.Zero)
	}
	if act == nn.ActReLU6 {
		l.Hi = relu6Hi(l.Out, 6)
	}
	return l, nil
}

// relu6Hi is the upper clamp of an output with parameters p fused with
// min(·, max): min(q_max, round_half_even(max/S) + Z), max/S in float32,
// the clamp the simulation's output quantizer applies (fakequant.ClampHi).
func relu6Hi(p infer.QParams, max float32) int32 {
	_, hi := p.QRange()
	return fakequant.ClampHi(max, p.Scale, p.Zero, hi)
}
