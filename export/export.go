package export

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/rundir"
)

// Export converts a PTQ or QAT checkpoint to an integer model of the given
// mode. The weights and biases are quantized with the checkpoint's own
// quantizer parameters, so the runtime computes what the fake-quant
// simulation computed.
//
// The network's (nested) layers become a flat list of integer layers:
//
//   - Conv2D, optionally followed by a BatchNorm2D (folded into it with
//     nn.FoldBN, the values the simulation's weight and bias slots
//     quantized) and a ReLU or ReLU6 (fused into the output clamp), is one
//     conv2d layer; grouped and depthwise convolutions keep their Groups.
//   - Linear (+ ReLU / ReLU6) is one linear layer; MaxPool2D and Flatten
//     are theirs.
//   - GlobalAvgPool is a globalavgpool layer with the input's parameters.
//   - Residual becomes its body's layers, then its shortcut's (the first
//     reading the block input through Layer.Inputs), then an add layer
//     reading the ends of both (or the block input for an identity
//     shortcut), with a fused ReLU when the block has one.
//
// Anything else (a BatchNorm2D not directly after a Conv2D, a ReLU that
// follows no weighted layer, an unknown layer) is an error naming the
// layer. These rules are nn's (Model.CheckLowering): NewSequential
// checks them when a network is built, Export again before it lowers one.
//
// ctx is checked between layers: a cancelled export returns ctx.Err().
func Export(ctx context.Context, c *rundir.Checkpoint, mode infer.Mode) (*infer.Model, error) {
	if _, err := infer.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	nm, q, err := qat.Load(c)
	if err != nil {
		return nil, err
	}
	if err := nm.CheckLowering(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	qc := q.Cfg
	if qc.BitsW > 8 {
		return nil, fmt.Errorf("export: %d-bit weights do not fit int8", qc.BitsW)
	}
	if mode != infer.W8Only {
		if qc.BitsA > 8 {
			return nil, fmt.Errorf("export: %d-bit activations do not fit an 8-bit runtime; quantize with --bits-a 8 or fewer", qc.BitsA)
		}
		if want := map[infer.Mode]string{infer.W8A8: "symmetric", infer.W8A8Asym: "affine"}[mode]; string(qc.ActScheme) != want {
			return nil, fmt.Errorf("export: mode %s needs %s activations, the checkpoint was quantized with %s (run ptq/qat with --act-scheme %s)", mode, want, qc.ActScheme, want)
		}
	}
	out := &infer.Model{Version: infer.FormatVersion, Arch: nm.Arch, Mode: mode, InC: nm.In.C, InH: nm.In.H, InW: nm.In.W, Classes: nm.Classes,
		Source: map[string]string{"phase": string(c.Phase), "bits_w": strconv.Itoa(qc.BitsW), "bits_a": strconv.Itoa(qc.BitsA),
			"estimator": string(qc.Estimator), "observer": string(qc.Observer), "test_acc_sim": strconv.FormatFloat(c.TestAcc, 'g', -1, 64)}}
	e := &exporter{ctx: ctx, nm: nm, q: q, mode: mode, out: out}
	in := ref{idx: -1, slot: "input", c: nm.In.C, h: nm.In.H, w: nm.In.W}
	if mode != infer.W8Only {
		if in.q, err = e.actParams("input"); err != nil {
			return nil, err
		}
		out.Input = in.q
	}
	if _, err := e.layers(nm.Layers, in, ""); err != nil {
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
	if m.ClassNames != nil || m.Norm != nil {
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

// where names layer i of the list at path for error messages.
func (e *exporter) where(path string, i int, l nn.Layer) string {
	if path == "" {
		return fmt.Sprintf("%s layer %d (%s)", e.nm.Arch, i, l.Kind())
	}
	return fmt.Sprintf("%s %s layer %d (%s)", e.nm.Arch, path, i, l.Kind())
}

// layers exports a list of nn layers reading from in and returns the
// list's output.
func (e *exporter) layers(ls []nn.Layer, in ref, path string) (ref, error) {
	cur := in
	for i := 0; i < len(ls); i++ {
		if err := e.ctx.Err(); err != nil {
			return ref{}, err
		}
		where := e.where(path, i, ls[i])
		switch nl := ls[i].(type) {
		case *nn.Flatten:
			cur = e.emit(&infer.Layer{Kind: infer.KindFlatten, OutC: cur.c * cur.h * cur.w, OutH: 1, OutW: 1}, cur, cur.slot, cur.q)
		case *nn.MaxPool2D:
			if nl.K < 1 || nl.Stride < 1 || nl.K > cur.h || nl.K > cur.w {
				return ref{}, fmt.Errorf("export: %s: max-pool k=%d stride=%d on a %dx%d input", where, nl.K, nl.Stride, cur.h, cur.w)
			}
			cur = e.emit(&infer.Layer{Kind: infer.KindMaxPool2D, K: nl.K, Stride: nl.Stride, OutC: cur.c,
				OutH: (cur.h-nl.K)/nl.Stride + 1, OutW: (cur.w-nl.K)/nl.Stride + 1}, cur, cur.slot, cur.q)
		case *nn.GlobalAvgPool:
			var err error
			if cur, err = e.globalAvgPool(nl, cur, where); err != nil {
				return ref{}, err
			}
		case *nn.Residual:
			var err error
			sub := nl.Name
			if path != "" {
				sub = path + "/" + nl.Name
			}
			if cur, err = e.residual(nl, cur, sub, where); err != nil {
				return ref{}, err
			}
		case *nn.BatchNorm2D:
			return ref{}, fmt.Errorf("export: %s: a BatchNorm2D must directly follow a Conv2D to be folded into it", where)
		case *nn.ReLU, *nn.ReLU6:
			return ref{}, fmt.Errorf("export: %s: a %s that does not follow a Linear or Conv2D layer (or its BatchNorm2D) cannot be fused", where, nl.Kind())
		case *nn.Linear, *nn.Conv2D:
			j := i + 1
			var bn *nn.BatchNorm2D
			if b, ok := at(ls, j).(*nn.BatchNorm2D); ok {
				if _, conv := nl.(*nn.Conv2D); !conv {
					return ref{}, fmt.Errorf("export: %s: a BatchNorm2D after a Linear layer cannot be folded (only Conv2D + BatchNorm2D)", where)
				}
				bn = b
				j++
			}
			act := ""
			if k := at(ls, j); k != nil && (k.Kind() == "relu" || k.Kind() == "relu6") {
				act = k.Kind()
				j++
			}
			l, err := e.weighted(nl, bn, act, cur, where)
			if err != nil {
				return ref{}, err
			}
			cur = e.emit(l, cur, l.Name+".out", l.Out)
			i = j - 1
		default:
			return ref{}, fmt.Errorf("export: %s: layer kind %s is not supported by the integer runtime", where, nl.Kind())
		}
	}
	return cur, nil
}

// at is ls[i], or nil past the end.
func at(ls []nn.Layer, i int) nn.Layer {
	if i < len(ls) {
		return ls[i]
	}
	return nil
}

// globalAvgPool exports a global average pool: an integer mean with the
// input's parameters.
func (e *exporter) globalAvgPool(g *nn.GlobalAvgPool, cur ref, where string) (ref, error) {
	if g.Name == "" {
		return ref{}, fmt.Errorf("export: %s: a global average pool needs a name (its slot is <name>.out)", where)
	}
	slot := g.Name + ".out"
	if cur.c < 1 || cur.h < 1 || cur.w < 1 {
		return ref{}, fmt.Errorf("export: %s: global average pool on a %dx%dx%d input", where, cur.c, cur.h, cur.w)
	}
	l := &infer.Layer{Kind: infer.KindGlobalAvgPool, Name: g.Name, OutC: cur.c, OutH: 1, OutW: 1, In: cur.q, Out: cur.q}
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

// residual exports a residual block: body, shortcut, add.
func (e *exporter) residual(r *nn.Residual, in ref, path, where string) (ref, error) {
	if r.Name == "" {
		return ref{}, fmt.Errorf("export: %s: a residual block needs a name (its slot is <name>.out)", where)
	}
	if len(r.Body) == 0 {
		return ref{}, fmt.Errorf("export: %s: residual block %s has no body", where, r.Name)
	}
	a, err := e.layers(r.Body, in, path+"/body")
	if err != nil {
		return ref{}, err
	}
	b := in
	if len(r.Shortcut) > 0 {
		if b, err = e.layers(r.Shortcut, in, path+"/shortcut"); err != nil {
			return ref{}, err
		}
	}
	if a.c != b.c || a.h != b.h || a.w != b.w {
		return ref{}, fmt.Errorf("export: %s: residual block %s adds a %dx%dx%d body to a %dx%dx%d shortcut", where, r.Name, a.c, a.h, a.w, b.c, b.h, b.w)
	}
	// The runtime keeps a flatten's bytes in its input's channels-last
	// order, readable only by a linear layer: an add cannot read it.
	for k, x := range []ref{a, b} {
		if x.idx >= 0 && e.out.Layers[x.idx].Kind == infer.KindFlatten {
			return ref{}, fmt.Errorf("export: %s: residual block %s: its %s reads a Flatten's output directly, which the integer runtime cannot add; put the Flatten before a Linear layer inside the block, or the block after one",
				where, r.Name, [2]string{"body", "shortcut"}[k])
		}
	}
	slot := r.Name + ".out"
	l := &infer.Layer{Kind: infer.KindAdd, Name: r.Name, ReLU: r.ReLU, OutC: a.c, OutH: a.h, OutW: a.w,
		Inputs: []int{a.idx, b.idx}, In: a.q, In2: b.q}
	l.InC, l.InH, l.InW = a.c, a.h, a.w
	if e.mode != infer.W8Only {
		s := e.nm.Slot(slot)
		if s == nil || s.Add != [2]string{a.slot, b.slot} {
			return ref{}, fmt.Errorf("export: %s: the simulation's slot %s does not add %s and %s", where, slot, a.slot, b.slot)
		}
		if s.ReLU != r.ReLU || s.Max != 0 {
			return ref{}, fmt.Errorf("export: %s: slot %s has ReLU=%v max=%v, the block ReLU=%v", where, slot, s.ReLU, s.Max, r.ReLU)
		}
		if l.Out, err = e.actParams(slot); err != nil {
			return ref{}, err
		}
		l.M0, l.Shift = make([]int32, 2), make([]int32, 2)
		for k, p := range []infer.QParams{a.q, b.q} {
			// M = float32(S_in/S_out), held exactly (quant.RequantizeAdd).
			if l.M0[k], l.Shift[k], err = quant.QuantizeMultiplier(p.Scale, l.Out.Scale); err != nil {
				return ref{}, fmt.Errorf("export: %s: residual %s input %d: %v", where, r.Name, k, err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
		if r.ReLU {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
	}
	e.out.Layers = append(e.out.Layers, l)
	return ref{idx: len(e.out.Layers) - 1, q: l.Out, slot: slot, c: l.OutC, h: l.OutH, w: l.OutW}, nil
}

// weighted exports a Linear or Conv2D layer (with its folded BatchNorm2D
// bn, if not nil, and its fused activation act: "", "relu" or "relu6")
// reading from in.
func (e *exporter) weighted(nl nn.Layer, bn *nn.BatchNorm2D, act string, in ref, where string) (*infer.Layer, error) {
	var (
		name   string
		wp, bp *nn.Param
		l      = &infer.Layer{ReLU: act != "", In: in.q}
	)
	switch nl := nl.(type) {
	case *nn.Linear:
		name, wp, bp = nl.Name, nl.W, nl.B
		l.Kind, l.Name, l.OutC, l.OutH, l.OutW = infer.KindLinear, nl.Name, nl.Out, 1, 1
		if in.c*in.h*in.w != nl.In {
			return nil, fmt.Errorf("export: %s: linear %s takes %d inputs, gets %dx%dx%d", where, name, nl.In, in.c, in.h, in.w)
		}
	case *nn.Conv2D:
		name, wp, bp = nl.Name, nl.W, nl.B
		l.Kind, l.Name, l.OutC, l.K, l.Stride, l.Pad = infer.KindConv2D, nl.Name, nl.Out, nl.K, nl.Stride, nl.Pad
		l.OutH, l.OutW = nl.OutHW()
		if g := nl.Groups; g > 1 {
			l.Groups = g
		}
		if in.c != nl.In {
			return nil, fmt.Errorf("export: %s: conv %s takes %d channels, gets %d", where, name, nl.In, in.c)
		}
	}
	if wp == nil {
		return nil, fmt.Errorf("export: %s: %s has no weights (model not set up)", where, name)
	}
	slot := e.nm.Slot(name + ".out")
	if slot == nil {
		return nil, fmt.Errorf("export: %s: the model has no slot %s.out", where, name)
	}
	if slot.ReLU != (act != "") || (slot.Max != 0) != (act == "relu6") || (act == "relu6" && slot.Max != 6) {
		return nil, fmt.Errorf("export: %s: slot %s.out has ReLU=%v max=%v, the layers fuse %q", where, name, slot.ReLU, slot.Max, act)
	}
	// The float values the simulation's weight and bias slots quantized.
	var wv, bv []float32
	if bn != nil {
		conv := nl.(*nn.Conv2D)
		if bn.C != conv.Out || bn.Gamma == nil || bn.Beta == nil || bn.Mean == nil || bn.Var == nil {
			return nil, fmt.Errorf("export: %s: batch norm %s (%d channels) does not fit conv %s (%d)", where, bn.Name, bn.C, name, conv.Out)
		}
		wv, bv = nn.FoldBN(conv, bn)
	} else {
		if bp == nil {
			return nil, fmt.Errorf("export: %s: %s has no bias", where, name)
		}
		wv, bv = wp.Data(), bp.Data()
	}
	if len(wv) != wp.Value.Size() || len(bv) != l.OutC {
		return nil, fmt.Errorf("export: %s: %s has %d weights and %d biases, want %d and %d", where, name, len(wv), len(bv), wp.Value.Size(), l.OutC)
	}
	if nw := len(wv); nw%l.OutC != 0 {
		return nil, fmt.Errorf("export: %s: %d weights for %d channels", where, nw, l.OutC)
	}
	for what, v := range map[string][]float32{"weight": wv, "bias": bv} {
		if i := quant.FirstNonFinite(v); i >= 0 {
			return nil, fmt.Errorf("export: %s: %s %s %d is %v", where, name, what, i, v[i])
		}
	}
	wq := e.q.Slot(wp.Name).Params()
	if wq == nil {
		return nil, fmt.Errorf("export: %s: %s has no weight quantization parameters", where, name)
	}
	shape := wp.Value.Shape()
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
		if act == "relu6" {
			l.Max = 6 // float activations: the clamp is min(·, 6) itself
		}
		l.FBias = append([]float32(nil), bv...)
		return l, nil
	}
	bslot := e.nm.Slot(bp0(bp, name))
	if bslot == nil || bslot.Input != in.slot {
		got := ""
		if bslot != nil {
			got = bslot.Input
		}
		return nil, fmt.Errorf("export: %s: the simulation's %s reads slot %q, the integer model slot %q", where, name, got, in.slot)
	}
	var err error
	if l.Out, err = e.actParams(name + ".out"); err != nil {
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
	if act != "" {
		l.Lo = max(l.Lo, l.Out.Zero)
	}
	if act == "relu6" {
		l.Hi = relu6Hi(l.Out, 6)
	}
	return l, nil
}

// bp0 is the bias slot's name: the bias parameter's, or <name>.bias for a
// convolution whose bias is its folded batch norm's.
func bp0(bp *nn.Param, name string) string {
	if bp != nil {
		return bp.Name
	}
	return name + ".bias"
}

// relu6Hi is the upper clamp of an output with parameters p fused with
// min(·, max): min(q_max, round_half_even(max/S) + Z), max/S in float32,
// the clamp the simulation's output quantizer applies (fakequant.ClampHi).
func relu6Hi(p infer.QParams, max float32) int32 {
	_, hi := p.QRange()
	return fakequant.ClampHi(max, p.Scale, p.Zero, hi)
}
