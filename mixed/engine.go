package mixed

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
)

// Engine names what runs the loss probes' forward passes.
type Engine string

const (
	// EngineInfer runs them on the float runtime of package infer
	// (infer.FloatProbe): batch normalization folded, the layers before
	// the probed tensor kept from the batch's float pass and not run
	// again (package documentation, Cost).
	EngineInfer Engine = "infer"
	// EngineGorgonia runs the whole network through a Gorgonia
	// predictor with a fake-quant node per slot for every probe: the
	// reference twin of EngineInfer.
	EngineGorgonia Engine = "gorgonia"
)

// losses fills res's float loss, candidates (quantization errors, loss
// increases) and slot RMS with the engine opt.Engine names.
func losses(ctx context.Context, m *nn.Model, lw *nn.Lowered, bs []batch, opt Options, res *Sensitivity, pr *probe, units map[string]*nn.Unit, note func(string, ...any)) error {
	switch opt.Engine {
	case EngineGorgonia:
		res.LossEngine = EngineGorgonia
		return gorgoniaLosses(ctx, m, bs, opt, res, pr, units, note)
	case "", EngineInfer:
		p, err := floatProbe(m, lw)
		if err != nil {
			if opt.Engine == "" {
				note("sensitivity: the float runtime cannot run %s (%v): the loss probes run on Gorgonia", m.Arch, err)
				res.LossEngine = EngineGorgonia
				return gorgoniaLosses(ctx, m, bs, opt, res, pr, units, note)
			}
			return err
		}
		res.LossEngine = EngineInfer
		return inferLosses(ctx, m, p, lw, bs, opt, res, pr, units, note)
	}
	return fmt.Errorf("mixed: unknown loss engine %q (known: %s, %s)", opt.Engine, EngineInfer, EngineGorgonia)
}

// floatProbe is the float runtime's probe of m lowered to lw (floatModel:
// one layer per unit).
func floatProbe(m *nn.Model, lw *nn.Lowered) (*infer.FloatProbe, error) {
	fm, err := floatModel(m, lw)
	if err != nil {
		return nil, err
	}
	p, err := fm.NewFloatProbe()
	if err != nil {
		return nil, fmt.Errorf("mixed: %w", err)
	}
	return p, nil
}

// inferLosses is gorgoniaLosses on p, the float runtime's probe of m
// (floatProbe: one layer per unit of lw). Pass 1 runs each batch through fm for the float loss
// and the activation observers; then, batch by batch, pass 2 runs it
// again (the recorders measure the candidates' errors) keeping every
// layer's output, and every (slot, candidate) probe reruns only the
// layers after its slot: a weight's layer with its folded weights fake
// quantized per output channel as QAT quantizes them, or the layers
// after an activation fake quantized with the candidate's range. The
// losses add up in the Gorgonia path's order (batch, then sample).
func inferLosses(ctx context.Context, m *nn.Model, p *infer.FloatProbe, lw *nn.Lowered, bs []batch, opt Options, res *Sensitivity, pr *probe, units map[string]*nn.Unit, note func(string, ...any)) error {
	// The layer (value) of each slot: its unit's (−1: the input).
	layer := map[string]int{"input": -1}
	shape := map[string][]int{"input": {m.In.C, m.In.H, m.In.W}}
	for i := range lw.Units {
		u := &lw.Units[i]
		if u.Kind.Weighted() {
			layer[u.WeightSlot] = i
		}
		if u.OwnsOut() && u.OutSlot != "" {
			layer[u.OutSlot], shape[u.OutSlot] = i, u.Out
		}
	}
	for _, s := range res.Slots {
		if _, ok := layer[s.Name]; !ok {
			return fmt.Errorf("mixed: slot %s has no layer in the float model", s.Name)
		}
	}
	last := len(lw.Units) - 1
	// observe passes each activation slot's value of the held batch to
	// its recorder, as the Gorgonia fake-quant node does (shape N×…).
	observe := func(n int) error {
		for _, s := range res.Slots {
			if s.Weight {
				continue
			}
			if err := pr.recorders[s.Name].Observe(p.Value(layer[s.Name]), append([]int{n}, shape[s.Name]...), -1); err != nil {
				return fmt.Errorf("mixed: %s: %w", s.Name, err)
			}
		}
		return nil
	}
	// Pass 1: the float loss; the observers calibrate.
	var sum float64
	var n int
	for _, b := range bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := len(b.labels)
		if err := p.Forward(b.x, k); err != nil {
			return fmt.Errorf("mixed: %w", err)
		}
		sum = addLosses(sum, p.Value(last), b.labels, m.Classes)
		n += k
		if err := observe(k); err != nil {
			return err
		}
	}
	res.FloatLoss = sum / float64(n)
	for _, r := range pr.recorders {
		if err := r.start(opt.ActBits); err != nil {
			return err
		}
	}
	// The probes, in the order of res's slots and candidates.
	type probeCut struct {
		cut *infer.FloatCut
		sum float64
	}
	var cuts []probeCut
	for _, s := range res.Slots {
		if !s.Weight {
			for _, b := range opt.ActBits {
				qp := pr.recorders[s.Name].params[b]
				c, err := p.Cut(layer[s.Name], nil, func(v []float32) { quant.FakeQuantize(v, v, []int{len(v)}, qp) })
				if err != nil {
					return fmt.Errorf("mixed: %s: %w", s.Name, err)
				}
				cuts = append(cuts, probeCut{cut: c})
			}
			continue
		}
		u := units[s.Name]
		qw, err := quantizedWeights(u, pr.states[s.Name].Axis, opt.WeightBits)
		if err != nil {
			return err
		}
		for _, b := range opt.WeightBits {
			c, err := p.Cut(layer[s.Name], qw[b], nil)
			if err != nil {
				return fmt.Errorf("mixed: %s: %w", s.Name, err)
			}
			cuts = append(cuts, probeCut{cut: c})
		}
	}
	// Pass 2 and the probes, batch by batch.
	logits := make([]float32, len(bs[0].labels)*m.Classes)
	for bi, b := range bs {
		k := len(b.labels)
		if err := p.Forward(b.x, k); err != nil {
			return fmt.Errorf("mixed: %w", err)
		}
		if err := observe(k); err != nil {
			return err
		}
		for i := range cuts {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := p.Run(logits[:k*m.Classes], cuts[i].cut); err != nil {
				return fmt.Errorf("mixed: %w", err)
			}
			cuts[i].sum = addLosses(cuts[i].sum, logits, b.labels, m.Classes)
		}
		note("sensitivity: batch %d/%d probed (%d probes)", bi+1, len(bs), len(cuts))
	}
	if err := fillCandidates(res, pr, units, opt); err != nil {
		return err
	}
	i := 0
	for si := range res.Slots {
		for j := range res.Slots[si].Candidates {
			res.Slots[si].Candidates[j].LossDelta = cuts[i].sum/float64(n) - res.FloatLoss
			i++
		}
	}
	return nil
}

// quantizedWeights are u's folded weights fake quantized as the Gorgonia
// probe and QAT quantize them (symmetric, per channel along axis, the
// range their min and max), for each candidate, in the float runtime's
// layout (floatModel: a linear layer's rows are its outputs).
func quantizedWeights(u *nn.Unit, axis int, bits []int) (map[int][]float32, error) {
	wf, shape, grids, err := weightGrids(u, axis, bits)
	if err != nil {
		return nil, err
	}
	out := map[int][]float32{}
	for _, b := range bits {
		q := make([]float32, len(wf))
		quant.FakeQuantize(q, wf, shape, grids[b])
		if u.Kind == nn.UnitLinear {
			q = nn.LinearRows(q, shape[1])
		}
		out[b] = q
	}
	return out, nil
}
