package train

import (
	"fmt"
	"math"
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

// NewOptimizer returns "adam" or "sgd" (with momentum) for parameters of the given sizes.
func NewOptimizer(name string, sizes []int, momentum, weightDecay float64) (Optimizer, error) {
	switch name {
	case "adam":
		return newAdam(sizes, weightDecay), nil
	case "sgd":
		return newSGD(sizes, momentum, weightDecay), nil
	}
	return nil, fmt.Errorf("train: unknown optimizer %q (adam or sgd)", name)
}

// Adam (Kingma & Ba 2015, Algorithm 1) with decoupled weight decay
// (Loshchilov & Hutter 2019, AdamW) when weightDecay > 0:
//
//	m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
//	w ← w − lr·( m̂ / (√v̂ + ε) + λ·w ),   m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
type adam struct {
	m, v         [][]float32
	t            float64
	beta1, beta2 float64
	eps, wd      float64
}

func newAdam(sizes []int, wd float64) *adam {
	a := &adam{beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: wd}
	for _, n := range sizes {
		a.m = append(a.m, make([]float32, n))
		a.v = append(a.v, make([]float32, n))
	}
	return a
}

func (a *adam) Step(params, grads [][]float32, lr float64) {
	a.t++
	c1 := 1 / (1 - math.Pow(a.beta1, a.t))
	c2 := 1 / (1 - math.Pow(a.beta2, a.t))
	b1, b2 := float32(a.beta1), float32(a.beta2)
	for i, w := range params {
		g, m, v := grads[i], a.m[i], a.v[i]
		stepSize := float32(lr * c1)
		sc2 := float32(c2)
		eps := float32(a.eps)
		decay := float32(1 - lr*a.wd)
		_, _, _ = g[len(w)-1], m[len(w)-1], v[len(w)-1]
		for j := range w {
			gj := g[j]
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			w[j] = w[j]*decay - stepSize*m[j]/(float32(math.Sqrt(float64(v[j]*sc2)))+eps)
		}
	}
}

func (a *adam) State() map[string][]float32 {
	s := map[string][]float32{"adam.t": {float32(a.t)}}
	for i := range a.m {
		s[fmt.Sprintf("adam.m.%d", i)] = a.m[i]
		s[fmt.Sprintf("adam.v.%d", i)] = a.v[i]
	}
	return s
}

func (a *adam) SetState(s map[string][]float32) error {
	t, ok := s["adam.t"]
	if !ok || len(t) != 1 {
		return fmt.Errorf("train: checkpoint has no Adam state")
	}
	for i := range a.m {
		m, v := s[fmt.Sprintf("adam.m.%d", i)], s[fmt.Sprintf("adam.v.%d", i)]
		if len(m) != len(a.m[i]) || len(v) != len(a.v[i]) {
			return fmt.Errorf("train: checkpoint's Adam state %d has the wrong size", i)
		}
		copy(a.m[i], m)
		copy(a.v[i], v)
	}
	a.t = float64(t[0])
	return nil
}

// sgd is stochastic gradient descent with (heavy-ball) momentum and L2 weight decay:
//
//	u ← μ·u + g + λ·w      w ← w − lr·u
type sgd struct {
	u       [][]float32
	mom, wd float64
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
	for i, w := range params {
		g, u := grads[i], s.u[i]
		for j := range w {
			u[j] = mu*u[j] + g[j] + wd*w[j]
			w[j] -= eta * u[j]
		}
	}
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

// LearningRate is the schedule: cosine annealing from base to base/100 over
// the run (Loshchilov & Hutter 2017, without restarts), a function of the
// fractional epoch so that a resumed run follows the same curve.
//
//	lr(e) = base · (0.01 + 0.99 · (1 + cos(π·e/E)) / 2)
func LearningRate(schedule string, base, epoch float64, epochs int) float64 {
	switch schedule {
	case "constant":
		return base
	default: // "cosine"
		f := math.Min(epoch/float64(epochs), 1)
		return base * (0.01 + 0.99*(1+math.Cos(math.Pi*f))/2)
	}
}
