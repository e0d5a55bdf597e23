package attack

import (
	"fmt"

	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// FromCheckpoint rebuilds the model of a float, PTQ or QAT checkpoint for
// attack, named "float", or phase-w{bits}a{bits} ("qat-w4a8"), with the
// run's input normalization.
func FromCheckpoint(c *rundir.Checkpoint) (*Model, error) {
	if c.Quant == nil {
		m, err := c.Model()
		if err != nil {
			return nil, err
		}
		return &Model{Name: "float", Net: m, Norm: c.Norm()}, nil
	}
	m, q, err := qat.Load(c)
	if err != nil {
		return nil, err
	}
	return &Model{Name: fmt.Sprintf("%s-w%da%d", c.Phase, q.Cfg.BitsW, q.Cfg.BitsA), Net: m, Quant: q, Norm: c.Norm()}, nil
}
