package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refConvBN is the float64 reference of conv (no bias) followed by batch
// normalization with the given per-channel mean and variance.
// It returns the output and the mean and variance used.
func refConvBN(l *Conv2D, bn *BatchNorm2D, x []float64, n, h, w int, mean, variance []float64) (out, mu, vr []float64) {
	oh, ow := l.OutHW()
	W := l.W.Data()
	cin := l.In / l.groups()
	conv := make([]float64, n*l.Out*oh*ow)
	for s := 0; s < n; s++ {
		for o := 0; o < l.Out; o++ {
			g := o / (l.Out / l.groups())
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					var acc float64
					for ci := 0; ci < cin; ci++ {
						for ky := 0; ky < l.K; ky++ {
							for kx := 0; kx < l.K; kx++ {
								iy, ix := y*l.Stride+ky-l.Pad, xx*l.Stride+kx-l.Pad
								if iy < 0 || ix < 0 || iy >= h || ix >= w {
									continue
								}
								acc += x[((s*l.In+g*cin+ci)*h+iy)*w+ix] * float64(W[((o*cin+ci)*l.K+ky)*l.K+kx])
							}
						}
					}
					conv[((s*l.Out+o)*oh+y)*ow+xx] = acc
				}
			}
		}
	}
	if mean == nil { // batch statistics
		mean, variance = make([]float64, l.Out), make([]float64, l.Out)
		cnt := float64(n * oh * ow)
		for o := 0; o < l.Out; o++ {
			for s := 0; s < n; s++ {
				for _, v := range conv[(s*l.Out+o)*oh*ow:][:oh*ow] {
					mean[o] += v / cnt
				}
			}
			for s := 0; s < n; s++ {
				for _, v := range conv[(s*l.Out+o)*oh*ow:][:oh*ow] {
					variance[o] += (v - mean[o]) * (v - mean[o]) / cnt
				}
			}
		}
	}
	out = make([]float64, len(conv))
	for i, v := range conv {
		o := i / (oh * ow) % l.Out
		out[i] = float64(bn.Gamma.Data()[o])*(v-mean[o])/math.Sqrt(variance[o]+float64(bnOf(bn).Eps)) + float64(bn.Beta.Data()[o])
	}
	return out, mean, variance
}

// TestBNEvalAndTrainMatchReference: the eval graph's folded conv equals
// conv followed by batch normalization with the running statistics, and
// the training graph's equals batch normalization with the batch's
// statistics, which it folds into the running ones.
//
// Tolerance: the graph computes in float32 (the fold W·s rounds each
// weight, the 18-term sums round, the fold bias rounds), the reference in
// float64 without folding; the difference is a few float32 ulps (2⁻²⁴ ≈
// 6e-8 each) of Σ|W·s·x| + |b'|, which is under 10 here: at most about
// 1e-5·(1+|y|). The bound 1e-4·(1+|y|) leaves a factor 10 over that
// (observed: 2e-7) and is far below any real error (a wrong statistic or
// fold moves outputs by O(1)).
func TestBNEvalAndTrainMatchReference(t *testing.T) {
	const n = 5
	layers := []Layer{&Conv2D{Name: "c", Out: 3, K: 3, Stride: 2, Pad: 1}, &BatchNorm2D{Name: "bn", Momentum: 0.25},
		&Flatten{}, &Linear{Name: "fc", Out: 2}}
	m, err := NewSequential("bn", Shape{2, 7, 7}, 2, layers, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	perturb(m, r)
	conv, bn := layers[0].(*Conv2D), layers[1].(*BatchNorm2D)
	x := randSlice(r, n*m.In.Size(), 1)
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	rm, rv := bn.Mean.Data(), bn.Var.Data()
	mean, variance := make([]float64, 3), make([]float64, 3)
	for i := range mean {
		mean[i], variance[i] = float64(rm[i]), float64(rv[i])
	}
	for _, train := range []bool{false, true} {
		build := m.Build
		if train {
			build = m.BuildTrain
		}
		net, err := build(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(net.G)
		if err := G.Let(net.X, tensor.New(tensor.WithShape(n, 2, 7, 7), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := net.Nodes["c.out"].Value().Data().([]float32)
		var want, batchMean, batchVar []float64
		if train {
			want, batchMean, batchVar = refConvBN(conv, bn, x64, n, 7, 7, nil, nil)
		} else {
			want, _, _ = refConvBN(conv, bn, x64, n, 7, 7, mean, variance)
		}
		var worst float64
		for i := range got {
			d := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i]))
			worst = math.Max(worst, d)
			if d > 1e-4 {
				t.Fatalf("train=%v: output %d = %v, reference %v", train, i, got[i], want[i])
			}
		}
		t.Logf("train=%v: largest difference %.2g·(1+|y|)", train, worst)
		vm.Close()
		if !train {
			if rm[0] != float32(mean[0]) || rv[0] != float32(variance[0]) {
				t.Fatal("an eval graph changed the running statistics")
			}
			continue
		}
		// Running statistics after one step: (1−m)·old + m·batch with
		// the unbiased variance (n·4·4 = 80 values per channel, 80/79).
		for c := 0; c < 3; c++ {
			wantM := 0.75*mean[c] + 0.25*batchMean[c]
			wantV := 0.75*variance[c] + 0.25*batchVar[c]*80/79
			if math.Abs(float64(rm[c])-wantM) > 1e-5*(1+math.Abs(wantM)) || math.Abs(float64(rv[c])-wantV) > 1e-5*(1+wantV) {
				t.Errorf("channel %d: running mean %v var %v, want %v %v", c, rm[c], rv[c], wantM, wantV)
			}
		}
	}
}

// TestFoldBNBitIdentical: FoldBN gives the bits that the graph feeds to
// the weight and bias slots, in eval graphs and frozen training graphs.
func TestFoldBNBitIdentical(t *testing.T) {
	m := newSmall(t, true, 2)
	for _, train := range []bool{false, true} {
		m.SetBNFrozen(true)
		build := m.Build
		if train {
			build = m.BuildTrain
		}
		net, err := build(2, nil)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(net.G)
		x := randSlice(rand.New(rand.NewPCG(1, 1)), 2*m.In.Size(), 1)
		if err := G.Let(net.X, tensor.New(tensor.WithShape(2, 2, 6, 6), tensor.WithBacking(x))); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		pairs := 0
		walkBN(m.Layers, func(c *Conv2D, bn *BatchNorm2D) {
			pairs++
			w, b, err := FoldBN(c, bn)
			if err != nil {
				t.Fatal(err)
			}
			gw := net.Nodes[c.Name+".weight"].Value().Data().([]float32)
			gb := net.Nodes[c.Name+".bias"].Value().Data().([]float32)
			for i := range w {
				if math.Float32bits(w[i]) != math.Float32bits(gw[i]) {
					t.Fatalf("%s weight %d: FoldBN %v, graph %v", c.Name, i, w[i], gw[i])
				}
			}
			for i := range b {
				if math.Float32bits(b[i]) != math.Float32bits(gb[i]) {
					t.Fatalf("%s bias %d: FoldBN %v, graph %v", c.Name, i, b[i], gb[i])
				}
			}
		})
		if pairs != 4 {
			t.Fatalf("%d conv+BN pairs, want 4", pairs)
		}
		vm.Close()
	}
}

// walkBN calls f for every Conv2D followed by a BatchNorm2D, in residual
// blocks too.
func walkBN(layers []Layer, f func(*Conv2D, *BatchNorm2D)) {
	for _, u := range fuse(layers) {
		if u.bn != nil {
			f(u.l.(*Conv2D), u.bn)
		}
		if r, ok := u.l.(*Residual); ok {
			walkBN(r.Body, f)
			walkBN(r.Shortcut, f)
		}
	}
}

// TestFrozenTrainEqualsEval: a frozen training graph is the eval graph
// (same bits, running statistics untouched), and a graph built before
// freezing follows SetBNFrozen.
func TestFrozenTrainEqualsEval(t *testing.T) {
	m := newSmall(t, true, 4)
	x := randSlice(rand.New(rand.NewPCG(2, 2)), 3*m.In.Size(), 1)
	c := randSlice(rand.New(rand.NewPCG(2, 3)), 3*m.Classes, 1)
	tr := newGradRun(t, m, true, nil, x, c, 3) // built while not frozen
	ev := newGradRun(t, m, false, nil, x, c, 3)
	before := append([]float32(nil), m.Buffers[1].Data()...)
	lt, _ := tr.run(t, false)
	if fmt.Sprint(before) == fmt.Sprint(m.Buffers[1].Data()) {
		t.Fatal("a training step did not update the running variance")
	}
	m.SetBNFrozen(true)
	before = append([]float32(nil), m.Buffers[1].Data()...)
	lf, _ := tr.run(t, false)
	le, _ := ev.run(t, false)
	if lf != le || lf == lt {
		t.Fatalf("frozen training loss %v, eval %v, unfrozen %v", lf, le, lt)
	}
	if fmt.Sprint(before) != fmt.Sprint(m.Buffers[1].Data()) {
		t.Fatal("a frozen training step updated the running variance")
	}
}
