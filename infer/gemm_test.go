package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// raggedSizes are the widths around the vector and tile edges: 16 channels
// and 4 bytes per group, tiles of 8 (AVX-512) or 4 and 2 (AVX2) rows.
var (
	raggedK = []int{1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 300, 784}
	raggedM = []int{1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65}
	raggedN = []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33}
)

// withLevel runs f with every model forced onto level lv.
func withLevel(lv *level, f func()) {
	old := testLevel
	testLevel = lv
	defer func() { testLevel = old }()
	f()
}

// inputRange is a layer's stored input range and zero point.
type inputRange struct {
	name         string
	lo, hi, zero int32
}

var ranges = []inputRange{
	{"int8", -128, 127, 0},      // the whole int8 storage: u reaches 255
	{"int8-relu", 0, 127, 0},    // after a fused ReLU: u ≤ 127, AVX2 needs no split
	{"uint8", 0, 255, 0},        // asymmetric, zero point at the bottom
	{"uint8-z", 0, 255, 131},    // asymmetric, zero point inside
	{"uint8-top", 0, 255, 255},  // zero point at the top
	{"uint8-relu", 37, 255, 37}, // asymmetric after ReLU
}

// fill draws stored activations in [r.lo, r.hi] and weights in
// [−128, 127] by pattern: random, only the extremes (and 0, the zero
// point), or all-extreme rows (every activation at one end, every weight
// of a channel at one end) — the inputs that saturate int16 pair sums.
func fill(rng *rand.Rand, pattern string, r inputRange, s []int32, w []int8, n, m, k int) {
	switch pattern {
	case "random":
		for i := range s {
			s[i] = r.lo + rng.Int32N(r.hi-r.lo+1)
		}
		for i := range w {
			w[i] = int8(rng.IntN(256) - 128)
		}
	case "extreme":
		for i := range s {
			s[i] = []int32{r.lo, r.hi, r.zero}[rng.IntN(3)]
		}
		for i := range w {
			w[i] = []int8{-128, 127, 0, -127}[rng.IntN(4)]
		}
	case "rows":
		for i := 0; i < n; i++ {
			v := []int32{r.hi, r.lo, r.hi, r.zero}[i%4]
			for j := 0; j < k; j++ {
				s[i*k+j] = v
			}
		}
		for c := 0; c < m; c++ {
			v := []int8{-128, 127, -127, 1}[c%4]
			for j := 0; j < k; j++ {
				w[c*k+j] = v
			}
		}
	default:
		panic(pattern)
	}
}

// sentinel marks the guard bands and gaps the kernels must not write.
const sentinel = 0x5a5a5a5a

// TestGemmLevelsMatchReference runs every kernel level this CPU has (and
// the portable Go one) on ragged shapes, every input range and value
// pattern, against gemmRef on the layer's own layout. The output has guard
// bands before and after, and gaps between rows, that must keep their
// sentinel; the activation rows have stride > kp and random bytes in the
// padding, which must be ignored.
func TestGemmLevelsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const guard = 64 // int32s before and after the output: four panels' width
	for _, lv := range availableLevels() {
		usedFast, usedExact := false, false
		for _, k := range raggedK {
			for _, m := range raggedM {
				n := raggedN[rng.IntN(len(raggedN))]
				if k > 300 && n > 9 {
					n = 9 // keep the test fast
				}
				for _, r := range ranges {
					for _, pattern := range []string{"random", "extreme", "rows"} {
						s, w := make([]int32, n*k), make([]int8, m*k)
						fill(rng, pattern, r, s, w, n, m, k)
						bias := make([]int32, m)
						for i := range bias {
							bias[i] = rng.Int32N(1<<30) - 1<<29
						}
						pw := packWeights(w, bias, m, k, r.lo, r.hi, r.zero, lv)
						if pw.safe16 {
							usedFast = true
						} else {
							usedExact = true
						}
						ldu, ldc := pw.kp+rng.IntN(9), pw.mp+rng.IntN(5)
						u := make([]uint8, n*ldu)
						for i := range u {
							u[i] = uint8(rng.Uint32()) // padding: anything
						}
						x := make([]int16, n*k) // the reference's operands s − Z
						for i := 0; i < n; i++ {
							for j := 0; j < k; j++ {
								u[i*ldu+j] = uint8(s[i*k+j] - r.lo)
								x[i*k+j] = int16(s[i*k+j] - r.zero)
							}
						}
						buf := make([]int32, guard+n*ldc+guard)
						for i := range buf {
							buf[i] = sentinel
						}
						c := buf[guard : guard+n*ldc]
						gemmPacked(lv, c, ldc, u, ldu, pw, n)
						want := make([]int32, n*m)
						gemmRef(want, x, w, bias, n, m, k)
						where := fmt.Sprintf("level %s, n=%d m=%d k=%d, %s %s (safe16 %v)", lv.name, n, m, k, r.name, pattern, pw.safe16)
						for i := 0; i < n; i++ {
							if got := c[i*ldc : i*ldc+m]; !slices.Equal(got, want[i*m:(i+1)*m]) {
								t.Fatalf("%s: row %d: got %v, want %v", where, i, got, want[i*m:(i+1)*m])
							}
							for j := m; j < pw.mp; j++ {
								if c[i*ldc+j] != 0 {
									t.Fatalf("%s: padding channel %d of row %d is %d", where, j, i, c[i*ldc+j])
								}
							}
							for j := pw.mp; j < ldc; j++ {
								if c[i*ldc+j] != sentinel {
									t.Fatalf("%s: wrote the gap after row %d", where, i)
								}
							}
						}
						for i := 0; i < guard; i++ {
							if buf[i] != sentinel || buf[len(buf)-1-i] != sentinel {
								t.Fatalf("%s: wrote a guard band", where)
							}
						}
					}
				}
			}
		}
		if !usedFast || !usedExact {
			t.Errorf("level %s: fast kernels used %v, exact %v: a path is untested", lv.name, usedFast, usedExact)
		}
	}
}

// TestSafe16IsTight checks the bound that lets AVX2 skip the split: the
// all-extreme pair 127·(127+128) = 32385 is allowed, one step more is not.
func TestSafe16IsTight(t *testing.T) {
	w := []int8{127, -128, 0, 0}
	if !packWeights(w, []int32{0}, 1, 4, 0, 127, 0, goLevel).safe16 {
		t.Error("u ≤ 127 with a pair 127, −128 must be safe")
	}
	if packWeights(w, []int32{0}, 1, 4, 0, 129, 0, goLevel).safe16 {
		t.Error("u ≤ 129 with a pair 127, −128 (32895) must not be safe")
	}
}

// TestLevelsAvailable reports which levels run here, so a test log shows
// what was covered; the portable level is always there and last.
func TestLevelsAvailable(t *testing.T) {
	lv := availableLevels()
	if lv[len(lv)-1] != goLevel {
		t.Fatal("the portable level is not last")
	}
	names := []string{}
	for _, l := range lv {
		names = append(names, l.name)
	}
	t.Logf("kernel levels on this CPU: %v (active: %s)", names, activeLevel.name)
}
