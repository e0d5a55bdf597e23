package train

import (
	"math"

	"github.com/tinyqat/tinyqat/rundir"
)

// LearningRate is the schedule: cosine annealing from base to base/100 over
// the run (Loshchilov & Hutter 2017, without restarts), a function of the
// fractional epoch so that a resumed run follows the same curve.
//
//	lr(e) = base · (0.01 + 0.99 · (1 + cos(π·e/E)) / 2)
func LearningRate(schedule rundir.Schedule, base, epoch float64, epochs int) float64 {
	switch schedule {
	case rundir.Constant:
		return base
	default: // rundir.Cosine
		f := math.Min(epoch/float64(epochs), 1)
		return base * (0.01 + float64(0.99*(1+math.Cos(math.Pi*f))/2))
	}
}
