package infer

import (
	"math"
	"slices"
	"testing"
)

// TestArgmax: the first of equal values wins, a NaN never beats an
// earlier value and wins in first place, rows are k values apart.
func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		v    []float32
		k    int
		want []int
	}{
		{"rows", []float32{1, 3, 2, 5, 4, 0}, 3, []int{1, 0}},
		{"ties", []float32{2, 2, 1, 0, 7, 7}, 3, []int{0, 1}},
		{"nan later", []float32{1, nan, 0.5}, 3, []int{0}},
		{"nan first", []float32{nan, 9, 10}, 3, []int{0}},
		{"one column", []float32{4, -1, 3}, 1, []int{0, 0, 0}},
		{"none", nil, 4, []int{}},
	} {
		got := make([]int, len(tc.want))
		Argmax(got, tc.v, tc.k)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	got := make([]int, 2)
	Argmax(got, []int32{-5, -3, -3, 0, 1, -1}, 3)
	if !slices.Equal(got, []int{1, 1}) {
		t.Errorf("int32 rows: %v, want [1 1]", got)
	}
}
