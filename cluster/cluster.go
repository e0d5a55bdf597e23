package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/ste"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
)

// Config says how a model's weights are clustered (non-linear
// quantization, Deep Compression §3). The zero value of each field other
// than Bits means the documented default.
type Config struct {
	Bits int `json:"bits"` // index bits, [1, 8]
	// Init is Lloyd's initialisation: linear (default), density or kmeans++.
	Init string `json:"init"`
	// Exact uses the optimal dynamic programme instead of Lloyd.
	Exact bool `json:"exact,omitempty"`
	// PerChannel gives each output channel its own codebook.
	PerChannel bool `json:"per_channel,omitempty"`
	// Recluster keeps float shadow weights (trained straight through),
	// assigns each to its nearest centroid before every step, and clusters
	// them afresh at the start of every fine-tuning epoch after the first;
	// without it the assignments stay fixed throughout.
	Recluster bool `json:"recluster,omitempty"`
	// BitsA is the activations' uniform bit-width, [2, 8]; default 8.
	BitsA int `json:"bits_a"`
	// Seed drives kmeans++.
	Seed uint64 `json:"seed,omitempty"`
}

// Defaults returns c with zero fields set to their defaults.
func (c Config) Defaults() Config {
	if c.Init == "" {
		c.Init = "linear"
	}
	if c.BitsA == 0 {
		c.BitsA = 8
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.Bits < 1 || c.Bits > 8 {
		return fmt.Errorf("cluster: codebook bits must be in [1, 8], got %d", c.Bits)
	}
	if c.BitsA < 2 || c.BitsA > 8 {
		return fmt.Errorf("cluster: activation bits must be in [2, 8], got %d", c.BitsA)
	}
	if !slices.Contains(calibrate.Inits, c.Init) {
		return fmt.Errorf("cluster: unknown k-means initialisation %q (known: %v)", c.Init, calibrate.Inits)
	}
	return nil
}

func (c Config) kmeans() calibrate.KMeans {
	return calibrate.KMeans{Bits: c.Bits, Init: c.Init, Exact: c.Exact, Seed: c.Seed}
}

// Quantizer is the quantizer of a clustered model: each weight goes through
// its codebook node, then through an 8-bit uniform fake-quant node (per
// tensor for a per-tensor codebook, per channel otherwise), so the table
// the integer runtime stores (the centroids quantized to int8) is what the
// simulation computes with; activations and
// biases keep the uniform fake-quant of QAT. Centroids train with their own
// Adam on the summed gradients of their weights (ste.Centroid).
type Quantizer struct {
	*qat.Quantizer
	Cfg   Config
	model *nn.Model
	books map[string]*fakequant.CodebookState
	order []string // weight slots with a codebook, in model order

	opt       train.Optimizer // over the centroid tables, in order
	stepEpoch int             // optimizer steps per epoch (re-clustering)
	// ctx stops k-means (the first clustering, and re-clustering between
	// epochs) when the run is cancelled.
	ctx context.Context
}

var (
	_ nn.Quantizer            = (*Quantizer)(nil)
	_ train.StatefulQuantizer = (*Quantizer)(nil)
	_ train.Modal             = (*Quantizer)(nil)
	_ train.StepHook          = (*Quantizer)(nil)
)

// New clusters every weight of m and wraps q (whose weight slots
// must be 8-bit). Without Recluster the model's weights are replaced by
// their centroids.
func New(m *nn.Model, q *qat.Quantizer, cfg Config) (*Quantizer, error) {
	return newCluster(context.Background(), m, q, cfg)
}

// newCluster is New stopping with ctx.Err() when ctx is cancelled.
func newCluster(ctx context.Context, m *nn.Model, q *qat.Quantizer, cfg Config) (*Quantizer, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Quantizer{Quantizer: q, Cfg: cfg, model: m, books: map[string]*fakequant.CodebookState{}, ctx: ctx}
	est := ste.Centroid{PassThrough: cfg.Recluster}
	for _, s := range m.Slots {
		if s.Kind != nn.Weight {
			continue
		}
		cb, err := c.cluster(m.Param(s.Name), s)
		if err != nil {
			return nil, err
		}
		if c.books[s.Name], err = fakequant.NewCodebookState(s.Name, cb, est); err != nil {
			return nil, err
		}
		c.order = append(c.order, s.Name)
	}
	c.resetOpt()
	return c, nil
}

func (c *Quantizer) cluster(p *nn.Param, s *nn.Slot) (*fakequant.Codebook, error) {
	axis := -1
	if c.Cfg.PerChannel {
		axis = s.Axis
	}
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	cb, err := c.Cfg.kmeans().ClusterContext(ctx, p.Data(), p.Value.Shape(), axis)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cluster: clustering %s: %w", s.Name, err)
	}
	return cb, nil
}

func (c *Quantizer) resetOpt() {
	var sizes []int
	for _, name := range c.order {
		sizes = append(sizes, len(c.books[name].Codebook().Centroids))
	}
	c.opt, _ = train.NewOptimizer("adam", sizes, 0, 0)
}

// Codebook returns a copy of a weight slot's codebook, or nil.
func (c *Quantizer) Codebook(slot string) *fakequant.Codebook {
	if b := c.books[slot]; b != nil {
		return b.Codebook()
	}
	return nil
}

// WriteWeights replaces every clustered weight of the model by its centroid.
func (c *Quantizer) WriteWeights() {
	for _, name := range c.order {
		c.books[name].Codebook().Decode(c.model.Param(name).Data())
	}
}

// Quantize implements nn.Quantizer.
func (c *Quantizer) Quantize(s *nn.Slot, x *G.Node) (*G.Node, error) {
	if b := c.books[s.Name]; b != nil {
		y, err := fakequant.NewCodebook(x, b)
		if err != nil {
			return nil, err
		}
		x = y
	}
	return c.Quantizer.Quantize(s, x)
}

// BeforeStep runs the QAT schedule and, with Recluster, moves every
// shadow weight to its nearest centroid before each step (so that a
// weight's drift shows in the forward pass, as in TensorFlow Model
// Optimization's clustering) and clusters the shadow weights afresh at
// every epoch boundary.
func (c *Quantizer) BeforeStep(step int) error {
	if c.Cfg.Recluster {
		for _, name := range c.order {
			c.books[name].Reassign(c.model.Param(name).Data())
		}
	}
	if c.Cfg.Recluster && c.stepEpoch > 0 && step > 0 && step%c.stepEpoch == 0 {
		for _, s := range c.model.Slots {
			b := c.books[s.Name]
			if b == nil {
				continue
			}
			cb, err := c.cluster(c.model.Param(s.Name), s)
			if err != nil {
				return err
			}
			if err := b.SetCodebook(cb); err != nil {
				return err
			}
		}
		c.resetOpt()
	}
	return c.Quantizer.BeforeStep(step)
}

// AfterStep moves the centroids by Adam on ∂L/∂c at the weights' rate.
func (c *Quantizer) AfterStep(lr float64) {
	c.Quantizer.AfterStep(lr)
	params := make([][]float32, len(c.order))
	grads := make([][]float32, len(c.order))
	for i, name := range c.order {
		b := c.books[name]
		params[i] = b.Codebook().Centroids
		grads[i] = make([]float32, len(params[i]))
		for j, g := range b.TakeGrad() {
			grads[i][j] = float32(g)
		}
	}
	c.opt.Step(params, grads, lr)
	for i, name := range c.order {
		// A non-finite centroid keeps its old value; the loss check of the
		// next step reports a diverging run.
		_ = c.books[name].SetCentroids(params[i])
	}
	if !c.Cfg.Recluster {
		c.WriteWeights()
	}
}

// clusterMeta is the cluster part of the checkpoint's quantizer metadata
// (next to QAT's, so LoadQAT still reads the uniform part).
type clusterMeta struct {
	Cfg    Config           `json:"config"`
	Groups map[string][]int `json:"shapes"` // slot → [axis, shape...]
}

// State implements train.StatefulQuantizer: QAT's state plus, per weight slot,
// "<slot>.codebook" (the centroids) and "<slot>.index" (the indices),
// with Recluster "<slot>.shadow" (the float shadow weights, which the
// checkpoint's parameters are not once the run ends), and the centroids'
// Adam state under "cluster.opt.": what an exact resume needs.
func (c *Quantizer) State() (rundir.QuantState, error) {
	qs, err := c.Quantizer.State()
	if err != nil {
		return rundir.QuantState{}, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(qs.Meta), &all); err != nil {
		return rundir.QuantState{}, fmt.Errorf("cluster: cluster state: %v", err)
	}
	cm := clusterMeta{Cfg: c.Cfg, Groups: map[string][]int{}}
	for _, name := range c.order {
		cb := c.books[name].Codebook()
		qs.Tensors[name+".codebook"] = cb.Centroids
		idx := make([]float32, len(cb.Index))
		for i, v := range cb.Index {
			idx[i] = float32(v)
		}
		qs.Tensors[name+".index"] = idx
		if c.Cfg.Recluster {
			qs.Tensors[name+".shadow"] = slices.Clone(c.model.Param(name).Data())
		}
		cm.Groups[name] = append([]int{cb.Axis}, cb.Shape...)
	}
	for k, v := range c.opt.State() {
		qs.Tensors[clusterOptPrefix+k] = slices.Clone(v)
	}
	if all["cluster"], err = json.Marshal(cm); err != nil {
		return rundir.QuantState{}, err
	}
	b, err := json.Marshal(all)
	if err != nil {
		return rundir.QuantState{}, err
	}
	qs.Meta = string(b)
	return qs, nil
}

// SetState implements train.StatefulQuantizer.
func (c *Quantizer) SetState(qs rundir.QuantState) error {
	if err := c.Quantizer.SetState(qs); err != nil {
		return err
	}
	books, _, err := codebooksOf(qs.Tensors, qs.Meta)
	if err != nil {
		return err
	}
	for _, name := range c.order {
		cb := books[name]
		if cb == nil {
			return fmt.Errorf("cluster: checkpoint has no codebook for %s", name)
		}
		if err := c.books[name].SetCodebook(cb); err != nil {
			return fmt.Errorf("cluster: checkpoint codebook: %w", err)
		}
	}
	c.resetOpt()
	opt := map[string][]float32{}
	for k, v := range qs.Tensors {
		if rest, ok := strings.CutPrefix(k, clusterOptPrefix); ok {
			opt[rest] = v
		}
	}
	if len(opt) > 0 { // files before it start the centroids' Adam afresh
		if err := c.opt.SetState(opt); err != nil {
			return fmt.Errorf("cluster: checkpoint centroid optimizer: %w", err)
		}
	}
	if c.Cfg.Recluster {
		for _, name := range c.order {
			p := c.model.Param(name).Data()
			if sh, ok := qs.Tensors[name+".shadow"]; ok {
				if len(sh) != len(p) {
					return fmt.Errorf("cluster: checkpoint shadow weights %s have %d values, the weight %d", name, len(sh), len(p))
				}
				copy(p, sh)
			}
		}
	} else {
		c.WriteWeights()
	}
	return nil
}

// clusterOptPrefix names the centroids' optimizer state in the quantizer state.
const clusterOptPrefix = "cluster.opt."

// codebooksOf decodes the codebooks of a cluster checkpoint's quantizer state.
func codebooksOf(ts map[string][]float32, meta string) (map[string]*fakequant.Codebook, Config, error) {
	var all struct {
		Cluster *clusterMeta `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(meta), &all); err != nil || all.Cluster == nil {
		return nil, Config{}, fmt.Errorf("cluster: the checkpoint has no codebooks (not a cluster run)")
	}
	cm := all.Cluster
	if err := cm.Cfg.Validate(); err != nil {
		return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint cluster settings: %w", err)
	}
	out := map[string]*fakequant.Codebook{}
	for name, g := range cm.Groups {
		if len(g) < 2 {
			return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint codebook %s: bad shape %v", name, g)
		}
		cb := &fakequant.Codebook{Bits: cm.Cfg.Bits, Axis: g[0], Shape: slices.Clone(g[1:]), Centroids: ts[name+".codebook"]}
		idx := ts[name+".index"]
		cb.Index = make([]uint8, len(idx))
		for i, v := range idx {
			if v < 0 || v > 255 || v != float32(int(v)) {
				return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint codebook %s: index %d is %v", name, i, v)
			}
			cb.Index[i] = uint8(v)
		}
		if err := cb.Validate(); err != nil {
			return nil, cm.Cfg, fmt.Errorf("cluster: checkpoint codebook %s: %w", name, err)
		}
		out[name] = cb
	}
	return out, cm.Cfg, nil
}

// Load rebuilds the model, quantizer and codebooks of a cluster
// checkpoint; the model's weights are the decoded centroids.
func Load(ck *rundir.Checkpoint) (*nn.Model, *Quantizer, error) {
	if ck.Phase != rundir.PhaseCluster {
		return nil, nil, fmt.Errorf("cluster: the checkpoint is a %q run, not a cluster run", ck.Phase)
	}
	m, q, err := qat.Load(ck)
	if err != nil {
		return nil, nil, err
	}
	books, cfg, err := codebooksOf(ck.Quant, ck.QuantMeta)
	if err != nil {
		return nil, nil, err
	}
	c := &Quantizer{Quantizer: q, Cfg: cfg, model: m, books: map[string]*fakequant.CodebookState{}}
	est := ste.Centroid{PassThrough: cfg.Recluster}
	for _, s := range m.Slots {
		if s.Kind != nn.Weight {
			continue
		}
		cb := books[s.Name]
		if cb == nil {
			return nil, nil, fmt.Errorf("cluster: checkpoint has no codebook for %s", s.Name)
		}
		if p := m.Param(s.Name); !slices.Equal(cb.Shape, p.Value.Shape()) {
			return nil, nil, fmt.Errorf("cluster: codebook %s has shape %v, the weight is %v", s.Name, cb.Shape, p.Value.Shape())
		}
		if c.books[s.Name], err = fakequant.NewCodebookState(s.Name, cb, est); err != nil {
			return nil, nil, err
		}
		c.order = append(c.order, s.Name)
	}
	if len(books) != len(c.order) {
		return nil, nil, fmt.Errorf("cluster: the checkpoint has %d codebooks, the model %d weights", len(books), len(c.order))
	}
	c.WriteWeights()
	c.resetOpt()
	return m, c, nil
}

// Result reports a clustering run.
type Result struct {
	FloatAcc   float64 // the float model
	ClusterAcc float64 // clustered and calibrated, before fine-tuning
	TestAcc    float64 // at the end (equal to ClusterAcc without fine-tuning)
	Trainer    *train.Trainer
	Quantizer  *Quantizer
}

// FineTune clusters the weights of a float checkpoint, calibrates
// the activations' uniform quantizers on the clustered model, measures it,
// then (when tc.Epochs > 0) fine-tunes the centroids with the assignments
// fixed. The result is checkpointed in runDir (phase "cluster"), with the
// decoded centroids as the weights and the codebooks in the quantizer state.
// The returned model holds the decoded centroids too, or with Recluster
// its float shadow weights.
func FineTune(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, cc Config, tc rundir.Config, runDir string, prog train.Progress) (_ *Result, runErr error) {
	if from.Phase != "float" {
		return nil, fmt.Errorf("cluster: clustering starts from a float checkpoint, this one is %q", from.Phase)
	}
	cc = cc.Defaults()
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	tc, err := rundir.InheritInput(tc, from)
	if err != nil {
		return nil, err
	}
	m, err := from.Model()
	if err != nil {
		return nil, err
	}
	if name := train.ModelNonFinite(m); name != "" {
		// k-means and calibration would fail far from the cause.
		return nil, fmt.Errorf("cluster: the float model's %s has a non-finite value: it cannot be clustered (retrain it with a lower learning rate)", name)
	}
	if err := train.CheckData(m, data); err != nil {
		return nil, err
	}
	fineTune := tc.Epochs > 0
	if !fineTune {
		tc.Epochs = 1 // the trainer only evaluates and checkpoints
	}
	tr, err := train.NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	res := &Result{Trainer: tr}
	if res.FloatAcc, err = tr.TestAccuracy(context.Background()); err != nil {
		return nil, err
	}
	shadow := rundir.ParamsOf(m)
	// A per-tensor codebook gets a per-tensor weight scale, so that the
	// integer model needs one int8 table per layer, not one per channel.
	q, err := qat.New(m, qat.Config{BitsW: 8, BitsA: cc.BitsA, PerTensorWeights: !cc.PerChannel})
	if err != nil {
		return nil, err
	}
	cl, err := newCluster(ctx, m, q, cc)
	if err != nil {
		return nil, err
	}
	res.Quantizer = cl
	cl.WriteWeights() // calibrate on the clustered weights
	if err := q.CalibrateNorm(ctx, m, tr.TrainSet(), tr.Cfg.Batch, tr.Cfg.Seed, tr.Cfg.Norm()); err != nil {
		return nil, err
	}
	if cc.Recluster { // shadow weights start from the float weights
		for _, p := range m.Params {
			copy(p.Data(), shadow[p.Name])
		}
	}
	cl.stepEpoch = tr.StepsPerEpoch()
	if q.Cfg.FreezeAfter == 0 {
		q.Cfg.FreezeAfter = cl.stepEpoch
	}
	tr.SetQuantizer(cl)
	tr.BeforeStep, tr.Phase = cl.BeforeStep, rundir.PhaseCluster
	if res.ClusterAcc, err = tr.TestAccuracy(context.Background()); err != nil {
		return nil, err
	}
	if prog != nil {
		prog.Note(fmt.Sprintf("float %.2f%%  clustered %d-bit (%s init, %s) %.2f%%", 100*res.FloatAcc, cc.Bits, cc.Init,
			map[bool]string{true: "per channel", false: "per tensor"}[cc.PerChannel], 100*res.ClusterAcc))
	}
	if runDir != "" {
		// A new run: a failure before its first checkpoint takes its
		// epoch-0 line with it (OpenNewRun).
		finish, err := tr.OpenNewRun(runDir)
		if err != nil {
			return nil, err
		}
		// runErr, the named result: err is shadowed in this block.
		defer func() { finish(runErr != nil) }()
		if err := rundir.AppendMetrics(filepath.Join(runDir, rundir.MetricsFile), rundir.EpochMetrics{Epoch: 0, Phase: rundir.PhaseCluster, TestAcc: res.ClusterAcc}); err != nil {
			return nil, err
		}
	}
	res.TestAcc, tr.TestAcc = res.ClusterAcc, res.ClusterAcc
	if fineTune {
		tr.RunDir, tr.Progress = runDir, prog
		if err := tr.Run(ctx); err != nil {
			return nil, err
		}
		res.TestAcc = tr.TestAcc
	} else {
		tr.Cfg.Epochs = 0
	}
	if runDir != "" {
		if err := cl.saveDecoded(tr, runDir); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Resume continues a cluster checkpoint's fine-tuning up to epochs
// (0: the checkpoint's own epoch count) in runDir, exactly as if it had
// not been interrupted: the codebooks, the centroids' optimizer state, the
// uniform quantizers' state and (with Recluster) the shadow weights all
// come from the checkpoint. The data must be the data the run was
// trained on. The final checkpoint holds the decoded centroids as
// FineTune's does.
func Resume(ctx context.Context, c *rundir.Checkpoint, data *datasets.Pair, epochs int, runDir string, prog train.Progress) (_ *Result, err error) {
	if c.Phase != rundir.PhaseCluster {
		return nil, fmt.Errorf("cluster: can only resume a cluster checkpoint with Resume, this one is %q", c.Phase)
	}
	if epochs < 0 {
		return nil, fmt.Errorf("cluster: epochs must be ≥ 0, got %d", epochs)
	}
	if _, ok := c.Quant[clusterOptPrefix+"adam.t"]; !ok && c.Epoch > 0 {
		return nil, fmt.Errorf("cluster: the cluster checkpoint lacks the centroids' optimizer state that an exact resume needs; start the cluster run again")
	}
	m, cl, err := Load(c)
	if err != nil {
		return nil, err
	}
	tc := c.Config
	if epochs > 0 {
		tc.Epochs = epochs
	}
	clusterOnly := tc.Epochs == 0 // a run without fine-tuning: nothing to continue
	if clusterOnly {
		tc.Epochs = 1
	}
	tr, err := train.NewTrainer(m, data, tc)
	if err != nil {
		return nil, err
	}
	if clusterOnly {
		tr.Cfg.Epochs = 0
	}
	cl.ctx = ctx
	cl.stepEpoch = tr.StepsPerEpoch()
	tr.Quant, tr.Phase, tr.BeforeStep, tr.RunDir, tr.Progress = cl, rundir.PhaseCluster, cl.BeforeStep, runDir, prog
	if err := tr.Resume(c); err != nil {
		tr.Close()
		return nil, err
	}
	if err := tr.Run(ctx); err != nil {
		tr.Close()
		return nil, err
	}
	if runDir != "" {
		if err := cl.saveDecoded(tr, runDir); err != nil {
			tr.Close()
			return nil, err
		}
	}
	return &Result{TestAcc: tr.TestAcc, Trainer: tr, Quantizer: cl}, nil
}

// saveDecoded writes the run's final checkpoint, whose weights are the
// decoded centroids (with Recluster the model itself keeps its shadow
// weights, which the quantizer state holds).
func (cl *Quantizer) saveDecoded(tr *train.Trainer, runDir string) error {
	ck, err := tr.Checkpoint()
	if err != nil {
		return err
	}
	for _, name := range cl.order {
		cl.books[name].Codebook().Decode(ck.Params[name])
	}
	return tr.Save(runDir, ck)
}
