package rundir

import (
	"fmt"
	"maps"
	"slices"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/quant"
)

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
	return fmt.Sprintf("rundir: %s: tensor %s has a non-finite value (%v at index %d): the checkpoint is damaged or was saved by a run that diverged",
		e.Path, e.Tensor, e.Value, e.Index)
}

func (e *NonFiniteError) Unwrap() error {
	return &stfile.CorruptError{Path: e.Path, Problem: fmt.Sprintf("tensor %s has a non-finite value (%v at index %d)", e.Tensor, e.Value, e.Index)}
}

// NonFinite returns a description of the first tensor of c holding a NaN
// or ±Inf (parameters, buffers, optimizer state, quantizer state, each in
// sorted order so the answer does not depend on map order), or "".
func (c *Checkpoint) NonFinite() string {
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
