package infer

import (
	"fmt"
	"math"

	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// TestGraphMatchesInterpreter runs the ResNet-like graph (every new kind)
// through the runtime at every level of this CPU, at
// batch 1, 3, 64 and 130 (64 and 130 split over two goroutines; batch 3
// only for the variant with add multipliers 2^33 apart), and compares the
// logits, and every layer's output through the trace, with the slow
// interpreter bit for bit.
func TestGraphMatchesInterpreter(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(13, 13))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		for _, wide := range []bool{false, true} {
			m := resModel(t, rng, mode, wide)
			sizes := []int{1, 3, 64, 130}
			if wide { // only the second add's multipliers differ: one small batch
				sizes = []int{3}
			}
			for _, n := range sizes {
				x := randInput(rng, m, n)
				want := interpretMode(m, x, n)
				for _, lv := range availableLevels() {
					withLevel(lv, func() {
						where := fmt.Sprintf("%s wide=%v n=%d level %s", mode, wide, n, lv.name)
						got, err := m.Logits(x, n)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want[len(want)-1]) {
							t.Fatalf("%s: logits differ", where)
						}
						if n == 64 {
							return
						}
						_, err = m.trace(x, n, func(li int, out []int32) {
							if !slices.Equal(out, want[li]) {
								t.Fatalf("%s: layer %d (%s) differs", where, li, m.Layers[li].Kind)
							}
						})
						if err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}

// TestGraphModelsAreNotDegenerate guards the test above against a model
// whose layers saturate or collapse (every value equal): each layer of
// the ResNet-like graph must produce at least 8 distinct values over 64
// samples.
func TestGraphModelsAreNotDegenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	m := resModel(t, rng, W8A8Asym, false)
	outs := interpret[uint8](m, randInput(rng, m, 64), 64)
	for li, o := range outs {
		d := map[int32]bool{}
		for _, v := range o {
			d[v] = true
		}
		if len(d) < 8 {
			t.Errorf("layer %d (%s): %d distinct values", li, m.Layers[li].Kind, len(d))
		}
	}
}

// TestGraphSaveLoad round-trips the graph model (add multipliers as
// tensors, groups, inputs) through a file, bit-identical logits.
func TestGraphSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, mode := range []Mode{W8A8, W8A8Asym, W8Only} {
		m := resModel(t, rng, mode, false)
		path := filepath.Join(t.TempDir(), "g")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x := randInput(rng, m, 5)
		if mode == W8Only {
			a, err1 := m.FloatLogits(x, 5)
			b, err2 := got.FloatLogits(x, 5)
			if err1 != nil || err2 != nil || !slices.Equal(a, b) {
				t.Fatalf("%s: %v %v", mode, err1, err2)
			}
			continue
		}
		a, _ := m.Logits(x, 5)
		b, err := got.Logits(x, 5)
		if err != nil || !slices.Equal(a, b) {
			t.Fatalf("%s: logits differ after a round trip (%v)", mode, err)
		}
	}
}

// TestGraphWeightOnly runs the graph model in w8-only mode and compares
// with the float64 oracle: float32 sums of at most 72 products of values
// below ~10 differ from float64 by a few float32 ulps of the running sum
// (~1e-6 relative); 1e-4 of the logits' largest magnitude allows for that
// through five layers.
func TestGraphWeightOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	m := resModel(t, rng, W8Only, false)
	for _, n := range []int{1, 7} {
		x := randInput(rng, m, n)
		got, err := m.FloatLogits(x, n)
		if err != nil {
			t.Fatal(err)
		}
		want := interpretFloat(m, x, n)
		scale := 0.0
		for _, v := range want {
			scale = max(scale, math.Abs(v))
		}
		if scale == 0 {
			t.Fatal("all logits are 0")
		}
		for i := range want {
			if d := math.Abs(float64(got[i]) - want[i]); d > 1e-4*scale {
				t.Fatalf("n=%d logit %d: %v, want %v (scale %v)", n, i, got[i], want[i], scale)
			}
		}
	}
}

// TestGraphLogitsIntoAllocatesNothing: a warm call of a graph model
// (buffer slots, add tables, padded images, groups) allocates nothing, on
// one goroutine or split over two.
func TestGraphLogitsIntoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(17, 17))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		m := resModel(t, rng, mode, false)
		for _, n := range []int{1, 130} {
			x := randInput(rng, m, n)
			dst := make([]int32, n*m.Classes)
			if err := m.LogitsInto(dst, x, n); err != nil {
				t.Fatal(err)
			}
			if a := steadyMallocs(func() { _ = m.LogitsInto(dst, x, n) }); a != 0 {
				t.Errorf("%s batch %d: %d allocations in every round of 20 warm calls", mode, n, a)
			}
		}
	}
}

// TestPlanSlots: a chain of layers ping-pongs between two buffer slots
// (lenet5, lenet300: as before graphs); a ResNet with one shortcut live
// at a time holds a third.
func TestPlanSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	for _, c := range []struct {
		m     *Model
		slots int
	}{
		{randModel(t, rng, "lenet5", W8A8), 2},
		{randModel(t, rng, "lenet300", W8A8), 2},
		{resnet8Shape(t, W8A8), 3},
		{mobilenetShape(t, W8A8Asym), 2},
	} {
		if got := len(c.m.plan().slots); got != c.slots {
			t.Errorf("%s: %d buffer slots, want %d", c.m.Arch, got, c.slots)
		}
	}
}

// TestBenchModelsMatchInterpreter runs the benchmark's resnet8 and
// mobilenet-tiny shapes (16 to 64 channels, one-channel 3×3 stems,
// pointwise convolutions read in place, 1×1 stride-2 projections) at
// every level of this CPU, at batch 1 and a ragged
// batch of 5 (several samples per GEMM call, a short last call), and
// compares the logits and every layer's output with the slow interpreter
// bit for bit.
func TestBenchModelsMatchInterpreter(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, m := range []*Model{resnet8Shape(t, W8A8), mobilenetShape(t, W8A8), resnet8Shape(t, W8A8Asym), mobilenetShape(t, W8A8Asym)} {
		for _, n := range []int{1, 5} {
			x := randInput(rng, m, n)
			want := interpretMode(m, x, n)
			checkLevels(t, fmt.Sprintf("%s %s n=%d", m.Arch, m.Mode, n), m, x, n, want)
		}
	}
}

// checkLevels runs m on the n inputs x at every level of this CPU and
// compares every layer's output (through the trace) and the logits with
// want, the interpreter's (interpretMode), bit for bit.
func checkLevels(t *testing.T, what string, m *Model, x []float32, n int, want [][]int32) {
	t.Helper()
	for _, lv := range availableLevels() {
		withLevel(lv, func() {
			where := fmt.Sprintf("%s level %s", what, lv.name)
			_, err := m.trace(x, n, func(li int, out []int32) {
				if !slices.Equal(out, want[li]) {
					t.Fatalf("%s: layer %d (%s) differs", where, li, m.Layers[li].Kind)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Logits(x, n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want[len(want)-1]) {
				t.Fatalf("%s: logits differ", where)
			}
		})
	}
}
