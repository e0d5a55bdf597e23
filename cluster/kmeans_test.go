package cluster

import (
	"context"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/calibrate"
)

// TestClusterPerChannel: per-channel codebooks of a (3, 2) weight decode
// exactly with enough centroids; one per tensor has Lloyd's centroids.
func TestClusterPerChannel(t *testing.T) {
	// A (3, 2) Linear weight, channels on axis 1: channel 0 holds 1, 2, 3,
	// channel 1 holds 100, 200, 300.
	w := f32s(1, 100, 2, 200, 3, 300)
	for _, exact := range []bool{false, true} {
		cb, err := KMeansCodebook(context.Background(), calibrate.KMeans{Bits: 2, Exact: exact}, w, []int{3, 2}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := cb.Validate(); err != nil {
			t.Fatal(err)
		}
		// 3 distinct values per channel ≤ 4 centroids: decoding is exact.
		got := make([]float32, len(w))
		cb.Decode(got)
		if !slices.Equal(got, w) {
			t.Errorf("exact=%v: decoded %v, want %v", exact, got, w)
		}
		if len(cb.Centroids) != 8 {
			t.Errorf("%d centroids, want 2 channels × 4", len(cb.Centroids))
		}
	}
	cb, err := KMeansCodebook(context.Background(), calibrate.KMeans{Bits: 1}, w, []int{3, 2}, -1)
	if err != nil {
		t.Fatal(err)
	}
	// Per tensor, 2 centroids: {1, 2, 3, 100} vs {200, 300} (Lloyd from
	// 1 and 300: midpoint 150.5; means 26.5 and 250; midpoint 138.25: stable).
	if want := f32s(26.5, 250); !slices.Equal(cb.Centroids, want) {
		t.Errorf("per-tensor centroids %v, want %v", cb.Centroids, want)
	}
}

// TestKMeansCodebookShape: weights that do not fill the shape are refused.
func TestKMeansCodebookShape(t *testing.T) {
	if _, err := KMeansCodebook(context.Background(), calibrate.KMeans{Bits: 2}, f32s(1, 2, 3, 4), []int{3}, -1); err == nil {
		t.Error("shape mismatch: no error")
	}
	if _, err := KMeansCodebook(context.Background(), calibrate.KMeans{Bits: 9}, f32s(1, 2, 3, 4), []int{4}, -1); err == nil {
		t.Error("bits 9: no error")
	}
}

func f32s(v ...float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
