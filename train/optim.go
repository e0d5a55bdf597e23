package train

import (
	"fmt"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
	"github.com/tinyqat/tinyqat/rundir"
)

// Optimizer updates parameters in place from their gradients. Its state
// (moments, step count) is saved in checkpoints so training resumes exactly.
type Optimizer interface {
	// Step applies one update with learning rate lr to params from grads.
	Step(params, grads [][]float32, lr float64)
	// State returns the optimizer's state tensors, by name.
	State() map[string][]float32
	// SetState restores what State returned; it errors on a mismatch.
	SetState(map[string][]float32) error
}

// NewOptimizer returns Adam or SGD (with momentum) for parameters of the given sizes.
func NewOptimizer(name rundir.Optimizer, sizes []int, momentum, weightDecay float64) (Optimizer, error) {
	switch name {
	case rundir.Adam:
		return newAdamW(sizes, weightDecay), nil
	case rundir.SGD:
		return newSGD(sizes, momentum, weightDecay), nil
	}
	return nil, fmt.Errorf("train: unknown optimizer %q (adam or sgd)", name)
}

// adamW is Adam with decoupled weight decay (Loshchilov & Hutter 2019,
// AdamW) when wd > 0:
//
//	w ← w − lr·( m̂ / (√v̂ + ε) + λ·w )
type adamW struct {
	*Adam
	wd     float64
	pieces []piece // Step's scratch
}

func newAdamW(sizes []int, wd float64) *adamW {
	return &adamW{Adam: NewAdam(sizes, 1e-8), wd: wd}
}

// Step runs the update through f32.Adam (a vector kernel with a scalar
// twin, the same bits either way): the moments as in Adam.Direction, then
//
//	w ← w·(1 − lr·λ) − (lr·c1)·m / (√(v·c2) + ε)
//
// rounded to float32 in that order (TestAdamWScalarTwin).
func (a *adamW) Step(params, grads [][]float32, lr float64) {
	a.Tick()
	c := f32.AdamCoef{Beta1: float32(a.beta1), Beta2: float32(a.beta2), Step: float32(lr * a.c1d),
		Scale2: float32(a.c2d), Eps: float32(a.eps), Decay: float32(1 - lr*a.wd)}
	a.pieces = eachPiece(a.pieces, params, 8, func(i, j0, j1 int) {
		f32.Adam(params[i][j0:j1], grads[i][j0:j1], a.m[i][j0:j1], a.v[i][j0:j1], c)
	})
}

// optPiece is the most parameters eachPiece gives f at once. It is below
// the 2^14 parameters from which f32.Adam splits its own loop, so that
// Adam never starts goroutines from inside a piece.
const optPiece = 4096

// A piece is elements [j0, j1) of parameter tensor t.
type piece struct{ t, j0, j1 int }

// eachPiece calls f on every piece of params' elements, at most optPiece
// each, in any order and split over cores by par when there are cost·n
// operations in all, and returns the pieces (scratch for the next call).
// The optimizers' updates are elementwise, so any split gives the same
// bits; splitting the whole list, rather than each tensor's loop, puts
// the many small tensors (biases, batch-norm scales, the 3×3 kernels of
// 16 channels) on all cores too, where each one alone is below par's
// threshold: the update was serial work of every step.
func eachPiece(pieces []piece, params [][]float32, cost int, f func(t, j0, j1 int)) []piece {
	pieces = pieces[:0]
	n := 0
	for t, w := range params {
		for j := 0; j < len(w); j += optPiece {
			pieces = append(pieces, piece{t, j, min(len(w), j+optPiece)})
		}
		n += len(w)
	}
	par.Run(len(pieces), par.Workers(n, cost), func(k int) {
		p := pieces[k]
		f(p.t, p.j0, p.j1)
	})
	return pieces
}

func (a *adamW) State() map[string][]float32           { return a.Moments("adam.") }
func (a *adamW) SetState(s map[string][]float32) error { return a.SetMoments("adam.", s) }

// sgd is stochastic gradient descent with (heavy-ball) momentum and L2 weight decay:
//
//	u ← μ·u + g + λ·w      w ← w − lr·u
type sgd struct {
	u       [][]float32
	mom, wd float64
	pieces  []piece // Step's scratch
}

func newSGD(sizes []int, mom, wd float64) *sgd {
	s := &sgd{mom: mom, wd: wd}
	for _, n := range sizes {
		s.u = append(s.u, make([]float32, n))
	}
	return s
}

func (s *sgd) Step(params, grads [][]float32, lr float64) {
	mu, wd, eta := float32(s.mom), float32(s.wd), float32(lr)
	z := zero32
	s.pieces = eachPiece(s.pieces, params, 4, func(i, j0, j1 int) {
		w, g, u := params[i][j0:j1], grads[i][j0:j1], s.u[i][j0:j1]
		for j := range w {
			// z + g: −0 read as +0, as from an accumulated gradient (step).
			u[j] = float32(mu*u[j]) + (z + g[j]) + float32(wd*w[j])
			w[j] -= eta * u[j]
		}
	})
}

func (s *sgd) State() map[string][]float32 {
	st := map[string][]float32{}
	for i := range s.u {
		st[fmt.Sprintf("sgd.u.%d", i)] = s.u[i]
	}
	return st
}

func (s *sgd) SetState(st map[string][]float32) error {
	for i := range s.u {
		u := st[fmt.Sprintf("sgd.u.%d", i)]
		if len(u) != len(s.u[i]) {
			return fmt.Errorf("train: checkpoint's SGD state %d missing or of the wrong size", i)
		}
		copy(s.u[i], u)
	}
	return nil
}

// zero32 is +0 in a variable, so that zero32 + g is computed (turning −0
// into +0) and not simplified to g.
var zero32 float32
