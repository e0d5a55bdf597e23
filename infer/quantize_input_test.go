package infer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// quantizeRef is quantizeU8's reference: quant.QuantizeValue minus the
// storage offset, and quant.FirstNonFinite.
func quantizeRef(u []uint8, x []float32, s float32, z, qmin, qmax, off int32) int {
	bad := quant.FirstNonFinite(x)
	for i, v := range x {
		if bad >= 0 && i >= bad {
			break
		}
		u[i] = uint8(quant.QuantizeValue(v, s, z, qmin, qmax) - off)
	}
	return bad
}

// quantGrid is an input grid: storage range, zero point and offset.
type quantGrid struct{ qmin, qmax, z, off int32 }

var quantGrids = []quantGrid{
	{0, 255, 0, 0}, {0, 255, 37, 0}, {0, 255, 255, 0}, // asymmetric uint8
	{-127, 127, 0, -127}, {-128, 127, 0, -128}, // symmetric int8, restricted and full
	{-8, 7, 0, -8}, // a 4-bit grid
}

// checkQuantize compares quantizeU8 with quantizeRef on x in a guarded
// buffer: the outputs before the first non-finite element must match, the
// bytes after the input must keep the guard.
func checkQuantize(t *testing.T, x []float32, s float32, g quantGrid) {
	t.Helper()
	const band = 64
	got := make([]uint8, band+len(x)+band)
	for i := range got {
		got[i] = guard
	}
	want := make([]uint8, len(x))
	gb := quantizeU8(got[band:band+len(x)], x, s, g.z, g.qmin, g.qmax, g.off)
	wb := quantizeRef(want, x, s, g.z, g.qmin, g.qmax, g.off)
	if gb != wb {
		t.Fatalf("S %g grid %v: first non-finite %d, reference %d", s, g, gb, wb)
	}
	n := len(x)
	if wb >= 0 {
		n = wb
	}
	for i := 0; i < n; i++ {
		if got[band+i] != want[i] {
			t.Fatalf("S %g grid %v: x[%d] = %g (x/S = %g): got %d, reference %d", s, g, i, x[i], x[i]/s, got[band+i], want[i])
		}
	}
	for i := range band {
		if got[i] != guard || got[band+len(x)+i] != guard {
			t.Fatalf("S %g grid %v: guard band overwritten", s, g)
		}
	}
}

// quantEdges are inputs on the edges of the rule for scale s: exact ties
// x/S = k + ½ (float32(k+½)·S and its float32 neighbours, whose quotients
// land on or next to the tie), −0, denormals, huge values and the clamp
// boundaries.
func quantEdges(s float32) []float32 {
	var x []float32
	for k := -300; k <= 300; k++ {
		v := float32(float64(k)+0.5) * s
		x = append(x, v, math.Nextafter32(v, float32(math.Inf(1))), math.Nextafter32(v, float32(math.Inf(-1))), float32(k)*s)
	}
	x = append(x, float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		1e-40, -1e-40, 1.1754942e-38, math.MaxFloat32, -math.MaxFloat32, 1e30, -1e30, 3e9, -3e9, 2147483648, -2147483648,
		1<<24+1, 16777216, 8388608.5, -8388608.5)
	return x
}

// TestQuantizeU8MatchesReference compares the input quantization at every
// level with quant.QuantizeValue on the edges, on random pixels and
// values, for ragged lengths (the vector kernel's 16-lane blocks and its
// masked tail).
func TestQuantizeU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	// Scales: MNIST's 1/255 range in float32, a power of two (every tie
	// exact), odd ones, a tiny one (quotients overflow int32) and a huge one
	// (denormal quotients).
	scales := []float32{1.0 / 255, 0.0078125, 0.5, 0.1, 0.3, 1e-30, 1e30, 0.0123}
	for _, vec := range boundaryLevels() {
		withLevel(vec, func() {
			for _, s := range scales {
				for _, g := range quantGrids {
					edges := quantEdges(s)
					checkQuantize(t, edges, s, g)
					for _, n := range append([]int{0}, sizes...) {
						x := make([]float32, n)
						for i := range x {
							switch rng.IntN(3) {
							case 0:
								x[i] = float32(rng.IntN(256)) / 255 // pixels
							case 1:
								x[i] = edges[rng.IntN(len(edges))]
							default:
								x[i] = float32(rng.NormFloat64()) * s * 100
							}
						}
						checkQuantize(t, x, s, g)
					}
				}
			}
		})
	}
}

// TestQuantizeU8NonFinite puts a NaN, +Inf or −Inf at every position of
// ragged inputs (with a second one later): the index of the first must
// come back at every level, with the elements before it quantized.
func TestQuantizeU8NonFinite(t *testing.T) {
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800001)}
	for _, vec := range boundaryLevels() {
		withLevel(vec, func() {
			for _, n := range []int{1, 15, 16, 17, 33, 64, 100} {
				for pos := 0; pos < n; pos++ {
					t.Run(fmt.Sprint(vec, n, pos), func(t *testing.T) {
						x := make([]float32, n)
						for i := range x {
							x[i] = float32(i%7) / 7
						}
						x[pos] = bad[pos%len(bad)]
						if pos+3 < n {
							x[pos+3] = bad[(pos+1)%len(bad)]
						}
						checkQuantize(t, x, 1.0/255, quantGrids[1])
					})
				}
			}
		})
	}
}

// TestNonFiniteInBatch puts NaN and ±Inf into batches run on one goroutine
// and split over two (GOMAXPROCS 2), in the first and the second share, at
// every kernel level: the error names the first bad sample and element,
// also when a later share holds another one.
func TestNonFiniteInBatch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		m := testModel("cnn", mode, 5)
		size := m.InC * m.InH * m.InW
		for _, vec := range boundaryLevels() {
			withLevel(vec, func() {
				for _, n := range []int{1, 70, 400} { // 400 runs on two goroutines
					for _, at := range [][2]int{{0, 0}, {0, size - 1}, {n / 2, 17}, {n - 1, size / 2}} {
						x := testInput(m, n, 6)
						x[at[0]*size+at[1]] = float32(math.Inf(-1 + 2*(at[1]%2)))
						if at[0]+1 < n {
							x[(n-1)*size+3] = float32(math.NaN()) // a later one in the last share
						}
						want := fmt.Sprintf("sample %d, element %d is", at[0], at[1])
						dst := make([]int32, n*m.Classes)
						var ie *InputError
						if err := m.LogitsInto(dst, x, n); !errors.As(err, &ie) || !strings.Contains(err.Error(), want) {
							t.Errorf("%s n=%d vector %v bad at %v: %v, want %q", mode, n, vec, at, err, want)
						}
						if _, err := m.LogitsTrace(x, n, func(int, []int32) {}); err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("%s n=%d trace: %v", mode, n, err)
						}
					}
				}
			})
		}
	}
}

// TestQuantizeC3Matches compares the fused 3-channel input path
// (quantizeC3: normalization, quantization and the channels-last store
// in one pass) at every boundary level with its reference twin, the
// three passes of quantizeRows (normalizeCHW, then quant.QuantizeValue
// through quantizeRef, then the channels-last order), on ragged images
// (the 16-pixel steps and the tail), every grid, scales with exact ties
// and overflowing quotients, with and without a normalization (one whose
// product overflows to ±Inf too), and a NaN or ±Inf in some images: then
// quantizeC3 must report false. Bytes around the image keep the guard.
func TestQuantizeC3Matches(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3e38}
	norms := []struct{ mean, inv []float32 }{
		{nil, nil},
		{[]float32{0.4914, 0.4822, 0.4465}, []float32{1 / 0.247, 1 / 0.243, 1 / 0.261}},
		{[]float32{-1e30, 0, 1e-3}, []float32{3, 1e10, 0.5}},
	}
	fast := 0
	for _, vec := range boundaryLevels() {
		withLevel(vec, func() {
			for _, s := range []float32{1.0 / 255, 0.0078125, 0.0123, 1e-30} {
				edges := quantEdges(s)
				for _, g := range quantGrids {
					for _, hw := range []int{1, 15, 16, 17, 31, 48, 71, 1024} {
						for ni, nm := range norms {
							x := make([]float32, 3*hw)
							for i := range x {
								switch rng.IntN(3) {
								case 0:
									x[i] = float32(rng.IntN(256)) / 255
								case 1:
									x[i] = edges[rng.IntN(len(edges))]
								default:
									x[i] = float32(rng.NormFloat64()) * s * 100
								}
							}
							nonFinite := rng.IntN(4) == 0
							if nonFinite {
								x[rng.IntN(len(x))] = bad[rng.IntN(len(bad))]
							}
							xn := append([]float32(nil), x...)
							if nm.mean != nil {
								normalizeCHW(xn, x, nm.mean, nm.inv, hw)
							}
							chw := make([]uint8, 3*hw)
							wb := quantizeRef(chw, xn, s, g.z, g.qmin, g.qmax, g.off)
							want := make([]uint8, 3*hw)
							toUnsignedHWC(want, chw, 0, 3, hw)
							const band = 64
							buf := make([]uint8, band+3*hw+band)
							for i := range buf {
								buf[i] = guard
							}
							ok := quantizeC3(buf[band:band+3*hw], x, hw, s, g.z, g.qmin, g.qmax, g.off, nm.mean, nm.inv)
							where := fmt.Sprintf("level %s S %g grid %v hw %d norm %d", vec.name, s, g, hw, ni)
							if ok && wb >= 0 {
								t.Fatalf("%s: non-finite value %d (%g) not reported", where, wb, xn[wb])
							}
							if !ok {
								if wb < 0 && (vec.boundary == boundaryAVX512 || vec.boundary == boundaryAVX2) && hw >= 16 {
									t.Fatalf("%s: the fused path refused a finite image", where)
								}
								continue
							}
							fast++
							for i := range band {
								if buf[i] != guard || buf[band+3*hw+i] != guard {
									t.Fatalf("%s: guard band overwritten", where)
								}
							}
							for i, w := range want {
								if got := buf[band+i]; got != w {
									t.Fatalf("%s: pixel %d channel %d: got %d, reference %d", where, i/3, i%3, got, w)
								}
							}
						}
					}
				}
			}
		})
	}
	if fast == 0 && (boundaryLevels()[0].boundary == boundaryAVX512 || boundaryLevels()[0].boundary == boundaryAVX2) {
		t.Fatal("the fused path never ran")
	}
}
