package infer

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPeakLoopsCompute runs each level's peak loop a few times and checks
// the first accumulator's lane 0: iters·Σ_{b<4} u[b]·w[b], so the loop ran
// its dot-product instruction iters times on the operands given (a loop
// that did nothing, or did it a different number of times, fails).
func TestPeakLoopsCompute(t *testing.T) {
	var u [64]uint8
	var w [64]int8
	for i := range u {
		u[i], w[i] = uint8(3*i+1), int8(i%7-3)
	}
	// u = 1, 4, 7, 10; w = −3, −2, −1, 0: −3 − 8 − 7 + 0 = −18 per step.
	const perIter = -18
	for _, lv := range availableLevels() {
		for _, iters := range []int{0, 1, 3, 1000} {
			got, macs := peakIters(lv, &u, &w, iters)
			if got != int32(perIter*iters) {
				t.Errorf("%s, %d iterations: lane 0 = %d, want %d", lv.name, iters, got, perIter*iters)
			}
			if iters > 0 && macs < int64(iters)*64 {
				t.Errorf("%s, %d iterations: %d MACs counted, want at least 64 per iteration", lv.name, iters, macs)
			}
		}
	}
}

// TestMeasurePeakEveryLevel measures the peak at every level the CPU has
// (forced as the tests force the GEMM's) and checks that it names the
// level and found a positive rate (no timing threshold: the machine is
// shared).
func TestMeasurePeakEveryLevel(t *testing.T) {
	for _, lv := range availableLevels() {
		old := testLevel
		testLevel = lv
		p := MeasurePeak(time.Millisecond)
		testLevel = old
		if p.Level != lv.name || !(p.GMACs > 0) {
			t.Errorf("level %s: MeasurePeak = %+v", lv.name, p)
		}
	}
}

// TestTimeLayers times resnet8's shape and checks the table: one row for
// the input and one per layer, in order, each layer's MACs from its
// definition (OutC·(InC/groups)·K·K·OutH·OutW for a convolution, OutC·In
// for a linear layer), and a positive time for every weighted layer (the
// clock ran around each).
func TestTimeLayers(t *testing.T) {
	m := resnet8Shape(t, W8A8)
	const n = 5
	x := randInput(rand.New(rand.NewPCG(3, 3)), m, n)
	want, err := m.Logits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	times, err := m.TimeLayers(x, n, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != len(m.Layers)+1 || times[0].Layer != -1 || times[0].Kind != "input" {
		t.Fatalf("%d rows (first %+v), want the input and %d layers", len(times), times[0], len(m.Layers))
	}
	for i, l := range m.Layers {
		r := times[i+1]
		want := int64(0)
		switch l.Kind {
		case KindConv2D:
			want = int64(l.OutC * l.InC / l.groups() * l.K * l.K * l.OutH * l.OutW)
		case KindLinear:
			want = int64(l.OutC * l.InSize())
		}
		if r.Layer != i || r.Kind != l.Kind || r.MACs != want || r.Time < 0 {
			t.Errorf("layer %d (%s): %+v, want %d MACs", i, l.Kind, r, want)
		}
		if l.Kind.Weighted() && (r.Time <= 0 || !(r.GMACs(n) > 0)) {
			t.Errorf("layer %d (%s): time %v, %v G MAC/s", i, l.Kind, r.Time, r.GMACs(n))
		}
	}
	// The logits of a timed model are unchanged (the clock only reads time).
	got, _ := m.Logits(x, n)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d changed after TimeLayers", i)
		}
	}
}

// TestTimeLayersErrors checks TimeLayers' refusals: no rounds, an input
// of the wrong length, and a model that computes in float.
func TestTimeLayersErrors(t *testing.T) {
	m := resnet8Shape(t, W8A8)
	x := randInput(rand.New(rand.NewPCG(3, 3)), m, 2)
	if _, err := m.TimeLayers(x, 2, 0); err == nil {
		t.Error("0 rounds: no error")
	}
	var ie *InputError
	if _, err := m.TimeLayers(x[:len(x)-1], 2, 1); !errors.As(err, &ie) {
		t.Errorf("short input: %v, want an InputError", err)
	}
	w8 := resnet8Shape(t, W8A8)
	w8.Mode = W8Only
	if _, err := w8.TimeLayers(x, 2, 1); err == nil {
		t.Error("w8-only model: no error")
	}
}
