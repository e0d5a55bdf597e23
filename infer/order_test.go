package infer

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestConvHeadLogitsAreCHW (issue 17, item 1): a network whose last
// weighted unit is a convolution with several channels and a spatial size
// above 1, flattened straight into the logits, returns them in the
// model's (and the simulation's) CHW flatten order, not the runtime's
// channels-last buffer order: Logits, LogitsInto, the trace's last layer,
// and (w8-only) FloatLogits agree with the oracles, on one goroutine and
// split over two.
func TestConvHeadLogitsAreCHW(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(41, 41))
	for _, mode := range []Mode{W8A8, W8A8Asym, W8Only} {
		// 1×8×8 → conv 5@4×4 stride 4 → 5×2×2 → flatten: 20 classes.
		g := newGraph(t, rng, mode, "convhead", 1, 8, 8, 20)
		g.weighted(-2, 5, 4, 4, 0, 0, false, false)
		g.flatten()
		m := g.done()
		for _, n := range []int{1, 3, 200} {
			x := randInput(rng, m, n)
			where := fmt.Sprintf("%s n=%d", mode, n)
			if mode == W8Only {
				got, err := m.FloatLogits(x, n)
				if err != nil {
					t.Fatal(err)
				}
				want := interpretFloat(m, x, n)
				for i := range want {
					if d := float64(got[i]) - want[i]; d > 1e-3 || d < -1e-3 {
						t.Fatalf("%s: logit %d is %v, want %v", where, i, got[i], want[i])
					}
				}
				continue
			}
			want := interpretMode(m, x, n)
			logits := want[len(want)-1]
			if slices.Equal(logits, hwcOfCHW(logits, n, 5, 4)) {
				t.Fatalf("%s: the test cannot tell the orders apart", where)
			}
			got, err := m.Logits(x, n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, logits) {
				t.Errorf("%s: Logits are not in CHW order (channels-last: %v)", where, slices.Equal(got, hwcOfCHW(logits, n, 5, 4)))
			}
			dst := make([]int32, n*m.Classes)
			if err := m.LogitsInto(dst, x, n); err != nil || !slices.Equal(dst, logits) {
				t.Errorf("%s: LogitsInto differs (%v)", where, err)
			}
			pred, err := m.Predict(x, n)
			if err != nil || !slices.Equal(pred, argmaxRows(logits, n, m.Classes)) {
				t.Errorf("%s: Predict differs (%v)", where, err)
			}
			var traced []int32
			if _, err := m.LogitsTrace(x, n, func(li int, out []int32) {
				if li == len(m.Layers)-1 {
					traced = out
				}
			}); err != nil || !slices.Equal(traced, logits) {
				t.Errorf("%s: the trace's last layer differs (%v)", where, err)
			}
		}
	}
}

// hwcOfCHW is v (n rows of c×hw values, CHW) in channels-last order.
func hwcOfCHW(v []int32, n, c, hw int) []int32 {
	out := make([]int32, len(v))
	for s := 0; s < n; s++ {
		for ci := 0; ci < c; ci++ {
			for p := 0; p < hw; p++ {
				out[s*c*hw+p*c+ci] = v[s*c*hw+ci*hw+p]
			}
		}
	}
	return out
}
