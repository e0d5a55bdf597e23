package train

import (
	"fmt"
	"math"
)

// Adam holds the moments of Adam (Kingma & Ba 2015, Algorithm 1) for a
// list of tensors. It is the one Adam of the package: the optimizer of
// the weights (adamW) and the learned step sizes of LSQ (lsqScales) both
// take their update direction from it.
//
//	m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
//	direction = m̂ / (√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t)
type Adam struct {
	m, v         [][]float32
	t            float64
	beta1, beta2 float64
	eps          float64
	c1, c2       float32 // bias corrections of the current step
	c1d, c2d     float64 // the same in float64 (the weights' kernel)
}

// NewAdam returns Adam for tensors of the given sizes with the given ε.
func NewAdam(sizes []int, eps float64) *Adam {
	a := &Adam{beta1: 0.9, beta2: 0.999, eps: eps}
	for _, n := range sizes {
		a.m = append(a.m, make([]float32, n))
		a.v = append(a.v, make([]float32, n))
	}
	return a
}

// Tick starts a step: t ← t+1 and the bias corrections.
func (a *Adam) Tick() {
	a.t++
	a.c1d = 1 / (1 - math.Pow(a.beta1, a.t))
	a.c2d = 1 / (1 - math.Pow(a.beta2, a.t))
	a.c1, a.c2 = float32(a.c1d), float32(a.c2d)
}

// Direction updates the moments of tensor i with gradient g and writes
// the bias-corrected direction into d (len(d) = len(g)).
func (a *Adam) Direction(i int, g, d []float32) {
	m, v := a.m[i], a.v[i]
	b1, b2 := float32(a.beta1), float32(a.beta2)
	c1, c2, eps := a.c1, a.c2, float32(a.eps)
	_, _, _ = m[len(g)-1], v[len(g)-1], d[len(g)-1]
	for j, gj := range g {
		m[j] = float32(b1*m[j]) + float32((1-b1)*gj)
		v[j] = float32(b2*v[j]) + float32((1-b2)*gj*gj)
		d[j] = c1 * m[j] / (float32(math.Sqrt(float64(v[j]*c2))) + eps)
	}
}

// stepSplit is the base in which the step count is stored: float32
// holds every integer below 2^24 exactly, so the count is the pair
// {t mod 2^24, t div 2^24} (exact up to 2^48 steps). Files before the
// pair stored {t} as one float32, wrong after 2^24 steps; they still load.
const stepSplit = 1 << 24

// Moments returns the moments and step count under names starting with prefix.
func (a *Adam) Moments(prefix string) map[string][]float32 {
	t := uint64(a.t)
	s := map[string][]float32{prefix + "t": {float32(t % stepSplit), float32(t / stepSplit)}}
	for i := range a.m {
		s[fmt.Sprintf("%sm.%d", prefix, i)] = a.m[i]
		s[fmt.Sprintf("%sv.%d", prefix, i)] = a.v[i]
	}
	return s
}

// SetMoments restores what Moments returned.
func (a *Adam) SetMoments(prefix string, s map[string][]float32) error {
	ts, ok := s[prefix+"t"]
	whole := func(v float32) bool { return v >= 0 && v < stepSplit && v == float32(math.Trunc(float64(v))) }
	var t float64
	switch {
	case ok && len(ts) == 1 && ts[0] >= 0 && ts[0] < stepSplit*stepSplit && ts[0] == float32(math.Trunc(float64(ts[0]))):
		// Before the pair: exact below 2^24, the nearest float32 above;
		// below 2^48, the most the pair Moments writes back holds.
		t = float64(ts[0])
	case ok && len(ts) == 2 && whole(ts[0]) && whole(ts[1]):
		t = float64(ts[1])*stepSplit + float64(ts[0])
	default:
		return fmt.Errorf("train: checkpoint has no Adam state %st (or not a step count: %v)", prefix, ts)
	}
	for i := range a.m {
		m, v := s[fmt.Sprintf("%sm.%d", prefix, i)], s[fmt.Sprintf("%sv.%d", prefix, i)]
		if len(m) != len(a.m[i]) || len(v) != len(a.v[i]) {
			return fmt.Errorf("train: checkpoint's Adam state %s%d is missing or has the wrong size", prefix, i)
		}
		// v is a moving average of squares: a negative or non-finite
		// one (or a non-finite m) makes every later step NaN.
		for j := range m {
			if !isFinite32(m[j]) || !(v[j] >= 0) || !isFinite32(v[j]) {
				return fmt.Errorf("train: checkpoint's Adam state %s%d: element %d has moments %v, %v", prefix, i, j, m[j], v[j])
			}
		}
		copy(a.m[i], m)
		copy(a.v[i], v)
	}
	a.t = t
	return nil
}

// isFinite32 reports whether v is neither NaN nor ±Inf.
func isFinite32(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
