package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/cluster"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

// ClusterModelFile is the packed integer model that `cluster` exports into its run directory.
const ClusterModelFile = "model.tqm"

func clusterCmd() *cobra.Command {
	var (
		from, out, data, arch string
		cacheDir              string
		asJSON, resume        bool
		cc                    cluster.Config
		tc                    rundir.Config
	)
	c := &cobra.Command{
		Use:   "cluster --from RUN_DIR --bits B --epochs N --out DIR [--init linear|density|kmeans++] [--per-channel]",
		Short: "Weight clustering: k-means codebooks of B-bit indices, centroids fine-tuned, exported bit-packed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if out == "" || (from == "" && !resume) {
				return errors.New("cluster: --from RUN_DIR (a float run) and --out DIR are required")
			}
			if err := cc.Defaults().Validate(); err != nil && !resume {
				return err // on --resume, the run's own settings apply
			}
			if tc.Epochs < 0 {
				return fmt.Errorf("--epochs must be ≥ 0, got %d", tc.Epochs)
			}
			if tc.Epochs > 0 {
				if err := checkTrainFlags(cmd, tc); err != nil {
					return err
				}
			} else if tc.Batch < 1 {
				return fmt.Errorf("--batch must be at least 1, got %d", tc.Batch)
			}
			ckPath := filepath.Join(out, rundir.CheckpointFile)
			exists, err := runDirFile("cluster", out, rundir.CheckpointFile)
			if err != nil {
				return err
			}
			if exists && !resume {
				return fmt.Errorf("cluster: %s already holds a checkpoint; pass --resume to continue it (or to export it) or choose another --out", out)
			}
			if !exists && resume {
				return fmt.Errorf("cluster: --resume: %s holds no checkpoint to resume; drop --resume to start a new run there", out)
			}
			if !resume {
				// The run's model file is written after the training: one
				// already there is not this run's and is refused now (it
				// used to be replaced).
				if has, err := runDirFile("cluster", out, ClusterModelFile); err != nil {
					return err
				} else if has {
					return fmt.Errorf("cluster: %s already holds %s; refusing to replace it (choose another --out)", out, ClusterModelFile)
				}
			}
			var res *cluster.Result
			prog := newProgress(os.Stdout)
			start := time.Now()
			if resume {
				// Checked writable and locked before the training, as
				// train and qat --resume do: a read-only run used to train
				// an epoch and then fail to save it.
				finish, err := openRun(out)
				if err != nil {
					return err
				}
				defer func() { finish(false) }()
				if res, err = resumeCluster(cmd, out, data, tc, cc, asJSON); err != nil || res == nil {
					return err
				}
			} else {
				ck, err := rundir.LoadCheckpoint(from)
				if err != nil {
					return err
				}
				if arch != "" && ck.Arch != arch {
					return fmt.Errorf("cluster: %s holds a %s checkpoint, not %s", from, ck.Arch, arch)
				}
				// Refused before any training: export would refuse it after.
				nm, err := ck.Model()
				if err != nil {
					return err
				}
				if err := export.CheckCluster(nm); err != nil {
					return fmt.Errorf("cluster: %s cannot be exported as a codebook model, so it is not clustered: %w", ck.Arch, err)
				}
				ds, err := loadRunData(cmd, data, ck)
				if err != nil {
					return err
				}
				finish, err := openRun(out)
				if err != nil {
					return err
				}
				defer func() { finish(err != nil) }()
				tc.Seed = ck.Config.Seed
				prog.Printf("%s", runSettings(cmd, ck, &tc, "train-limit", "test-limit", "shift", "flip"))
				if res, err = cluster.FineTune(cmd.Context(), ck, ds, cluster.Options{Cluster: cc, Train: tc, RunDir: out, Progress: prog}); err != nil {
					return err
				}
			}
			defer res.Trainer.Close()
			done, err := rundir.LoadCheckpoint(ckPath)
			if err != nil {
				return err
			}
			m, err := export.Export(cmd.Context(), done, infer.W8A8)
			if err != nil {
				return err
			}
			modelPath := filepath.Join(out, ClusterModelFile)
			if err := m.Save(modelPath); err != nil {
				return err
			}
			size, err := infer.FileSize(modelPath)
			if err != nil {
				return err
			}
			cfg := res.Quantizer.Cfg
			// A resumed run did not measure the float model or the clustering
			// before fine-tuning (the first run printed them): say so rather
			// than print zeros.
			var floatAcc, clusterAcc any = res.FloatAcc, res.ClusterAcc
			before := fmt.Sprintf("float %.2f%%, before fine-tuning %.2f%%", 100*res.FloatAcc, 100*res.ClusterAcc)
			if resume {
				floatAcc, clusterAcc = nil, nil
				before = "resumed: the float and before-fine-tuning accuracies are in the first run's output"
			}
			if asJSON {
				return printJSON(map[string]any{"model": res.Trainer.Model.Arch, "bits": cfg.Bits, "bits_a": cfg.BitsA,
					"init": cfg.Init, "per_channel": cfg.PerChannel, "exact": cfg.Exact, "recluster": cfg.Recluster,
					"epochs": res.Trainer.Epoch, "float_test_acc": floatAcc, "cluster_test_acc": clusterAcc,
					"test_acc": res.TestAcc, "precision": m.Precision(), "bytes": size,
					"float32_bytes": 4 * res.Trainer.Model.NumParams(), "model_file": modelPath,
					"seconds": time.Since(start).Seconds(), "run_dir": out, "resumed": resume})
			}
			prog.Printf("clustered %d-bit: test accuracy %.2f%% (%s); %s: %d bytes (%s)",
				cfg.Bits, 100*res.TestAcc, before, modelPath, size, m.Precision())
			return nil
		},
	}
	c.RunE = namedStage("cluster", c.RunE)
	f := c.Flags()
	f.StringVar(&from, "from", "", "float training run directory (or checkpoint file)")
	f.StringVar(&out, "out", "", "output run directory (checkpoint, metrics.jsonl, "+ClusterModelFile+")")
	f.StringVar(&data, "data", "", "dataset directory (default: the float run's data; other data is refused)")
	addCacheFlag(c, &cacheDir)
	f.StringVar(&arch, "model", "", "expected architecture of the checkpoint (an error if it differs)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	f.BoolVar(&resume, "resume", false, "continue the cluster run in --out up to --epochs with its own settings (after a kill or Ctrl-C), and export it")
	f.IntVar(&cc.Bits, "bits", 0, "codebook index bits, 1 to 8 (2 to 256 centroids)")
	f.StringVar(&cc.Init, "init", "linear", "k-means initialisation: linear, density or kmeans++")
	f.BoolVar(&cc.PerChannel, "per-channel", false, "one codebook per output channel instead of per layer")
	f.BoolVar(&cc.Exact, "exact", false, "optimal 1-D k-means (dynamic programming) instead of Lloyd")
	f.BoolVar(&cc.Recluster, "recluster", false, "train float shadow weights and re-cluster them between epochs")
	f.IntVar(&cc.BitsA, "bits-a", 8, "activation bits (uniform), 2 to 8")
	f.Uint64Var(&cc.Seed, "seed", 1, "seed of kmeans++")
	f.IntVar(&tc.Epochs, "epochs", 1, "fine-tuning epochs of the centroids (0: cluster only)")
	f.Float64Var(&tc.LR, "lr", 1e-3, "base learning rate of the fine-tuning (Adam, cosine to 1/100)")
	f.IntVar(&tc.Batch, "batch", 64, "minibatch size")
	f.IntVar(&tc.TrainLimit, "train-limit", 0, "use only the first N training images (0: all; default: the --from run's)")
	f.IntVar(&tc.TestLimit, "test-limit", 0, "use only the first N test images (0: all; default: the --from run's)")
	f.IntVar(&tc.Shift, "shift", 0, shiftHelp+" (default: the --from run's)")
	f.BoolVar(&tc.Flip, "flip", false, "augment: mirror training images left to right with probability ½ (default: the --from run's)")
	return c
}

// resumeCluster continues the cluster run in out (cluster.Resume).
// A run that is complete and exported has nothing to do (res nil); one
// that is complete but lacks its model file is exported again.
func resumeCluster(cmd *cobra.Command, out, data string, tc rundir.Config, cc cluster.Config, asJSON bool) (*cluster.Result, error) {
	ck, err := rundir.LoadCheckpoint(out)
	if err != nil {
		return nil, err
	}
	if ck.Phase != rundir.PhaseCluster {
		return nil, fmt.Errorf("cluster: --resume: %s holds a %s checkpoint, not a cluster run; resume it with its own command", out, ck.Phase)
	}
	_, cl, err := cluster.Load(ck)
	if err != nil {
		return nil, err
	}
	saved, rc := cl.Cfg, ck.Config
	if err := conflicts(cmd, map[string][2]any{
		"bits": {cc.Bits, saved.Bits}, "init": {cc.Init, saved.Init}, "per-channel": {cc.PerChannel, saved.PerChannel},
		"exact": {cc.Exact, saved.Exact}, "recluster": {cc.Recluster, saved.Recluster}, "bits-a": {cc.BitsA, saved.BitsA},
		"seed": {cc.Seed, saved.Seed}, "lr": {tc.LR, rc.LR}, "batch": {tc.Batch, rc.Batch},
		"train-limit": {tc.TrainLimit, rc.TrainLimit}, "test-limit": {tc.TestLimit, rc.TestLimit},
		"shift": {tc.Shift, rc.Shift}, "flip": {tc.Flip, rc.Flip},
	}); err != nil {
		return nil, err
	}
	epochs := 0 // the run's own
	target := rc.Epochs
	if cmd.Flags().Changed("epochs") {
		if tc.Epochs < 1 {
			return nil, fmt.Errorf("--epochs must be at least 1 with --resume, got %d", tc.Epochs)
		}
		epochs, target = tc.Epochs, tc.Epochs
	}
	if _, err := os.Lstat(filepath.Join(out, ClusterModelFile)); err == nil && ck.Epoch >= target {
		return nil, alreadyDone(out, ck.Epoch, target, asJSON)
	}
	ds, err := loadRunData(cmd, data, ck)
	if err != nil {
		return nil, err
	}
	return cluster.Resume(cmd.Context(), ck, ds, cluster.ResumeOptions{Epochs: epochs, RunDir: out, Progress: newProgress(os.Stdout)})
}
