package infer

import (
	"math"
	"math/rand/v2"

	"github.com/tinyqat/tinyqat/quant"
)

// testModel builds a valid integer model with random weights, biases and
// multipliers, without training: the runtime's own tests need a model, not
// a good one, and training one per test held gigabytes (Gorgonia graphs)
// and minutes. arch "mlp" takes 1×8×8 inputs (flatten, linear 64→32 with
// ReLU, linear 32→5); "cnn" takes 1×16×16 (conv 6@5×5 pad 2 + ReLU,
// maxpool 2, conv 16@5×5 + ReLU, maxpool 2, flatten, linear 64→5).
func testModel(arch string, mode Mode, seed uint64) *Model {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := &Model{Version: FormatVersion, Arch: arch, Mode: mode, InC: 1, Classes: 5,
		Source: Source{Run: "test", BitsW: 8, BitsA: 8}}
	// float32(x·c) + d: the product rounded on its own, so that GOAMD64=v3
	// (which fuses x·c + d into one multiply-add) draws the same scales
	// and TestIntegerFileUnchanged's hashes hold on every build.
	act := func() QParams {
		if mode == W8A8Asym {
			return QParams{Scale: 0.01 + float32(rng.Float32()*0.05), Zero: int32(rng.IntN(80)), Bits: 8}
		}
		return QParams{Scale: 0.01 + float32(rng.Float32()*0.05), Bits: 8, Signed: true}
	}
	if mode != W8Only {
		m.Input = act()
		if mode == W8A8Asym {
			m.Input = QParams{Scale: 1.0 / 255, Zero: 0, Bits: 8}
		} else {
			m.Input = QParams{Scale: 1.0 / 127, Bits: 8, Signed: true}
		}
	}
	c, h, w := 1, 8, 8
	if arch == "cnn" {
		h, w = 16, 16
	}
	m.InH, m.InW = h, w
	prev := m.Input
	weighted := func(l *Layer) {
		fan := l.fanIn()
		l.WBits = 8
		l.W = make([]int8, l.OutC*fan)
		for i := range l.W {
			l.W[i] = int8(rng.IntN(255) - 127)
		}
		l.WScale = make([]float32, l.OutC)
		for j := range l.WScale {
			l.WScale[j] = 0.001 + float32(rng.Float32()*0.01)
		}
		if mode == W8Only {
			l.FBias = make([]float32, l.OutC)
			for j := range l.FBias {
				l.FBias[j] = rng.Float32() - 0.5
			}
			return
		}
		l.In, l.Out = prev, act()
		prev = l.Out
		l.Bias, l.M0, l.Shift = make([]int32, l.OutC), make([]int32, l.OutC), make([]int32, l.OutC)
		for j := range l.Bias {
			l.Bias[j] = int32(rng.IntN(1<<14) - 1<<13)
			// acc ≈ √fan·64·64 at most typical; aim the output at ±64.
			mult := float32(64 / (math.Sqrt(float64(fan)) * 64 * 40) * (0.5 + rng.Float64()))
			var err error
			if l.M0[j], l.Shift[j], err = quant.SplitMultiplier(mult); err != nil {
				panic(err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
		if l.ReLU {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
	}
	add := func(l *Layer) {
		l.InC, l.InH, l.InW = c, h, w
		if l.Kind.Weighted() {
			weighted(l)
		}
		m.Layers = append(m.Layers, l)
		c, h, w = l.OutC, l.OutH, l.OutW
	}
	if arch == "cnn" {
		add(&Layer{Kind: KindConv2D, Name: "conv1", OutC: 6, OutH: 16, OutW: 16, K: 5, Stride: 1, Pad: 2, ReLU: true})
		add(&Layer{Kind: KindMaxPool2D, OutC: 6, OutH: 8, OutW: 8, K: 2, Stride: 2})
		add(&Layer{Kind: KindConv2D, Name: "conv2", OutC: 16, OutH: 4, OutW: 4, K: 5, Stride: 1, ReLU: true})
		add(&Layer{Kind: KindMaxPool2D, OutC: 16, OutH: 2, OutW: 2, K: 2, Stride: 2})
		add(&Layer{Kind: KindFlatten, OutC: 64, OutH: 1, OutW: 1})
		add(&Layer{Kind: KindLinear, Name: "fc", OutC: 5, OutH: 1, OutW: 1})
	} else {
		add(&Layer{Kind: KindFlatten, OutC: 64, OutH: 1, OutW: 1})
		add(&Layer{Kind: KindLinear, Name: "fc1", OutC: 32, OutH: 1, OutW: 1, ReLU: true})
		add(&Layer{Kind: KindLinear, Name: "fc2", OutC: 5, OutH: 1, OutW: 1})
	}
	if err := m.Validate(); err != nil {
		panic(err)
	}
	return m
}

// testInput is n random samples of m's input shape in [0, 1).
func testInput(m *Model, n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 8))
	x := make([]float32, n*m.InC*m.InH*m.InW)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}
