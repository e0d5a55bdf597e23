package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

func ptqCmd() *cobra.Command { return quantCmd(true) }
func qatCmd() *cobra.Command { return quantCmd(false) }

// quantCmd is `ptq` (calibrate only) or `qat` (calibrate, then fine-tune).
func quantCmd(ptq bool) *cobra.Command {
	var (
		from, out, data string
		actScheme       string
		resume, asJSON  bool
		cacheDir        string
		qc              qat.Config
		tc              rundir.Config
	)
	use, short := "qat --from RUN_DIR --bits-w B --bits-a B --epochs N --out DIR", "Quantization-aware fine-tuning of a float run"
	if ptq {
		use, short = "ptq --from RUN_DIR --bits-w B --bits-a B --out DIR", "Post-training quantization: calibrate a float run, no fine-tuning"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if out == "" {
				return errors.New("--out DIR is required")
			}
			if from == "" && !resume {
				return errors.New("--from RUN_DIR (a float training run) is required")
			}
			qc.ActScheme = qat.ActScheme(actScheme)
			// Every flag is validated as given: zero is not a default.
			if err := qc.Validate(); err != nil {
				return err
			}
			if ptq {
				if tc.Batch < 1 {
					return fmt.Errorf("--batch must be at least 1, got %d", tc.Batch)
				}
			} else if err := checkTrainFlags(cmd, tc); err != nil {
				return err
			}
			ckPath := filepath.Join(out, rundir.CheckpointFile)
			_, statErr := os.Stat(ckPath)
			exists := statErr == nil
			if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
				return statErr
			}
			if exists && !resume {
				if ptq {
					return fmt.Errorf("ptq: %s already holds a checkpoint; choose another --out", out)
				}
				return fmt.Errorf("qat: %s already holds a checkpoint; pass --resume to continue it or choose another --out", out)
			}
			if !exists && from == "" {
				return fmt.Errorf("%s: %s holds no checkpoint to resume; --from RUN_DIR (a float training run) is required", cmd.Name(), out)
			}
			if exists && ptq {
				return fmt.Errorf("ptq: %s already holds a checkpoint: PTQ has nothing to resume", out)
			}
			// A new run reads its input (the float run and its data)
			// before creating --out, so a failure or a kill while loading
			// leaves nothing behind.
			var ck *rundir.Checkpoint
			var ds *datasets.Pair
			if !exists {
				if ck, err = rundir.LoadCheckpoint(from); err != nil {
					return err
				}
				if ds, err = loadRunData(cmd, data, ck); err != nil {
					return err
				}
			}
			finish, err := openRun(out)
			if err != nil {
				return err
			}
			defer func() { finish(err != nil) }()
			if exists {
				if ck, err = rundir.LoadCheckpoint(ckPath); err != nil {
					return err
				}
				if err := checkResumeFlags(cmd, ck, qc, tc); err != nil {
					return err
				}
				if from != "" {
					// The run continues from its own checkpoint; a --from
					// of another network would be ignored silently.
					fck, err := rundir.LoadCheckpoint(from)
					if err != nil {
						return err
					}
					if fck.Arch != ck.Arch || fck.Spec != ck.Spec || fck.In != ck.In || fck.Classes != ck.Classes {
						return fmt.Errorf("--from %s is a run of %s, the run being resumed in %s is a run of %s: a resumed run continues from its own checkpoint (drop --from)", from, fck.Arch, out, ck.Arch)
					}
				}
				target := ck.Config.Epochs
				if cmd.Flags().Changed("epochs") {
					target = tc.Epochs
				}
				if ck.Epoch >= target {
					return alreadyDone(out, ck.Epoch, target, asJSON)
				}
				if ds, err = loadRunData(cmd, data, ck); err != nil {
					return err
				}
			}
			prog := newProgress(os.Stdout)
			start := time.Now()
			var res *qat.Result
			if !exists {
				settings := []string{"train-limit", "test-limit"}
				if !ptq {
					settings = append(settings, "shift", "flip")
				}
				prog.Printf("%s", runSettings(cmd, ck, &tc, settings...))
			}
			switch {
			case exists:
				epochs := 0 // the run's own
				if cmd.Flags().Changed("epochs") {
					epochs = tc.Epochs
				}
				res, err = qat.Resume(cmd.Context(), ck, ds, qat.ResumeOptions{Epochs: epochs, RunDir: out, Progress: prog})
			case ptq:
				tc.Seed = ck.Config.Seed
				res, err = qat.PTQ(cmd.Context(), ck, ds, qat.Options{Quant: qc, Train: tc, RunDir: out, Progress: prog})
			default:
				tc.Seed = ck.Config.Seed
				res, err = qat.Quantize(cmd.Context(), ck, ds, qat.Options{Quant: qc, Train: tc, RunDir: out, Progress: prog})
			}
			if err != nil {
				return err
			}
			defer res.Trainer.Close()
			q := res.Quantizer.Cfg
			scheme := fmt.Sprintf("W%dA%d", q.BitsW, q.BitsA)
			result := map[string]any{
				"model": res.Trainer.Model.Arch, "phase": res.Trainer.Phase, "scheme": scheme,
				"bits_w": q.BitsW, "bits_a": q.BitsA, "act_scheme": q.ActScheme, "per_tensor_weights": q.PerTensorWeights,
				"observer": q.Observer, "calib_batches": q.CalibBatches, "test_acc": res.TestAcc,
				"seconds": time.Since(start).Seconds(), "run_dir": out, "data": ds.Dir,
			}
			if !exists {
				result["float_test_acc"] = res.FloatAcc
				result["ptq_test_acc"] = res.PTQAcc
			}
			if !ptq {
				// Only fine-tuning has a backward pass and a schedule.
				result["estimator"] = q.Estimator
				result["freeze_after"] = q.FreezeAfter
				result["freeze_bn_after"] = q.FreezeBNAfter
				result["epochs"] = res.Trainer.Epoch
			}
			if asJSON {
				return printJSON(result)
			}
			prog.Printf("%s %s test accuracy %.2f%% (fake-quant simulation); checkpoint in %s",
				map[bool]string{true: "PTQ", false: "QAT"}[ptq], scheme, 100*res.TestAcc, ckPath)
			return nil
		},
	}
	c.RunE = namedStage(strings.Fields(use)[0], c.RunE)
	f := c.Flags()
	f.StringVar(&from, "from", "", "float training run directory (or checkpoint file)")
	f.StringVar(&out, "out", "", "output run directory")
	f.StringVar(&data, "data", "", "dataset directory (default: the data the --from run was trained on)")
	addCacheFlag(c, &cacheDir)
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	f.IntVar(&qc.BitsW, "bits-w", 8, "weight bits, 2 to 8")
	f.IntVar(&qc.BitsA, "bits-a", 8, "activation bits, 2 to 16")
	f.StringVar(&qc.Observer, "observer", "ema", "activation observer: minmax, ema, percentile or mse")
	f.StringVar(&actScheme, "act-scheme", string(qat.ActSymmetric), "activation quantization: symmetric (int8, Z=0) or affine (uint8 with zero point)")
	f.BoolVar(&qc.PerTensorWeights, "per-tensor-weights", false, "one weight scale per layer instead of per output channel")
	f.IntVar(&qc.CalibBatches, "calib-batches", 32, "training minibatches used for calibration, at least 1")
	f.BoolVar(&qc.FloatRequant, "float-requant", false, "simulate layer outputs by rounding y/S instead of the runtime's fixed-point requantization (agrees with the runtime only to 1 LSB)")
	f.IntVar(&tc.Batch, "batch", 64, "minibatch size")
	f.IntVar(&tc.TrainLimit, "train-limit", 0, "use only the first N training images (0: all; default: the --from run's)")
	f.IntVar(&tc.TestLimit, "test-limit", 0, "use only the first N test images (0: all; default: the --from run's)")
	qc.Estimator = "clipped" // ptq has no backward pass; the value only passes validation
	if !ptq {
		f.BoolVar(&resume, "resume", false, "continue the QAT checkpoint in --out up to --epochs, with the run's own settings")
		f.IntVar(&tc.Epochs, "epochs", 3, "fine-tuning epochs")
		f.StringVar(&qc.Estimator, "estimator", "clipped", "backward pass: ste, clipped or lsq")
		f.IntVar(&qc.FreezeAfter, "freeze-after", 0, "freeze observers after this many steps; 0 means one epoch, -1 never")
		f.IntVar(&qc.FreezeBNAfter, "freeze-bn-after", 0, "switch batch normalization to its running statistics (frozen, folded as the runtime runs it) after this many steps; 0 means one epoch, -1 never")
		f.Float64Var(&tc.LR, "lr", 1e-3, "base learning rate of the fine-tuning (Adam, cosine to 1/100)")
		f.StringVar((*string)(&tc.Optimizer), "optimizer", string(rundir.Adam), "adam or sgd")
		f.StringVar((*string)(&tc.Schedule), "schedule", string(rundir.Cosine), "learning-rate schedule: cosine or constant")
		f.IntVar(&tc.Shift, "shift", 0, shiftHelp+" (default: the --from run's)")
		f.BoolVar(&tc.Flip, "flip", false, "augment: mirror training images left to right with probability ½ (default: the --from run's)")
	}
	return c
}

// checkResumeFlags refuses flags given with --resume that contradict the
// run's saved settings: a resumed run continues with its own, and silently
// ignoring --bits-w 8 on a W4A8 run would mislead.
func checkResumeFlags(cmd *cobra.Command, ck *rundir.Checkpoint, qc qat.Config, tc rundir.Config) error {
	_, q, err := qat.Load(ck)
	if err != nil {
		return err
	}
	saved, rc := q.Cfg, ck.Config
	check := map[string][2]any{
		"bits-w": {qc.BitsW, saved.BitsW}, "bits-a": {qc.BitsA, saved.BitsA}, "observer": {qc.Observer, saved.Observer},
		"act-scheme": {qc.ActScheme, saved.ActScheme}, "per-tensor-weights": {qc.PerTensorWeights, saved.PerTensorWeights},
		"calib-batches": {qc.CalibBatches, saved.CalibBatches}, "float-requant": {qc.FloatRequant, saved.FloatRequant},
		"estimator": {qc.Estimator, saved.Estimator}, "freeze-after": {qc.FreezeAfter, saved.FreezeAfter},
		"freeze-bn-after": {qc.FreezeBNAfter, saved.FreezeBNAfter},
		"batch":           {tc.Batch, rc.Batch}, "train-limit": {tc.TrainLimit, rc.TrainLimit}, "test-limit": {tc.TestLimit, rc.TestLimit},
		"lr": {tc.LR, rc.LR}, "optimizer": {tc.Optimizer, rc.Optimizer}, "schedule": {tc.Schedule, rc.Schedule},
		"shift": {tc.Shift, rc.Shift}, "flip": {tc.Flip, rc.Flip},
	}
	return conflicts(cmd, check)
}

// conflicts reports the first flag (in flag order) that was given and
// differs from the run's value.
func conflicts(cmd *cobra.Command, check map[string][2]any) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v, ok := check[f.Name]
		if err != nil || !ok || fmt.Sprint(v[0]) == fmt.Sprint(v[1]) {
			return
		}
		err = fmt.Errorf("--%s %v conflicts with the run being resumed, which has %v; a resumed run keeps its settings (drop the flag, or start a new run with another --out)", f.Name, v[0], v[1])
	})
	return err
}
