package qat

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
)

// Calibrate runs up to CalibBatches shuffled minibatches of set through the
// float model to record ranges, then sets every slot's parameters and turns
// fake quantization on. It errors on NaN or Inf, when no sample was seen,
// and with ctx.Err() when ctx is cancelled between batches. FreezeAfter 0
// is resolved here to one epoch of set at this batch size.
func (q *Quantizer) Calibrate(ctx context.Context, m *nn.Model, set *datasets.Set, batch int, seed uint64) error {
	return q.CalibrateNorm(ctx, m, set, batch, seed, nil)
}

// CalibrateNorm is Calibrate with the input normalized as the model was
// trained (rundir.Config.Norm); nil norm is Calibrate.
func (q *Quantizer) CalibrateNorm(ctx context.Context, m *nn.Model, set *datasets.Set, batch int, seed uint64, norm *datasets.Norm) error {
	if batch < 1 {
		return fmt.Errorf("qat: calibration batch must be at least 1, got %d", batch)
	}
	for _, name := range q.order {
		st := q.states[name]
		st.SetEnabled(false)
		st.ResetObserver()
		st.SetObserving(!derived(st))
	}
	p := nn.NewPredictor(m, q)
	defer p.Close()
	bt := datasets.NewBatcher(set, batch, true, seed)
	if norm != nil {
		if err := bt.SetNorm(*norm); err != nil {
			return fmt.Errorf("qat: calibration: %w", err)
		}
	}
	x := make([]float32, batch*set.Size())
	labels := make([]int, batch)
	logits := make([]float32, batch*m.Classes)
	seen := 0
	for b := 0; b < q.Cfg.CalibBatches; b++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := bt.Next(x, labels)
		if n == 0 {
			break
		}
		if err := p.Logits(logits, x, n); err != nil {
			// A NaN or Inf weight fails in a fake-quant node with a VM
			// dump: name the tensor instead.
			if name := train.ModelNonFinite(m); name != "" {
				return fmt.Errorf("qat: calibration batch %d: the model's %s has a non-finite value: it cannot be quantized (the float run diverged; retrain it with a lower learning rate)", b+1, name)
			}
			if train.ForwardOverflows(m, x, n) {
				return fmt.Errorf("qat: calibration batch %d: the model's forward pass overflows (NaN or Inf activations): it cannot be quantized (the float run diverged; retrain it with a lower learning rate)", b+1)
			}
			return fmt.Errorf("qat: calibration batch %d: %w", b+1, err)
		}
		seen += n
	}
	if seen == 0 {
		return fmt.Errorf("qat: calibration saw no samples")
	}
	for _, name := range q.order {
		st := q.states[name]
		if derived(st) {
			continue
		}
		if err := st.UpdateFromObserver(); err != nil {
			return fmt.Errorf("qat: calibration: %w", err)
		}
	}
	epoch := (set.N + batch - 1) / batch
	if q.Cfg.FreezeAfter == 0 {
		q.Cfg.FreezeAfter = epoch
	}
	if q.Cfg.FreezeBNAfter == 0 {
		q.Cfg.FreezeBNAfter = epoch
	}
	q.frozen = false
	q.training = false
	q.apply(true)
	return nil
}
