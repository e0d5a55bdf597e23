package datasets

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestResize: worked examples of the documented interpolation, each
// computed by hand from its definition.
func TestResize(t *testing.T) {
	tests := []struct {
		name    string
		c, h, w int
		src     []uint8
		oh, ow  int
		want    []uint8
	}{
		// Area: output 0 covers input [0, 1.5): (0·1 + 90·½)/1.5 = 30;
		// output 1 covers [1.5, 3): (90·½ + 180·1)/1.5 = 150.
		{"shrink 3→2", 1, 1, 3, []uint8{0, 90, 180}, 1, 2, []uint8{30, 150}},
		// Area 2×: the mean of each 2×2 block; (1+2+5+6)/4 = 3.5 rounds up to 4.
		{"shrink 4x4→2x2", 1, 4, 4, []uint8{
			1, 2, 3, 4,
			5, 6, 7, 8,
			10, 20, 30, 40,
			50, 60, 70, 80}, 2, 2, []uint8{4, 6, 35, 55}},
		// Bilinear: samples at −¼ (clamped to 0), ¼, ¾, 1¼ (clamped to 1).
		{"enlarge 2→4", 1, 1, 2, []uint8{0, 100}, 1, 4, []uint8{0, 25, 75, 100}},
		// Rows enlarged 1→2 (a copy of the row), columns shrunk 2→1 (the mean), per channel.
		{"mixed, 2 channels", 2, 1, 2, []uint8{10, 20, 200, 255}, 2, 1, []uint8{15, 15, 228, 228}},
		{"same size", 3, 1, 1, []uint8{7, 8, 9}, 1, 1, []uint8{7, 8, 9}},
	}
	for _, tc := range tests {
		got := make([]uint8, tc.c*tc.oh*tc.ow)
		Resize(got, tc.src, tc.c, tc.h, tc.w, tc.oh, tc.ow)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestResizeConstant: every weight set sums to one, so a constant image
// stays constant at any scale.
func TestResizeConstant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		h, w, oh, ow := 1+rng.IntN(40), 1+rng.IntN(40), 1+rng.IntN(40), 1+rng.IntN(40)
		v := uint8(rng.IntN(256))
		src := make([]uint8, h*w)
		for i := range src {
			src[i] = v
		}
		dst := make([]uint8, oh*ow)
		Resize(dst, src, 1, h, w, oh, ow)
		for i, p := range dst {
			if p != v {
				t.Fatalf("%dx%d→%dx%d of constant %d: pixel %d is %d", h, w, oh, ow, v, i, p)
			}
		}
	}
}
