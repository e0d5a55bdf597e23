package cgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/quant"
)

// builder makes valid integer models with random weights and multipliers
// (no training): the generator needs every layer kind, not a good model.
type builder struct {
	t      testing.TB
	m      *infer.Model
	rng    *rand.Rand
	shapes [][3]int        // shapes[v+1]: value v's CHW shape
	qs     []infer.QParams // qs[v+1]: value v's parameters
}

func newBuilder(t testing.TB, mode infer.Mode, c, h, w, classes int, seed uint64) *builder {
	b := &builder{t: t, rng: rand.New(rand.NewPCG(seed, 11))}
	b.m = &infer.Model{Version: infer.FormatVersion, Arch: "test", Mode: mode, InC: c, InH: h, InW: w, Classes: classes,
		Source: infer.Source{Run: "test"}}
	b.m.Input = infer.QParams{Scale: 1.0 / 127, Bits: 8, Signed: true}
	if mode == infer.W8A8Asym {
		b.m.Input = infer.QParams{Scale: 1.0 / 255, Zero: 3, Bits: 8}
	}
	b.shapes = [][3]int{{c, h, w}}
	b.qs = []infer.QParams{b.m.Input}
	return b
}

func (b *builder) act() infer.QParams {
	if b.m.Mode == infer.W8A8Asym {
		return infer.QParams{Scale: 0.02 + b.rng.Float32()*0.05, Zero: int32(40 + b.rng.IntN(100)), Bits: 8}
	}
	return infer.QParams{Scale: 0.02 + b.rng.Float32()*0.05, Bits: 8, Signed: true}
}

// push appends l reading from (its first input) and returns its index.
func (b *builder) push(l *infer.Layer, from int) int {
	i := len(b.m.Layers)
	if from != i-1 || l.Kind == infer.KindAdd {
		l.Inputs = append([]int{from}, l.Inputs...)
	}
	s := b.shapes[from+1]
	l.InC, l.InH, l.InW = s[0], s[1], s[2]
	q := b.qs[from+1]
	if l.Kind.Weighted() || l.Kind == infer.KindAdd {
		l.In = q
		q = l.Out
	}
	b.m.Layers = append(b.m.Layers, l)
	b.shapes = append(b.shapes, [3]int{l.OutC, l.OutH, l.OutW})
	b.qs = append(b.qs, q)
	return i
}

func (b *builder) clamp(l *infer.Layer, relu bool) {
	l.Lo, l.Hi = l.Out.QRange()
	if relu {
		l.Lo = max(l.Lo, l.Out.Zero)
	}
}

// weighted fills a linear or conv layer's tensors: wbits-bit weights, and
// multipliers that keep the outputs spread over the grid.
func (b *builder) weighted(l *infer.Layer, fan, wbits int, relu bool) {
	wmax := 1<<(wbits-1) - 1
	l.WBits = wbits
	l.W = make([]int8, l.OutC*fan)
	for i := range l.W {
		l.W[i] = int8(b.rng.IntN(2*wmax+1) - wmax)
	}
	l.Out = b.act()
	l.WScale, l.Bias, l.M0, l.Shift = make([]float32, l.OutC), make([]int32, l.OutC), make([]int32, l.OutC), make([]int32, l.OutC)
	for c := range l.OutC {
		l.WScale[c] = 0.01
		l.Bias[c] = int32(b.rng.IntN(1<<12) - 1<<11)
		mult := float32(60 / (math.Sqrt(float64(fan)) * 50 * float64(wmax) * 0.6) * (0.5 + b.rng.Float64()))
		if c == 0 { // a power of two: some products land on ties
			mult = float32(math.Ldexp(1, math.Ilogb(float64(mult))))
		}
		var err error
		if l.M0[c], l.Shift[c], err = quant.SplitMultiplier(mult); err != nil {
			b.t.Fatal(err)
		}
	}
	b.clamp(l, relu)
}

func (b *builder) conv(from, outC, k, stride, pad, groups, wbits int, relu bool) int {
	s := b.shapes[from+1]
	l := &infer.Layer{Kind: infer.KindConv2D, Name: fmt.Sprintf("conv%d", len(b.m.Layers)), OutC: outC,
		OutH: (s[1]+2*pad-k)/stride + 1, OutW: (s[2]+2*pad-k)/stride + 1, K: k, Stride: stride, Pad: pad, ReLU: relu}
	if groups > 1 {
		l.Groups = groups
	}
	b.weighted(l, s[0]/groups*k*k, wbits, relu)
	return b.push(l, from)
}

func (b *builder) linear(from, outC, wbits int, relu bool) int {
	s := b.shapes[from+1]
	l := &infer.Layer{Kind: infer.KindLinear, Name: fmt.Sprintf("fc%d", len(b.m.Layers)), OutC: outC, OutH: 1, OutW: 1, ReLU: relu}
	b.weighted(l, s[0]*s[1]*s[2], wbits, relu)
	return b.push(l, from)
}

// codebook turns layer i's weights into cbits-bit indices into one table
// (groups 1) or one per output channel.
func (b *builder) codebook(i, cbits int, perChannel bool) {
	l := b.m.Layers[i]
	k := 1 << cbits
	l.CBits, l.CGroups = cbits, 1
	if perChannel {
		l.CGroups = l.OutC
	}
	wmax := 1<<(l.WBits-1) - 1
	l.LUT = make([]int8, l.CGroups*k)
	for j := range l.LUT {
		l.LUT[j] = int8(b.rng.IntN(2*wmax+1) - wmax)
	}
	fan := len(l.W) / l.OutC
	l.Index = make([]uint8, len(l.W))
	for j := range l.W {
		ix := b.rng.IntN(k)
		g := 0
		if perChannel {
			g = j / fan
		}
		l.Index[j], l.W[j] = uint8(ix), l.LUT[g*k+ix]
	}
}

func (b *builder) maxpool(from, k, stride int) int {
	s := b.shapes[from+1]
	return b.push(&infer.Layer{Kind: infer.KindMaxPool2D, OutC: s[0], OutH: (s[1]-k)/stride + 1, OutW: (s[2]-k)/stride + 1, K: k, Stride: stride}, from)
}

func (b *builder) flatten(from int) int {
	s := b.shapes[from+1]
	return b.push(&infer.Layer{Kind: infer.KindFlatten, OutC: s[0] * s[1] * s[2], OutH: 1, OutW: 1}, from)
}

func (b *builder) gap(from int) int {
	s, q := b.shapes[from+1], b.qs[from+1]
	l := &infer.Layer{Kind: infer.KindGlobalAvgPool, OutC: s[0], OutH: 1, OutW: 1, In: q, Out: q}
	l.Lo, l.Hi = q.QRange()
	return b.push(l, from)
}

// add adds values a and c; ma and mc, when not 0, are the real
// multipliers S_a/S_out and S_c/S_out (else random ones near 1).
func (b *builder) add(a, c int, relu bool, ma, mc float32) int {
	s := b.shapes[a+1]
	l := &infer.Layer{Kind: infer.KindAdd, OutC: s[0], OutH: s[1], OutW: s[2], ReLU: relu, Inputs: []int{c}, In2: b.qs[c+1]}
	l.Out = b.act()
	if ma == 0 {
		ma = b.qs[a+1].Scale / l.Out.Scale
	}
	if mc == 0 {
		mc = b.qs[c+1].Scale / l.Out.Scale
	}
	l.M0, l.Shift = make([]int32, 2), make([]int32, 2)
	for k, mult := range []float32{ma, mc} {
		var err error
		if l.M0[k], l.Shift[k], err = quant.SplitMultiplier(mult); err != nil {
			b.t.Fatal(err)
		}
	}
	b.clamp(l, relu)
	return b.push(l, a)
}

func (b *builder) done() *infer.Model {
	if err := b.m.Validate(); err != nil {
		b.t.Fatal(err)
	}
	return b.m
}

// testModels are small models covering every layer kind of the integer
// runtime, in both integer modes.
func testModels(t testing.TB) map[string]*infer.Model {
	out := map[string]*infer.Model{}
	for _, mode := range []infer.Mode{infer.W8A8, infer.W8A8Asym} {
		// A LeNet-like CNN: a padded one-channel stem, max pooling, a
		// strided 4-bit convolution, flatten of a 3×3 map, a linear layer
		// with a per-channel 3-bit codebook, a 2-bit linear layer.
		b := newBuilder(t, mode, 1, 16, 16, 5, 1)
		v := b.conv(-1, 6, 5, 1, 2, 1, 8, true)
		v = b.maxpool(v, 2, 2)
		v = b.conv(v, 8, 3, 2, 0, 1, 4, true)
		v = b.flatten(v)
		fc := b.linear(v, 20, 8, true)
		b.codebook(fc, 3, true)
		b.linear(fc, 5, 2, false)
		out["cnn-"+string(mode)] = b.done()

		// A residual network on colour images with an input
		// normalization: dense, depthwise and grouped convolutions,
		// adds fused into the convolution before them (in place over
		// the residual, or not when the residual is the convolution's
		// input; two with multipliers that put every sum of one term on
		// a tie, broken by the other term, 2^-36 as large, first or
		// second), an add of adds, a shared codebook, global average
		// pooling.
		b = newBuilder(t, mode, 3, 12, 12, 4, 2)
		b.m.Norm = &infer.InputNorm{Mean: []float32{0.49, 0.48, 0.45}, Std: []float32{0.25, 0.24, 0.26}}
		b.m.ClassNames = []string{"cat", `say "hi"?`, "back\\slash", "naïve ??="}
		stem := b.conv(-1, 8, 3, 1, 1, 1, 8, true)
		dw := b.conv(stem, 8, 3, 1, 1, 8, 8, true)
		gr := b.conv(dw, 8, 3, 1, 1, 2, 4, false)
		sum := b.add(gr, stem, true, 0, 0)
		pw := b.conv(sum, 8, 1, 1, 0, 1, 8, false)
		b.codebook(pw, 4, false)
		tie := b.add(pw, sum, false, 0.5, float32(math.Ldexp(1.5, -36)))
		pw2 := b.conv(tie, 8, 1, 1, 0, 1, 8, false)
		tie2 := b.add(pw2, tie, false, float32(math.Ldexp(1.25, -37)), 0.5)
		dbl := b.add(tie2, sum, true, 0, 0) // an add of adds: not fused
		down := b.conv(dbl, 16, 3, 2, 1, 1, 8, true)
		v = b.maxpool(down, 2, 1)
		v = b.gap(v)
		v = b.flatten(v)
		b.linear(v, 4, 8, false)
		out["res-"+string(mode)] = b.done()

		// A model whose last layer is a flatten (the logits are copied
		// out of the arena), after an in-place global average pool.
		b = newBuilder(t, mode, 2, 6, 5, 3, 3)
		v = b.conv(-1, 3, 3, 1, 0, 1, 8, false)
		v = b.gap(v)
		b.flatten(v)
		out["gaphead-"+string(mode)] = b.done()
	}
	return out
}

// testPixels are n random images of m's input (with an all-0 and an
// all-255 image first).
func testPixels(m *infer.Model, n int, seed uint64) []uint8 {
	size := m.InC * m.InH * m.InW
	rng := rand.New(rand.NewPCG(seed, 12))
	pix := make([]uint8, n*size)
	for i := range pix {
		switch {
		case i < size:
			pix[i] = 0
		case i < 2*size:
			pix[i] = 255
		default:
			pix[i] = uint8(rng.IntN(256))
		}
	}
	return pix
}
