package mixed

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/nnref"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bruteForce enumerates every combination.
func bruteForce(items [][]Choice, budget int64) (float64, bool) {
	best, found := math.Inf(1), false
	var rec func(i int, cost int64, v float64)
	rec = func(i int, cost int64, v float64) {
		if cost > budget {
			return
		}
		if i == len(items) {
			if v < best {
				best = v
			}
			found = true
			return
		}
		for _, c := range items[i] {
			rec(i+1, cost+c.Cost, v+c.Value)
		}
	}
	rec(0, 0, 0)
	return best, found
}

func TestSolveMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	feasible := 0
	for trial := 0; trial < 2000; trial++ {
		items := make([][]Choice, 1+rng.IntN(6))
		var maxCost int64
		for i := range items {
			items[i] = make([]Choice, 1+rng.IntN(5))
			for j := range items[i] {
				// Integer-valued values: sums are exact, so ties are real.
				items[i][j] = Choice{Cost: int64(rng.IntN(40)), Value: float64(rng.IntN(50) - 10)}
				maxCost += items[i][j].Cost
			}
		}
		budget := int64(rng.IntN(int(maxCost/2) + 1))
		want, ok := bruteForce(items, budget)
		pick, got, err := Solve(items, budget)
		if !ok {
			if err != ErrInfeasible {
				t.Fatalf("trial %d: infeasible, Solve says %v %v", trial, pick, err)
			}
			continue
		}
		feasible++
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		var cost int64
		var v float64
		for i, p := range pick {
			cost += items[i][p].Cost
			v += items[i][p].Value
		}
		if got != want || v != want || cost > budget {
			t.Fatalf("trial %d: Solve %v (picks %v: cost %d ≤ %d, value %v), brute force %v; items %v", trial, got, pick, cost, budget, v, want, items)
		}
	}
	if feasible < 1000 {
		t.Fatalf("only %d feasible trials: the test checks too little", feasible)
	}
}

// TestHutchinsonTraceOfSoftmaxRegression checks the Gauss-Newton
// Hutchinson trace against the closed form of a softmax regression
// z = x·W + b with the mean cross-entropy over a batch of B:
//
//	Tr(H_W) = (1/B) Σ_n ‖x_n‖² Σ_k p_nk (1 − p_nk)
//	Tr(H_z) = (1/B) Σ_n Σ_k p_nk (1 − p_nk)        (logits of one batch)
func TestHutchinsonTraceOfSoftmaxRegression(t *testing.T) {
	data := datasets.Synthetic(256, 64, 4, 4, 3, 60, 5)
	m, err := nn.NewSequential("softmax", nn.Shape{C: 1, H: 4, W: 4}, 3, []nn.Layer{&nn.Flatten{}, &nn.Linear{Name: "fc", In: 16, Out: 3}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Param("fc.weight").Data() {
		m.Param("fc.weight").Data()[i] = v * 3 // away from uniform softmax
	}
	opt := Options{Batch: 64, Batches: 2, HessianBatches: 2, Probes: 400, ActBits: []int{8}, WeightBits: []int{4}}
	s, err := Measure(context.Background(), m, data.Train, opt)
	if err != nil {
		t.Fatal(err)
	}
	// The closed form on the same batches.
	o := opt.defaults()
	o.Batch, o.Batches = 64, 2
	bs, err := loadBatches(data.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	w, b := m.Param("fc.weight").Data(), m.Param("fc.bias").Data()
	var trW, trZ float64
	for _, bt := range bs {
		for n := range bt.labels {
			x := bt.x[n*16 : (n+1)*16]
			z := make([]float64, 3)
			var xx float64
			for i, xi := range x {
				xx += float64(xi) * float64(xi)
				for k := range z {
					z[k] += float64(xi) * float64(w[i*3+k])
				}
			}
			var sum float64
			for k := range z {
				z[k] = math.Exp(z[k] + float64(b[k]))
				sum += z[k]
			}
			var pp float64
			for k := range z {
				p := z[k] / sum
				pp += p * (1 - p)
			}
			trW += xx * pp / 64
			trZ += pp / 64
		}
	}
	trW /= float64(len(bs))
	trZ /= float64(len(bs))
	for _, c := range []struct {
		slot string
		want float64
	}{{"fc.weight", trW}, {"fc.out", trZ}} {
		got := s.Slot(c.slot).Trace
		t.Logf("%s: Hutchinson %v, closed form %v", c.slot, got, c.want)
		if math.Abs(got-c.want) > 0.1*c.want {
			t.Errorf("%s: Hutchinson trace %v, closed form %v", c.slot, got, c.want)
		}
	}
	// The input's Hessian is positive semi-definite here too.
	if tr := s.Slot("input").Trace; !(tr > 0) {
		t.Errorf("input trace %v, want > 0", tr)
	}
}

// TestNoDoubleBackprop documents why the Hessian-vector products are
// finite differences: Gorgonia cannot differentiate the gradient graph of
// a tinyqat network a second time.
func TestNoDoubleBackprop(t *testing.T) {
	for _, gorgoniaOps := range []bool{false, true} {
		m, err := nn.New("lenet5", nn.Shape{C: 1, H: 16, W: 16}, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		nnref.SetGorgoniaOps(m, gorgoniaOps)
		noDoubleBackprop(t, m, gorgoniaOps)
	}
}

func noDoubleBackprop(t *testing.T, m *nn.Model, gorgoniaOps bool) {
	net, err := m.BuildTrain(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := G.NewMatrix(net.G, tensor.Float32, G.WithShape(4, 3), G.WithName("y"))
	loss, err := train.SoftmaxCrossEntropy(net.Out, y)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, net.Params[0])
	if err != nil {
		t.Fatal(err)
	}
	sq, err := G.Sum(grads[0])
	if err == nil {
		// With Gorgonia's own convolution and pooling, Grad panics inside
		// Gorgonia (forwardDiffAnalysis, v0.9.18).
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			_, err = G.Grad(sq, net.Params[0])
		}()
	}
	if err == nil {
		t.Fatal("Gorgonia differentiated a gradient: double backprop works now, and the finite differences could go")
	}
	t.Logf("second derivative (Gorgonia's own ops %v): %v", gorgoniaOps, err)
}

// tinyRun is a float lenet5 trained one epoch on a synthetic set.
func tinyRun(t *testing.T) (*nn.Model, *datasets.Pair) { return tinyRunOf(t, "lenet5") }

// tinyRunOf is a float network of the zoo trained one epoch on a
// synthetic set.
func tinyRunOf(t *testing.T, arch string) (*nn.Model, *datasets.Pair) {
	t.Helper()
	data := datasets.Synthetic(512, 128, 16, 16, 4, 60, 1)
	m, err := nn.New(arch, nn.Shape{C: 1, H: 16, W: 16}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 64, Seed: 1, EvalBatch: 128})
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = nil
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, data
}

func TestMeasureAndAllocate(t *testing.T) {
	m, data := tinyRun(t)
	before := append([]float32(nil), m.Param("conv1.weight").Data()...)
	s, err := Measure(context.Background(), m, data.Train, Options{Batch: 64, Batches: 4, HessianBatches: 2, Probes: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Param("conv1.weight").Data() {
		if v != before[i] {
			t.Fatalf("Measure changed conv1.weight[%d]", i)
		}
	}
	names := []string{}
	for _, sl := range s.Slots {
		names = append(names, sl.Name)
		n := len(DefaultActBits)
		if sl.Weight {
			n = len(DefaultWeightBits)
		}
		if len(sl.Candidates) != n {
			t.Fatalf("%s: %d candidates", sl.Name, len(sl.Candidates))
		}
		lo, hi := sl.Candidates[0], sl.Candidates[len(sl.Candidates)-1]
		if !(lo.QuantErr > hi.QuantErr) || !(lo.HAWQ >= hi.HAWQ) {
			t.Errorf("%s: %d bits error %v (Ω %v), %d bits %v (Ω %v): fewer bits must not be more accurate", sl.Name, lo.Bits, lo.QuantErr, lo.HAWQ, hi.Bits, hi.QuantErr, hi.HAWQ)
		}
		if sl.Weight && !(sl.Trace > 0) {
			t.Errorf("%s: trace %v", sl.Name, sl.Trace)
		}
	}
	if got := strings.Join(names, " "); got != "input conv1.weight conv1.out conv2.weight conv2.out fc1.weight fc1.out fc2.weight fc2.out" {
		t.Errorf("slots %s", got)
	}
	if d := s.Slot("fc1.weight").Candidate(2).LossDelta; !(d > s.Slot("fc1.weight").Candidate(8).LossDelta) {
		t.Errorf("fc1 at 2 bits loses %v, at 8 bits %v", d, s.Slot("fc1.weight").Candidate(8).LossDelta)
	}
	uniform4 := WeightBytes(s, nil, 4)
	for _, metric := range []Metric{MetricLoss, MetricHAWQ} {
		a, err := Allocate(s, metric, Budget{SizeBytes: uniform4}, 8)
		if err != nil {
			t.Fatal(err)
		}
		if a.WeightBytes > uniform4 {
			t.Errorf("%s: %d bytes over the budget %d", metric, a.WeightBytes, uniform4)
		}
		cfg := a.Config(qat.Config{}, s)
		if _, err := qat.New(m, cfg); err != nil {
			t.Errorf("%s: the allocation's configuration: %v", metric, err)
		}
		// The uniform 4-bit choice is feasible, so the optimum is at most as sensitive.
		var u float64
		for _, sl := range s.Slots {
			b := 8
			if sl.Weight {
				b = 4
			}
			v, _ := metric.of(*sl.Candidate(b))
			u += v
		}
		if a.Sensitivity > u+1e-12 {
			t.Errorf("%s: allocation %v more sensitive than uniform 4-bit %v", metric, a.Sensitivity, u)
		}
	}
	if _, err := Allocate(s, MetricLoss, Budget{SizeBytes: WeightBytes(s, nil, 2) - 1}, 8); err == nil {
		t.Error("allocated below the 2-bit size")
	}
	if _, err := Allocate(s, MetricLoss, Budget{SizeBytes: 10, AvgBits: 3}, 8); err == nil {
		t.Error("two weight budgets accepted")
	}
	a, err := Allocate(s, MetricHAWQ, Budget{AvgBits: 3, ActAvgBits: 6}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if a.AvgBits > 3 {
		t.Errorf("average %v bits over 3", a.AvgBits)
	}
	four := 0
	for _, sl := range s.Slots {
		if !sl.Weight && a.Bits[sl.Name] == 4 {
			four++
		}
	}
	if four == 0 {
		t.Error("an activation budget of 6 bits kept every activation at 8")
	}
}
