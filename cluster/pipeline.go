package cluster

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// Result reports a clustering run.
type Result struct {
	FloatAcc   float64 // the float model
	ClusterAcc float64 // clustered and calibrated, before fine-tuning
	TestAcc    float64 // at the end (equal to ClusterAcc without fine-tuning)
	Trainer    *train.Trainer
	Quantizer  *Quantizer
}

// Options are the settings of a clustering run from a float checkpoint.
type Options struct {
	// Cluster says how the weights are clustered.
	Cluster Config
	// Train holds the batch, seed, sample limits and evaluation batch of
	// the calibration and the fine-tuning of the centroids: Epochs
	// fine-tuning epochs, where 0 means none (cluster and calibrate
	// only), not rundir.DefaultEpochs. The input preparation (resize,
	// normalization) is the float run's.
	Train rundir.Config
	// RunDir receives the run's checkpoint and metrics log; "" writes
	// nothing.
	RunDir string
	// Progress, if not nil, receives the run's progress.
	Progress train.Progress
}

// ResumeOptions are the settings of a resumed clustering run.
type ResumeOptions struct {
	// Epochs is the run's total epoch count; 0: the checkpoint's own.
	Epochs int
	// RunDir receives the run's checkpoints and metrics; "" writes nothing.
	RunDir string
	// Progress, if not nil, receives the run's progress.
	Progress train.Progress
}

// FineTune clusters the weights of a float checkpoint, calibrates
// the activations' uniform quantizers on the clustered model, measures it,
// then (when opt.Train.Epochs > 0) fine-tunes the centroids with the
// assignments fixed. The result is checkpointed in opt.RunDir (phase
// "cluster") unless it is "", with the
// decoded centroids as the weights and the codebooks in the quantizer state.
// The returned model holds the decoded centroids too, or with Recluster
// its float shadow weights.
func FineTune(ctx context.Context, from *rundir.Checkpoint, data *datasets.Pair, opt Options) (_ *Result, runErr error) {
	cc, tc, runDir, prog := opt.Cluster, opt.Train, opt.RunDir, opt.Progress
	if from.Phase != rundir.PhaseFloat {
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
	tr.Parent = from.WeightsSHA()
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

// Resume continues a cluster checkpoint's fine-tuning up to opt.Epochs
// (0: the checkpoint's own epoch count) in opt.RunDir, exactly as if it had
// not been interrupted: the codebooks, the centroids' optimizer state, the
// uniform quantizers' state and (with Recluster) the shadow weights all
// come from the checkpoint. The data must be the data the run was
// trained on. The final checkpoint holds the decoded centroids as
// FineTune's does.
func Resume(ctx context.Context, c *rundir.Checkpoint, data *datasets.Pair, opt ResumeOptions) (_ *Result, err error) {
	epochs, runDir, prog := opt.Epochs, opt.RunDir, opt.Progress
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
