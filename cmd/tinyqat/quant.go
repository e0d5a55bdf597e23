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
	"github.com/tinyqat/tinyqat/train"
)

func ptqCmd() *cobra.Command { return quantCmd(true) }
func qatCmd() *cobra.Command { return quantCmd(false) }

// quantCmd is `ptq` (calibrate only) or `qat` (calibrate, then fine-tune).
func quantCmd(ptq bool) *cobra.Command {
	var (
		from, out, data string
		resume, asJSON  bool
		qc              train.QATConfig
		tc              train.Config
	)
	use, short := "qat --from RUN_DIR --bits-w B --bits-a B --epochs N --out DIR", "Quantization-aware fine-tuning of a float run"
	if ptq {
		use, short = "ptq --from RUN_DIR --bits-w B --bits-a B --out DIR", "Post-training quantization: calibrate a float run, no fine-tuning"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out DIR is required")
			}
			if from == "" && !resume {
				return errors.New("--from RUN_DIR (a float training run) is required")
			}
			if qc.ActScheme != "symmetric" && qc.ActScheme != "affine" {
				return fmt.Errorf("--act-scheme must be symmetric or affine, got %q", qc.ActScheme)
			}
			if err := qc.Defaults().Validate(); err != nil {
				return err
			}
			if ptq {
				if tc.Batch < 1 {
					return fmt.Errorf("--batch must be at least 1, got %d", tc.Batch)
				}
			} else if err := checkTrainFlags(tc); err != nil {
				return err
			}
			ckPath := filepath.Join(out, train.CheckpointFile)
			_, statErr := os.Stat(ckPath)
			exists := statErr == nil
			if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
				return statErr
			}
			if exists && !resume {
				return fmt.Errorf("%s already holds a checkpoint; pass --resume to continue it or choose another --out", out)
			}
			if !exists && from == "" {
				return fmt.Errorf("%s holds no checkpoint to resume; --from RUN_DIR (a float training run) is required", out)
			}
			ds, err := datasets.Load(data)
			if err != nil {
				return err
			}
			if err := prepareOut(out); err != nil {
				return err
			}
			prog := train.NewProgress(os.Stdout)
			start := time.Now()
			var res *train.QuantizeResult
			if exists {
				if ptq {
					return fmt.Errorf("%s already holds a checkpoint: PTQ has nothing to resume", out)
				}
				ck, err := train.LoadCheckpoint(ckPath)
				if err != nil {
					return err
				}
				epochs := 0
				if cmd.Flags().Changed("epochs") {
					epochs = tc.Epochs
				}
				if res, err = train.ResumeQAT(cmd.Context(), ck, ds, epochs, out, prog); err != nil {
					return err
				}
			} else {
				ck, err := train.LoadCheckpoint(from)
				if err != nil {
					return err
				}
				if ptq {
					tc.Epochs = 0
				}
				tc.Seed = ck.Config.Seed
				if res, err = train.Quantize(cmd.Context(), ck, ds, qc, tc, out, prog); err != nil {
					return err
				}
			}
			q := res.QAT.Cfg
			result := map[string]any{
				"model": res.Trainer.Model.Arch, "bits_w": q.BitsW, "bits_a": q.BitsA, "observer": q.Observer,
				"estimator": q.Estimator, "act_scheme": q.ActScheme, "test_acc": res.TestAcc,
				"seconds": time.Since(start).Seconds(), "run_dir": out,
			}
			if !exists {
				result["float_test_acc"] = res.FloatAcc
				result["ptq_test_acc"] = res.PTQAcc
			}
			if !ptq {
				result["epochs"] = res.Trainer.Epoch
			}
			if asJSON {
				return printJSON(result)
			}
			prog.Printf("%s W%dA%d test accuracy %.2f%% (fake-quant simulation); checkpoint in %s",
				map[bool]string{true: "PTQ", false: "QAT"}[ptq], q.BitsW, q.BitsA, 100*res.TestAcc, ckPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "float training run directory (or checkpoint file)")
	f.StringVar(&out, "out", "", "output run directory")
	f.StringVar(&data, "data", "", "directory with the four IDX files (default: MNIST from the Go module cache)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	f.IntVar(&qc.BitsW, "bits-w", 8, "weight bits, 2 to 8")
	f.IntVar(&qc.BitsA, "bits-a", 8, "activation bits, 2 to 16")
	f.StringVar(&qc.Observer, "observer", "ema", "activation observer: minmax, ema, percentile or mse")
	f.StringVar(&qc.ActScheme, "act-scheme", "symmetric", "activation quantization: symmetric (int8, Z=0) or affine (uint8 with zero point)")
	f.BoolVar(&qc.PerTensorWeights, "per-tensor-weights", false, "one weight scale per layer instead of per output channel")
	f.IntVar(&qc.CalibBatches, "calib-batches", 32, "training minibatches used for calibration")
	f.BoolVar(&qc.FloatRequant, "float-requant", false, "simulate layer outputs by rounding y/S instead of the runtime's fixed-point requantization (agrees with the runtime only to 1 LSB)")
	f.IntVar(&tc.Batch, "batch", 64, "minibatch size")
	f.IntVar(&tc.TrainLimit, "train-limit", 0, "use only the first N training images (0: all)")
	f.IntVar(&tc.TestLimit, "test-limit", 0, "use only the first N test images (0: all)")
	if !ptq {
		f.BoolVar(&resume, "resume", false, "continue the QAT checkpoint in --out up to --epochs")
		f.IntVar(&tc.Epochs, "epochs", 3, "fine-tuning epochs")
		f.StringVar(&qc.Estimator, "estimator", "clipped", "backward pass: ste, clipped or lsq")
		f.IntVar(&qc.FreezeAfter, "freeze-after", 0, "freeze observers after this many steps (0: one epoch, -1: never)")
		f.Float64Var(&tc.LR, "lr", 1e-3, "base learning rate of the fine-tuning (Adam, cosine to 1/100)")
		f.StringVar(&tc.Optimizer, "optimizer", "adam", "adam or sgd")
		f.StringVar(&tc.Schedule, "schedule", "cosine", "learning-rate schedule: cosine or constant")
	}
	return c
}
