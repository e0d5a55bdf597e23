package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/ste"
)

func ptqCmd() *cobra.Command { return quantCmd(true) }
func qatCmd() *cobra.Command { return quantCmd(false) }

// quantFlags are the flags that ptq, qat and mixed share: the float run
// and the output, the quantization (qc, actScheme) and the training (tc).
type quantFlags struct {
	from, out, data string
	actScheme       string
	asJSON          bool
	cacheDir        string
	qc              qat.Config
	tc              rundir.Config
	dist            distillFlags // qat and mixed
}

// register adds the shared flags to c: those of ptq, and with fineTune
// those of the fine-tuning too (qat, mixed).
func (o *quantFlags) register(c *cobra.Command, fineTune bool) {
	f := c.Flags()
	f.StringVar(&o.from, "from", "", "float training run directory (or checkpoint file)")
	f.StringVar(&o.out, "out", "", "output run directory")
	f.StringVar(&o.data, "data", "", "dataset directory (default: the data the --from run was trained on)")
	addCacheFlag(c, &o.cacheDir)
	f.BoolVar(&o.asJSON, "json", false, "print the result as one JSON line at the end")
	f.IntVar(&o.qc.BitsW, "bits-w", 8, "weight bits, 2 to 8")
	f.IntVar(&o.qc.BitsA, "bits-a", 8, "activation bits, 2 to 16")
	f.StringVar((*string)(&o.qc.Observer), "observer", string(calibrate.KindEMA), "activation observer: minmax, ema, percentile or mse")
	f.StringVar(&o.actScheme, "act-scheme", string(qat.ActSymmetric), "activation quantization: symmetric (signed −(2^(b−1)−1)…2^(b−1)−1, Z=0) or affine (unsigned 0…2^b−1 with a zero point: a ReLU's output gets all 2^b levels, where symmetric leaves it the non-negative 2^(b−1); at 4 bits 16 against 8)")
	f.BoolVar(&o.qc.PerTensorWeights, "per-tensor-weights", false, "one weight scale per layer instead of per output channel")
	f.IntVar(&o.qc.CalibBatches, "calib-batches", 32, "training minibatches used for calibration, at least 1")
	f.BoolVar(&o.qc.FloatRequant, "float-requant", false, "simulate layer outputs by rounding y/S instead of the runtime's fixed-point requantization (agrees with the runtime only to 1 LSB)")
	f.IntVar(&o.tc.Batch, "batch", 64, "minibatch size")
	f.IntVar(&o.tc.TrainLimit, "train-limit", 0, "use only the first N training images (0: all; default: the --from run's)")
	f.IntVar(&o.tc.TestLimit, "test-limit", 0, "use only the first N test images (0: all; default: the --from run's)")
	f.Uint64Var(&o.tc.Seed, "seed", 0, "random seed of the calibration batches, the fine-tuning's shuffling and augmentation (mixed: and of the sensitivity pass); a second seed of a run measures its spread without a second float run (default: the --from run's)")
	o.qc.Estimator = ste.KindClipped // ptq has no backward pass; the value only passes validation
	if !fineTune {
		return
	}
	f.IntVar(&o.tc.Epochs, "epochs", 3, "fine-tuning epochs")
	f.StringVar((*string)(&o.qc.Estimator), "estimator", string(ste.KindClipped), "backward pass: ste, clipped or lsq")
	f.IntVar(&o.qc.FreezeAfter, "freeze-after", 0, "freeze observers after this many steps; 0 means one epoch, -1 never")
	f.IntVar(&o.qc.FreezeBNAfter, "freeze-bn-after", 0, "switch batch normalization to its running statistics (frozen, folded as the runtime runs it) after this many steps; 0 means one epoch, -1 never")
	f.Float64Var(&o.tc.LR, "lr", 1e-3, "base learning rate of the fine-tuning (Adam, cosine to 1/100)")
	f.StringVar((*string)(&o.tc.Optimizer), "optimizer", string(rundir.Adam), "adam or sgd")
	f.StringVar((*string)(&o.tc.Schedule), "schedule", string(rundir.Cosine), "learning-rate schedule: cosine or constant")
	f.IntVar(&o.tc.Shift, "shift", 0, shiftHelp+" (default: the --from run's)")
	f.BoolVar(&o.tc.Flip, "flip", false, "augment: mirror training images left to right with probability ½ (default: the --from run's)")
	o.dist.register(c, true)
}

// quantOptions are the flags of ptq and qat.
type quantOptions struct {
	ptq      bool // ptq: calibrate only
	resume   bool
	endsBits int    // --ends-bits: bits of the model's two ends (qat.EndSlots)
	slotBits string // --slot-bits: NAME=B,… for single slots
	quantFlags
}

// quantCmd is `ptq` (calibrate only) or `qat` (calibrate, then fine-tune).
func quantCmd(ptq bool) *cobra.Command {
	o := &quantOptions{ptq: ptq}
	use, short := "qat --from RUN_DIR --bits-w B --bits-a B --epochs N --out DIR", "Quantization-aware fine-tuning of a float run"
	if ptq {
		use, short = "ptq --from RUN_DIR --bits-w B --bits-a B --out DIR", "Post-training quantization: calibrate a float run, no fine-tuning"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	c.RunE = namedStage(strings.Fields(use)[0], c.RunE)
	o.register(c, !ptq)
	c.Flags().IntVar(&o.endsBits, "ends-bits", 0, "bit-width of the model's two ends: the input and first layer's weight, the last layer's weight and output (as LSQ keeps them at 8 bits); 0: --bits-w and --bits-a like every other slot")
	c.Flags().StringVar(&o.slotBits, "slot-bits", "", "bit-widths of single slots, NAME=B,… (names as in conv1.weight, fc.out, input; a wrong name lists them); applied after --ends-bits")
	if !ptq {
		c.Flags().BoolVar(&o.resume, "resume", false, "continue the QAT checkpoint in --out up to --epochs, with the run's own settings")
	}
	return c
}

// run runs ptq or qat: a new run from --from, or the resume of the run in
// --out.
func (o *quantOptions) run(cmd *cobra.Command) (err error) {
	exists, err := o.check(cmd)
	if err != nil {
		return err
	}
	// A new run reads its input (the float run and its data) before
	// creating --out, so a failure or a kill while loading leaves nothing
	// behind.
	var ck *rundir.Checkpoint
	var ds *datasets.Pair
	if !exists {
		if ck, err = rundir.LoadCheckpoint(o.from); err != nil {
			return err
		}
		if err := o.applySlotBits(ck); err != nil {
			return err
		}
		if !o.ptq {
			if o.tc.Distill, err = o.dist.config(cmd, o.from); err != nil {
				return err
			}
		}
		if ds, err = loadRunData(cmd, o.data, ck); err != nil {
			return err
		}
	}
	finish, err := openRun(o.out)
	if err != nil {
		return err
	}
	defer func() { finish(err != nil) }()
	if exists {
		var done bool
		if ck, ds, done, err = o.loadResume(cmd); err != nil || done {
			return err
		}
	}
	prog := newProgress(os.Stdout)
	start := time.Now()
	res, err := o.quantize(cmd, ck, ds, exists, prog)
	if err != nil {
		return err
	}
	defer res.Trainer.Close()
	if o.asJSON {
		return printJSON(o.result(res, ds, exists, time.Since(start)))
	}
	q := res.Quantizer.Cfg
	mixed := ""
	if q.Mixed() {
		mixed = " (" + export.SlotBitsString(q.SlotBits) + ")"
	}
	prog.Printf("%s W%dA%d%s test accuracy %.2f%% (fake-quant simulation); checkpoint in %s",
		map[bool]string{true: "PTQ", false: "QAT"}[o.ptq], q.BitsW, q.BitsA, mixed, 100*res.TestAcc, filepath.Join(o.out, rundir.CheckpointFile))
	return nil
}

// check validates the flags as given (zero is not a default) and reports
// whether --out holds a checkpoint to resume.
func (o *quantOptions) check(cmd *cobra.Command) (exists bool, err error) {
	if o.out == "" {
		return false, errors.New("--out DIR is required")
	}
	if o.from == "" && !o.resume {
		return false, errors.New("--from RUN_DIR (a float training run) is required")
	}
	o.qc.ActScheme = qat.ActScheme(o.actScheme)
	if err := o.qc.Validate(); err != nil {
		return false, err
	}
	if o.endsBits != 0 && (o.endsBits < 2 || o.endsBits > 8) {
		return false, fmt.Errorf("--ends-bits must be 0 or in [2, 8], got %d", o.endsBits)
	}
	if o.ptq {
		if o.tc.Batch < 1 {
			return false, fmt.Errorf("--batch must be at least 1, got %d", o.tc.Batch)
		}
	} else if err := checkTrainFlags(cmd, o.tc); err != nil {
		return false, err
	}
	if exists, err = runDirFile(cmd.Name(), o.out, rundir.CheckpointFile); err != nil {
		return false, err
	}
	switch {
	case exists && !o.resume && o.ptq:
		return false, fmt.Errorf("ptq: %s already holds a checkpoint; choose another --out", o.out)
	case exists && !o.resume:
		return false, fmt.Errorf("qat: %s already holds a checkpoint; pass --resume to continue it or choose another --out", o.out)
	case !exists && o.from == "":
		return false, fmt.Errorf("%s: %s holds no checkpoint to resume; --from RUN_DIR (a float training run) is required", cmd.Name(), o.out)
	case exists && o.ptq:
		return false, fmt.Errorf("ptq: %s already holds a checkpoint: PTQ has nothing to resume", o.out)
	}
	return exists, nil
}

// loadResume loads the run in --out to resume and its data; done when
// the run already has its epochs (alreadyDone has reported it).
func (o *quantOptions) loadResume(cmd *cobra.Command) (ck *rundir.Checkpoint, ds *datasets.Pair, done bool, err error) {
	if ck, err = rundir.LoadCheckpoint(filepath.Join(o.out, rundir.CheckpointFile)); err != nil {
		return nil, nil, false, err
	}
	if ck.Phase != rundir.PhaseQAT {
		// As cluster --resume says it ("the checkpoint is a float model;
		// run ptq or qat first" did not name the run).
		hint := "resume it with its own command"
		if ck.Phase == rundir.PhasePTQ {
			hint = "PTQ has nothing to resume"
		}
		return nil, nil, false, fmt.Errorf("qat: --resume: %s holds a %s checkpoint, not a qat run; %s", o.out, ck.Phase, hint)
	}
	if err := checkResumeFlags(cmd, ck, o.qc, o.tc); err != nil {
		return nil, nil, false, err
	}
	for _, f := range []string{"ends-bits", "slot-bits"} {
		if cmd.Flags().Changed(f) {
			return nil, nil, false, fmt.Errorf("--%s with --resume: a resumed run keeps the per-slot bit-widths it started with", f)
		}
	}
	if err := o.dist.conflicts(cmd, ck, o.from); err != nil {
		return nil, nil, false, err
	}
	if o.from != "" {
		// The run continues from its own checkpoint; a --from of another
		// network would be ignored silently.
		fck, err := rundir.LoadCheckpoint(o.from)
		if err != nil {
			return nil, nil, false, err
		}
		if fck.Arch != ck.Arch || fck.Spec != ck.Spec || fck.In != ck.In || fck.Classes != ck.Classes {
			return nil, nil, false, fmt.Errorf("--from %s is a run of %s, the run being resumed in %s is a run of %s: a resumed run continues from its own checkpoint (drop --from)", o.from, fck.Arch, o.out, ck.Arch)
		}
	}
	target := ck.Config.Epochs
	if cmd.Flags().Changed("epochs") {
		target = o.tc.Epochs
	}
	if ck.Epoch >= target {
		return nil, nil, true, alreadyDone(o.out, ck.Epoch, target, o.asJSON)
	}
	if err := teacherThere(ck); err != nil {
		return nil, nil, false, err
	}
	if ds, err = loadRunData(cmd, o.data, ck); err != nil {
		return nil, nil, false, err
	}
	return ck, ds, false, nil
}

// quantize runs the pipeline: the resume of the run in --out (exists),
// PTQ or QAT from the float checkpoint ck.
func (o *quantOptions) quantize(cmd *cobra.Command, ck *rundir.Checkpoint, ds *datasets.Pair, exists bool, prog *progress) (*qat.Result, error) {
	if exists {
		epochs := 0 // the run's own
		if cmd.Flags().Changed("epochs") {
			epochs = o.tc.Epochs
		}
		if line := distillLine(ck.Config.Distill); line != "" {
			prog.Printf("%s", line)
		}
		return qat.Resume(cmd.Context(), ck, ds, qat.ResumeOptions{Epochs: epochs, RunDir: o.out, Progress: prog})
	}
	settings := []string{"train-limit", "test-limit", "seed"}
	if !o.ptq {
		settings = append(settings, "shift", "flip")
	}
	prog.Printf("%s", runSettings(cmd, ck, &o.tc, settings...))
	if line := distillLine(o.tc.Distill); line != "" {
		prog.Printf("%s", line)
	}
	opt := qat.Options{Quant: o.qc, Train: o.tc, RunDir: o.out, Progress: prog}
	if o.ptq {
		return qat.PTQ(cmd.Context(), ck, ds, opt)
	}
	return qat.Quantize(cmd.Context(), ck, ds, opt)
}

// applySlotBits sets the per-slot bit-widths of --ends-bits and
// --slot-bits on the quantization config, checked against the model of
// the float run ck.
func (o *quantOptions) applySlotBits(ck *rundir.Checkpoint) error {
	if o.endsBits == 0 && o.slotBits == "" {
		return nil
	}
	m, err := ck.Model()
	if err != nil {
		return err
	}
	if o.endsBits != 0 {
		if o.qc, err = o.qc.WithSlotBits(m, o.endsBits, qat.EndSlots(m)...); err != nil {
			return fmt.Errorf("--ends-bits %d: %w", o.endsBits, err)
		}
	}
	if o.slotBits == "" {
		return nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(o.slotBits, ",") {
		name, val, ok := strings.Cut(item, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		b, err := strconv.Atoi(val)
		if !ok || name == "" || err != nil {
			return fmt.Errorf("--slot-bits: %q is not NAME=BITS (for example conv1.weight=8)", item)
		}
		if seen[name] {
			return fmt.Errorf("--slot-bits: %s is given twice", name)
		}
		seen[name] = true
		if o.qc, err = o.qc.WithSlotBits(m, b, name); err != nil {
			return fmt.Errorf("--slot-bits %s: %w", strings.TrimSpace(item), err)
		}
	}
	return nil
}

// result is the command's JSON result.
func (o *quantOptions) result(res *qat.Result, ds *datasets.Pair, exists bool, took time.Duration) map[string]any {
	q := res.Quantizer.Cfg
	result := map[string]any{
		"model": res.Trainer.Model.Arch, "phase": res.Trainer.Phase, "scheme": fmt.Sprintf("W%dA%d", q.BitsW, q.BitsA),
		"bits_w": q.BitsW, "bits_a": q.BitsA, "act_scheme": q.ActScheme, "per_tensor_weights": q.PerTensorWeights,
		"observer": q.Observer, "calib_batches": q.CalibBatches, "test_acc": res.TestAcc,
		"seconds": took.Seconds(), "run_dir": o.out, "data": ds.Dir,
	}
	if q.Mixed() {
		// Per-slot bit-widths: the scheme alone would not tell this run
		// from a uniform one.
		result["slot_bits"] = q.SlotBits
		result["scheme"] = fmt.Sprintf("W%dA%d, %d slots of their own bit-width", q.BitsW, q.BitsA, len(q.SlotBits))
	}
	if !exists {
		result["float_test_acc"] = res.FloatAcc
		result["ptq_test_acc"] = res.PTQAcc
	}
	if !o.ptq {
		// Only fine-tuning has a backward pass and a schedule.
		result["estimator"] = q.Estimator
		result["freeze_after"] = q.FreezeAfter
		result["freeze_bn_after"] = q.FreezeBNAfter
		result["epochs"] = res.Trainer.Epoch
		if d := res.Trainer.Cfg.Distill; d != nil {
			result["distill"] = d
		}
	}
	return result
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
		"shift": {tc.Shift, rc.Shift}, "flip": {tc.Flip, rc.Flip}, "seed": {tc.Seed, rc.Seed},
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
