package export

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/quant"
)

// rgbOf makes a 3-channel set of a grey one: the image, its negative,
// and the image shifted by 64 (wrapping), so the channels differ.
func rgbOf(s *datasets.Set) *datasets.Set {
	out := &datasets.Set{Name: s.Name + "-rgb", N: s.N, C: 3, H: s.H, W: s.W, Classes: s.Classes, Labels: s.Labels}
	for i := 0; i < s.N; i++ {
		img := s.Image(i)
		out.Pix = append(out.Pix, img...)
		for _, p := range img {
			out.Pix = append(out.Pix, 255-p)
		}
		for _, p := range img {
			out.Pix = append(out.Pix, p+64)
		}
	}
	return out
}

// CIFAR-10's training-set statistics (torchvision's usual constants),
// with one small std that spreads the bytes over many input steps.
var (
	testMean = []float32{0.4914, 0.4822, 0.4465}
	testStd  = []float32{0.247, 0.0843, 0.2616}
)

// rgbRun is a small RGB network quantized (PTQ, untrained), with its data.
func rgbRun(t *testing.T) (*datasets.Pair, *nn.Model) {
	t.Helper()
	g := datasets.Synthetic(256, 120, 8, 8, 5, 60, 4)
	data := &datasets.Pair{Train: rgbOf(g.Train), Test: rgbOf(g.Test)}
	layers := []nn.Layer{&nn.Conv2D{Name: "c1", Out: 4, K: 3, Pad: 1}, &nn.ReLU{}, &nn.MaxPool2D{K: 2, Stride: 2},
		&nn.Flatten{}, &nn.Linear{Name: "fc", Out: 5}}
	nm, err := nn.NewSequential("rgbnet", nn.Shape{C: 3, H: 8, W: 8}, 5, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	return data, nm
}

// TestWithInputRuntimeEqualsSimulation: a model given the normalization
// of its run normalizes raw pixels exactly as datasets.Batcher does for
// the simulation: Compare (the simulation on Batcher-normalized batches,
// the runtime on raw pixels) is exact at every layer, LogitsBytes equals
// Logits on every test image, and the names and normalization survive
// the model file. A runtime that does not normalize is caught.
func TestWithInputRuntimeEqualsSimulation(t *testing.T) {
	data, nm := rgbRun(t)
	ck := ptqOfUntrained(t, nm, data)
	names := []string{"airplane", "automobile", "bird", "cat", "deer"}
	for _, mode := range []infer.Mode{infer.W8A8} { // the PTQ run is symmetric
		m, err := Export(context.Background(), ck, mode)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := Export(context.Background(), ck, mode)
		if err != nil {
			t.Fatal(err)
		}
		if err := WithInput(m, names, testMean, testStd); err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare(context.Background(), m, ck, data.Test, 1000)
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, m, cmp)
		if !cmp.Exact() || cmp.Agreement != 1 {
			t.Fatalf("%s: with the normalization: exact %v, first divergence %q, layers %+v", mode, cmp.Exact(), cmp.FirstDivergence, cmp.Layers)
		}
		qnm, q, err := qat.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		bad, err := compareWith(context.Background(), m, plain.LogitsTrace, qnm, q, data.Test, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if bad.Exact() {
			t.Fatalf("%s: a runtime that ignores the normalization passes Compare", mode)
		}
		test := data.Test
		a, err1 := m.LogitsBytes(test.Pix, test.N)
		x := make([]float32, len(test.Pix))
		datasets.ToFloat(x, test.Pix)
		b, err2 := m.Logits(x, test.N)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("%s: LogitsBytes differ from Logits on the test images (%v, %v)", mode, err1, err2)
		}
		path := filepath.Join(t.TempDir(), "m.tqm")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.ClassNames, names) || back.Norm == nil || !slices.Equal(back.Norm.Mean, testMean) || !slices.Equal(back.Norm.Std, testStd) {
			t.Fatalf("%s: loaded names %q, normalization %+v", mode, back.ClassNames, back.Norm)
		}
		if c, err := back.LogitsBytes(test.Pix, test.N); err != nil || !slices.Equal(c, a) {
			t.Fatalf("%s: the loaded model's logits differ (%v)", mode, err)
		}
	}
}

// TestWithInputRefuses: names or statistics that do not fit are an error
// naming the problem, and leave the model as it was.
func TestWithInputRefuses(t *testing.T) {
	m := onnxTestModel(t, infer.W8A8, 7) // 2 channels, 4 classes
	for _, c := range []struct {
		name       string
		names      []string
		mean, std  []float32
		wantSubstr string
	}{
		{"three names", []string{"a", "b", "c"}, nil, nil, "3 class names for 4 classes"},
		{"repeated name", []string{"a", "b", "a", "d"}, nil, nil, "both"},
		{"three means", nil, []float32{0.5, 0.5, 0.5}, []float32{0.2, 0.2}, "3 means and 2 stds for 2 channels"},
		{"zero std", nil, []float32{0.5, 0.5}, []float32{0.2, 0}, "channel 1"},
		{"mean without std", nil, []float32{0.5, 0.5}, nil, "2 means and 0 stds"},
	} {
		err := WithInput(m, c.names, c.mean, c.std)
		if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.wantSubstr)
		}
		if m.ClassNames != nil || m.Norm != nil || m.Validate() != nil {
			t.Errorf("%s: the model changed: %q %+v", c.name, m.ClassNames, m.Norm)
		}
	}
}

// TestONNXNormalization: the QDQ graph of a model with a normalization
// computes Sub(mean) then Mul(1/std) before QuantizeLinear, and its
// quantized input equals the quantization of datasets.Batcher's
// normalized pixels on every element (the float32 order matches); its
// logits agree with the runtime's; the names and statistics are in the
// metadata.
func TestONNXNormalization(t *testing.T) {
	for _, mode := range []infer.Mode{infer.W8A8, infer.W8A8Asym} {
		m := onnxTestModel(t, mode, 7)
		names := []string{"zero", "one", "two", "three"}
		// The test model's input grid spans ±1: statistics that keep
		// most normalized pixels inside it.
		mean, std := []float32{0.4914, 0.4822}, []float32{0.5, 0.6}
		if err := WithInput(m, names, mean, std); err != nil {
			t.Fatal(err)
		}
		mp, err := ONNXFromModel(m, &ONNXOptions{LayerOutputs: true})
		if err != nil {
			t.Fatal(err)
		}
		// The structure: Sub, Mul, then the input's QuantizeLinear.
		nodes := mp.Graph.Node
		if len(nodes) < 3 || nodes[0].GetOpType() != "Sub" || nodes[1].GetOpType() != "Mul" || nodes[2].GetOpType() != "QuantizeLinear" ||
			!slices.Equal(nodes[0].Input, []string{"input", "input_mean"}) || nodes[1].Input[0] != nodes[0].Output[0] ||
			nodes[2].Input[0] != nodes[1].Output[0] {
			t.Fatalf("%s: the graph starts %v", mode, nodes[:3])
		}
		meta := map[string]string{}
		for _, p := range mp.MetadataProps {
			meta[p.GetKey()] = p.GetValue()
		}
		var gotNames []string
		var gotStd []float32
		if json.Unmarshal([]byte(meta["tinyqat.class_names"]), &gotNames) != nil || !slices.Equal(gotNames, names) ||
			json.Unmarshal([]byte(meta["tinyqat.input_std"]), &gotStd) != nil || !slices.Equal(gotStd, std) {
			t.Fatalf("%s: metadata %v", mode, meta)
		}

		// Every byte value in both channels, then random bytes.
		const n = 12
		size := m.InC * m.InH * m.InW
		set := &datasets.Set{N: n, C: m.InC, H: m.InH, W: m.InW, Classes: m.Classes, Labels: make([]uint8, n), Pix: make([]uint8, n*size)}
		rng := rand.New(rand.NewPCG(5, 5))
		for i := range set.Pix {
			set.Pix[i] = uint8(i)
			if i >= 256*m.InC {
				set.Pix[i] = uint8(rng.IntN(256))
			}
		}
		x := make([]float32, n*size)
		datasets.ToFloat(x, set.Pix)
		xn := make([]float32, n*size)
		bt := datasets.NewBatcher(set, n, false, 0)
		if err := bt.SetNorm(datasets.Norm{Mean: mean, Std: std}); err != nil {
			t.Fatal(err)
		}
		bt.Next(xn, make([]int, n))
		xs := make([]float64, len(x))
		for i, v := range x {
			xs[i] = float64(v)
		}
		got, err := evalONNX(mp, map[string]onnxTensor{"input": {typ: onnxpb.TensorProto_FLOAT, dims: []int{n, m.InC, m.InH, m.InW}, v: xs}})
		if err != nil {
			t.Fatal(err)
		}
		// The graph's own float ops (Sub, Mul: the reference evaluator
		// computes them in float32) give the Batcher's values bit for bit.
		inits := map[string]onnxTensor{}
		for _, t := range mp.Graph.Initializer {
			inits[t.GetName()] = decodeONNXTensor(t)
		}
		xt := onnxTensor{typ: onnxpb.TensorProto_FLOAT, dims: []int{n, m.InC, m.InH, m.InW}, v: xs}
		centered, err := evalONNXNode("Sub", []onnxTensor{xt, inits[nodes[0].Input[1]]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		normalized, err := evalONNXNode("Mul", []onnxTensor{centered, inits[nodes[1].Input[1]]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range xn {
			if float32(normalized.v[i]) != v {
				t.Fatalf("%s: pixel %d (%v): the graph normalizes to %v, the Batcher to %v", mode, i, x[i], normalized.v[i], v)
			}
		}
		in := m.Input
		qmin, qmax := in.QRange()
		off := float64(onnxOffset(in))
		clamped := 0
		for i, v := range xn {
			want := float64(quant.RoundClamp(v/in.Scale, qmin-in.Zero, qmax-in.Zero)+in.Zero) + off
			if g := got["layer_input"].v[i]; g != want {
				t.Fatalf("%s: quantized input %d (pixel %v, normalized %v): graph %v, Batcher %v", mode, i, x[i], v, g, want)
			}
			if want == float64(qmin)+off || want == float64(qmax)+off {
				clamped++
			}
		}
		if clamped > len(xn)/2 {
			t.Fatalf("%s: %d of %d inputs clamped: a vacuous comparison", mode, clamped, len(xn))
		}
		want, err := m.Logits(x, n)
		if err != nil {
			t.Fatal(err)
		}
		onnxCompare(t, "logits_q", got["logits_q"].v, 0, want)
	}
}

// TestCompareStreams: Compare runs the simulation and the traced runtime
// in chunks that fit its memory budget, whatever batch it is given, and
// the chunking changes no result.
func TestCompareStreams(t *testing.T) {
	data, nm := rgbRun(t)
	ck := ptqOfUntrained(t, nm, data)
	m, err := Export(context.Background(), ck, infer.W8A8)
	if err != nil {
		t.Fatal(err)
	}
	qnm, q, err := qat.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	run := func(budget int) (*Comparison, int, int) {
		old := compareBudget
		compareBudget = budget
		defer func() { compareBudget = old }()
		most, calls := 0, 0
		tr := func(x []float32, n int, tr infer.Trace) ([]int32, error) {
			most, calls = max(most, n), calls+1
			return m.LogitsTrace(x, n, tr)
		}
		cmp, err := compareWith(context.Background(), m, tr, qnm, q, data.Test, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return cmp, most, calls
	}
	whole, most, _ := run(1 << 40)
	if most != data.Test.N {
		t.Fatalf("an unlimited budget ran %d images at a time, want all %d", most, data.Test.N)
	}
	// 64 KiB for ~700 values per image: the minimum chunk, 8 images.
	small, most, calls := run(64 << 10)
	if most != compareMinChunk || calls != (data.Test.N+compareMinChunk-1)/compareMinChunk {
		t.Fatalf("a 64 KiB budget ran %d calls of at most %d images", calls, most)
	}
	if !small.Exact() || small.Agreement != whole.Agreement || small.IntAcc != whole.IntAcc || small.SimAcc != whole.SimAcc ||
		small.FloatAcc != whole.FloatAcc || !slices.Equal(small.Layers, whole.Layers) {
		t.Fatalf("chunked %+v, whole %+v", small, whole)
	}
}
