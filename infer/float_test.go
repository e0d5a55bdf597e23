package infer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// floatTwin is the float model with the graph of m (an integer model the
// tests build) and random float weights: He-scaled normal weights, small
// normal biases, m's ReLUs; every ReLU clamps at relu6 when it is > 0.
func floatTwin(t testing.TB, m *Model, seed uint64, relu6 float32) *Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var layers []*Layer
	for _, l := range m.Layers {
		f := &Layer{Kind: l.Kind, Name: l.Name, InC: l.InC, InH: l.InH, InW: l.InW, OutC: l.OutC, OutH: l.OutH, OutW: l.OutW,
			K: l.K, Stride: l.Stride, Pad: l.Pad, Groups: l.Groups, Inputs: slices.Clone(l.Inputs)}
		if l.Kind.Weighted() || l.Kind == KindAdd {
			f.ReLU = l.ReLU
			if f.ReLU {
				f.Max = relu6
			}
		}
		if l.Kind.Weighted() {
			fan := l.fanIn()
			sd := math.Sqrt(2 / float64(fan))
			f.FW = make([]float32, l.OutC*fan)
			for i := range f.FW {
				f.FW[i] = float32(rng.NormFloat64() * sd)
			}
			f.FBias = make([]float32, l.OutC)
			for i := range f.FBias {
				f.FBias[i] = float32(rng.NormFloat64() * 0.1)
			}
		}
		layers = append(layers, f)
	}
	fm, err := NewFloatModel(m.Arch, m.InC, m.InH, m.InW, m.Classes, layers, m.Norm, m.ClassNames, Source{Run: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return fm
}

// floatModels are float twins of the tests' integer shapes: every layer
// kind, grouped, depthwise (strides 1 and 2), padded and pointwise
// convolutions, residual adds, ReLU6.
func floatModels(t testing.TB) map[string]*Model {
	rng := rand.New(rand.NewPCG(40, 40))
	return map[string]*Model{
		"mlp":       floatTwin(t, randModel(t, rng, "mlp", W8A8), 1, 0),
		"cnn":       floatTwin(t, randModel(t, rng, "cnn", W8A8), 2, 0.5),
		"lenet300":  floatTwin(t, randModel(t, rng, "lenet300", W8A8), 3, 0),
		"lenet5":    floatTwin(t, randModel(t, rng, "lenet5", W8A8), 4, 0),
		"restest":   floatTwin(t, resModel(t, rng, W8A8, false), 5, 0),
		"resnet8":   floatTwin(t, resnet8Shape(t, W8A8), 6, 0),
		"mobilenet": floatTwin(t, mobilenetShape(t, W8A8), 7, 6),
		"normed":    floatTwin(t, withNorm(randModel(t, rng, "cnn", W8A8), testNorm(2)), 8, 0),
	}
}

// refFloatLayer is layer l of a float model by its definition, in float64
// with plain loops, on inputs a (and b for an add) of n samples: the
// value before the clamp, the magnitude Σ|terms| that bounds each partial
// sum, and the number of roundings in the runtime's evaluation. A sum of
// fan products with a bias is at most fan + ⌈fan/KC⌉ + 2 ≤ 2·fan + 3
// roundings (products, block sums, the bias: internal/f32's
// gemm_epilogue.go), whatever the order in which the kernel adds them; a
// mean of hw values hw + 1; an add 1; pooling and flatten none. The error
// of each is then at most γ_steps·mag (Higham, §3.1).
func refFloatLayer(l *Layer, a, b []float64, n int) (want, mag []float64, steps int) {
	in, out := l.InSize(), l.OutSize()
	want, mag = make([]float64, n*out), make([]float64, n*out)
	switch l.Kind {
	case KindFlatten:
		copy(want, a)
	case KindLinear:
		for s := 0; s < n; s++ {
			for o := 0; o < l.OutC; o++ {
				v, m := float64(l.FBias[o]), math.Abs(float64(l.FBias[o]))
				for p := 0; p < in; p++ {
					x := a[s*in+p] * float64(l.FW[o*in+p])
					v, m = v+x, m+math.Abs(x)
				}
				want[s*out+o], mag[s*out+o] = v, m
			}
		}
		steps = 2*in + 3
	case KindConv2D:
		g := l.groups()
		cg, og, fan := l.InC/g, l.OutC/g, l.fanIn()
		for s := 0; s < n; s++ {
			for o := 0; o < l.OutC; o++ {
				c0 := o / og * cg
				for oy := 0; oy < l.OutH; oy++ {
					for ox := 0; ox < l.OutW; ox++ {
						v, m := float64(l.FBias[o]), math.Abs(float64(l.FBias[o]))
						for ci := 0; ci < cg; ci++ {
							for ky := 0; ky < l.K; ky++ {
								for kx := 0; kx < l.K; kx++ {
									iy, ix := oy*l.Stride+ky-l.Pad, ox*l.Stride+kx-l.Pad
									if iy < 0 || iy >= l.InH || ix < 0 || ix >= l.InW {
										continue
									}
									x := a[s*in+((c0+ci)*l.InH+iy)*l.InW+ix] * float64(l.FW[o*fan+(ci*l.K+ky)*l.K+kx])
									v, m = v+x, m+math.Abs(x)
								}
							}
						}
						j := s*out + (o*l.OutH+oy)*l.OutW + ox
						want[j], mag[j] = v, m
					}
				}
			}
		}
		steps = 2*fan + 3
	case KindMaxPool2D:
		for s := 0; s < n; s++ {
			for c := 0; c < l.InC; c++ {
				for oy := 0; oy < l.OutH; oy++ {
					for ox := 0; ox < l.OutW; ox++ {
						best := math.Inf(-1)
						for ky := 0; ky < l.K; ky++ {
							for kx := 0; kx < l.K; kx++ {
								best = math.Max(best, a[s*in+(c*l.InH+oy*l.Stride+ky)*l.InW+ox*l.Stride+kx])
							}
						}
						want[s*out+(c*l.OutH+oy)*l.OutW+ox] = best
					}
				}
			}
		}
	case KindGlobalAvgPool:
		hw := l.InH * l.InW
		for j := range want {
			var v, m float64
			for _, x := range a[j*hw : (j+1)*hw] {
				v, m = v+x, m+math.Abs(x)
			}
			want[j], mag[j] = v/float64(hw), m/float64(hw)
		}
		steps = hw + 1
	case KindAdd:
		for j := range want {
			want[j] = a[j] + b[j]
			mag[j] = math.Abs(want[j])
		}
		steps = 1
	}
	return want, mag, steps
}

// clampRef is a float layer's activation in float64.
func clampRef(l *Layer, v float64) float64 {
	if l.ReLU {
		v = math.Max(v, 0)
		if l.Max > 0 {
			v = math.Min(v, float64(l.Max))
		}
	}
	return v
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// floatInput is what the runtime feeds its first layer: x normalized by
// m.Norm as normalizeCHW does.
func floatInput(m *Model, x []float32) []float32 {
	if m.Norm == nil {
		return x
	}
	mean, inv := m.normConsts()
	xn := make([]float32, len(x))
	normalizeCHW(xn, x, mean, inv, m.InH*m.InW)
	return xn
}

// TestFloatLayersMatchReference runs each float model and compares every
// layer's output (the trace) with refFloatLayer applied to the runtime's
// own inputs of that layer, within γ_steps·mag, so the check is tight
// per layer and errors do not compound. It also runs the whole model in
// float64 from the input and logs the largest logit difference (errors
// compound there, so it is reported, not bounded) and checks top-1
// agreement on samples whose top two float64 logits are not within that
// difference.
//
// An add that runs as one convolution with the projection folded in
// (projFusion) is checked against the sum of its two conv2d layers on
// their inputs; those layers are not traced (resnet8's three blocks).
func TestFloatLayersMatchReference(t *testing.T) {
	models := floatModels(t)
	fused := 0
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range models {
			if !yield(k) {
				return
			}
		}
	}) {
		m := models[name]
		n := 5
		x := testInput(m, n, 9)
		var outs [][]float32
		logits := make([]float32, n*m.Classes)
		if err := m.runFloat(logits, input{x: x}, n, func(i int, o []float32) { outs = append(outs, o) }); err != nil {
			t.Fatal(err)
		}
		xin := f64s(floatInput(m, x))
		val := func(v int) []float64 {
			if v < 0 {
				return xin
			}
			return f64s(outs[v])
		}
		fp, err := m.prepareFloat()
		if err != nil {
			t.Fatal(err)
		}
		ref := [][]float64{xin} // ref[v+1]: the whole model in float64
		for i, l := range m.Layers {
			ins := m.inputs(i)
			var b, rb []float64
			if len(ins) > 1 {
				b, rb = val(ins[1]), ref[ins[1]+1]
			}
			var want, mag []float64
			var steps int
			switch p := fp.layers[i]; {
			case p.skip:
				if outs[i] != nil {
					t.Fatalf("%s layer %d: folded into an add, but traced", name, i)
				}
			case p.fused != nil:
				// The two conv2d layers from their inputs, summed: every
				// product and both biases in one sum (one more rounding,
				// the biases' sum, within 2·fan + 3).
				fused++
				var fan int
				want, mag = make([]float64, n*l.OutSize()), make([]float64, n*l.OutSize())
				for _, v := range ins {
					w, mg, _ := refFloatLayer(m.Layers[v], val(m.inputs(v)[0]), nil, n)
					for j := range want {
						want[j], mag[j] = want[j]+w[j], mag[j]+mg[j]
					}
					fan += m.Layers[v].fanIn()
				}
				steps = 2*fan + 3
			default:
				want, mag, steps = refFloatLayer(l, val(ins[0]), b, n)
			}
			u := 0x1p-24
			for j, g := range outs[i] {
				w := clampRef(l, want[j])
				if d := math.Abs(float64(g) - w); !(d <= 1.01*float64(steps)*u*mag[j]+1e-30) {
					t.Fatalf("%s layer %d (%s): output %d is %v, want %v (|diff| %g, bound %g)", name, i, l.Kind, j, g, w, d, 1.01*float64(steps)*u*mag[j])
				}
			}
			if len(want) == 0 {
				ref = append(ref, nil) // not computed: read by the fused add alone
				continue
			}
			var whole []float64
			if p := fp.layers[i]; p.fused == nil {
				whole, _, _ = refFloatLayer(l, ref[ins[0]+1], rb, n)
			} else {
				whole = make([]float64, n*l.OutSize())
				for _, v := range ins {
					w, _, _ := refFloatLayer(m.Layers[v], ref[m.inputs(v)[0]+1], nil, n)
					for j := range whole {
						whole[j] += w[j]
					}
				}
			}
			for j := range whole {
				whole[j] = clampRef(l, whole[j])
			}
			ref = append(ref, whole)
		}
		final := ref[len(ref)-1]
		worst, agree, decided := 0.0, 0, 0
		for s := 0; s < n; s++ {
			row := final[s*m.Classes : (s+1)*m.Classes]
			for j, v := range row {
				worst = max(worst, math.Abs(float64(logits[s*m.Classes+j])-v))
			}
			top := argmax(logits[s*m.Classes : (s+1)*m.Classes])
			best := slices.Index(row, slices.Max(row))
			sorted := slices.Sorted(slices.Values(row))
			if sorted[len(sorted)-1]-sorted[len(sorted)-2] > 1e-3 {
				decided++
				if top == best {
					agree++
				}
			}
		}
		if agree != decided {
			t.Errorf("%s: top-1 agrees with float64 on %d of %d samples", name, agree, decided)
		}
		t.Logf("%-9s largest logit difference from the float64 model: %.3g (top-1 %d/%d)", name, worst, agree, decided)
	}
	if fused < 3 {
		t.Fatalf("%d fused adds checked, want resnet8's 3", fused)
	}
}

// TestFloatBatchIndependent: a sample's logits are the same bits alone,
// in a batch, and in a batch split over two goroutines (the sums are
// ordered the same way whatever the batch: gemm_epilogue.go).
func TestFloatBatchIndependent(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for name, m := range floatModels(t) {
		n := 130
		if name == "lenet5" || name == "resnet8" || name == "mobilenet" {
			n = 70
		}
		x := testInput(m, n, 10)
		all, err := m.FloatLogits(x, n)
		if err != nil {
			t.Fatal(err)
		}
		size := m.InC * m.InH * m.InW
		for _, s := range []int{0, 1, 13, n - 1} {
			one, err := m.FloatLogits(x[s*size:(s+1)*size], 1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(one, all[s*m.Classes:(s+1)*m.Classes]) {
				t.Fatalf("%s: sample %d alone %v, in the batch %v", name, s, one, all[s*m.Classes:(s+1)*m.Classes])
			}
		}
		dst := make([]float32, n*m.Classes)
		if err := m.FloatLogitsInto(dst, x, n); err != nil || !slices.Equal(dst, all) {
			t.Fatalf("%s: FloatLogitsInto differs from FloatLogits (%v)", name, err)
		}
	}
}

// TestFloatAPI: Predict is the argmax of FloatLogits; the byte path
// equals the float path on float32(p)/255 bit for bit (with and without
// input normalization); Logits refuses a float model; bad input is an
// *InputError.
func TestFloatAPI(t *testing.T) {
	models := floatModels(t)
	for _, name := range []string{"cnn", "normed", "lenet300"} {
		m := models[name]
		n := 7
		rng := rand.New(rand.NewPCG(11, 11))
		pix := make([]uint8, n*m.InC*m.InH*m.InW)
		for i := range pix {
			pix[i] = uint8(rng.IntN(256))
		}
		x := BytesToFloat(pix)
		want := must(m.FloatLogits(x, n))
		if got := must(m.FloatLogitsBytes(pix, n)); !slices.Equal(got, want) {
			t.Fatalf("%s: FloatLogitsBytes differs from FloatLogits(BytesToFloat)", name)
		}
		if p, q := must(m.Predict(x, n)), must(m.PredictBytes(pix, n)); !slices.Equal(p, argmaxRows(want, n, m.Classes)) || !slices.Equal(p, q) {
			t.Fatalf("%s: Predict %v, PredictBytes %v, argmax %v", name, p, q, argmaxRows(want, n, m.Classes))
		}
		if _, err := m.Logits(x, n); err == nil || !strings.Contains(err.Error(), "FloatLogits") {
			t.Fatalf("%s: Logits on a float model: %v", name, err)
		}
		var ie *InputError
		x[3] = float32(math.NaN())
		if _, err := m.FloatLogits(x, n); !errors.As(err, &ie) {
			t.Fatalf("%s: NaN input: %v", name, err)
		}
		if _, err := m.FloatLogits(x[1:], n); !errors.As(err, &ie) {
			t.Fatalf("%s: short input: %v", name, err)
		}
		if got := must(m.FloatLogits(nil, 0)); len(got) != 0 {
			t.Fatalf("%s: empty batch gave %v", name, got)
		}
	}
	if b, a := models["mlp"].Bits(); b != 32 || a != 32 || models["mlp"].Precision() != "f32" {
		t.Fatalf("bits %d/%d, precision %s", b, a, models["mlp"].Precision())
	}
}

// TestFloatSaveLoad: a float model's file round-trips to the same logits
// bit for bit and to the same bytes; the file says format tinyqat-f32.
func TestFloatConcurrentUse(t *testing.T) {
	m := floatModels(t)["restest"]
	n := 9
	x := testInput(m, n, 4)
	want := must(m.FloatLogits(x, n))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if got, err := m.FloatLogits(x, n); err != nil || !slices.Equal(got, want) {
					errs <- fmt.Errorf("concurrent result differs (%v)", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
