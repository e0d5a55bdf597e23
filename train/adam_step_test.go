package train

import "testing"

// TestAdamStepCountExact: the step count survives a checkpoint exactly
// past 2^24 steps (it was stored as one float32: 2^24+1 came back as
// 2^24 and the bias corrections differed from the uninterrupted run),
// and a file from before the pair still loads.
func TestAdamStepCountExact(t *testing.T) {
	for _, steps := range []float64{0, 1, 1<<24 - 1, 1 << 24, 1<<24 + 1, 1<<40 + 12345} {
		a := NewAdam([]int{3}, 1e-8)
		a.t = steps
		b := NewAdam([]int{3}, 1e-8)
		if err := b.SetMoments("adam.", a.Moments("adam.")); err != nil {
			t.Fatal(err)
		}
		if b.t != steps {
			t.Errorf("step %v came back as %v", steps, b.t)
		}
	}
	old := map[string][]float32{"adam.t": {77}, "adam.m.0": make([]float32, 3), "adam.v.0": make([]float32, 3)}
	b := NewAdam([]int{3}, 1e-8)
	if err := b.SetMoments("adam.", old); err != nil || b.t != 77 {
		t.Errorf("old single-float step count: t %v, %v", b.t, err)
	}
	for _, bad := range [][]float32{{-1}, {0.5}, {1, 1 << 24}, {1, 2, 3}, {}} {
		s := map[string][]float32{"adam.t": bad, "adam.m.0": make([]float32, 3), "adam.v.0": make([]float32, 3)}
		if err := NewAdam([]int{3}, 1e-8).SetMoments("adam.", s); err == nil {
			t.Errorf("step count %v accepted", bad)
		}
	}
}
