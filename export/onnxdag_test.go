package export

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/quant"
)

// onnxDAGNet builds a small valid integer model with the layer kinds of
// modern networks, random weights from seed:
//
//	0 conv 3×3 stride 2 pad 1, 2→4, ReLU6 (Hi from 6/S)
//	1 depthwise conv 3×3 pad 1 (groups 4), ReLU
//	2 conv 1×1 4→4
//	3 add(2, 0), ReLU                 (a residual block, identity shortcut)
//	4 conv 1×1 stride 2, 4→6 reading 3 (body of a projection block)
//	5 conv 1×1 stride 2, 4→6 reading 3 (projection shortcut, Inputs [3])
//	6 add(4, 5)
//	7 global average pool
//	8 linear 6→4
func onnxDAGNet(t *testing.T, mode infer.Mode, seed uint64) *infer.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	signed := mode == infer.W8A8
	act := func(scale float32) infer.QParams {
		p := infer.QParams{Scale: scale, Bits: 8, Signed: signed}
		if !signed {
			p.Zero = int32(rng.IntN(40))
		}
		return p
	}
	m := &infer.Model{Version: infer.FormatVersion, Arch: "onnxdag", Mode: mode, InC: 2, InH: 9, InW: 9, Classes: 4,
		Input: act(1.0 / 127)}
	type val struct {
		q       infer.QParams
		c, h, w int
	}
	vals := map[int]val{-1: {m.Input, 2, 9, 9}}
	add := func(l *infer.Layer, from int) {
		v := vals[from]
		l.InC, l.InH, l.InW = v.c, v.h, v.w
		if from != len(m.Layers)-1 {
			l.Inputs = []int{from}
		}
		m.Layers = append(m.Layers, l)
		vals[len(m.Layers)-1] = val{l.Out, l.OutC, l.OutH, l.OutW}
	}
	weighted := func(kind infer.Kind, from, outC, k, stride, pad, groups int, act6 string) {
		in := vals[from]
		l := &infer.Layer{Kind: kind, Name: fmt.Sprintf("%s%d", kind, len(m.Layers)), OutC: outC, OutH: 1, OutW: 1, K: k, Stride: stride, Pad: pad,
			In: in.q, ReLU: act6 != "", WBits: 8}
		fan := in.c * in.h * in.w
		if kind == infer.KindConv2D {
			if groups > 1 {
				l.Groups = groups
			}
			fan = in.c / max(groups, 1) * k * k
			l.OutH, l.OutW = (in.h+2*pad-k)/stride+1, (in.w+2*pad-k)/stride+1
		}
		l.W = make([]int8, outC*fan)
		for i := range l.W {
			l.W[i] = int8(rng.IntN(255) - 127)
		}
		l.WScale, l.Bias, l.M0, l.Shift = make([]float32, outC), make([]int32, outC), make([]int32, outC), make([]int32, outC)
		// As in onnxTestNet: outputs near ±64 reach both the rounding and the clamps.
		l.Out = act(float32(float64(in.q.Scale) * 0.01 * 64 * math.Sqrt(float64(fan))))
		for o := range outC {
			l.WScale[o] = float32(0.005 + 0.01*rng.Float64())
			l.Bias[o] = int32(rng.IntN(20001) - 10000)
			var err error
			if l.M0[o], l.Shift[o], err = quant.QuantizeMultiplier(in.q.Scale*l.WScale[o], l.Out.Scale); err != nil {
				t.Fatal(err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
		if act6 != "" {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
		if act6 == "relu6" {
			// 6 real units: a scale chosen so the clamp bites inside the range.
			l.Hi = relu6Hi(l.Out, float32(40)*l.Out.Scale)
		}
		add(l, from)
	}
	addLayer := func(a, b int, relu bool) {
		va, vb := vals[a], vals[b]
		l := &infer.Layer{Kind: infer.KindAdd, Name: fmt.Sprintf("add%d", len(m.Layers)), OutC: va.c, OutH: va.h, OutW: va.w,
			In: va.q, In2: vb.q, ReLU: relu, Inputs: []int{a, b}}
		l.InC, l.InH, l.InW = va.c, va.h, va.w
		l.Out = act(1.3 * max(va.q.Scale, vb.q.Scale))
		l.M0, l.Shift = make([]int32, 2), make([]int32, 2)
		for k, s := range []float32{va.q.Scale, vb.q.Scale} {
			var err error
			if l.M0[k], l.Shift[k], err = quant.QuantizeMultiplier(s, l.Out.Scale); err != nil {
				t.Fatal(err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
		if relu {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
		m.Layers = append(m.Layers, l)
		vals[len(m.Layers)-1] = val{l.Out, l.OutC, l.OutH, l.OutW}
	}
	weighted(infer.KindConv2D, -1, 4, 3, 2, 1, 1, "relu6") // 0: 4×5×5
	weighted(infer.KindConv2D, 0, 4, 3, 1, 1, 4, "relu")   // 1: depthwise
	weighted(infer.KindConv2D, 1, 4, 1, 1, 0, 1, "")       // 2
	addLayer(2, 0, true)                                   // 3
	weighted(infer.KindConv2D, 3, 6, 1, 2, 0, 1, "")       // 4: 6×3×3
	weighted(infer.KindConv2D, 3, 6, 1, 2, 0, 1, "")       // 5: shortcut
	addLayer(4, 5, false)                                  // 6
	in := vals[6]
	gap := &infer.Layer{Kind: infer.KindGlobalAvgPool, Name: "gap", OutC: in.c, OutH: 1, OutW: 1, In: in.q, Out: in.q}
	gap.Lo, gap.Hi = in.q.QRange()
	add(gap, 6)
	weighted(infer.KindLinear, 7, 4, 0, 1, 0, 0, "") // 8
	if err := m.Validate(); err != nil {
		t.Fatalf("test model: %v", err)
	}
	return m
}

// TestONNXDAGMatchesRuntime evaluates the QDQ graph of a model with
// residual additions, a depthwise convolution, ReLU6 and a global average
// pool with the reference evaluator and compares every layer with the
// runtime (within one step where a value lands next to a half, as in
// TestONNXMatchesRuntime).
func TestONNXDAGMatchesRuntime(t *testing.T) {
	for _, mode := range []infer.Mode{infer.W8A8, infer.W8A8Asym} {
		t.Run(string(mode), func(t *testing.T) {
			m := onnxDAGNet(t, mode, 5)
			mp, err := ONNXFromModel(m, &ONNXOptions{LayerOutputs: true})
			if err != nil {
				t.Fatal(err)
			}
			const n = 30
			rng := rand.New(rand.NewPCG(4, 4))
			x := make([]float32, n*m.InC*m.InH*m.InW)
			xs := make([]float64, len(x))
			for i := range x {
				x[i] = float32(rng.Float64()*1.2 - 0.1)
				xs[i] = float64(x[i])
			}
			got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, m.InC, m.InH, m.InW}, v: xs}})
			if err != nil {
				t.Fatal(err)
			}
			layerOut := make([][]int32, len(m.Layers))
			want, err := m.LogitsTrace(x, n, func(i int, out []int32) { layerOut[i] = append([]int32(nil), out...) })
			if err != nil {
				t.Fatal(err)
			}
			same := onnxCompare(t, "logits_q", got["logits_q"].v, 0, want)
			t.Logf("%s: %d of %d logits identical", mode, same, len(want))
			off := 0.0
			if mode == infer.W8A8 {
				off = 128
			}
			for i, l := range m.Layers {
				g := got["layer"+strconv.Itoa(i)]
				o := off
				if g.typ == onnxpb.TensorProto_INT8 {
					o = 0
				}
				onnxCompare(t, fmt.Sprintf("layer %d %s", i, l.Kind), g.v, o, layerOut[i])
			}
			// The clamps bite: some ReLU6 outputs sit at Hi, some add
			// outputs at Z (ReLU).
			atHi, atZero := 0, 0
			for _, v := range layerOut[0] {
				if v == m.Layers[0].Hi {
					atHi++
				}
			}
			for _, v := range layerOut[3] {
				if v == m.Layers[3].Out.Zero {
					atZero++
				}
			}
			if atHi == 0 || atZero == 0 {
				t.Errorf("the test model does not reach its clamps: %d at ReLU6's Hi, %d at the add's ReLU", atHi, atZero)
			}
		})
	}
}

// TestONNXDAGWeightOnly checks the w8-only graph of the DAG model (float
// Add with Relu, GlobalAveragePool, Clip(0, max) for the ReLU6-like
// clamp, grouped Conv) against the runtime's float path.
func TestONNXDAGWeightOnly(t *testing.T) {
	m := onnxDAGNet(t, infer.W8A8, 6)
	m.Mode = infer.W8Only
	for i, l := range m.Layers {
		switch l.Kind {
		case infer.KindConv2D, infer.KindLinear:
			l.FBias = make([]float32, l.OutC)
			for c := range l.FBias {
				l.FBias[c] = float32(l.Bias[c]) * l.In.Scale * l.WScale[c]
			}
			if i == 0 {
				l.Max = 40 * l.Out.Scale // the integer model's Hi, in real units
			}
		case infer.KindAdd:
			l.M0, l.Shift = nil, nil
		}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	mp, err := ONNXFromModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	x := make([]float32, n*m.InC*m.InH*m.InW)
	xs := make([]float64, len(x))
	for i := range x {
		x[i] = float32(i%11) / 11
		xs[i] = float64(x[i])
	}
	got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, m.InC, m.InH, m.InW}, v: xs}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.FloatLogits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		// float32 runtime vs float64 evaluator, sums of at most 36
		// products through 8 layers: a relative 1e-4.
		if d := math.Abs(got["logits"].v[i] - float64(w)); d > 1e-4*(1+math.Abs(float64(w))) {
			t.Fatalf("logit %d: graph %v, runtime %v", i, got["logits"].v[i], w)
		}
	}
}
