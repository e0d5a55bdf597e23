package export

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Comparison sets the integer runtime beside the float model and the
// fake-quant simulation on one dataset.
type Comparison struct {
	Samples  int     `json:"samples"`
	FloatAcc float64 `json:"float_test_acc"` // the checkpoint's weights, no quantization
	SimAcc   float64 `json:"sim_test_acc"`   // the fake-quant simulation (Gorgonia graph)
	IntAcc   float64 `json:"test_acc"`       // the integer runtime
	// Agreement is the fraction of samples whose top-1 class is the same in
	// the simulation and the runtime.
	Agreement float64 `json:"agreement"`
	// MaxLSBDiff is the largest |q_runtime − q_sim| over all logits.
	MaxLSBDiff int32 `json:"max_lsb_diff"`
	// ExactSamples is the fraction of samples with bit-identical logits.
	ExactSamples float64 `json:"exact_samples"`
	// Layers lists, per layer output the simulation quantizes at a slot
	// of its own (weighted layers, residual additions, global average
	// pools; simSlots), how many elements differ and by at most how much.
	Layers []LayerDiff `json:"layers"`
	// FirstDivergence names the first layer whose output differs, or
	// "logits" when every layer agrees but the final outputs do not (their
	// order, say); "" if none.
	FirstDivergence string `json:"first_divergence"`
}

// Exact reports whether the simulation and the runtime agree bit for bit
// at every compared layer and in every final logit.
func (c *Comparison) Exact() bool { return c.FirstDivergence == "" && c.ExactSamples == 1 }

// LayerDiff counts the differences at one layer output.
type LayerDiff struct {
	Layer    string `json:"layer"`
	Elements int64  `json:"elements"`
	Differ   int64  `json:"differ"`
	MaxDiff  int32  `json:"max_diff"`
}

// Compare runs the float model, the fake-quant simulation of checkpoint c
// and the integer model m (exported from c, mode w8a8 or w8a8-asym) on set.
// ctx is checked between batches. The set streams through in batches of
// at most batch images, fewer when the network's activations are large
// (compareChunk), so the memory does not grow with batch or the set. With
// an input normalization (m.Norm) the float model and the simulation take
// the normalized batches (datasets.Batcher.SetNorm, as in training) and
// the runtime the raw pixels, which it normalizes itself.
func Compare(ctx context.Context, m *infer.Model, c *rundir.Checkpoint, set *datasets.Set, batch int) (*Comparison, error) {
	if m.Mode == infer.W8Only {
		return nil, fmt.Errorf("export: a w8-only model computes in float; compare an integer mode")
	}
	nm, q, err := qat.Load(c)
	if err != nil {
		return nil, err
	}
	if err := CheckSource(m, c); err != nil {
		return nil, err
	}
	return compareWith(ctx, m, m.LogitsTrace, nm, q, set, batch)
}

// logitsTracer runs an integer model with a trace (Model.LogitsTrace).
type logitsTracer func(x []float32, n int, tr infer.Trace) ([]int32, error)

// compareWith is Compare with the checkpoint's network and quantizer
// already loaded and the runtime given as run (tests alter the quantizer,
// or the runtime's output, to check that Compare notices).
func compareWith(ctx context.Context, m *infer.Model, run logitsTracer, nm *nn.Model, q *qat.Quantizer, set *datasets.Set, batch int) (*Comparison, error) {
	if set.N == 0 {
		return nil, fmt.Errorf("export: compare: %w", train.ErrEmptySet)
	}
	if err := m.CheckData(set.C, set.H, set.W, set.Classes); err != nil {
		return nil, err
	}
	// The slots whose values the runtime's layers produce: weighted
	// layers, residual additions, global average pools.
	idx, slots := simSlots(m)
	diffs := make([]LayerDiff, len(slots))
	layerOf := map[int]int{}
	params := make([]infer.QParams, len(slots))
	for j, i := range idx {
		layerOf[i] = j
		diffs[j].Layer = m.Layers[i].Name
		params[j] = slotParams(q, m.Layers[i], slots[j])
	}
	// The simulation's logits are its network output, in the order of its
	// (CHW) flatten, quantized at the slot they come from.
	ls := logitSlot(m, idx)
	if ls < 0 {
		return nil, fmt.Errorf("export: no layer of the model computes its logits: nothing to compare")
	}
	sim := newSimRunner(nm, q, slots)
	defer sim.Close()
	// The float column: the same weights on the float runtime (no Gorgonia).
	fm, err := floatTwin(ctx, nm, m.Norm)
	if err != nil {
		return nil, err
	}

	k := m.Classes
	res := &Comparison{Samples: set.N}
	var floatOK, simOK, intOK, agree, exact int
	batch = compareChunk(m, batch)
	flog := make([]float32, batch*k)
	fpred, rpred, spred := make([]int, batch), make([]int, batch), make([]int, batch)
	pb, err := newPairedBatches(set, batch, m.Norm)
	if err != nil {
		return nil, err
	}
	x, xn, labels := pb.x, pb.xn, pb.labels
	for {
		n, err := pb.next()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		xs, xns := x[:n*set.Size()], xn[:n*set.Size()]
		simVals, simOut, err := sim.run(xns, n)
		if err != nil {
			return nil, err
		}
		if len(simOut) != n*k {
			return nil, fmt.Errorf("export: the simulation gives %d outputs for %d samples of %d classes", len(simOut), n, k)
		}
		simInts := make([][]int32, len(slots))
		for i, v := range simVals {
			simInts[i] = toInts(v, params[i])
		}
		runInts := make([][]int32, len(slots))
		out, err := run(xs, n, func(layer int, v []int32) {
			if j, ok := layerOf[layer]; ok {
				runInts[j] = v
			}
		})
		if err != nil {
			return nil, err
		}
		for i := range slots {
			d := &diffs[i]
			for e, a := range runInts[i] {
				d.Elements++
				if b := simInts[i][e]; a != b {
					d.Differ++
					d.MaxDiff = max(d.MaxDiff, abs32(a-b))
				}
			}
		}
		if err := fm.FloatLogitsInto(flog[:n*k], xs, n); err != nil {
			return nil, err
		}
		infer.Argmax(fpred[:n], flog[:n*k], k)
		simLog := toInts(simOut, params[ls])
		infer.Argmax(rpred[:n], out[:n*k], k)
		infer.Argmax(spred[:n], simLog[:n*k], k)
		for s := 0; s < n; s++ {
			ri, si := out[s*k:(s+1)*k], simLog[s*k:(s+1)*k]
			rp, sp := rpred[s], spred[s]
			if rp == sp {
				agree++
			}
			same := true
			for j := range ri {
				if d := abs32(ri[j] - si[j]); d > 0 {
					same = false
					res.MaxLSBDiff = max(res.MaxLSBDiff, d)
				}
			}
			if same {
				exact++
			}
			if rp == labels[s] {
				intOK++
			}
			if sp == labels[s] {
				simOK++
			}
			if fpred[s] == labels[s] {
				floatOK++
			}
		}
	}
	N := float64(set.N)
	res.FloatAcc, res.SimAcc, res.IntAcc = float64(floatOK)/N, float64(simOK)/N, float64(intOK)/N
	res.Agreement, res.ExactSamples = float64(agree)/N, float64(exact)/N
	res.Layers = diffs
	for _, d := range diffs {
		if d.Differ > 0 {
			res.FirstDivergence = d.Layer
			break
		}
	}
	if res.FirstDivergence == "" && exact < set.N {
		// Every layer agrees, the final outputs do not: the logits'
		// order, or something after the last compared layer.
		res.FirstDivergence = "logits"
	}
	return res, nil
}

// compareBudget bounds the bytes one batch of Compare may hold; the
// estimate per image is compareCopies float32 or int32 copies of every
// activation (the simulation graph's nodes, the slots' values read back
// and turned into integers, the runtime's trace), generous on purpose.
var compareBudget = 96 << 20 // a variable: a test lowers it

const (
	compareCopies = 16
	// compareMinChunk keeps the simulation's batches from getting so
	// small that the graph's per-run overhead dominates.
	compareMinChunk = 8
)

// compareChunk is the batch size Compare streams with: at most batch,
// and at most what compareBudget allows for m's activations per image
// (the input and every layer's output), but never below compareMinChunk
// (or batch, if smaller).
func compareChunk(m *infer.Model, batch int) int {
	values := m.InC * m.InH * m.InW
	for _, l := range m.Layers {
		values += l.OutSize()
	}
	fit := compareBudget / (4 * compareCopies * max(1, values))
	return max(1, min(batch, max(fit, compareMinChunk)))
}

// logitSlot is the index in layers (simSlots) of the layer whose output
// the logits are: the last layer, followed back through the max-pools and
// flattens that only move its integers; −1 if none (the logits would be
// the input's).
func logitSlot(m *infer.Model, layers []int) int {
	for v := len(m.Layers) - 1; v >= 0; {
		if j := slices.Index(layers, v); j >= 0 {
			return j
		}
		if in := m.Layers[v].Inputs; len(in) > 0 {
			v = in[0]
		} else {
			v--
		}
	}
	return -1
}

// simSlots lists the layers of m whose output the simulation quantizes at
// a slot of its own, <name>.out (weighted layers, residual additions,
// global average pools; a max-pool or flatten only moves integers), and
// those slots.
func simSlots(m *infer.Model) (layers []int, slots []string) {
	for i, l := range m.Layers {
		switch l.Kind {
		case infer.KindLinear, infer.KindConv2D, infer.KindAdd, infer.KindGlobalAvgPool:
			layers = append(layers, i)
			slots = append(slots, l.Name+".out")
		}
	}
	return layers, slots
}

// slotParams are the parameters that turn the simulation's values at
// slot (the output of layer l) back into integers: the quantizer's own
// (independent of the export), or, for a slot without a state of its own
// (a mean keeps its input's parameters), the layer's.
func slotParams(q *qat.Quantizer, l *infer.Layer, slot string) infer.QParams {
	if st := q.Slot(slot); st != nil {
		if p := st.Params(); p != nil {
			return infer.QParams{Scale: p.Scale[0], Zero: p.Zero[0]}
		}
	}
	return infer.QParams{Scale: l.Out.Scale, Zero: l.Out.Zero}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// toInts recovers the integers of fake-quantized values: v = S·(q − Z)
// exactly as float32, so round(v/S) + Z is q.
func toInts(v []float32, p infer.QParams) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		r := x / p.Scale
		if r >= 0 {
			out[i] = int32(r+0.5) + p.Zero
		} else {
			out[i] = -int32(-r+0.5) + p.Zero
		}
	}
	return out
}

// CheckSource returns an error unless checkpoint c can be the source of
// model m: the same architecture, input shape and class count and, when c
// is a quantized (PTQ, QAT or cluster) checkpoint and m records its source
// (Model.Source, written by Export), the same phase, weight and
// activation bit-widths (and per-slot ones, qat.Config.SlotBits),
// activation scheme for m's mode, and recorded test accuracy (a run
// trained further after the export differs there). The
// error lists every field that differs. A float checkpoint is checked on
// the architecture only: it is the baseline every quantized model of the
// run descends from (bench times it beside the model). A model file
// without Source (written before it was recorded) is checked on the
// architecture only; HasSource tells callers to warn about it.
func CheckSource(m *infer.Model, c *rundir.Checkpoint) error {
	if c.Arch != m.Arch || c.In.C != m.InC || c.In.H != m.InH || c.In.W != m.InW || c.Classes != m.Classes {
		return fmt.Errorf("export: the checkpoint is a %s on %dx%dx%d inputs with %d classes, the model a %s on %dx%dx%d with %d: not its source",
			c.Arch, c.In.C, c.In.H, c.In.W, c.Classes, m.Arch, m.InC, m.InH, m.InW, m.Classes)
	}
	if c.Phase == rundir.PhaseFloat || !HasSource(m) {
		return nil
	}
	var meta struct {
		Cfg qat.Config `json:"config"`
	}
	if err := json.Unmarshal([]byte(c.QuantMeta), &meta); err != nil {
		return fmt.Errorf("export: the %s checkpoint's quantizer settings are unreadable: %v", c.Phase, err)
	}
	orEight := func(b int) int { // checkpoints before zero was rejected stored 0 for 8
		if b == 0 {
			return 8
		}
		return b
	}
	var diffs []string
	differ := func(what, model, ck string) {
		if model != ck {
			// "slot bits  (model)" said nothing: a uniform model has none.
			model, ck = cmp.Or(model, "none"), cmp.Or(ck, "none")
			diffs = append(diffs, fmt.Sprintf("%s %s (model) vs %s (checkpoint)", what, model, ck))
		}
	}
	differ("phase", m.Source.Phase, string(c.Phase))
	differ("weight bits", strconv.Itoa(m.Source.BitsW), strconv.Itoa(orEight(meta.Cfg.BitsW)))
	differ("activation bits", strconv.Itoa(m.Source.BitsA), strconv.Itoa(orEight(meta.Cfg.BitsA)))
	differ("slot bits", m.Source.SlotBits, SlotBitsString(meta.Cfg.SlotBits))
	if want := map[infer.Mode]qat.ActScheme{infer.W8A8: qat.ActSymmetric, infer.W8A8Asym: qat.ActAffine}[m.Mode]; want != "" {
		got := meta.Cfg.ActScheme
		if got == "" {
			got = qat.ActSymmetric
		}
		differ("activation scheme", string(want), string(got))
	}
	if acc := m.Source.TestAccSim; acc != nil {
		differ("recorded test accuracy", strconv.FormatFloat(*acc, 'g', -1, 64), strconv.FormatFloat(c.TestAcc, 'g', -1, 64))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("export: the checkpoint is not the model's source: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// HasSource tells whether model m records the checkpoint it was exported
// from (files written before Model.Source existed do not), which
// CheckSource needs to tell a sibling run from the model's own.
func HasSource(m *infer.Model) bool {
	return m.Source.Phase != "" && m.Source.BitsW != 0 && m.Source.BitsA != 0
}

// simRunner runs the fake-quant graph and reads the slots' values.
type simRunner struct {
	m     *nn.Model
	q     nn.Quantizer
	slots []string
	runs  map[int]*simRun
}

type simRun struct {
	net *nn.Net
	x   *tensor.Dense
	vm  G.VM
}

func newSimRunner(m *nn.Model, q nn.Quantizer, slots []string) *simRunner {
	return &simRunner{m: m, q: q, slots: slots, runs: map[int]*simRun{}}
}

// Close releases the cached graphs' VMs.
func (s *simRunner) Close() {
	for n, r := range s.runs {
		r.vm.Close()
		delete(s.runs, n)
	}
}

// run returns the slots' values and the network's output (the logits).
// It keeps the graph of one batch size: a batch of another size (the
// last, smaller one) releases it first.
func (s *simRunner) run(x []float32, n int) ([][]float32, []float32, error) {
	r, ok := s.runs[n]
	if !ok {
		s.Close()
		net, err := s.m.Build(n, s.q)
		if err != nil {
			return nil, nil, err
		}
		r = &simRun{net: net, x: tensor.New(tensor.WithShape(n, s.m.In.C, s.m.In.H, s.m.In.W), tensor.Of(tensor.Float32)), vm: G.NewTapeMachine(net.G)}
		s.runs[n] = r
	}
	copy(r.x.Data().([]float32), x)
	if err := G.Let(r.net.X, r.x); err != nil {
		return nil, nil, err
	}
	defer r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		return nil, nil, fmt.Errorf("export: simulation: %w", err)
	}
	out := make([][]float32, len(s.slots))
	for i, name := range s.slots {
		node := r.net.Nodes[name]
		out[i] = append([]float32(nil), node.Value().Data().([]float32)...)
	}
	return out, append([]float32(nil), r.net.Out.Value().Data().([]float32)...), nil
}

// pairedBatches yields the test set in order, batch by batch, twice: x as
// pixels (what a runtime with its own input normalization reads) and xn as
// the network reads it (x normalized by norm with datasets' arithmetic,
// or x itself without one).
type pairedBatches struct {
	bt, nb *datasets.Batcher
	x, xn  []float32
	labels []int
}

func newPairedBatches(set *datasets.Set, batch int, norm *infer.InputNorm) (*pairedBatches, error) {
	p := &pairedBatches{bt: datasets.NewBatcher(set, batch, false, 0), x: make([]float32, batch*set.Size()), labels: make([]int, batch)}
	p.xn = p.x
	if norm != nil {
		p.xn = make([]float32, len(p.x))
		p.nb = datasets.NewBatcher(set, batch, false, 0)
		if err := p.nb.SetNorm(datasets.Norm{Mean: norm.Mean, Std: norm.Std}); err != nil {
			return nil, fmt.Errorf("export: the model's input normalization: %w", err)
		}
	}
	return p, nil
}

// next fills x, xn and labels with the next batch and returns its size
// (0 at the end).
func (p *pairedBatches) next() (int, error) {
	n := p.bt.Next(p.x, p.labels)
	if n > 0 && p.nb != nil {
		if got := p.nb.Next(p.xn, p.labels); got != n {
			return 0, fmt.Errorf("export: the normalized batches are out of step (%d images, want %d)", got, n)
		}
	}
	return n, nil
}
