package main

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/quant"
)

// identityModel is a 3×4×4 model whose first layer is a 1×1 convolution
// that copies its input (weights the identity, multiplier 1, the input's
// quantization on both sides), so its runtime output is the runtime's
// quantized input; then flatten and a random linear layer to 2 classes.
func identityModel(t *testing.T, mode infer.Mode, norm *infer.InputNorm) *infer.Model {
	t.Helper()
	in, out := infer.QParams{Scale: 1.0 / 40, Bits: 8, Signed: true}, infer.QParams{Scale: 0.05, Bits: 8, Signed: true}
	if mode == infer.W8A8Asym {
		in, out = infer.QParams{Scale: 1.0 / 30, Zero: 100, Bits: 8}, infer.QParams{Scale: 0.05, Zero: 128, Bits: 8}
	}
	const c, h, w = 3, 4, 4
	m := &infer.Model{Version: infer.FormatVersion, Arch: "identity", Mode: mode, InC: c, InH: h, InW: w, Classes: 2,
		Input: in, Norm: norm, Source: infer.Source{Run: "test", BitsW: 8, BitsA: 8}}
	split := func(l *infer.Layer, mult float32) {
		l.Bias, l.M0, l.Shift = make([]int32, l.OutC), make([]int32, l.OutC), make([]int32, l.OutC)
		for j := range l.M0 {
			var err error
			if l.M0[j], l.Shift[j], err = quant.SplitMultiplier(mult); err != nil {
				t.Fatal(err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
	}
	conv := &infer.Layer{Kind: infer.KindConv2D, Name: "copy", InC: c, InH: h, InW: w, OutC: c, OutH: h, OutW: w, K: 1, Stride: 1,
		In: in, Out: in, WBits: 8, W: make([]int8, c*c), WScale: []float32{1, 1, 1}}
	for i := range c {
		conv.W[i*c+i] = 1
	}
	split(conv, 1)
	flat := &infer.Layer{Kind: infer.KindFlatten, InC: c, InH: h, InW: w, OutC: c * h * w, OutH: 1, OutW: 1}
	fc := &infer.Layer{Kind: infer.KindLinear, Name: "fc", InC: c * h * w, InH: 1, InW: 1, OutC: 2, OutH: 1, OutW: 1,
		In: in, Out: out, WBits: 8, W: make([]int8, 2*c*h*w), WScale: []float32{0.01, 0.01}}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range fc.W {
		fc.W[i] = int8(rng.IntN(21) - 10)
	}
	split(fc, in.Scale*0.01/0.05)
	m.Layers = []*infer.Layer{conv, flat, fc}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLayerDataInput: the dumped input (layer −1) is the runtime's
// quantized input, and layer 0's exact reference is computed from it, on
// an RGB model with and without a per-channel normalization, symmetric
// and affine: layer 0 copies its input, so its traced output, the
// dumped input and its exact value must all be equal. A dump that
// quantizes the raw pixels of a normalized model is caught.
func TestLayerDataInput(t *testing.T) {
	cifar := &infer.InputNorm{Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.247, 0.0843, 0.2616}}
	for _, c := range []struct {
		name string
		mode infer.Mode
		norm *infer.InputNorm
	}{
		{"w8a8", infer.W8A8, nil},
		{"w8a8 normalized", infer.W8A8, cifar},
		{"w8a8-asym normalized", infer.W8A8Asym, cifar},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := identityModel(t, c.mode, c.norm)
			const n = 5
			size := m.InC * m.InH * m.InW
			x := make([]float32, n*size)
			rng := rand.New(rand.NewPCG(7, 7))
			for i := range x {
				x[i] = float32(rng.IntN(256)) / 255
			}
			layers, exact, infos, err := layerData(m, x, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 4 || infos[0].Kind != "input" || infos[1].Kind != string(infer.KindConv2D) || infos[1].ExactOffset != 0 {
				t.Fatalf("layer list %+v", infos)
			}
			input := layers[:n*size]
			copied := layers[infos[1].Offset/4 : infos[1].Offset/4+int64(n*size)]
			if !slices.Equal(input, copied) {
				t.Errorf("dumped input differs from the runtime's (layer 0 copies it):\n got %v\nwant %v", input[:size], copied[:size])
			}
			if e := exact[:n*size]; !slices.Equal(e, copied) {
				t.Errorf("layer 0's exact value differs from the runtime's:\n got %v\nwant %v", e[:size], copied[:size])
			}
			// Not vacuous: the values span the grid.
			if d := len(slices.Compact(slices.Sorted(slices.Values(input)))); d < 20 {
				t.Errorf("only %d distinct input values", d)
			}
		})
	}
}
