package export

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
)

// onnxTestModel builds a small valid integer model with every layer kind
// the exporter writes: conv (padded, ReLU) → maxpool → conv (no ReLU) →
// flatten → linear (ReLU) → linear, 4 classes, random weights from seed.
func onnxTestModel(t *testing.T, mode infer.Mode, seed uint64) *infer.Model {
	return onnxTestNet(t, mode, seed, false)
}

// onnxTestNet builds onnxTestModel's network, or with convHead a network
// whose last layer is a convolution with a 1×1 output (conv → maxpool →
// conv 3×3 → 4 classes).
func onnxTestNet(t *testing.T, mode infer.Mode, seed uint64, convHead bool) *infer.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	signed := mode == infer.W8A8
	act := func(scale float32) infer.QParams {
		p := infer.QParams{Scale: scale, Bits: 8, Signed: signed}
		if !signed {
			p.Zero = int32(rng.IntN(40)) // an affine zero point away from 0
		}
		return p
	}
	m := &infer.Model{Version: infer.FormatVersion, Arch: "onnxtest", Mode: mode, InC: 2, InH: 7, InW: 7, Classes: 4,
		Input: act(1.0 / 127)}
	c, h, w := 2, 7, 7
	prev := m.Input
	weighted := func(kind infer.Kind, outC, k, pad int, relu bool) {
		l := &infer.Layer{Kind: kind, Name: string(kind), InC: c, InH: h, InW: w, OutC: outC, OutH: 1, OutW: 1, K: k, Stride: 1, Pad: pad,
			In: prev, ReLU: relu, WBits: 8}
		fan := c * h * w
		if kind == "conv2d" {
			fan = c * k * k
			l.OutH, l.OutW = h+2*pad-k+1, w+2*pad-k+1
		}
		l.W = make([]int8, outC*fan)
		for i := range l.W {
			l.W[i] = int8(rng.IntN(255) - 127)
		}
		l.WScale, l.Bias, l.M0, l.Shift = make([]float32, outC), make([]int32, outC), make([]int32, outC), make([]int32, outC)
		// Typical |acc| ≈ 64·64·√fan (operands of about half range): an
		// output scale that puts it near ±64 exercises both rounding and
		// the clamps.
		l.Out = act(float32(float64(prev.Scale) * 0.01 * 64 * math.Sqrt(float64(fan))))
		for o := range outC {
			l.WScale[o] = float32(0.005 + 0.01*rng.Float64())
			l.Bias[o] = int32(rng.IntN(20001) - 10000)
			bs := prev.Scale * l.WScale[o]
			var err error
			if l.M0[o], l.Shift[o], err = quant.QuantizeMultiplier(bs, l.Out.Scale); err != nil {
				t.Fatal(err)
			}
		}
		l.Lo, l.Hi = l.Out.QRange()
		if relu {
			l.Lo = max(l.Lo, l.Out.Zero)
		}
		m.Layers = append(m.Layers, l)
		prev = l.Out
		c, h, w = l.OutC, l.OutH, l.OutW
	}
	weighted("conv2d", 3, 3, 1, true)
	m.Layers = append(m.Layers, &infer.Layer{Kind: "maxpool2d", InC: c, InH: h, InW: w, K: 2, Stride: 2, OutC: c, OutH: (h-2)/2 + 1, OutW: (w-2)/2 + 1})
	h, w = (h-2)/2+1, (w-2)/2+1
	if convHead {
		weighted("conv2d", 4, 3, 0, false) // 3×3 → 1×1
		if err := m.Validate(); err != nil {
			t.Fatalf("test model: %v", err)
		}
		return m
	}
	weighted("conv2d", 4, 2, 0, false)
	m.Layers = append(m.Layers, &infer.Layer{Kind: "flatten", InC: c, InH: h, InW: w, OutC: c * h * w, OutH: 1, OutW: 1})
	c, h, w = c*h*w, 1, 1
	weighted("linear", 9, 0, 0, true)
	weighted("linear", 4, 0, 0, false)
	if err := m.Validate(); err != nil {
		t.Fatalf("test model: %v", err)
	}
	return m
}

// TestONNXMatchesRuntime evaluates the exported QDQ graph with the
// reference evaluator (onnxeval_test.go) and compares its integer logits
// and every layer's output with the runtime's. The runtime rounds its
// fixed-point requantization twice, the graph's QuantizeLinear once, so a
// value may differ by one step where a product lands next to a half (the
// difference ONNX Runtime shows too); a wrong layout, scale, zero point
// or clamp gives differences of many steps.
func TestONNXMatchesRuntime(t *testing.T) {
	for _, c := range []struct {
		mode     infer.Mode
		convHead bool
	}{{infer.W8A8, false}, {infer.W8A8Asym, false}, {infer.W8A8, true}} {
		mode := c.mode
		t.Run(fmt.Sprintf("%s/convhead=%v", mode, c.convHead), func(t *testing.T) {
			m := onnxTestNet(t, mode, 7, c.convHead)
			mp, err := ONNXFromModel(m, &ONNXOptions{LayerOutputs: true})
			if err != nil {
				t.Fatal(err)
			}
			const n = 40
			rng := rand.New(rand.NewPCG(3, 3))
			x := make([]float32, n*m.InC*m.InH*m.InW)
			for i := range x {
				x[i] = float32(rng.Float64()*1.2 - 0.1) // a few values outside [0, 1] reach the clamps
			}
			xs := make([]float64, len(x))
			for i, v := range x {
				xs[i] = float64(v)
			}
			got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, m.InC, m.InH, m.InW}, v: xs}})
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Logits(x, n)
			if err != nil {
				t.Fatal(err)
			}
			lq := got["logits_q"]
			if len(lq.v) != len(want) {
				t.Fatalf("logits_q has %d values, want %d", len(lq.v), len(want))
			}
			wantType := onnxpb.TensorProto_UINT8
			if mode == infer.W8A8 {
				wantType = onnxpb.TensorProto_INT8
			}
			if lq.typ != wantType {
				t.Errorf("logits_q is %v, want %v", lq.typ, wantType)
			}
			same := onnxCompare(t, "logits_q", lq.v, 0, want)
			t.Logf("%s: %d of %d logits identical", mode, same, len(want))
			out := m.Output()
			for i, v := range got["logits"].v {
				if d := math.Abs(v - float64(out.Scale)*(lq.v[i]-float64(out.Zero))); d > 1e-6 {
					t.Fatalf("logits[%d] = %v, want the dequantized logits_q %v", i, v, lq.v[i])
				}
			}
			off := 0.0
			if mode == infer.W8A8 {
				off = 128
			}
			layerOut := make([][]int32, len(m.Layers))
			if _, err := m.LogitsTrace(x, n, func(i int, out []int32) { layerOut[i] = append([]int32(nil), out...) }); err != nil {
				t.Fatal(err)
			}
			for i, l := range m.Layers {
				g := got["layer"+strconv.Itoa(i)]
				o := off
				if g.typ == onnxpb.TensorProto_INT8 {
					o = 0
				}
				onnxCompare(t, string(l.Kind), g.v, o, layerOut[i])
			}
		})
	}
}

// onnxCompare checks got−offset against want to within one step, and
// returns the number of identical values.
func onnxCompare(t *testing.T, what string, got []float64, offset float64, want []int32) int {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	same := 0
	for i, w := range want {
		d := math.Abs(got[i] - offset - float64(w))
		if d > 1 {
			t.Fatalf("%s[%d] = %v, runtime %d: more than one step apart", what, i, got[i]-offset, w)
		}
		if d == 0 {
			same++
		}
	}
	// At most a few percent of values sit next to a half step; most must
	// agree exactly (a systematic error, e.g. a scale off by an ulp-sized
	// factor in every channel, would not).
	if same < len(want)*9/10 {
		t.Errorf("%s: only %d of %d values identical", what, same, len(want))
	}
	return same
}

func TestONNXWeightOnly(t *testing.T) {
	m := onnxTestModel(t, infer.W8A8, 11)
	m.Mode = infer.W8Only
	for _, l := range m.Layers {
		if l.Kind == "linear" || l.Kind == "conv2d" {
			l.FBias = make([]float32, l.OutC)
			for c := range l.FBias {
				l.FBias[c] = float32(l.Bias[c]) * l.In.Scale * l.WScale[c]
			}
		}
	}
	mp, err := ONNXFromModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	x := make([]float32, n*m.InC*m.InH*m.InW)
	xs := make([]float64, len(x))
	for i := range x {
		x[i] = float32(i%13) / 13
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
		// float32 runtime vs float64 evaluator: relative 1e-4 covers the
		// rounding of sums of at most 36 products.
		if d := math.Abs(got["logits"].v[i] - float64(w)); d > 1e-4*(1+math.Abs(float64(w))) {
			t.Fatalf("logit %d: graph %v, runtime %v", i, got["logits"].v[i], w)
		}
	}
}

func TestONNXFloatGraph(t *testing.T) {
	nm, err := nn.New("lenet5", nn.Shape{C: 1, H: 16, W: 16}, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := ONNXFromFloat(nm)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	x := make([]float32, n*256)
	xs := make([]float64, len(x))
	for i := range x {
		x[i] = float32((i*7)%17) / 17
		xs[i] = float64(x[i])
	}
	got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, 1, 16, 16}, v: xs}})
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewPredictor(nm, nil)
	defer p.Close()
	want := make([]float32, n*3)
	if err := p.Logits(want, x, n); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		// Gorgonia's float32 vs the float64 evaluator: sums of ≤ 800
		// products of values below 1 stay within a relative 1e-4.
		if d := math.Abs(got["logits"].v[i] - float64(w)); d > 1e-4*(1+math.Abs(float64(w))) {
			t.Fatalf("logit %d: graph %v, nn %v", i, got["logits"].v[i], w)
		}
	}
}

func TestWriteONNX(t *testing.T) {
	m := onnxTestModel(t, infer.W8A8, 1)
	mp, err := ONNXFromModel(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := WriteONNX(path, mp); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back onnxpb.ModelProto
	if err := proto.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&back, mp) {
		t.Error("the file does not read back as the model written")
	}
	if back.GetIrVersion() != onnxIRVersion || len(back.OpsetImport) != 1 || back.OpsetImport[0].GetVersion() != ONNXOpset {
		t.Errorf("IR %d, opsets %v", back.GetIrVersion(), back.OpsetImport)
	}
	// A failed write leaves the good file and no temporary files.
	missing := filepath.Join(dir, "missing", "m.onnx")
	if err := WriteONNX(missing, mp); err == nil || !strings.Contains(err.Error(), "export: writing "+missing+": ") ||
		strings.Contains(err.Error(), ".tmp") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("writing into a missing directory: got %v, want an error naming %s (not its temporary file)", err, missing)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want 1", len(entries))
	}
}

func TestONNXBadModel(t *testing.T) {
	var oe *ONNXError
	if _, err := ONNXFromModel(nil, nil); !errors.As(err, &oe) {
		t.Errorf("nil model: %v", err)
	}
	if _, err := ONNXFromFloat(nil); !errors.As(err, &oe) {
		t.Errorf("nil float model: %v", err)
	}
	if err := WriteONNX(filepath.Join(t.TempDir(), "x.onnx"), nil); !errors.As(err, &oe) {
		t.Errorf("nil proto: %v", err)
	}
	m := onnxTestModel(t, infer.W8A8, 2)
	m.Layers[0].W = m.Layers[0].W[:3] // truncated weights: invalid, must not panic
	if _, err := ONNXFromModel(m, nil); err == nil {
		t.Error("a model with truncated weights was exported")
	}
}

// TestONNXFloatGraphModern checks the float graph of networks with batch
// norm (BatchNormalization with the running statistics), residual blocks,
// depthwise convolutions, ReLU6 and global average pooling against nn's
// evaluation forward pass.
func TestONNXFloatGraphModern(t *testing.T) {
	for _, arch := range []string{"resnet8", "mobilenet-tiny"} {
		nm, err := nn.New(arch, nn.Shape{C: 1, H: 28, W: 28}, 10, 3)
		if err != nil {
			t.Fatal(err)
		}
		// Running statistics away from their initial 0 and 1, so a graph
		// that ignored them (or used batch statistics) would differ.
		rng := rand.New(rand.NewPCG(9, 9))
		for _, p := range append(nm.Params, nm.Buffers...) {
			if strings.HasSuffix(p.Name, "running_mean") || strings.HasSuffix(p.Name, "beta") {
				for i := range p.Data() {
					p.Data()[i] = float32(rng.Float64()*0.4 - 0.2)
				}
			}
			if strings.HasSuffix(p.Name, "running_var") || strings.HasSuffix(p.Name, "gamma") {
				for i := range p.Data() {
					p.Data()[i] = float32(0.5 + rng.Float64())
				}
			}
		}
		mp, err := ONNXFromFloat(nm)
		if err != nil {
			t.Fatal(err)
		}
		const n = 2
		x := make([]float32, n*784)
		xs := make([]float64, len(x))
		for i := range x {
			x[i] = float32((i*7)%17) / 17
			xs[i] = float64(x[i])
		}
		got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, 1, 28, 28}, v: xs}})
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		p := nn.NewPredictor(nm, nil)
		want := make([]float32, n*10)
		err = p.Logits(want, x, n)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			// float32 graph vs float64 evaluator through ~10 layers of
			// sums of ≤ 600 products: a relative 1e-3.
			if d := math.Abs(got["logits"].v[i] - float64(w)); d > 1e-3*(1+math.Abs(float64(w))) {
				t.Fatalf("%s logit %d: graph %v, nn %v", arch, i, got["logits"].v[i], w)
			}
		}
	}
}

// TestONNXFloatGraphNormalizes: the float graph of a run trained on
// normalized inputs takes pixels in [0, 1] and normalizes them as the
// training batches did (it fed the pixels straight to the network), names
// the classes, and refuses statistics that do not fit the network.
func TestONNXFloatGraphNormalizes(t *testing.T) {
	nm, err := nn.New("lenet5", nn.Shape{C: 1, H: 16, W: 16}, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	norm := &infer.InputNorm{Mean: []float32{0.1307}, Std: []float32{0.3081}} // MNIST's statistics
	mp, err := ONNXFromFloatInput(nm, []string{"a", "b", "c"}, norm)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	x := make([]float32, n*256)
	xs := make([]float64, len(x))
	xn := make([]float32, len(x))
	inv := 1 / norm.Std[0]
	for i := range x {
		x[i] = float32((i*7)%17) / 17
		xs[i] = float64(x[i])
		xn[i] = (x[i] - norm.Mean[0]) * inv // datasets.Batcher's expression
	}
	got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, 1, 16, 16}, v: xs}})
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewPredictor(nm, nil)
	defer p.Close()
	want := make([]float32, n*3)
	if err := p.Logits(want, xn, n); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		// As in TestONNXFloatGraph: float32 against the float64 evaluator.
		if d := math.Abs(got["logits"].v[i] - float64(w)); d > 1e-4*(1+math.Abs(float64(w))) {
			t.Fatalf("logit %d: graph %v, nn on normalized input %v", i, got["logits"].v[i], w)
		}
	}
	meta := map[string]string{}
	for _, p := range mp.MetadataProps {
		meta[p.GetKey()] = p.GetValue()
	}
	if meta["tinyqat.class_names"] != `["a","b","c"]` || meta["tinyqat.input_mean"] == "" {
		t.Fatalf("metadata %v", meta)
	}
	for _, bad := range []*infer.InputNorm{
		{Mean: []float32{0.1, 0.2}, Std: []float32{1, 1}},
		{Mean: []float32{0.1}, Std: []float32{0}},
		{Mean: []float32{float32(math.NaN())}, Std: []float32{1}},
	} {
		if _, err := ONNXFromFloatInput(nm, nil, bad); err == nil {
			t.Errorf("normalization %+v accepted", bad)
		}
	}
	if _, err := ONNXFromFloatInput(nm, []string{"a"}, nil); err == nil {
		t.Error("one class name for three classes accepted")
	}
}
