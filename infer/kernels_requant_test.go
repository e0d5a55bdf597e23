package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// boundaryLevels are the levels this machine runs with distinct boundary
// kernels (AVX-512, AVX2, Go), best first: the boundary kernels' tests
// force each (withLevel).
func boundaryLevels() []*level {
	var out []*level
	for _, lv := range availableLevels() {
		if len(out) == 0 || out[len(out)-1].boundary != lv.boundary {
			out = append(out, lv)
		}
	}
	return out
}

// guard is the byte written around every output: a kernel that writes
// outside its rows or channels changes it.
const guard = 0xA5

// checkRequantU8 runs requantU8 on acc (n rows, stride accStride) into a
// guarded buffer of rows of rowStride bytes and compares every output with
// quant.Requantize, and every other byte with the guard.
func checkRequantU8(t *testing.T, acc []int32, n, m, accStride, rowStride int, m0, shift []int32, z, lo, hi int32) {
	t.Helper()
	const band = 64
	buf := make([]uint8, band+n*rowStride+band)
	for i := range buf {
		buf[i] = guard
	}
	requantU8(buf[band:band+n*rowStride], acc, n, m, accStride, m0, shift, z, lo, hi, rowStride)
	for i, v := range buf {
		r, c := (i-band)/rowStride, (i-band)%rowStride
		if i < band || r >= n || c >= m {
			if v != guard {
				t.Fatalf("n %d m %d: byte %d outside the output overwritten (%d)", n, m, i-band, v)
			}
			continue
		}
		a := acc[r*accStride+c]
		if want := quant.Requantize(a, m0[c], shift[c], z, lo, hi); int32(v) != want {
			t.Fatalf("acc %d, M0 %d, shift %d, Z %d, [%d, %d]: got %d, quant.Requantize %d", a, m0[c], shift[c], z, lo, hi, v, want)
		}
	}
}

// TestRequantU8Edges compares requantU8 at every level with quant.Requantize
// on the edges of its domain: accumulators at the int32 extremes, exact
// ties p = (2k+1)·2^(n−1) for every shift n in [1, 63] with even and odd
// k (rounding down and up), M0 at both ends of [2^23, 2^24), and clamps
// at both ends of the byte range.
func TestRequantU8Edges(t *testing.T) {
	type cs struct{ acc, m0, shift int32 }
	var cases []cs
	for _, m0 := range []int32{1 << 23, 1<<24 - 1, 1<<23 + 1, 12345678} {
		for sh := int32(1); sh <= 63; sh++ {
			for _, a := range []int32{math.MinInt32, math.MinInt32 + 1, math.MaxInt32, math.MaxInt32 - 1, 0, 1, -1, 2, -2, 3, -3, 127, -128, 1 << 20, -(1 << 20)} {
				cases = append(cases, cs{a, m0, sh})
			}
		}
	}
	// Exact ties p = (2k+1)·2^(n−1), k = −6…5 (even and odd floors): for
	// n ≥ 24, M0 = 2^23 and acc = (2k+1)·2^(n−24); for n < 24, acc = 2k+1
	// and M0 = 2^24 − 2^(n−1) = (2^(25−n) − 1)·2^(n−1), an odd multiple.
	for sh := int32(1); sh <= 63; sh++ {
		for k := int64(-6); k <= 5; k++ {
			switch {
			case sh >= 24 && sh <= 54: // |acc| < 2^31
				cases = append(cases, cs{int32((2*k + 1) << (sh - 24)), 1 << 23, sh})
			case sh < 24:
				cases = append(cases, cs{int32(2*k + 1), 1<<24 - 1<<(sh-1), sh})
			}
		}
	}
	for _, vec := range boundaryLevels() {
		withLevel(vec, func() {
			for _, q := range [][3]int32{{0, 0, 255}, {127, 0, 254}, {128, 0, 255}, {255, 0, 255}, {37, 37, 255}, {0, 0, 127}, {511, 0, 255}, {-511, 0, 255}, {1000, 0, 255}, {-40000, 0, 255}, {40000, 0, 255}} {
				// The cases as rows of 17 channels (a full group of 16 and a
				// masked one), case i at row i/17, channel i%17; the channels'
				// constants rotate so that each case also meets others.
				const m = 17
				n := (len(cases) + m - 1) / m
				acc, m0, shift := make([]int32, n*m), make([]int32, m), make([]int32, m)
				for i, c := range cases {
					acc[i] = c.acc
				}
				for rot := 0; rot < m; rot++ {
					for c := 0; c < m; c++ {
						m0[c], shift[c] = cases[(c+rot)%len(cases)].m0, cases[(c+rot)%len(cases)].shift
					}
					checkRequantU8(t, acc, n, m, m, m+3, m0, shift, q[0], q[1], q[2])
				}
				// And each case in every lane: two rows of 17 channels with
				// the case's constants (the edges reach lanes 0–15 and the
				// masked group).
				var acc2 [2 * m]int32
				var m02, sh2 [m]int32
				for _, c := range cases {
					for i := range acc2 {
						acc2[i] = c.acc
					}
					for i := range m02 {
						m02[i], sh2[i] = c.m0, c.shift
					}
					checkRequantU8(t, acc2[:], 2, m, m, m+1, m02[:], sh2[:], q[0], q[1], q[2])
				}
			}
		})
	}
}

// TestRequantU8Random compares requantU8 with quant.Requantize on random
// accumulators, multipliers and shapes with ragged channel counts.
func TestRequantU8Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, vec := range boundaryLevels() {
		withLevel(vec, func() {
			for _, m := range append(slices.Clone(raggedM), 8, 9, 10, 11, 12, 13, 14, 20, 50) { // every tail of the last group of 8, and lenet5's 20 and 50
				for _, n := range []int{1, 2, 7, 33} {
					t.Run(fmt.Sprint(vec, m, n), func(t *testing.T) {
						accStride := (m + 15) &^ 15
						if n%2 == 1 {
							accStride = m + n // unaligned strides too
						}
						acc := make([]int32, n*accStride)
						for i := range acc {
							switch rng.IntN(3) {
							case 0:
								acc[i] = int32(rng.Uint32())
							case 1:
								acc[i] = int32(rng.IntN(1<<20) - 1<<19)
							default:
								acc[i] = int32(rng.IntN(1<<12) - 1<<11)
							}
						}
						m0, shift := make([]int32, m), make([]int32, m)
						for c := range m0 {
							m0[c] = int32(1<<23 + rng.IntN(1<<23))
							shift[c] = int32(1 + rng.IntN(63))
							if rng.IntN(2) == 0 { // the shifts real layers use: M ≈ 2^−8…2^−14
								shift[c] = int32(30 + rng.IntN(10))
							}
						}
						z := int32(rng.IntN(256))
						lo := int32(rng.IntN(int(z) + 1))
						hi := z + int32(rng.IntN(256-int(z)))
						checkRequantU8(t, acc, n, m, accStride, m+rng.IntN(5), m0, shift, z, lo, hi)
					})
				}
			}
		})
	}
}

// TestRequantU8TieRounding checks that the tie cases of TestRequantU8Edges
// are ties: the rule's own half-to-even outcome on both parities.
func TestRequantU8TieRounding(t *testing.T) {
	for _, vec := range boundaryLevels() {
		withLevel(vec, func() {
			// acc·M0 / 2^n = 2.5 and 3.5 with n = 40: 5·2^16·2^23 / 2^40.
			got := make([]uint8, 2)
			requantU8(got, []int32{5 << 16, 7 << 16}, 1, 2, 2, []int32{1 << 23, 1 << 23}, []int32{40, 40}, 10, 0, 255, 2)
			if got[0] != 12 || got[1] != 14 { // 2.5 → 2, 3.5 → 4, plus Z = 10
				t.Errorf("vector %v: ties 2.5, 3.5 + 10 gave %v, want [12 14]", vec, got)
			}
			// The tie of the largest valuation, in a full group of 16
			// channels: acc = −2^31, M0 = 3·2^22 (lowest set bit 2^22), n =
			// 54: −3·2^53 / 2^54 = −1.5 → −2 (half up would give −1), + 10.
			// A group that could tie only there must still round it.
			const m = 16
			acc, m0, sh := make([]int32, m), make([]int32, m), make([]int32, m)
			for c := range m {
				acc[c], m0[c], sh[c] = math.MinInt32, 3<<22, 54
			}
			acc[3], m0[5], sh[7] = 7<<21, 1<<24-1, 40 // and channels of other kinds beside it
			out := make([]uint8, m)
			requantU8(out, acc, 1, m, m, m0, sh, 10, 0, 255, m)
			for c := range m {
				if want := quant.Requantize(acc[c], m0[c], sh[c], 10, 0, 255); int32(out[c]) != want {
					t.Errorf("vector %v: channel %d (acc %d, M0 %d, n %d) gave %d, want %d", vec, c, acc[c], m0[c], sh[c], out[c], want)
				}
			}
			if out[0] != 8 {
				t.Errorf("vector %v: −1.5 + 10 gave %d, want 8", vec, out[0])
			}
		})
	}
}

// String names the level in test messages.
func (lv *level) String() string { return lv.name }
