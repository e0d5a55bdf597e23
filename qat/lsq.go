package qat

import (
	"fmt"
	"strings"

	"github.com/tinyqat/tinyqat/train"
)

// lsqScales trains the scales of learned step size quantization (Esser et
// al. 2019): Adam on ∂L/∂S, one instance per slot, with a step relative to
// each scale so that layers of very different scales train alike:
//
//	S ← S − lr_S · S · m̂/(√v̂ + ε),   lr_S = lr/10
type lsqScales map[string]*train.Adam

// lsqRate is the scales' learning rate relative to the weights' (the
// value this package has used since LSQ was added).
const lsqRate = 0.1

// lsqEps is Adam's ε for the scales (likewise): their gradients carry
// LSQ's factor 1/√(N·Q_p), so they are small and a larger ε would damp
// them.
const lsqEps = 1e-12

// AfterStep trains the scales with LSQ after every optimizer step.
func (q *Quantizer) AfterStep(lr float64) {
	if !q.learnedScales {
		return
	}
	for _, name := range q.order {
		if !q.learnsScale(name) {
			continue
		}
		st := q.states[name]
		g := st.TakeScaleGrad()
		if g == nil {
			continue
		}
		a := q.scales[name]
		if a == nil {
			a = train.NewAdam([]int{len(g)}, lsqEps)
			q.scales[name] = a
		}
		g32, d := make([]float32, len(g)), make([]float32, len(g))
		for i, v := range g {
			g32[i] = float32(v)
		}
		a.Tick()
		a.Direction(0, g32, d)
		scale := st.Params().Scale
		delta := make([]float64, len(g))
		for i := range delta {
			delta[i] = lr * lsqRate * float64(scale[i]) * float64(d[i])
		}
		st.StepScale(delta)
	}
}

func lsqPrefix(slot string) string { return "lsq." + slot + ".adam." }

// state adds the moments of every slot's scales to ts.
func (s lsqScales) state(ts map[string][]float32) {
	for name, a := range s {
		for k, v := range a.Moments(lsqPrefix(name)) {
			ts[k] = append([]float32(nil), v...)
		}
	}
}

// setState restores the moments of the slots that have them in ts.
func (s lsqScales) setState(slots []string, ts map[string][]float32) error {
	clear(s)
	for _, name := range slots {
		m := ts[lsqPrefix(name)+"m.0"]
		if m == nil {
			// No step taken yet: then none of its moments either (a
			// part of them would be dropped without a word).
			for k := range ts {
				if strings.HasPrefix(k, lsqPrefix(name)) {
					return fmt.Errorf("qat: learned scales of %s: checkpoint has %s but not %sm.0", name, k, lsqPrefix(name))
				}
			}
			continue
		}
		if sc := ts[name+".scale"]; len(m) != len(sc) {
			return fmt.Errorf("qat: learned scales of %s: %d moments for %d scales", name, len(m), len(sc))
		}
		a := train.NewAdam([]int{len(m)}, lsqEps)
		if err := a.SetMoments(lsqPrefix(name), ts); err != nil {
			return fmt.Errorf("qat: learned scales of %s: %w", name, err)
		}
		s[name] = a
	}
	return nil
}
