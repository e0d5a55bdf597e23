package qat

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/rundir"
)

// qatMeta is the JSON metadata of a QAT checkpoint.
type qatMeta struct {
	Cfg    Config `json:"config"`
	Steps  int    `json:"steps"`
	Frozen bool   `json:"frozen"`
}

// State implements train.StatefulQuantizer: each slot's scales and zero points,
// each observer's statistics, the learned scales' Adam moments, the step
// count and the frozen flag.
func (q *Quantizer) State() (rundir.QuantState, error) {
	qs := rundir.QuantState{Tensors: map[string][]float32{}, Blobs: map[string][]byte{}}
	for _, name := range q.order {
		st := q.states[name]
		if derived(st) {
			continue
		}
		b, err := st.ObserverState()
		if err != nil {
			return rundir.QuantState{}, fmt.Errorf("qat: %w", err)
		}
		if b != nil {
			qs.Blobs[name] = b
		}
		p := st.Params()
		if p == nil {
			continue
		}
		qs.Tensors[name+".scale"] = slices.Clone(p.Scale)
		z := make([]float32, len(p.Zero))
		for i, v := range p.Zero {
			z[i] = float32(v)
		}
		qs.Tensors[name+".zero"] = z
	}
	q.scales.state(qs.Tensors)
	meta, err := json.Marshal(qatMeta{Cfg: q.Cfg, Steps: q.steps, Frozen: q.frozen})
	if err != nil {
		return rundir.QuantState{}, err
	}
	qs.Meta = string(meta)
	return qs, nil
}

// SetState implements train.StatefulQuantizer. State without observer
// statistics (Blobs nil: a version 1 checkpoint) restores the parameters
// only, which is enough to evaluate or export but not to resume.
func (q *Quantizer) SetState(qs rundir.QuantState) error {
	var m qatMeta
	if err := json.Unmarshal([]byte(qs.Meta), &m); err != nil {
		return fmt.Errorf("qat: bad quantizer state: %v", err)
	}
	if m.Steps < 0 {
		return fmt.Errorf("qat: bad quantizer state: %d steps", m.Steps)
	}
	for _, name := range q.order {
		st := q.states[name]
		if derived(st) {
			continue
		}
		sc, zf := qs.Tensors[name+".scale"], qs.Tensors[name+".zero"]
		if sc == nil || len(sc) != len(zf) {
			return fmt.Errorf("qat: checkpoint has no quantizer parameters for %s", name)
		}
		// One scale per channel of a per-channel slot, one for the
		// others: any other count fails the forward pass (a panic in
		// quant.LayoutOf) or quantizes with the wrong scale.
		if want := q.channels(name); len(sc) != want {
			return fmt.Errorf("qat: checkpoint quantizer state: %s has %d scales, the slot %d channels", name, len(sc), want)
		}
		p := &quant.Params{Bits: st.Bits, Scheme: st.Scheme, Axis: st.Axis, Scale: slices.Clone(sc), Zero: make([]int32, len(zf))}
		for i, v := range zf {
			// Not truncated: 3.7 or NaN is damage, not zero point 3.
			if v != float32(math.Trunc(float64(v))) || v < math.MinInt32 || v >= math.MaxInt32 {
				return fmt.Errorf("qat: checkpoint quantizer state: %s: zero point %d is %v, not an integer", name, i, v)
			}
			p.Zero[i] = int32(v)
		}
		if err := st.SetParams(p); err != nil {
			return fmt.Errorf("qat: checkpoint quantizer state: %w", err)
		}
		if qs.Blobs == nil || st.Observer == nil {
			continue
		}
		b, ok := qs.Blobs[name]
		if !ok {
			return fmt.Errorf("qat: checkpoint has no observer statistics for %s", name)
		}
		if err := st.SetObserverState(b); err != nil {
			return fmt.Errorf("qat: checkpoint quantizer state: %w", err)
		}
		// Statistics of another channel count would be dropped at the
		// next observation, or give parameters that do not fit the slot.
		if lo, _, err := st.Observer.Range(); err == nil && len(lo) != len(sc) {
			return fmt.Errorf("qat: checkpoint quantizer state: %s: observer statistics of %d channels, the slot has %d", name, len(lo), len(sc))
		}
	}
	if err := q.scales.setState(q.order, qs.Tensors); err != nil {
		return err
	}
	q.steps, q.frozen = m.Steps, m.Frozen
	q.apply(true)
	return nil
}

// Load rebuilds the model and quantizer of a QAT or PTQ checkpoint.
func Load(c *rundir.Checkpoint) (*nn.Model, *Quantizer, error) {
	if c.Quant == nil {
		return nil, nil, fmt.Errorf("qat: the checkpoint is a float model (phase %q); run ptq or qat first", c.Phase)
	}
	var meta qatMeta
	if err := json.Unmarshal([]byte(c.QuantMeta), &meta); err != nil {
		return nil, nil, fmt.Errorf("qat: bad quantizer metadata: %v", err)
	}
	m, err := c.Model()
	if err != nil {
		return nil, nil, err
	}
	if meta.Cfg.FreezeBNAfter == 0 {
		// Written before batch normalization existed (its models have
		// none): nothing to freeze.
		meta.Cfg.FreezeBNAfter = FreezeNever
	}
	q, err := New(m, meta.Cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := q.SetState(rundir.QuantState{Tensors: c.Quant, Blobs: c.QuantBlobs, Meta: c.QuantMeta}); err != nil {
		return nil, nil, err
	}
	return m, q, nil
}

// channels is the number of scales of slot name: its channel count when
// it is quantized per channel, else 1.
func (q *Quantizer) channels(name string) int {
	if q.states[name].Axis < 0 {
		return 1
	}
	return q.slots[name].Channels
}
