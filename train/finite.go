package train

import (
	"fmt"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/rundir"
)

// DivergedError reports training that produced a NaN or ±Inf in the
// model's parameters, buffers or optimizer state. The loss can stay finite
// while this happens (a huge learning rate sends a bias to −Inf, and the
// fake-quant clip hides it), so the trainer checks the tensors themselves
// once per epoch before it saves, and when a step's forward pass fails.
// Nothing is saved for the epoch; the previous checkpoint is untouched.
type DivergedError struct {
	// Tensor is the first tensor found non-finite, e.g. "fc1.bias", or ""
	// when every parameter is finite but so large that the forward pass
	// overflows float32.
	Tensor string
	Epoch  int // the epoch it happened in (1-based)
	Step   int // optimizer steps taken when it was found
	// Err is the failure that revealed the divergence (a step's forward
	// pass through a fake-quant node that refused the value), or nil when
	// the end-of-epoch check found it.
	Err error
}

func (e *DivergedError) Error() string {
	where := fmt.Sprintf("after epoch %d (step %d)", e.Epoch, e.Step)
	if e.Err != nil {
		where = fmt.Sprintf("at epoch %d, step %d", e.Epoch, e.Step)
	}
	what := e.Tensor + " has a non-finite value"
	if e.Tensor == "" {
		what = "the parameters grew so large that the forward pass overflows (NaN or Inf activations)"
	}
	return fmt.Sprintf("train: training diverged: %s %s (try a lower learning rate); no checkpoint was written for it", what, where)
}

// Unwrap returns the forward pass's error, if any (a Gorgonia VM error
// naming the instruction): kept for debugging, left out of the message.
func (e *DivergedError) Unwrap() error { return e.Err }

// ModelNonFinite returns the name of the first parameter or buffer of m
// (in model order) holding a NaN or ±Inf, or "": one pass over the model.
func ModelNonFinite(m *nn.Model) string {
	for _, p := range m.Params {
		if quant.FirstNonFinite(p.Data()) >= 0 {
			return p.Name
		}
	}
	for _, p := range m.Buffers {
		if quant.FirstNonFinite(p.Data()) >= 0 {
			return p.Name + " (buffer)"
		}
	}
	return ""
}

// ForwardOverflows reports whether the float forward pass of m (no
// quantizer) on the n samples in x gives a NaN or ±Inf logit: finite
// parameters so large that float32 activations overflow, which a fake-quant
// node's observer then refuses with a VM error. It builds a graph, so it
// is only for error paths.
func ForwardOverflows(m *nn.Model, x []float32, n int) bool {
	p := nn.NewPredictor(m, nil)
	defer p.Close()
	out := make([]float32, n*m.Classes)
	if err := p.Logits(out, x, n); err != nil {
		return false
	}
	return quant.FirstNonFinite(out) >= 0
}

// checkSaveable refuses a checkpoint of a diverged run: a file with a
// non-finite value would be refused by rundir.LoadCheckpoint, and the command
// would fail only later (at export or resume), pointing elsewhere.
func (t *Trainer) checkSaveable(ck *rundir.Checkpoint) error {
	if name := ck.NonFinite(); name != "" {
		return &DivergedError{Tensor: name, Epoch: ck.Epoch, Step: ck.Step}
	}
	return nil
}

// save checks ck (checkSaveable) and writes it to path, counting the
// checkpoints this trainer wrote (a new run that fails before its first
// one removes its metrics log: see OpenNewRun).
func (t *Trainer) save(path string, ck *rundir.Checkpoint) error {
	if err := t.checkSaveable(ck); err != nil {
		return err
	}
	if err := rundir.SaveCheckpoint(path, ck); err != nil {
		return err
	}
	t.saved++
	return nil
}
