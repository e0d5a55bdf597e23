package calibrate

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
)

// TestStateRoundTrip: an observer restored from its saved state continues
// exactly as the original (same ranges, bit for bit, after more batches).
func TestStateRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	batch := func() []float32 {
		x := make([]float32, 24)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		return x
	}
	for _, kind := range Kinds {
		for _, axis := range []int{-1, 1} {
			o, _ := New(kind, 4, quant.Symmetric)
			fresh, _ := New(kind, 4, quant.Symmetric)
			for range 3 {
				if err := o.Observe(batch(), []int{4, 6}, axis); err != nil {
					t.Fatal(err)
				}
			}
			b, err := o.(fakequant.StatefulObserver).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.(fakequant.StatefulObserver).UnmarshalBinary(b); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			for range 2 {
				x := batch()
				o.Observe(x, []int{4, 6}, axis)
				fresh.Observe(x, []int{4, 6}, axis)
			}
			lo1, hi1, _ := o.Range()
			lo2, hi2, _ := fresh.Range()
			if !slices.Equal(lo1, lo2) || !slices.Equal(hi1, hi2) {
				t.Errorf("%s axis %d: restored observer gives [%v, %v], original [%v, %v]", kind, axis, lo2, hi2, lo1, hi1)
			}
			// Damaged state is an error, never a panic or a silent reset.
			var se *StateError
			for _, bad := range [][]byte{nil, b[:len(b)-1], append(slices.Clone(b), 0), {9, b[1], 1, 1, 0, 0, 0}} {
				if err := fresh.(fakequant.StatefulObserver).UnmarshalBinary(bad); !errors.As(err, &se) {
					t.Errorf("%s: damaged state of %d bytes: %v", kind, len(bad), err)
				}
			}
		}
	}
	// State of one kind does not load into another.
	mm, _ := New("minmax", 8, quant.Symmetric)
	mm.Observe([]float32{1, 2}, []int{2}, -1)
	b, _ := mm.(fakequant.StatefulObserver).MarshalBinary()
	h, _ := New("percentile", 8, quant.Symmetric)
	if err := h.(fakequant.StatefulObserver).UnmarshalBinary(b); err == nil {
		t.Error("min/max state loaded into a histogram")
	}
	// An unseen observer round-trips to unseen.
	fresh, _ := New("ema", 8, quant.Symmetric)
	b, _ = fresh.(fakequant.StatefulObserver).MarshalBinary()
	mm.(fakequant.StatefulObserver).UnmarshalBinary(b)
	if _, _, err := mm.Range(); !errors.Is(err, ErrNoSamples) {
		t.Errorf("restored unseen state: %v", err)
	}
}
