package train

import (
	"fmt"
	"maps"
	"slices"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
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

// NonFiniteError reports a checkpoint file holding a NaN or ±Inf where
// only finite values make sense: a parameter, a buffer, the optimizer's
// or the quantizer's state. The checksum may be valid (a run saved before
// the trainer checked for divergence, or a file written by another tool),
// so this is checked after reading. It unwraps to the *stfile.CorruptError
// that the file's other damage gives.
type NonFiniteError struct {
	Path   string  // the checkpoint file
	Tensor string  // the tensor's name in the file, e.g. "param.fc1.bias"
	Index  int     // of the first non-finite element
	Value  float32 // NaN, +Inf or −Inf
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("train: %s: tensor %s has a non-finite value (%v at index %d): the checkpoint is damaged or was saved by a run that diverged",
		e.Path, e.Tensor, e.Value, e.Index)
}

func (e *NonFiniteError) Unwrap() error {
	return &stfile.CorruptError{Path: e.Path, Problem: fmt.Sprintf("tensor %s has a non-finite value (%v at index %d)", e.Tensor, e.Value, e.Index)}
}

// modelNonFinite returns the name of the first parameter or buffer of m
// (in model order) holding a NaN or ±Inf, or "": one pass over the model.
func modelNonFinite(m *nn.Model) string {
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

// forwardOverflows reports whether the float forward pass of m (no
// quantizer) on the n samples in x gives a NaN or ±Inf logit: finite
// parameters so large that float32 activations overflow, which a fake-quant
// node's observer then refuses with a VM error. It builds a graph, so it
// is only for error paths.
func forwardOverflows(m *nn.Model, x []float32, n int) bool {
	p := nn.NewPredictor(m, nil)
	defer p.Close()
	out := make([]float32, n*m.Classes)
	if err := p.Logits(out, x, n); err != nil {
		return false
	}
	return quant.FirstNonFinite(out) >= 0
}

// nonFinite returns a description of the first tensor of c holding a NaN
// or ±Inf (parameters, buffers, optimizer state, quantizer state, each in
// sorted order so the answer does not depend on map order), or "".
func (c *Checkpoint) nonFinite() string {
	for _, g := range []struct {
		what string
		ts   map[string][]float32
	}{{"", c.Params}, {" (buffer)", c.Buffers}, {" (optimizer state)", c.Opt}, {" (quantizer state)", c.Quant}} {
		for _, name := range slices.Sorted(maps.Keys(g.ts)) {
			if quant.FirstNonFinite(g.ts[name]) >= 0 {
				return name + g.what
			}
		}
	}
	return ""
}

// checkSaveable refuses a checkpoint of a diverged run: a file with a
// non-finite value would be refused by LoadCheckpoint, and the command
// would fail only later (at export or resume), pointing elsewhere.
func (t *Trainer) checkSaveable(ck *Checkpoint) error {
	if name := ck.nonFinite(); name != "" {
		return &DivergedError{Tensor: name, Epoch: ck.Epoch, Step: ck.Step}
	}
	return nil
}

// save checks ck (checkSaveable) and writes it to path, counting the
// checkpoints this trainer wrote (a new run that fails before its first
// one removes its metrics log: see openNewRun).
func (t *Trainer) save(path string, ck *Checkpoint) error {
	if err := t.checkSaveable(ck); err != nil {
		return err
	}
	if err := SaveCheckpoint(path, ck); err != nil {
		return err
	}
	t.saved++
	return nil
}
