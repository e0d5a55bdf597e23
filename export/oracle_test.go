package export

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// The oracle is a deliberately slow interpreter of the integer model: it
// shares nothing with the runtime (infer's kernels, quant's requantization)
// or the simulation (Gorgonia, fakequant) except the model as loaded from
// its file. Every layer is computed from its definition, one output element
// at a time, in int64, and the requantization in big integers:
//
//	q_in  = clamp(round_half_even(x / S_in) + Z_in, q_min, q_max)     (x / S_in in float32)
//	acc   = b[c] + Σ_{ci,ky,kx} (q[ci, y·s+ky−p, x·s+kx−p] − Z_x) · w[c, ci, ky, kx]   (0 outside)
//	q_out = clamp(round_half_even(acc · M0[c] / 2^n[c]) + Z_y, lo, hi)
//	pool  = max over the K×K window
//	add   = clamp(Z_o + round_half_even(Σ_k (q_k − Z_k)·M0_k / 2^n_k), lo, hi)   (exact rationals)
//	mean  = Z + round_half_even(Σ (q − Z) / (H·W))
//
// A grouped convolution sums over its group's input channels only. Each
// layer reads the outputs its Inputs name (the previous layer by default).
type oracle struct{ m *infer.Model }

// oracleRange is the integer range of activation parameters, from the
// definition (signed restricted range or unsigned).
func oracleRange(q infer.QParams) (int64, int64) {
	if q.Signed {
		m := int64(1)<<(q.Bits-1) - 1
		return -m, m
	}
	return 0, int64(1)<<q.Bits - 1
}

// bigRoundHalfEven is round(num / 2^shift), ties to even, in big integers.
func bigRoundHalfEven(num *big.Int, shift uint) *big.Int {
	d := new(big.Int).Lsh(big.NewInt(1), shift)
	q, r := new(big.Int).DivMod(num, d, new(big.Int)) // floor division, 0 ≤ r < d
	switch c := new(big.Int).Lsh(r, 1).Cmp(d); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return q
}

// run computes one sample (CHW floats) and returns every layer's output.
func (o oracle) run(x []float32) [][]int64 {
	m := o.m
	lo, hi := oracleRange(m.Input)
	cur := make([]int64, len(x))
	for i, v := range x {
		r := math.RoundToEven(float64(v/m.Input.Scale)) + float64(m.Input.Zero)
		cur[i] = int64(math.Max(float64(lo), math.Min(float64(hi), r)))
	}
	var outs [][]int64
	input := cur
	from := func(i, k int) []int64 {
		l := m.Layers[i]
		j := i - 1
		if len(l.Inputs) > k {
			j = l.Inputs[k]
		}
		if j < 0 {
			return input
		}
		return outs[j]
	}
	for li, l := range m.Layers {
		cur := from(li, 0)
		var next []int64
		switch l.Kind {
		case infer.KindFlatten:
			next = append([]int64(nil), cur...)
		case infer.KindMaxPool2D:
			next = make([]int64, l.OutC*l.OutH*l.OutW)
			for c := 0; c < l.OutC; c++ {
				for oy := 0; oy < l.OutH; oy++ {
					for ox := 0; ox < l.OutW; ox++ {
						best := int64(math.MinInt64)
						for ky := 0; ky < l.K; ky++ {
							for kx := 0; kx < l.K; kx++ {
								best = max(best, cur[(c*l.InH+oy*l.Stride+ky)*l.InW+ox*l.Stride+kx])
							}
						}
						next[(c*l.OutH+oy)*l.OutW+ox] = best
					}
				}
			}
		case infer.KindGlobalAvgPool:
			hw := int64(l.InH * l.InW)
			next = make([]int64, l.OutC)
			for c := range next {
				sum := new(big.Int)
				for _, v := range cur[c*l.InH*l.InW : (c+1)*l.InH*l.InW] {
					sum.Add(sum, big.NewInt(v-int64(l.In.Zero)))
				}
				mean := bigRatRoundHalfEven(new(big.Rat).SetFrac(sum, big.NewInt(hw)))
				next[c] = min(max(mean+int64(l.In.Zero), int64(l.Lo)), int64(l.Hi))
			}
		case infer.KindAdd:
			a, b := cur, from(li, 1)
			next = make([]int64, len(a))
			for e := range next {
				r := new(big.Rat)
				for k, v := range []int64{a[e] - int64(l.In.Zero), b[e] - int64(l.In2.Zero)} {
					t := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(v), big.NewInt(int64(l.M0[k]))), new(big.Int).Lsh(big.NewInt(1), uint(l.Shift[k])))
					r.Add(r, t)
				}
				next[e] = min(max(bigRatRoundHalfEven(r)+int64(l.Out.Zero), int64(l.Lo)), int64(l.Hi))
			}
		case infer.KindLinear, infer.KindConv2D:
			k, stride, pad := l.K, l.Stride, l.Pad
			if l.Kind == infer.KindLinear { // a linear layer is a 1×1 "convolution" over the flat input
				k, stride, pad = 1, 1, 0
			}
			groups := max(l.Groups, 1)
			icg, ocg := l.InC/groups, l.OutC/groups // channels per group
			next = make([]int64, l.OutC*l.OutH*l.OutW)
			for c := 0; c < l.OutC; c++ {
				for oy := 0; oy < l.OutH; oy++ {
					for ox := 0; ox < l.OutW; ox++ {
						acc := int64(l.Bias[c])
						if l.Kind == infer.KindLinear {
							fan := l.InC * l.InH * l.InW
							for j := 0; j < fan; j++ {
								acc += (cur[j] - int64(l.In.Zero)) * int64(l.W[c*fan+j])
							}
						} else {
							g := c / ocg
							for cl := 0; cl < icg; cl++ {
								ci := g*icg + cl
								for ky := 0; ky < k; ky++ {
									for kx := 0; kx < k; kx++ {
										iy, ix := oy*stride+ky-pad, ox*stride+kx-pad
										if iy < 0 || iy >= l.InH || ix < 0 || ix >= l.InW {
											continue // a real zero: q − Z_x = 0
										}
										acc += (cur[(ci*l.InH+iy)*l.InW+ix] - int64(l.In.Zero)) * int64(l.W[((c*icg+cl)*k+ky)*k+kx])
									}
								}
							}
						}
						p := new(big.Int).Mul(big.NewInt(acc), big.NewInt(int64(l.M0[c])))
						q := bigRoundHalfEven(p, uint(l.Shift[c])).Int64() + int64(l.Out.Zero)
						next[(c*l.OutH+oy)*l.OutW+ox] = min(max(q, int64(l.Lo)), int64(l.Hi))
					}
				}
			}
		default:
			panic(fmt.Sprintf("oracle: unknown layer kind %q", l.Kind))
		}
		outs = append(outs, next)
	}
	return outs
}

// bigRatRoundHalfEven is r rounded to the nearest integer, ties to even.
func bigRatRoundHalfEven(r *big.Rat) int64 {
	num, den := r.Num(), r.Denom()                      // den > 0
	q, m := new(big.Int).DivMod(num, den, new(big.Int)) // floor, 0 ≤ m < den
	switch c := new(big.Int).Lsh(m, 1).Cmp(den); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// threeWay counts, per layer, the elements where the runtime or the
// simulation differs from the oracle.
type threeWay struct {
	Samples                  int
	Layers                   []string
	Elements                 []int64
	RuntimeDiffer, SimDiffer []int64 // SimDiffer: layers with a slot only (simSlots; −1 elsewhere)
	IdenticalLogits          int     // samples whose logits all three agree on
}

func (r *threeWay) String() string {
	s := fmt.Sprintf("%d samples, identical logits (runtime = simulation = oracle) %.4f%%", r.Samples, 100*float64(r.IdenticalLogits)/float64(r.Samples))
	for i, name := range r.Layers {
		s += fmt.Sprintf("\n  %-10s %10d values: runtime≠oracle %d, simulation≠oracle %d", name, r.Elements[i], r.RuntimeDiffer[i], r.SimDiffer[i])
	}
	return s
}

func (r *threeWay) clean() bool {
	for i := range r.Layers {
		if r.RuntimeDiffer[i] != 0 || r.SimDiffer[i] > 0 {
			return false
		}
	}
	return r.IdenticalLogits == r.Samples
}

// compareOracle runs the runtime, the simulation and the oracle on set.
func compareOracle(ctx context.Context, m *infer.Model, ck *rundir.Checkpoint, set *datasets.Set, batch int) (*threeWay, error) {
	nm, q, err := qat.Load(ck)
	if err != nil {
		return nil, err
	}
	idx, slots := simSlots(m)
	slotOf := map[int]int{}
	for j, i := range idx {
		slotOf[i] = j
	}
	res := &threeWay{Samples: set.N}
	for i, l := range m.Layers {
		name := l.Name
		if name == "" {
			name = fmt.Sprintf("%d:%s", i, l.Kind)
		}
		res.Layers = append(res.Layers, name)
		res.SimDiffer = append(res.SimDiffer, -1)
		if _, ok := slotOf[i]; ok {
			res.SimDiffer[i] = 0
		}
	}
	res.Elements, res.RuntimeDiffer = make([]int64, len(m.Layers)), make([]int64, len(m.Layers))
	sim := newSimRunner(nm, q, slots)
	defer sim.Close()
	or := oracle{m}
	size := set.Size()
	x := make([]float32, batch*size)
	labels := make([]int, batch)
	bt := datasets.NewBatcher(set, batch, false, 0)
	for n := bt.Next(x, labels); n > 0; n = bt.Next(x, labels) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		xs := x[:n*size]
		rt := make([][]int32, len(m.Layers))
		if _, err := m.LogitsTrace(xs, n, func(layer int, v []int32) { rt[layer] = v }); err != nil {
			return nil, err
		}
		simVals, _, err := sim.run(xs, n)
		if err != nil {
			return nil, err
		}
		simInts := make([][]int32, len(slots))
		for j, v := range simVals {
			simInts[j] = toInts(v, slotParams(q, m.Layers[idx[j]], slots[j]))
		}
		for s := 0; s < n; s++ {
			want := or.run(xs[s*size : (s+1)*size])
			same := true
			for li, w := range want {
				per := len(w)
				res.Elements[li] += int64(per)
				for e, v := range w {
					if int64(rt[li][s*per+e]) != v {
						res.RuntimeDiffer[li]++
						if li == len(want)-1 {
							same = false
						}
					}
					if j, ok := slotOf[li]; ok && int64(simInts[j][s*per+e]) != v {
						res.SimDiffer[li]++
						if li == len(want)-1 {
							same = false
						}
					}
				}
			}
			if same {
				res.IdenticalLogits++
			}
		}
	}
	return res, nil
}

func TestOracleAgreesWithRuntimeAndSimulation(t *testing.T) {
	cases := []struct {
		arch   string
		h      int
		scheme string
		mode   infer.Mode
	}{
		{"lenet300", 8, "symmetric", infer.W8A8},
		{"lenet5", 16, "affine", infer.W8A8Asym},
	}
	for _, tc := range cases {
		data := synth(tc.h)
		ck := quantized(t, tc.arch, data, tc.scheme, false)
		m, err := Export(context.Background(), ck, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		res, err := compareOracle(context.Background(), m, ck, data.Test, 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s: %v", tc.arch, tc.mode, res)
		if !res.clean() {
			t.Errorf("%s %s: %v", tc.arch, tc.mode, res)
		}
	}
}

// perturbedBias exports ck and shifts every bias of the layer named name by
// 2^14 accumulator units (many output steps), before the model first runs.
func perturbedBias(t *testing.T, ck *rundir.Checkpoint, name string) *infer.Model {
	t.Helper()
	m, err := Export(context.Background(), ck, infer.W8A8)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.Name == name {
			for c := range l.Bias {
				l.Bias[c] += 1 << 14
			}
			return m
		}
	}
	t.Fatalf("no layer %s", name)
	return nil
}

// checkCounts asserts Compare's element counts: the output of every layer
// with a slot (weighted, add, mean), for every sample.
func checkCounts(t *testing.T, m *infer.Model, cmp *Comparison) {
	t.Helper()
	idx, _ := simSlots(m)
	if len(cmp.Layers) != len(idx) {
		t.Fatalf("%d layers compared, want %d", len(cmp.Layers), len(idx))
	}
	for j, i := range idx {
		l, d := m.Layers[i], cmp.Layers[j]
		if d.Layer != l.Name || d.Elements != int64(cmp.Samples*l.OutSize()) {
			t.Errorf("layer %s: %s with %d elements, want %d", l.Name, d.Layer, d.Elements, cmp.Samples*l.OutSize())
		}
	}
}

func TestCompareFindsAPerturbedBias(t *testing.T) {
	data := synth(8)
	ck := quantized(t, "lenet300", data, "symmetric", false)
	m := perturbedBias(t, ck, "fc2")
	cmp, err := Compare(context.Background(), m, ck, data.Test, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, m, cmp)
	if cmp.FirstDivergence != "fc2" || cmp.Layers[0].Differ != 0 || cmp.Layers[1].Differ == 0 {
		t.Errorf("perturbed fc2 bias: first divergence %q, layers %+v", cmp.FirstDivergence, cmp.Layers)
	}
	if cmp.ExactSamples == 1 {
		t.Errorf("perturbed fc2 bias: all logits identical")
	}
	// The oracle harness sees it too: the runtime and the oracle read the
	// same (perturbed) model and agree; the simulation does not, from fc2.
	res, err := compareOracle(context.Background(), m, ck, data.Test, 64)
	if err != nil {
		t.Fatal(err)
	}
	if res.RuntimeDiffer[2] != 0 || res.SimDiffer[1] != 0 || res.SimDiffer[2] == 0 || res.clean() {
		t.Errorf("perturbed fc2 bias, three-way: %v", res)
	}
}

func TestCompareFindsTheFloatRoundedSimulation(t *testing.T) {
	data := synth(16)
	ck := quantized(t, "lenet5", data, "symmetric", false)
	m, err := Export(context.Background(), ck, infer.W8A8)
	if err != nil {
		t.Fatal(err)
	}
	nm, q, err := qat.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	// Round y/S_y in float instead of requantizing the accumulator as the
	// runtime does: off by one LSB on a fraction of the values.
	for _, name := range q.Slots() {
		q.Slot(name).AccOf = nil
	}
	cmp, err := compareWith(context.Background(), m, m.LogitsTrace, nm, q, data.Test, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, m, cmp)
	first := ""
	for _, d := range cmp.Layers {
		if d.Differ > 0 && first == "" {
			first = d.Layer
		}
	}
	if first == "" || cmp.FirstDivergence != first {
		t.Errorf("float-rounded simulation: first divergence %q, layers %+v", cmp.FirstDivergence, cmp.Layers)
	}
	t.Logf("float-rounded simulation: %+v, exact samples %.4f", cmp.Layers, cmp.ExactSamples)
}
