package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
)

func trainCmd() *cobra.Command {
	var (
		arch, out, data string
		resume, asJSON  bool
		cfg             train.Config
	)
	c := &cobra.Command{
		Use:   "train --model lenet300|lenet5 --out RUN_DIR",
		Short: "Train a float32 model (the baseline)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("train: --out RUN_DIR is required")
			}
			if err := checkTrainFlags(cfg); err != nil {
				return err
			}
			ds, err := datasets.Load(data)
			if err != nil {
				return err
			}
			ckPath := filepath.Join(out, train.CheckpointFile)
			var ck *train.Checkpoint
			if _, err := os.Stat(ckPath); err == nil {
				if !resume {
					return fmt.Errorf("train: %s already holds a checkpoint; pass --resume to continue it or choose another --out", out)
				}
				if ck, err = train.LoadCheckpoint(ckPath); err != nil {
					return err
				}
				if ck.Phase != "float" {
					return fmt.Errorf("train: %s holds a %s checkpoint; resume it with its own command", out, ck.Phase)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := prepareOut(out); err != nil {
				return err
			}
			var m *nn.Model
			if ck != nil {
				if ck.Arch != arch && cmd.Flags().Changed("model") {
					return fmt.Errorf("train: %s holds a %s checkpoint, not %s", out, ck.Arch, arch)
				}
				epochs := cfg.Epochs
				cfg = ck.Config
				if cmd.Flags().Changed("epochs") {
					cfg.Epochs = epochs
				}
				if m, err = ck.Model(); err != nil {
					return err
				}
			} else {
				shape := nn.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}
				if m, err = nn.New(arch, shape, ds.Train.Classes, cfg.Seed); err != nil {
					return err
				}
			}
			tr, err := train.NewTrainer(m, ds, cfg)
			if err != nil {
				return err
			}
			if ck != nil {
				if err := tr.Resume(ck); err != nil {
					return err
				}
			}
			tr.RunDir = out
			tr.Progress = train.NewProgress(os.Stdout)
			tr.Progress.Printf("training %s (%d parameters) on %s: %d train / %d test images, %dx%d, %d classes",
				m.Arch, m.NumParams(), ds.Dir, ds.Train.N, ds.Test.N, ds.Train.H, ds.Train.W, ds.Train.Classes)
			start := time.Now()
			startEpoch := tr.Epoch
			if err := tr.Run(cmd.Context()); err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			if asJSON {
				return printJSON(map[string]any{
					"model": m.Arch, "epochs": tr.Epoch, "test_acc": tr.TestAcc, "seconds": secs,
					"seconds_per_epoch": secs / float64(max(1, tr.Epoch-startEpoch)),
					"params":            m.NumParams(), "run_dir": out, "data": ds.Dir,
				})
			}
			tr.Progress.Printf("test accuracy %.2f%% after %d epochs (%.1fs); checkpoint in %s", 100*tr.TestAcc, tr.Epoch, secs, ckPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&arch, "model", "lenet300", "architecture: lenet300 or lenet5")
	f.StringVar(&out, "out", "", "run directory for the checkpoint and metrics.jsonl")
	f.StringVar(&data, "data", "", "directory with the four IDX files (default: MNIST from the Go module cache)")
	f.BoolVar(&resume, "resume", false, "continue the checkpoint in --out up to --epochs")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	addTrainFlags(c, &cfg)
	return c
}

func addTrainFlags(c *cobra.Command, cfg *train.Config) {
	f := c.Flags()
	f.IntVar(&cfg.Epochs, "epochs", 10, "epochs")
	f.IntVar(&cfg.Batch, "batch", 64, "minibatch size")
	f.StringVar(&cfg.Optimizer, "optimizer", "adam", "adam or sgd")
	f.Float64Var(&cfg.LR, "lr", 0, "base learning rate (default 3e-3 for adam, 0.05 for sgd)")
	f.StringVar(&cfg.Schedule, "schedule", "cosine", "learning-rate schedule: cosine or constant")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", 0, "weight decay")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed (initialisation and shuffling)")
	f.IntVar(&cfg.TrainLimit, "train-limit", 0, "use only the first N training images (0: all)")
	f.IntVar(&cfg.TestLimit, "test-limit", 0, "use only the first N test images (0: all)")
}

// checkTrainFlags rejects values that the library would read as "default".
func checkTrainFlags(cfg train.Config) error {
	if cfg.Epochs < 1 {
		return fmt.Errorf("--epochs must be at least 1, got %d", cfg.Epochs)
	}
	if cfg.Batch < 1 {
		return fmt.Errorf("--batch must be at least 1, got %d", cfg.Batch)
	}
	if cfg.LR < 0 || cfg.LR != cfg.LR {
		return fmt.Errorf("--lr: learning rate must be positive and finite, got %v", cfg.LR)
	}
	return nil
}

// prepareOut creates the output directory and checks that it is writable.
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-test*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
