package infer

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestPackBiasEdges (issue 17, item 15 of the probe): the packed biases
// b = bias + (lo − Z)·Σw and b128 = b + 128·Σw at the edges Validate
// admits (|bias| = 2^30 − 1, the longest fan-in, every weight ±127, the
// input offset lo and zero point Z at their extremes) are exact: computed
// in int64 they fit int32 although b and 128·Σw bounded apart (the old
// comment's argument) reach past 2^31; the kernels of every level,
// including AVX2's signed ones that start from b128, give the int64
// reference's sums. Beyond Validate's bounds packBias refuses instead of
// wrapping.
func TestPackBiasEdges(t *testing.T) {
	const k, m, n = maxFanIn, 16, 4
	apart := false              // some case the old argument could not bound
	signed := map[string]bool{} // levels with signed kernels → used
	for _, c := range []struct {
		name          string
		lo, hi, zero  int32
		bias          int32
		weight, input int32 // every weight; every stored input (lo or hi)
	}{
		{"int8 relu, +bias, +w", 0, 127, 0, 1<<30 - 1, 127, 127},
		{"int8 relu, -bias, -w", 0, 127, 0, -(1<<30 - 1), -127, 127},
		{"int8, -bias, +w, low inputs", -127, 127, 0, -(1<<30 - 1), 127, -127},
		{"int8, +bias, -w, low inputs", -127, 127, 0, 1<<30 - 1, -127, -127},
		{"uint8 Z=255, -bias, +w", 0, 255, 255, -(1<<30 - 1), 127, 0},
		{"uint8 Z=255, +bias, -w", 0, 255, 255, 1<<30 - 1, -127, 0},
		{"uint8 relu at Z=255, +bias, +w", 255, 255, 255, 1<<30 - 1, 127, 255},
	} {
		sum := int64(c.weight) * k
		b, b128, err := packBias(c.bias, c.lo, c.zero, sum)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantB := int64(c.bias) + int64(c.lo-c.zero)*sum
		if int64(b) != wantB || int64(b128) != wantB+128*sum {
			t.Fatalf("%s: packed %d, %d; want %d, %d", c.name, b, b128, wantB, wantB+128*sum)
		}
		if abs64(wantB)+abs64(128*sum) > math.MaxInt32 {
			apart = true
		}
		w := make([]int8, m*k)
		for i := range w {
			w[i] = int8(c.weight)
		}
		bias := make([]int32, m)
		for i := range bias {
			bias[i] = c.bias
		}
		// The true accumulator: bias + Σ (s − Z)·w, in int64.
		acc := int64(c.bias) + int64(c.input-c.zero)*sum
		if acc != int64(int32(acc)) {
			t.Fatalf("%s: the accumulator %d does not fit int32: not a valid model", c.name, acc)
		}
		for _, lv := range availableLevels() {
			pw := packWeights(w, bias, m, k, c.lo, c.hi, c.zero, lv)
			if lv.exact2 != nil {
				signed[lv.name] = signed[lv.name] || lv.kernels(pw) == lv.exact2
			}
			u := make([]uint8, n*pw.kp)
			for i := 0; i < n; i++ {
				for j := 0; j < k; j++ {
					u[i*pw.kp+j] = uint8(c.input - c.lo)
				}
			}
			out := make([]int32, n*pw.mp)
			gemmPacked(lv, out, pw.mp, u, pw.kp, pw, n)
			for i := 0; i < n; i++ {
				if got := out[i*pw.mp : i*pw.mp+m]; !slices.Equal(got, slices.Repeat([]int32{int32(acc)}, m)) {
					t.Fatalf("%s, level %s (signed kernels %v): row %d is %v, want %d", c.name, lv.name, lv.kernels(pw).signedOrNil(), i, got[:2], acc)
				}
			}
		}
	}
	for name, used := range signed {
		if !used {
			t.Errorf("level %s: the signed kernels (bias128) never ran", name)
		}
	}
	if !apart {
		t.Error("no case where b and 128·Σw, bounded apart, exceed int32: the edges are not tested")
	}
	// Outside Validate's bounds: an error, not a wrapped bias.
	for _, c := range []struct {
		bias, lo, zero int32
		sum            int64
	}{
		{math.MaxInt32, 0, 0, 1},                   // b128 = 2^31 − 1 + 128
		{1 << 30, 0, 255, -127 * 40000},            // b beyond 2^31
		{1<<30 - 1, 200, 0, 127 * int64(maxFanIn)}, // lo above Z: lo − Z + 128 = 328
	} {
		if b, b128, err := packBias(c.bias, c.lo, c.zero, c.sum); err == nil || !strings.Contains(err.Error(), "do not fit int32") {
			t.Errorf("bias %d, lo %d, Z %d, Σw %d: packed %d, %d, err %v", c.bias, c.lo, c.zero, c.sum, b, b128, err)
		}
	}
}

func abs64(v int64) int64 { return max(v, -v) }

// signedOrNil describes a kernel set for the test's messages.
func (ks *kernelSet) signedOrNil() string {
	if ks == nil {
		return "go"
	}
	return fmt.Sprint(ks.signed)
}
