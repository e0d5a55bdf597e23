package infer

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

// fuzzLimits keep what the fuzz target runs small: a model that loads
// within them runs one image in well under a millisecond.
var fuzzLimits = Limits{MaxActivation: 1 << 16, MaxScratch: 1 << 24}

// geomModel builds, without validating, a model whose first layer has
// the given geometry: kind%4 selects conv2d as the last layer (0), conv2d
// then flatten (1), maxpool then flatten then a linear of 2 classes (2),
// grouped conv2d then a global average pool (3); kind/4%3 the mode. Its
// tensors have the lengths the geometry declares in wrapping int
// arithmetic (as a hand-made file would declare them); nil when that
// would be more than 2^16 elements.
func geomModel(kind uint8, inC, inH, inW, outC, outH, outW, k, stride, pad, groups int) *Model {
	mode := Modes[int(kind/4)%3]
	q := QParams{Scale: 0.02, Bits: 8, Signed: mode == W8A8}
	if mode == W8A8Asym {
		q.Zero = 100
	}
	if mode == W8Only {
		q = QParams{}
	}
	m := &Model{Version: FormatVersion, Arch: "fuzz", Mode: mode, InC: inC, InH: inH, InW: inW, Input: q}
	weighted := func(l *Layer) bool {
		n := l.OutC * l.fanIn() // wrapping, as the file would declare it
		if l.OutC < 0 || l.OutC > 1<<16 || n < 0 || n > 1<<16 {
			return false
		}
		l.WBits, l.In, l.Out = 8, q, q
		l.W = make([]int8, n)
		for i := range l.W {
			l.W[i] = int8(i%255 - 127)
		}
		for c := 0; c < l.OutC; c++ {
			l.WScale = append(l.WScale, 0.01)
			if mode == W8Only {
				l.FBias = append(l.FBias, 0.5)
				continue
			}
			l.Bias = append(l.Bias, int32(c*1000-5000))
			l.M0, l.Shift = append(l.M0, 1<<23+int32(c)), append(l.Shift, 20)
		}
		if mode != W8Only {
			l.Lo, l.Hi = q.QRange()
		}
		return true
	}
	first := &Layer{Kind: KindConv2D, Name: "first", InC: inC, InH: inH, InW: inW, OutC: outC, OutH: outH, OutW: outW, K: k, Stride: stride, Pad: pad, Groups: groups}
	switch kind % 4 {
	case 2:
		first.Kind, first.Groups = KindMaxPool2D, 0
	case 3:
	default:
		first.Groups = 0
	}
	if first.Kind == KindConv2D && !weighted(first) {
		return nil
	}
	m.Layers = append(m.Layers, first)
	size := outC * outH * outW // wrapping
	m.Classes = size
	switch kind % 4 {
	case 1, 2:
		m.Layers = append(m.Layers, &Layer{Kind: KindFlatten, InC: outC, InH: outH, InW: outW, OutC: size, OutH: 1, OutW: 1})
		if kind%4 == 2 {
			fc := &Layer{Kind: KindLinear, Name: "fc", InC: size, InH: 1, InW: 1, OutC: 2, OutH: 1, OutW: 1}
			if !weighted(fc) {
				return nil
			}
			m.Layers = append(m.Layers, fc)
			m.Classes = 2
		}
	case 3:
		m.Layers = append(m.Layers, &Layer{Kind: KindGlobalAvgPool, InC: outC, InH: outH, InW: outW, OutC: outC, OutH: 1, OutW: 1, In: q, Out: q})
		m.Classes = outC
	}
	return m
}

// geomSeeds are FuzzLoadGeometry's seeds: six valid models (one of each
// shape of geomModel and mode), then geometries near the integer limits.
const near62 = 1 << 62

var geomSeeds = []struct {
	kind                                                    uint8
	inC, inH, inW, outC, outH, outW, k, stride, pad, groups int
}{
	{0, 1, 8, 8, 5, 1, 1, 2, 8, 0, 0},                         // valid: conv 5@2×2, stride 8
	{1, 1, 8, 8, 5, 2, 2, 2, 4, 0, 0},                         // valid: conv head, flatten
	{2, 3, 9, 9, 3, 4, 4, 2, 2, 0, 0},                         // valid: maxpool, flatten, linear
	{3, 4, 6, 6, 8, 6, 6, 3, 1, 1, 2},                         // valid: grouped conv, mean
	{3 + 4, 4, 6, 6, 4, 3, 3, 3, 2, 1, 4},                     // valid: depthwise, asymmetric
	{1 + 8, 2, 5, 5, 4, 3, 3, 3, 2, 1, 0},                     // valid: w8-only
	{0, 1, 8, 8, 5, 1, 1, near62 + 2, near62, near62 / 2, 0},  // the probe's: fan-in wraps to 4
	{0, 1, 8, 8, 5, 1, 1, 2, 8, near62 - 1, 0},                // pad near 2^62
	{1, 1, 8, 8, 1 << 22, 1 << 21, 1 << 21, 2, 8, 0, 0},       // output count wraps
	{2, 1 << 21, 1 << 21, 1 << 22, 1 << 21, 1, 1, 1, 1, 0, 0}, // input count wraps to 0
	{3, 1 << 32, 1, 1, 1 << 32, 1, 1, 1, 1, 0, 1 << 32},       // groups near the limits
	{0, 1, 1 << 24, 1, 5, 1, 1, 1 << 24, 1, 0, 0},             // k at maxDim
	{0, -1, -8, 8, 5, 1, 1, 2, 8, 0, 0},                       // negative shapes
	{2, 1, 8, 8, 1, 1, 1, 8, -1 << 63, 0, 0},                  // stride at the int minimum
}

// FuzzLoadGeometry (issue 17): model files whose geometry — input shape,
// channels, kernel, stride, padding, groups, output shape — is drawn
// near the integer limits, with tensors of the lengths that geometry
// declares in wrapping arithmetic. It decodes them past the checksum
// (which would stop almost every mutation), as ParseWith does, under
// small Limits; whatever loads must run one image without panicking and
// give Classes logits.
func FuzzLoadGeometry(f *testing.F) {
	for _, s := range geomSeeds {
		f.Add(s.kind, s.inC, s.inH, s.inW, s.outC, s.outH, s.outW, s.k, s.stride, s.pad, s.groups)
	}
	f.Fuzz(func(t *testing.T, kind uint8, inC, inH, inW, outC, outH, outW, k, stride, pad, groups int) {
		m := geomModel(kind, inC, inH, inW, outC, outH, outW, k, stride, pad, groups)
		if m == nil {
			return
		}
		header, err := json.Marshal(m)
		if err != nil {
			return
		}
		meta := map[string]string{"format": fileFormat, "version": strconv.Itoa(m.Version), "model": string(header)}
		got, err := decode(m.tensors(), meta)
		if err == nil {
			err = got.checkLimits(fuzzLimits)
		}
		if err != nil {
			return
		}
		x := make([]float32, got.InC*got.InH*got.InW)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		if got.Mode == W8Only {
			out, err := got.FloatLogits(x, 1)
			if err != nil || len(out) != got.Classes {
				t.Fatalf("a loaded w8-only model fails to run: %d logits, %v", len(out), err)
			}
			return
		}
		out, err := got.LogitsTrace(x, 1, func(int, []int32) {})
		if err != nil || len(out) != got.Classes {
			t.Fatalf("a loaded model fails to run: %d logits, %v", len(out), err)
		}
	})
}

// TestGeomSeedsLoad keeps FuzzLoadGeometry from passing vacuously: its
// valid seeds load and run, its others are refused.
func TestGeomSeedsLoad(t *testing.T) {
	for i, s := range geomSeeds {
		m := geomModel(s.kind, s.inC, s.inH, s.inW, s.outC, s.outH, s.outW, s.k, s.stride, s.pad, s.groups)
		err := errNoModel
		if m != nil {
			header, _ := json.Marshal(m)
			var got *Model
			if got, err = decode(m.tensors(), map[string]string{"format": fileFormat, "version": strconv.Itoa(m.Version), "model": string(header)}); err == nil {
				err = got.checkLimits(fuzzLimits)
			}
		}
		if valid := i < 6; valid != (err == nil) {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

var errNoModel = errors.New("no model: tensors too large")
