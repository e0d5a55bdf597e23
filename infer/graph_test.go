package infer

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// graphBuilder appends layers of a hand-built integer graph model with
// random weights, biases and multipliers (no training: the runtime needs a
// valid model, not a good one).
type graphBuilder struct {
	t   testing.TB
	rng *rand.Rand
	m   *Model
	// sigma[v+1] estimates value v's spread in steps, so that multipliers
	// keep every layer's outputs spread over tens of steps (neither
	// saturated nor collapsed; TestGraphModelsAreNotDegenerate checks).
	sigma []float64
}

func newGraph(t testing.TB, rng *rand.Rand, mode Mode, arch string, c, h, w, classes int) *graphBuilder {
	g := &graphBuilder{t: t, rng: rng, m: &Model{Version: FormatVersion, Arch: arch, Mode: mode, InC: c, InH: h, InW: w, Classes: classes,
		Source: map[string]string{"run": "test", "bits_w": "8", "bits_a": "8"}}}
	g.m.Input = g.q()
	g.sigma = []float64{60} // inputs uniform on ±4 with S ≈ 0.035: most of the grid
	return g
}

// q draws activation parameters for the model's mode.
func (g *graphBuilder) q() QParams {
	switch g.m.Mode {
	case W8Only:
		return QParams{}
	case W8A8Asym:
		return QParams{Scale: 0.01 + g.rng.Float32()*0.05, Zero: g.rng.Int32N(160), Bits: 8}
	}
	return QParams{Scale: 0.01 + g.rng.Float32()*0.05, Bits: 8, Signed: true}
}

// shapeQ is value v's shape and parameters (v = −1: the input).
func (g *graphBuilder) shapeQ(v int) (c, h, w int, q QParams) {
	if v < 0 {
		return g.m.InC, g.m.InH, g.m.InW, g.m.Input
	}
	l := g.m.Layers[v]
	return l.OutC, l.OutH, l.OutW, g.m.outQ(v)
}

// last is the index of the last layer (−1: none yet).
func (g *graphBuilder) last() int { return len(g.m.Layers) - 1 }

// mult draws a multiplier that brings accumulators of fan-in fan of
// inputs spread over sigma steps to about 30 steps: weights uniform on
// ±127 have a spread of 73, a sum of fan products sqrt(fan)·sigma·73;
// the multiplier varies by ±50% between channels.
func (g *graphBuilder) mult(fan int, sigma float64) (int32, int32) {
	m := 30 / (math.Sqrt(float64(fan)) * sigma * 73) * (0.5 + g.rng.Float64())
	m0, sh, err := quant.SplitMultiplier(float32(m))
	if err != nil {
		g.t.Fatal(err)
	}
	return m0, sh
}

// weighted appends a conv2d (k > 0) or linear (k = 0) layer reading value
// in (−2: the previous layer). relu6 sets Hi below q_max (ReLU6's clamp).
func (g *graphBuilder) weighted(in, outC, k, stride, pad, groups int, relu, relu6 bool) int {
	if in == -2 {
		in = g.last()
	}
	c, h, w, inQ := g.shapeQ(in)
	l := &Layer{Kind: KindLinear, Name: fmt.Sprintf("l%d", len(g.m.Layers)), InC: c, InH: h, InW: w, OutC: outC, OutH: 1, OutW: 1,
		In: inQ, Out: g.q(), ReLU: relu || relu6, WBits: 8, Groups: groups}
	if k > 0 {
		l.Kind, l.K, l.Stride, l.Pad = KindConv2D, k, stride, pad
		l.OutH, l.OutW = (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	}
	if in != g.last() {
		l.Inputs = []int{in}
	}
	fan := l.fanIn()
	l.W = make([]int8, outC*fan)
	for i := range l.W {
		l.W[i] = int8(g.rng.IntN(255) - 127)
		if g.rng.IntN(16) == 0 {
			l.W[i] = []int8{-127, 127}[g.rng.IntN(2)]
		}
	}
	for ch := 0; ch < outC; ch++ {
		l.WScale = append(l.WScale, 0.001+g.rng.Float32()*0.01)
		if g.m.Mode == W8Only {
			l.FBias = append(l.FBias, g.rng.Float32()-0.5)
			continue
		}
		l.Bias = append(l.Bias, g.rng.Int32N(1<<12)-1<<11)
		m0, sh := g.mult(fan, g.sigma[in+1])
		l.M0, l.Shift = append(l.M0, m0), append(l.Shift, sh)
	}
	g.clamp(l, relu, relu6)
	g.m.Layers = append(g.m.Layers, l)
	g.sigma = append(g.sigma, 30)
	return g.last()
}

// clamp sets l's output clamp: the storage range, raised to Z by a ReLU,
// lowered by ReLU6 to Z + 40 (or, w8-only, Max = 6).
func (g *graphBuilder) clamp(l *Layer, relu, relu6 bool) {
	if g.m.Mode == W8Only {
		if relu6 {
			l.Max = 6
		}
		return
	}
	l.Lo, l.Hi = l.Out.QRange()
	if relu || relu6 {
		l.Lo = max(l.Lo, l.Out.Zero)
	}
	if relu6 {
		l.Hi = min(l.Hi, l.Out.Zero+40)
	}
}

// add appends an add of values a and b; gap > 0 forces the two shifts
// that far apart (a multiplier pair that needs RequantizeAdd's 128 bits).
func (g *graphBuilder) add(a, b int, relu bool, gap int32) int {
	c, h, w, qa := g.shapeQ(a)
	_, _, _, qb := g.shapeQ(b)
	l := &Layer{Kind: KindAdd, Name: fmt.Sprintf("add%d", len(g.m.Layers)), InC: c, InH: h, InW: w, OutC: c, OutH: h, OutW: w,
		Inputs: []int{a, b}, In: qa, In2: qb, Out: g.q(), ReLU: relu}
	// The output scale that spreads the sum over about 30 steps.
	sa, sb := g.sigma[a+1]*float64(qa.Scale), g.sigma[b+1]*float64(qb.Scale)
	l.Out.Scale = float32(math.Sqrt(sa*sa+sb*sb) / 30)
	g.sigma = append(g.sigma, 30)
	if g.m.Mode != W8Only {
		for _, s := range []float32{qa.Scale, qb.Scale} {
			m0, sh, err := quant.QuantizeMultiplier(s, l.Out.Scale)
			if err != nil {
				g.t.Fatal(err)
			}
			l.M0, l.Shift = append(l.M0, m0), append(l.Shift, sh)
		}
		if gap > 0 {
			l.Shift[1] = l.Shift[0] + gap
		}
	}
	g.clamp(l, relu, false)
	g.m.Layers = append(g.m.Layers, l)
	return g.last()
}

func (g *graphBuilder) gap() int {
	c, h, w, q := g.shapeQ(g.last())
	g.m.Layers = append(g.m.Layers, &Layer{Kind: KindGlobalAvgPool, InC: c, InH: h, InW: w, OutC: c, OutH: 1, OutW: 1, In: q, Out: q})
	g.sigma = append(g.sigma, g.sigma[len(g.sigma)-1]/2) // a mean of correlated values: a guess
	return g.last()
}

func (g *graphBuilder) flatten() int {
	c, h, w, _ := g.shapeQ(g.last())
	g.m.Layers = append(g.m.Layers, &Layer{Kind: KindFlatten, InC: c, InH: h, InW: w, OutC: c * h * w, OutH: 1, OutW: 1})
	g.sigma = append(g.sigma, g.sigma[len(g.sigma)-1])
	return g.last()
}

func (g *graphBuilder) done() *Model {
	if err := g.m.Validate(); err != nil {
		g.t.Fatal(err)
	}
	return g.m
}

// resModel is a tiny ResNet-like graph on 2×9×9 inputs with every new
// kind: conv 3×3; a block (conv 3×3 stride 2 pad 1, depthwise 3×3 with a
// ReLU6 clamp, pointwise 1×1) added with ReLU to a 1×1 stride-2
// projection of the stem; a grouped conv (4 groups) added to the block's
// first conv's output (a non-adjacent identity shortcut, through the
// 128-bit range of RequantizeAdd when wide is set); global average pool, flatten,
// linear.
func resModel(t testing.TB, rng *rand.Rand, mode Mode, wide bool) *Model {
	g := newGraph(t, rng, mode, "restest", 2, 9, 9, 10)
	stem := g.weighted(-2, 8, 3, 1, 1, 0, true, false)
	a := g.weighted(stem, 8, 3, 2, 1, 0, true, false)
	g.weighted(-2, 8, 3, 1, 1, 8, false, true) // depthwise
	body := g.weighted(-2, 12, 1, 1, 0, 0, false, false)
	short := g.weighted(stem, 12, 1, 2, 0, 0, false, false)
	g.add(body, short, true, 0)
	grp := g.weighted(-2, 8, 3, 1, 1, 4, false, false)
	gap := int32(0)
	if wide {
		gap = 33
	}
	g.add(grp, a, false, gap)
	g.gap()
	g.flatten()
	g.weighted(-2, 10, 0, 0, 0, 0, false, false)
	return g.done()
}

// roundBig is num/den rounded half to even, in big integers.
func roundBig(num, den *big.Int) *big.Int {
	q, r := new(big.Int).DivMod(num, den, new(big.Int)) // floor, 0 ≤ r < den
	switch new(big.Int).Lsh(r, 1).Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// clampBig is clamp(z + v, lo, hi).
func clampBig(v *big.Int, z, lo, hi int32) int32 {
	v = new(big.Int).Add(v, big.NewInt(int64(z)))
	if v.Cmp(big.NewInt(int64(lo))) < 0 {
		return lo
	}
	if v.Cmp(big.NewInt(int64(hi))) > 0 {
		return hi
	}
	return int32(v.Int64())
}

// pow2 is 2^n as a big integer.
func pow2(n int32) *big.Int { return new(big.Int).Lsh(big.NewInt(1), uint(n)) }

// interpret is the slow oracle of an integer graph model, from the
// definitions in doc.go and nothing of the runtime but the input
// quantization (quantizeInput): one sample at a time, CHW stored values,
// int64 accumulators, each rounding in big integers. It returns every
// layer's output for n samples.
// interpretMode is interpret with the activation type of m's mode.
func interpretMode(m *Model, x []float32, n int) [][]int32 {
	if m.Mode == W8A8 {
		return interpret[int8](m, x, n)
	}
	return interpret[uint8](m, x, n)
}

func interpret[T act](m *Model, x []float32, n int) [][]int32 {
	size := m.InC * m.InH * m.InW
	q := make([]T, n*size)
	quantizeInput(m, q, x)
	outs := make([][]int32, len(m.Layers))
	for s := 0; s < n; s++ {
		vals := make([][]int32, len(m.Layers)+1) // vals[v+1]: value v
		vals[0] = make([]int32, size)
		for i := range vals[0] {
			vals[0][i] = int32(q[s*size+i])
		}
		for li, l := range m.Layers {
			ins := l.Inputs
			if len(ins) == 0 {
				ins = []int{li - 1}
			}
			src := vals[ins[0]+1]
			out := make([]int32, l.OutSize())
			switch l.Kind {
			case KindFlatten:
				copy(out, src)
			case KindMaxPool2D:
				for c := 0; c < l.OutC; c++ {
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							best := int32(math.MinInt32)
							for ky := 0; ky < l.K; ky++ {
								for kx := 0; kx < l.K; kx++ {
									best = max(best, src[(c*l.InH+oy*l.Stride+ky)*l.InW+ox*l.Stride+kx])
								}
							}
							out[(c*l.OutH+oy)*l.OutW+ox] = best
						}
					}
				}
			case KindGlobalAvgPool:
				hw := l.InH * l.InW
				for c := 0; c < l.OutC; c++ {
					sum := int64(0)
					for _, v := range src[c*hw : (c+1)*hw] {
						sum += int64(v - l.In.Zero)
					}
					out[c] = clampBig(roundBig(big.NewInt(sum), big.NewInt(int64(hw))), l.In.Zero, math.MinInt32, math.MaxInt32)
				}
			case KindAdd:
				b := vals[ins[1]+1]
				for i := range out {
					// (da·M0a·2^nb + db·M0b·2^na) / 2^(na+nb)
					ta := new(big.Int).Mul(big.NewInt(int64(src[i]-l.In.Zero)*int64(l.M0[0])), pow2(l.Shift[1]))
					tb := new(big.Int).Mul(big.NewInt(int64(b[i]-l.In2.Zero)*int64(l.M0[1])), pow2(l.Shift[0]))
					out[i] = clampBig(roundBig(ta.Add(ta, tb), pow2(l.Shift[0]+l.Shift[1])), l.Out.Zero, l.Lo, l.Hi)
				}
			case KindLinear, KindConv2D:
				g := max(1, l.Groups)
				cg, og, k := l.InC/g, l.OutC/g, max(1, l.K)
				stride := max(1, l.Stride)
				fan := l.fanIn()
				for oc := 0; oc < l.OutC; oc++ {
					gi := oc / og
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							acc := int64(l.Bias[oc])
							if l.Kind == KindLinear {
								for j, v := range src {
									acc += int64(v-l.In.Zero) * int64(l.W[oc*fan+j])
								}
							} else {
								for ci := 0; ci < cg; ci++ {
									for ky := 0; ky < k; ky++ {
										for kx := 0; kx < k; kx++ {
											iy, ix := oy*stride+ky-l.Pad, ox*stride+kx-l.Pad
											if iy < 0 || iy >= l.InH || ix < 0 || ix >= l.InW {
												continue // a padding pixel is Z: s − Z = 0
											}
											v := src[((gi*cg+ci)*l.InH+iy)*l.InW+ix]
											acc += int64(v-l.In.Zero) * int64(l.W[oc*fan+(ci*k+ky)*k+kx])
										}
									}
								}
							}
							p := new(big.Int).Mul(big.NewInt(acc), big.NewInt(int64(l.M0[oc])))
							out[(oc*l.OutH+oy)*l.OutW+ox] = clampBig(roundBig(p, pow2(l.Shift[oc])), l.Out.Zero, l.Lo, l.Hi)
						}
					}
				}
			}
			vals[li+1] = out
			outs[li] = append(outs[li], out...)
		}
	}
	return outs
}

// randInput is n samples of m's input, beyond both ends of the grid.
func randInput(rng *rand.Rand, m *Model, n int) []float32 {
	x := make([]float32, n*m.InC*m.InH*m.InW)
	for i := range x {
		x[i] = rng.Float32()*8 - 4
	}
	return x
}

// TestGraphMatchesInterpreter runs the ResNet-like graph (every new kind)
// through the runtime at every GEMM and boundary level of this CPU, at
// batch 1, 3, 64 and 130 (64 and 130 split over two goroutines; batch 3
// only for the variant with add multipliers 2^33 apart), and compares the
// logits, and every layer's output through the trace, with the slow
// interpreter bit for bit.
func TestGraphMatchesInterpreter(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(13, 13))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		for _, wide := range []bool{false, true} {
			m := resModel(t, rng, mode, wide)
			sizes := []int{1, 3, 64, 130}
			if wide { // only the second add's multipliers differ: one small batch
				sizes = []int{3}
			}
			for _, n := range sizes {
				x := randInput(rng, m, n)
				want := interpretMode(m, x, n)
				for _, lv := range availableLevels() {
					for _, vec := range boundaryLevels() {
						withBoundary(vec, func() {
							withLevel(lv, func() {
								where := fmt.Sprintf("%s wide=%v n=%d level %s boundary %v", mode, wide, n, lv.name, vec)
								got, err := m.Logits(x, n)
								if err != nil {
									t.Fatal(err)
								}
								if !slices.Equal(got, want[len(want)-1]) {
									t.Fatalf("%s: logits differ", where)
								}
								if n == 64 {
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
						})
					}
				}
			}
		}
	}
}

// TestGraphModelsAreNotDegenerate guards the test above against a model
// whose layers saturate or collapse (every value equal): each layer of
// the ResNet-like graph must produce at least 8 distinct values over 64
// samples.
func TestGraphModelsAreNotDegenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	m := resModel(t, rng, W8A8Asym, false)
	outs := interpret[uint8](m, randInput(rng, m, 64), 64)
	for li, o := range outs {
		d := map[int32]bool{}
		for _, v := range o {
			d[v] = true
		}
		if len(d) < 8 {
			t.Errorf("layer %d (%s): %d distinct values", li, m.Layers[li].Kind, len(d))
		}
	}
}

// TestGraphSaveLoad round-trips the graph model (add multipliers as
// tensors, groups, inputs) through a file, bit-identical logits.
func TestGraphSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, mode := range []Mode{W8A8, W8A8Asym, W8Only} {
		m := resModel(t, rng, mode, false)
		path := filepath.Join(t.TempDir(), "g")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x := randInput(rng, m, 5)
		if mode == W8Only {
			a, err1 := m.FloatLogits(x, 5)
			b, err2 := got.FloatLogits(x, 5)
			if err1 != nil || err2 != nil || !slices.Equal(a, b) {
				t.Fatalf("%s: %v %v", mode, err1, err2)
			}
			continue
		}
		a, _ := m.Logits(x, 5)
		b, err := got.Logits(x, 5)
		if err != nil || !slices.Equal(a, b) {
			t.Fatalf("%s: logits differ after a round trip (%v)", mode, err)
		}
	}
}

// interpretFloat is the w8-only oracle in float64, from the definitions:
// weights S_w[c]·q, float bias, direct (grouped) convolution with zero
// padding, sums, means, ReLU clamped at Max.
func interpretFloat(m *Model, x []float32, n int) []float64 {
	size := m.InC * m.InH * m.InW
	var logits []float64
	for s := 0; s < n; s++ {
		vals := make([][]float64, len(m.Layers)+1)
		vals[0] = make([]float64, size)
		for i := range vals[0] {
			vals[0][i] = float64(x[s*size+i])
		}
		for li, l := range m.Layers {
			ins := m.inputs(li)
			src := vals[ins[0]+1]
			out := make([]float64, l.OutSize())
			switch l.Kind {
			case KindFlatten:
				copy(out, src)
			case KindGlobalAvgPool:
				hw := l.InH * l.InW
				for c := range out {
					for _, v := range src[c*hw : (c+1)*hw] {
						out[c] += v
					}
					out[c] /= float64(hw)
				}
			case KindAdd:
				for i := range out {
					out[i] = src[i] + vals[ins[1]+1][i]
				}
			case KindLinear, KindConv2D:
				g := max(1, l.Groups)
				cg, og, k, fan := l.InC/g, l.OutC/g, max(1, l.K), l.fanIn()
				for oc := 0; oc < l.OutC; oc++ {
					wf := func(j int) float64 { return float64(l.WScale[oc]) * float64(l.W[oc*fan+j]) }
					for oy := 0; oy < l.OutH; oy++ {
						for ox := 0; ox < l.OutW; ox++ {
							acc := float64(l.FBias[oc])
							if l.Kind == KindLinear {
								for j, v := range src {
									acc += v * wf(j)
								}
							} else {
								for ci := 0; ci < cg; ci++ {
									for ky := 0; ky < k; ky++ {
										for kx := 0; kx < k; kx++ {
											iy, ix := oy*l.Stride+ky-l.Pad, ox*l.Stride+kx-l.Pad
											if iy >= 0 && iy < l.InH && ix >= 0 && ix < l.InW {
												acc += src[((oc/og*cg+ci)*l.InH+iy)*l.InW+ix] * wf((ci*k+ky)*k+kx)
											}
										}
									}
								}
							}
							out[(oc*l.OutH+oy)*l.OutW+ox] = acc
						}
					}
				}
			}
			if l.ReLU && l.Kind != KindFlatten {
				for i, v := range out {
					out[i] = max(v, 0)
					if l.Max > 0 {
						out[i] = min(out[i], float64(l.Max))
					}
				}
			}
			vals[li+1] = out
		}
		logits = append(logits, vals[len(m.Layers)]...)
	}
	return logits
}

// TestGraphWeightOnly runs the graph model in w8-only mode and compares
// with the float64 oracle: float32 sums of at most 72 products of values
// below ~10 differ from float64 by a few float32 ulps of the running sum
// (~1e-6 relative); 1e-4 of the logits' largest magnitude allows for that
// through five layers.
func TestGraphWeightOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	m := resModel(t, rng, W8Only, false)
	for _, n := range []int{1, 7} {
		x := randInput(rng, m, n)
		got, err := m.FloatLogits(x, n)
		if err != nil {
			t.Fatal(err)
		}
		want := interpretFloat(m, x, n)
		scale := 0.0
		for _, v := range want {
			scale = max(scale, math.Abs(v))
		}
		if scale == 0 {
			t.Fatal("all logits are 0")
		}
		for i := range want {
			if d := math.Abs(float64(got[i]) - want[i]); d > 1e-4*scale {
				t.Fatalf("n=%d logit %d: %v, want %v (scale %v)", n, i, got[i], want[i], scale)
			}
		}
	}
}

// TestGraphLogitsIntoAllocatesNothing: a warm call of a graph model
// (buffer slots, add tables, padded images, groups) allocates nothing, on
// one goroutine or split over two.
func TestGraphLogitsIntoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(17, 17))
	for _, mode := range []Mode{W8A8, W8A8Asym} {
		m := resModel(t, rng, mode, false)
		for _, n := range []int{1, 130} {
			x := randInput(rng, m, n)
			dst := make([]int32, n*m.Classes)
			if err := m.LogitsInto(dst, x, n); err != nil {
				t.Fatal(err)
			}
			if a := steadyMallocs(func() { _ = m.LogitsInto(dst, x, n) }); a != 0 {
				t.Errorf("%s batch %d: %d allocations in every round of 20 warm calls", mode, n, a)
			}
		}
	}
}

// TestPlanSlots: a chain of layers ping-pongs between two buffer slots
// (lenet5, lenet300: as before graphs); a ResNet with one shortcut live
// at a time holds a third.
func TestPlanSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	for _, c := range []struct {
		m     *Model
		slots int
	}{
		{randModel(t, rng, "lenet5", W8A8), 2},
		{randModel(t, rng, "lenet300", W8A8), 2},
		{resnet8Shape(t, W8A8), 3},
		{mobilenetShape(t, W8A8Asym), 2},
	} {
		if got := len(c.m.plan().slots); got != c.slots {
			t.Errorf("%s: %d buffer slots, want %d", c.m.Arch, got, c.slots)
		}
	}
}

// TestBenchModelsMatchInterpreter runs the benchmark's resnet8 and
// mobilenet-tiny shapes (16 to 64 channels, one-channel 3×3 stems,
// pointwise convolutions read in place, 1×1 stride-2 projections) at
// every GEMM and boundary level of this CPU, at batch 1 and a ragged
// batch of 5 (several samples per GEMM call, a short last call), and
// compares the logits and every layer's output with the slow interpreter
// bit for bit.
func TestBenchModelsMatchInterpreter(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, m := range []*Model{resnet8Shape(t, W8A8), mobilenetShape(t, W8A8), resnet8Shape(t, W8A8Asym), mobilenetShape(t, W8A8Asym)} {
		for _, n := range []int{1, 5} {
			x := randInput(rng, m, n)
			want := interpretMode(m, x, n)
			for _, lv := range availableLevels() {
				for _, vec := range boundaryLevels() {
					withBoundary(vec, func() {
						withLevel(lv, func() {
							where := fmt.Sprintf("%s %s n=%d level %s boundary %v", m.Arch, m.Mode, n, lv.name, vec)
							_, err := m.trace(x, n, func(li int, out []int32) {
								if !slices.Equal(out, want[li]) {
									t.Fatalf("%s: layer %d (%s) differs", where, li, m.Layers[li].Kind)
								}
							})
							if err != nil {
								t.Fatal(err)
							}
							got, err := m.Logits(x, n)
							if err != nil {
								t.Fatal(err)
							}
							if !slices.Equal(got, want[len(want)-1]) {
								t.Fatalf("%s: logits differ", where)
							}
						})
					})
				}
			}
		}
	}
}
