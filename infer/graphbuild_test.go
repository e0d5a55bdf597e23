package infer

import (
	"fmt"
	"math"

	"math/rand/v2"

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
		Source: Source{Run: "test", BitsW: 8, BitsA: 8}}}
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
