package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
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
	case "extreme127": // the weights Validate allows: no −128
		for i := range s {
			s[i] = []int32{r.lo, r.hi, r.zero}[rng.IntN(3)]
		}
		for i := range w {
			w[i] = []int8{127, 0, -127}[rng.IntN(3)]
		}
	case "rows", "rows127":
		for i := 0; i < n; i++ {
			v := []int32{r.hi, r.lo, r.hi, r.zero}[i%4]
			for j := 0; j < k; j++ {
				s[i*k+j] = v
			}
		}
		for c := 0; c < m; c++ {
			v := []int8{-128, 127, -127, 1}[c%4]
			if pattern == "rows127" {
				v = []int8{-127, 127, 2}[c%3]
			}
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
		used := map[*kernelSet]bool{}
		for _, k := range raggedK {
			for _, m := range raggedM {
				n := raggedN[rng.IntN(len(raggedN))]
				if k > 300 && n > 9 {
					n = 9 // keep the test fast
				}
				for _, r := range ranges {
					for _, pattern := range []string{"random", "extreme", "extreme127", "rows", "rows127"} {
						s, w := make([]int32, n*k), make([]int8, m*k)
						fill(rng, pattern, r, s, w, n, m, k)
						bias := make([]int32, m)
						for i := range bias {
							bias[i] = rng.Int32N(1<<30) - 1<<29
						}
						pw := packWeights(w, bias, m, k, r.lo, r.hi, r.zero, lv)
						used[lv.kernels(pw)] = true
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
		for _, ks := range []*kernelSet{lv.fast, lv.exact, lv.exact2} {
			if ks != nil && !used[ks] {
				t.Errorf("level %s: a kernel set (%d×%d, signed %v) was never used", lv.name, ks.r, ks.p, ks.signed)
			}
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

// TestLevelsAvailable: the levels that run here form one ordered choice:
// best first (a level's boundary kernels are never better than those of
// the level before it), each named once, the portable level last with the
// Go boundary kernels, the active level the first, and every forced level
// is the one the boundary kernels read. The log shows what was covered.
func TestLevelsAvailable(t *testing.T) {
	lv := availableLevels()
	if lv[len(lv)-1] != goLevel || goLevel.boundary != boundaryGo {
		t.Fatal("the portable level is not last, or has vector boundary kernels")
	}
	if activeLevel != lv[0] {
		t.Fatalf("active level %s, want the best available %s", activeLevel.name, lv[0].name)
	}
	names := []string{}
	for i, l := range lv {
		if slices.Contains(names, l.name) {
			t.Errorf("level %s listed twice", l.name)
		}
		names = append(names, l.name)
		if i > 0 && l.boundary > lv[i-1].boundary {
			t.Errorf("level %s (boundary %d) after %s (boundary %d)", l.name, l.boundary, lv[i-1].name, lv[i-1].boundary)
		}
		withLevel(l, func() {
			if got := boundaryLevel(); got != l.boundary {
				t.Errorf("forced level %s: boundary kernels at %d, want %d", l.name, got, l.boundary)
			}
		})
	}
	if boundaryLevel() != activeLevel.boundary {
		t.Error("the boundary kernels do not follow the active level once the test level is released")
	}
	t.Logf("levels on this CPU: %v (active: %s)", names, activeLevel.name)
}

// randModel builds a valid integer model with random weights, including
// the extremes ±127 and −127, zero points and clamps: "mlp" (flatten and
// three linear layers, ReLU fused in the first two) or "cnn" (padded conv
// without ReLU, max-pool, conv with ReLU, flatten, linear).
//
// "lenet300" and "lenet5" are those networks' shapes on 28×28 inputs
// (nn.New), for benchmarks.
func randModel(t testing.TB, rng *rand.Rand, arch string, mode Mode) *Model {
	t.Helper()
	signed := mode == W8A8
	q := func() QParams {
		z := int32(0)
		if !signed {
			z = rng.Int32N(256)
		}
		return QParams{Scale: 0.02, Zero: z, Bits: 8, Signed: signed}
	}
	side := 8
	if arch == "lenet300" || arch == "lenet5" {
		side = 28
	}
	inC := 1
	if arch == "cnn" {
		inC = 2 // channels-last input conversion and a padded multi-channel conv
	}
	m := &Model{Version: FormatVersion, Arch: arch, Mode: mode, InC: inC, InH: side, InW: side, Classes: 10, Input: q()}
	prev := m.Input
	c, h, w := inC, side, side
	weighted := func(conv bool, outC, k, pad int, relu bool) {
		l := &Layer{Kind: "linear", InC: c, InH: h, InW: w, OutC: outC, OutH: 1, OutW: 1, K: k, Stride: 1, Pad: pad, In: prev, Out: q(), ReLU: relu, WBits: 8}
		if conv {
			l.Kind = "conv2d"
			l.OutH, l.OutW = h+2*pad-k+1, w+2*pad-k+1
		}
		fan := l.fanIn()
		l.W = make([]int8, outC*fan)
		for i := range l.W {
			l.W[i] = int8(rng.IntN(255) - 127)
			if rng.IntN(8) == 0 {
				l.W[i] = []int8{-127, 127}[rng.IntN(2)]
			}
		}
		for ch := 0; ch < outC; ch++ {
			l.Bias = append(l.Bias, rng.Int32N(1<<16)-1<<15)
			m0, shift := randMultiplier(rng, ch)
			l.M0 = append(l.M0, m0)
			l.Shift = append(l.Shift, shift)
			l.WScale = append(l.WScale, 0.01)
		}
		l.Lo, l.Hi = l.Out.QRange()
		if relu {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
		m.Layers = append(m.Layers, l)
		prev = l.Out
		c, h, w = l.OutC, l.OutH, l.OutW
	}
	pool := func() {
		m.Layers = append(m.Layers, &Layer{Kind: "maxpool2d", InC: c, InH: h, InW: w, OutC: c, OutH: h / 2, OutW: w / 2, K: 2, Stride: 2})
		h, w = h/2, w/2
	}
	flatten := func() {
		m.Layers = append(m.Layers, &Layer{Kind: "flatten", InC: c, InH: h, InW: w, OutC: c * h * w, OutH: 1, OutW: 1})
		c, h, w = c*h*w, 1, 1
	}
	switch arch {
	case "mlp":
		flatten()
		weighted(false, 33, 0, 0, true)
		weighted(false, 17, 0, 0, true)
		weighted(false, 10, 0, 0, false)
	case "cnn":
		weighted(true, 5, 3, 1, false)
		pool()
		weighted(true, 7, 3, 1, true)
		flatten()
		weighted(false, 10, 0, 0, false)
	case "lenet300":
		flatten()
		weighted(false, 300, 0, 0, true)
		weighted(false, 100, 0, 0, true)
		weighted(false, 10, 0, 0, false)
	case "lenet5":
		weighted(true, 20, 5, 0, false)
		pool()
		weighted(true, 50, 5, 0, false)
		pool()
		flatten()
		weighted(false, 500, 0, 0, true)
		weighted(false, 10, 0, 0, false)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

// randMultiplier draws a requantization multiplier in the range
// Validate accepts (M0 ∈ [2^23, 2^24), shift ∈ [1, 63]) that scales
// accumulators of a few thousand to a few hundred. The one place that
// knows the multiplier format.
func randMultiplier(rng *rand.Rand, ch int) (m0, shift int32) {
	// M = M0·2^−shift with M0 ∈ [2^23, 2^24) (the model file's form):
	// channel 0 gains 1–2× (its outputs hit the clamps), the others
	// scale by 2^−8 … 2^−15 like real layers.
	if ch == 0 {
		return 1<<23 + rng.Int32N(1<<23), 23
	}
	return 1<<23 + rng.Int32N(1<<23), 31 + rng.Int32N(7)
}

// refRun is the runtime's reference twin: one sample at a time, stored
// values as int32, operands s − Z, gemmRef on the layer's own weights,
// im2col with a zero operand for padding, requantRows with the real zero
// point and clamp — no packing, offsets or kernels. It returns every
// layer's output for n samples.
func refRun[T act](m *Model, x []float32, n int) [][]int32 {
	size := m.InC * m.InH * m.InW
	q := make([]T, n*size)
	quantizeInput(m, q, x)
	outs := make([][]int32, len(m.Layers))
	for s := 0; s < n; s++ {
		cur := make([]int32, size)
		for i := range cur {
			cur[i] = int32(q[s*size+i])
		}
		zero := m.Input.Zero
		for li, l := range m.Layers {
			switch l.Kind {
			case "maxpool2d":
				next := make([]int32, l.OutSize())
				for ch := 0; ch < l.OutC; ch++ {
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							best := int32(math.MinInt32)
							for ky := 0; ky < l.K; ky++ {
								for kx := 0; kx < l.K; kx++ {
									best = max(best, cur[(ch*l.InH+oy*l.Stride+ky)*l.InW+ox*l.Stride+kx])
								}
							}
							next[(ch*l.OutH+oy)*l.OutW+ox] = best
						}
					}
				}
				cur = next
			case "linear", "conv2d":
				op := make([]int16, len(cur))
				for i, v := range cur {
					op[i] = int16(v - zero)
				}
				rows, k := l.OutH*l.OutW, l.fanIn()
				if l.Kind == "conv2d" {
					col := make([]int16, rows*k)
					im2col(col, op, l.InC, l.InH, l.InW, l.K, l.Stride, l.Pad, l.OutH, l.OutW, k, 0)
					op = col
				}
				acc := make([]int32, rows*l.OutC)
				gemmRef(acc, op, l.W, l.Bias, rows, l.OutC, k)
				cur = make([]int32, l.OutSize())
				requantRows(cur, acc, rows, l.OutC, l.OutC, l.M0, l.Shift, l.Out.Zero, l.Lo, l.Hi, 1, rows)
				zero = l.Out.Zero
			}
			outs[li] = append(outs[li], cur...)
		}
	}
	return outs
}

// TestRuntimeLevelsMatchReference runs random models through the runtime
// at every kernel level of this CPU — batch 1, a ragged batch, and one
// large enough to be split over two goroutines — and compares every
// layer's output and the logits with refRun, bit for bit.
func TestRuntimeLevelsMatchReference(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(7, 7))
	for _, arch := range []string{"mlp", "cnn"} {
		for _, mode := range []Mode{W8A8, W8A8Asym} {
			m := randModel(t, rng, arch, mode)
			for _, n := range []int{1, 3, 67, 300} {
				x := make([]float32, n*m.InC*64)
				for i := range x {
					x[i] = rng.Float32()*8 - 4 // beyond both ends of the input grid
				}
				var want [][]int32
				if mode == W8A8 {
					want = refRun[int8](m, x, n)
				} else {
					want = refRun[uint8](m, x, n)
				}
				for _, lv := range availableLevels() {
					withLevel(lv, func() {
						where := fmt.Sprintf("%s %s n=%d level %s", arch, mode, n, lv.name)
						got, err := m.Logits(x, n)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want[len(want)-1]) {
							t.Fatalf("%s: logits differ", where)
						}
						if n > 3 {
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

// steadyMallocs counts the heap allocations of f in rounds of 20 calls,
// after 10 warm-up calls, with the garbage collector off, and returns the
// fewest of any round (up to 10 rounds, stopping at a round with none).
// testing.AllocsPerRun would run with GOMAXPROCS 1 (no split), and one
// round is not enough: scratch buffers live in a sync.Pool, whose items
// sit on one P each, so a pool worker that ran late during the warm-up
// (its core busy with another test process), or that now runs on a P
// whose pool is empty, creates one more scratch — a bounded number of
// times, unlike an allocation per call, which shows in every round.
func steadyMallocs(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range 10 {
		f()
	}
	fewest := uint64(math.MaxUint64)
	for range 10 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 20 {
			f()
		}
		runtime.ReadMemStats(&after)
		fewest = min(fewest, after.Mallocs-before.Mallocs)
		if fewest == 0 {
			break
		}
	}
	return fewest
}

// TestLogitsIntoAllocatesNothing: a warm call allocates nothing, on one
// goroutine (batch 1, a batch under the parallel threshold) or split over
// two (a batch above it, with GOMAXPROCS 2).
func TestLogitsIntoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(8, 8))
	for _, arch := range []string{"mlp", "cnn"} {
		m := randModel(t, rng, arch, W8A8)
		for _, n := range []int{1, 16, 400} {
			x := make([]float32, n*m.InC*64)
			dst := make([]int32, n*10)
			if err := m.LogitsInto(dst, x, n); err != nil {
				t.Fatal(err)
			}
			if a := steadyMallocs(func() { _ = m.LogitsInto(dst, x, n) }); a != 0 {
				t.Errorf("%s batch %d: %d allocations in every round of 20 warm calls", arch, n, a)
			}
		}
		if err := m.LogitsInto(make([]int32, 9), make([]float32, m.InC*64), 1); err == nil {
			t.Errorf("%s: a short output slice was accepted", arch)
		}
	}
}

// toHWC transposes a CHW image to channels-last.
func toHWC(src []uint8, c, h, w int) []uint8 {
	out := make([]uint8, len(src))
	for j, from := range hwcOrder(c, h, w) {
		out[j] = src[from]
	}
	return out
}

// TestIm2colAndPoolHWCMatchReference compares im2colHWC and maxPoolHWC
// on channels-last images with their reference twins im2col and maxPool
// on the same images in CHW order, on ragged geometries (channel counts
// below, at and above the 8-byte step of maxBytes), random bytes.
func TestIm2colAndPoolHWCMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, c := range []int{1, 2, 5, 8, 9, 17} {
		for _, hw := range [][2]int{{5, 5}, {7, 9}, {12, 12}, {3, 17}} {
			for _, k := range []int{1, 2, 3, 5} {
				for _, stride := range []int{1, 2} {
					for _, pad := range []int{0, 1, 2} {
						h, w := hw[0], hw[1]
						if k > h+2*pad || k > w+2*pad || pad >= k {
							continue
						}
						oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
						src := make([]uint8, c*h*w)
						for i := range src {
							src[i] = uint8(rng.Uint32())
						}
						hwc := toHWC(src, c, h, w)
						row, rowLen := c*k*k, c*k*k+3
						got, want := make([]uint8, oh*ow*rowLen), make([]uint8, oh*ow*rowLen)
						im2colHWC(got, hwc, c, h, w, k, stride, pad, oh, ow, rowLen, 7)
						im2col(want, src, c, h, w, k, stride, pad, oh, ow, rowLen, 7)
						// Column (ky, kx, ci) of got is column (ci, ky, kx) of want.
						for p := 0; p < oh*ow; p++ {
							for j := 0; j < row; j++ {
								ci, kk := j%c, j/c
								if got[p*rowLen+j] != want[p*rowLen+ci*k*k+kk] {
									t.Fatalf("im2col c=%d %dx%d k=%d s=%d p=%d: field %d column %d differs", c, h, w, k, stride, pad, p, j)
								}
							}
						}
						if pad == 0 {
							pw := (w-k)/stride + 1
							ph := (h-k)/stride + 1
							got, want := make([]uint8, c*ph*pw), make([]uint8, c*ph*pw)
							maxPoolHWC(got, hwc, c, h, w, k, stride, ph, pw)
							maxPool(want, src, c, h, w, k, stride, ph, pw)
							if !slices.Equal(got, toHWC(want, c, ph, pw)) {
								t.Fatalf("maxpool c=%d %dx%d k=%d s=%d differs", c, h, w, k, stride)
							}
						}
					}
				}
			}
		}
	}
}

// TestMaxBytesMatchesMax checks the SWAR byte maximum on every pair of
// byte values, at each position of a word.
func TestMaxBytesMatchesMax(t *testing.T) {
	o, v := make([]uint8, 8), make([]uint8, 8)
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			for i := range o {
				o[i], v[i] = uint8(a+i*37), uint8(b+i*101)
			}
			want := make([]uint8, 8)
			for i := range want {
				want[i] = max(o[i], v[i])
			}
			maxBytes(o, v)
			if !slices.Equal(o, want) {
				t.Fatalf("maxBytes(%d, %d): %v, want %v", a, b, o, want)
			}
		}
	}
}
