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
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// trainOptions are the flags of train.
type trainOptions struct {
	arch, out, data string
	specFile        string
	classes         int
	resume, asJSON  bool
	printSpec       bool
	cfg             rundir.Config
	rf              recipeFlags
	dist            distillFlags
}

func trainCmd() *cobra.Command {
	o := &trainOptions{}
	c := &cobra.Command{
		Use:   "train --model NAME|--spec FILE.json --out RUN_DIR",
		Short: "Train a float32 model (the baseline)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	// "train: shift must be in [0, 8]", not "rundir: …", as ptq and qat say.
	c.RunE = namedStage("train", c.RunE)
	f := c.Flags()
	f.StringVar(&o.arch, "model", "lenet300", "architecture: "+strings.Join(nn.Architectures, ", "))
	f.StringVar(&o.specFile, "spec", "", "a user architecture: the JSON of nn.Model.Spec (instead of --model)")
	f.StringVar(&o.out, "out", "", "run directory for the checkpoint and metrics.jsonl")
	f.StringVar(&o.data, "data", "", "dataset directory: four IDX files, image folders (DIR/{train,test}/CLASS/*.png|jpg) or CIFAR-10 binaries (default: MNIST from the Go module cache; on --resume, the run's data)")
	f.IntVar(&o.classes, "classes", 0, "class count (default: from the labels, when training and test labels both cover 0…K−1)")
	f.BoolVar(&o.resume, "resume", false, "continue the checkpoint in --out up to --epochs, with the run's own settings")
	f.BoolVar(&o.asJSON, "json", false, "print the result as one JSON line at the end")
	f.BoolVar(&o.printSpec, "print-spec", false, "print the architecture as --spec JSON and exit, training nothing: of the run in --out, of --model (for the data's shape) or of --spec")
	addTrainFlags(c, &o.cfg)
	addRecipeFlags(c, &o.cfg, &o.rf)
	o.dist.register(c, false)
	return c
}

// run trains a new float run in --out, or resumes the one there.
func (o *trainOptions) run(cmd *cobra.Command) (err error) {
	if err := o.rf.apply(&o.cfg); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if o.printSpec {
		if o.specFile != "" && cmd.Flags().Changed("model") {
			return errors.New("train: give --model NAME or --spec FILE.json, not both")
		}
		return printArchitecture(o.arch, o.specFile, o.out, o.data, o.dataOptions(), o.cfg.Seed, cmd.Flags().Changed("model"))
	}
	spec, exists, err := o.check(cmd)
	if err != nil {
		return err
	}
	var ds *datasets.Pair
	if !exists {
		// Read the input before creating --out: a failure or a kill
		// while loading leaves nothing behind.
		if o.cfg.Distill, err = o.dist.config(cmd, ""); err != nil {
			return err
		}
		if ds, err = loadDataWith(o.data, o.dataOptions()); err != nil {
			return err
		}
	}
	finish, err := openRun(o.out)
	if err != nil {
		return err
	}
	defer func() { finish(err != nil) }()
	var ck *rundir.Checkpoint
	if exists {
		var done bool
		if ck, ds, done, err = o.loadResume(cmd, spec); err != nil || done {
			return err
		}
	}
	m, err := o.model(cmd, ck, spec, ds)
	if err != nil {
		return err
	}
	tr, err := train.NewTrainer(m, ds, o.cfg)
	if err != nil {
		return err
	}
	defer tr.Close()
	if ck != nil {
		if err := tr.Resume(ck); err != nil {
			return err
		}
	}
	tr.RunDir = o.out
	prog := newProgress(os.Stdout)
	tr.Progress = prog
	// The counts used: --train-limit and --test-limit apply.
	prog.Printf("training %s (%d parameters) on %s: %d train / %d test images, %dx%dx%d, %d classes%s",
		m.Arch, m.NumParams(), ds.Dir, ds.Train.Subset(tr.Cfg.TrainLimit).N, ds.Test.Subset(tr.Cfg.TestLimit).N,
		ds.Train.C, ds.Train.H, ds.Train.W, ds.Train.Classes, recipeLine(tr.Cfg))
	if line := distillLine(tr.Cfg.Distill); line != "" {
		prog.Printf("%s", line)
	}
	start := time.Now()
	startEpoch := tr.Epoch
	if err := tr.Run(cmd.Context()); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if o.asJSON {
		result := map[string]any{
			"model": m.Arch, "epochs": tr.Epoch, "test_acc": tr.TestAcc, "seconds": secs,
			"seconds_per_epoch": secs / float64(max(1, tr.Epoch-startEpoch)),
			"params":            m.NumParams(), "run_dir": o.out, "data": ds.Dir, "classes": m.Classes,
		}
		if d := tr.Cfg.Distill; d != nil {
			result["distill"] = d
		}
		return printJSON(result)
	}
	prog.Printf("test accuracy %.2f%% after %d epoch%s (%.1fs); checkpoint in %s", 100*tr.TestAcc, tr.Epoch, plural(tr.Epoch), secs, filepath.Join(o.out, rundir.CheckpointFile))
	return nil
}

// dataOptions are the options the run's data is read with.
func (o *trainOptions) dataOptions() datasets.Options {
	return datasets.Options{Classes: o.classes, ResizeH: o.cfg.ResizeH, ResizeW: o.cfg.ResizeW, CacheDir: o.rf.cacheDir}
}

// check validates the flags, reads a --spec architecture (before
// anything else, so a bad file costs nothing) and reports whether --out
// holds a checkpoint to resume.
func (o *trainOptions) check(cmd *cobra.Command) (spec []byte, exists bool, err error) {
	if o.out == "" {
		return nil, false, errors.New("train: --out RUN_DIR is required")
	}
	if err := checkTrainFlags(cmd, o.cfg); err != nil {
		return nil, false, err
	}
	if o.classes < 0 || o.classes == 1 || o.classes > 256 {
		return nil, false, fmt.Errorf("train: --classes must be in [2, 256], got %d", o.classes)
	}
	if o.specFile != "" && cmd.Flags().Changed("model") {
		return nil, false, errors.New("train: give --model NAME or --spec FILE.json, not both")
	}
	if o.specFile != "" {
		if spec, err = readSpec(o.specFile, o.cfg.Seed); err != nil {
			return nil, false, err
		}
	}
	if exists, err = runDirFile("train", o.out, rundir.CheckpointFile); err != nil {
		return nil, false, err
	}
	if exists && !o.resume {
		return nil, false, fmt.Errorf("train: %s already holds a checkpoint; pass --resume to continue it or choose another --out", o.out)
	}
	if !exists && o.resume {
		return nil, false, fmt.Errorf("train: --resume: %s holds no checkpoint to resume (a mistyped --out?); drop --resume to start a new run there", o.out)
	}
	return spec, exists, nil
}

// loadResume loads the float run in --out, refuses flags that contradict
// its settings and loads its data; done when the run already has its
// epochs (alreadyDone has reported it).
func (o *trainOptions) loadResume(cmd *cobra.Command, spec []byte) (ck *rundir.Checkpoint, ds *datasets.Pair, done bool, err error) {
	if ck, err = rundir.LoadCheckpoint(filepath.Join(o.out, rundir.CheckpointFile)); err != nil {
		return nil, nil, false, err
	}
	if ck.Phase != rundir.PhaseFloat {
		return nil, nil, false, fmt.Errorf("train: %s holds a %s checkpoint; resume it with its own command", o.out, ck.Phase)
	}
	cfg := o.cfg
	if err := conflicts(cmd, map[string][2]any{
		"model": {o.arch, ck.Arch}, "classes": {o.classes, ck.Classes}, "batch": {cfg.Batch, ck.Config.Batch},
		"optimizer": {cfg.Optimizer, ck.Config.Optimizer}, "lr": {cfg.LR, ck.Config.LR}, "schedule": {cfg.Schedule, ck.Config.Schedule},
		"weight-decay": {cfg.WeightDecay, ck.Config.WeightDecay}, "seed": {cfg.Seed, ck.Config.Seed},
		"train-limit": {cfg.TrainLimit, ck.Config.TrainLimit}, "test-limit": {cfg.TestLimit, ck.Config.TestLimit}, "shift": {cfg.Shift, ck.Config.Shift},
		"flip": {cfg.Flip, ck.Config.Flip}, "normalize": {cfg.Normalize, ck.Config.Normalize},
		"mean": {cfg.Mean, ck.Config.Mean}, "std": {cfg.Std, ck.Config.Std},
		"resize": {fmt.Sprintf("%dx%d", cfg.ResizeH, cfg.ResizeW), fmt.Sprintf("%dx%d", ck.Config.ResizeH, ck.Config.ResizeW)},
	}); err != nil {
		return nil, nil, false, err
	}
	if err := o.dist.conflicts(cmd, ck, ""); err != nil {
		return nil, nil, false, err
	}
	if spec != nil {
		if err := sameSpec(o.specFile, spec, ck); err != nil {
			return nil, nil, false, err
		}
	}
	target := ck.Config.Epochs
	if cmd.Flags().Changed("epochs") {
		target = cfg.Epochs
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

// model is the network to train: the resumed run's (whose settings then
// replace the flags', but for --epochs), the --spec architecture or
// --model's.
func (o *trainOptions) model(cmd *cobra.Command, ck *rundir.Checkpoint, spec []byte, ds *datasets.Pair) (*nn.Model, error) {
	switch {
	case ck != nil:
		epochs := o.cfg.Epochs
		o.cfg = ck.Config
		if cmd.Flags().Changed("epochs") {
			o.cfg.Epochs = epochs
		}
		return ck.Model()
	case spec != nil:
		return specModel(o.specFile, spec, o.cfg.Seed, ds)
	default:
		return nn.New(o.arch, nn.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}, ds.Train.Classes, o.cfg.Seed)
	}
}

// printArchitecture writes to stdout the architecture JSON (nn.Model.Spec)
// of the run in out if it holds a checkpoint, else of the --spec file, else
// of the built-in model for the data's shape and classes: a starting point
// to edit and train with --spec. It creates nothing.
func printArchitecture(arch, specFile, out, data string, o datasets.Options, seed uint64, modelGiven bool) error {
	var m *nn.Model
	if out != "" {
		if specFile != "" || modelGiven {
			return errors.New("train: --print-spec prints the run in --out, or --model, or --spec: give one")
		}
		ckPath := filepath.Join(out, rundir.CheckpointFile)
		if _, err := os.Stat(ckPath); err != nil {
			return fmt.Errorf("train: --print-spec: %s holds no run (no %s)", out, rundir.CheckpointFile)
		}
		ck, err := rundir.LoadCheckpoint(ckPath)
		if err != nil {
			return err
		}
		if m, err = ck.Model(); err != nil {
			return err
		}
	} else if specFile != "" {
		spec, err := readSpec(specFile, seed)
		if err != nil {
			return err
		}
		if m, err = nn.FromSpec(spec, seed); err != nil {
			return err
		}
	} else {
		ds, err := loadDataWith(data, o)
		if err != nil {
			return err
		}
		if m, err = nn.New(arch, nn.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}, ds.Train.Classes, seed); err != nil {
			return err
		}
	}
	b, err := m.Spec()
	if err != nil {
		return fmt.Errorf("train: --print-spec: %w", err)
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}

// maxSpecBytes bounds an architecture file: nn.FromSpec takes at most
// 1000 layers of a few hundred bytes each.
const maxSpecBytes = 4 << 20

// readSpec reads a user architecture (nn.Model.Spec's JSON) and checks
// that it builds.
func readSpec(path string, seed uint64) ([]byte, error) {
	b, err := stfile.ReadRegular(path, maxSpecBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("train: --spec %s: no such file", path)
		}
		return nil, fmt.Errorf("train: --spec: %w", err)
	}
	if _, err := nn.FromSpec(b, seed); err != nil {
		return nil, fmt.Errorf("train: --spec %s: not a valid architecture: %w", path, err)
	}
	return b, nil
}

// specModel builds the architecture of --spec and checks it against the data.
func specModel(path string, spec []byte, seed uint64, ds *datasets.Pair) (*nn.Model, error) {
	m, err := nn.FromSpec(spec, seed)
	if err != nil {
		return nil, fmt.Errorf("train: --spec %s: %w", path, err)
	}
	if m.In.C != ds.Train.C || m.In.H != ds.Train.H || m.In.W != ds.Train.W || m.Classes != ds.Train.Classes {
		return nil, fmt.Errorf("train: --spec %s takes %v images with %d classes, the data in %s has %dx%dx%d with %d",
			path, m.In, m.Classes, ds.Dir, ds.Train.C, ds.Train.H, ds.Train.W, ds.Train.Classes)
	}
	return m, nil
}

// sameSpec refuses a --spec on --resume that is not the run's architecture.
func sameSpec(path string, spec []byte, ck *rundir.Checkpoint) error {
	m, err := nn.FromSpec(spec, 0)
	if err != nil {
		return fmt.Errorf("train: --spec %s: %w", path, err)
	}
	b, err := m.Spec()
	if err != nil {
		return fmt.Errorf("train: --spec %s: %w", path, err)
	}
	if string(b) != ck.Spec {
		return fmt.Errorf("train: --spec %s is not the architecture of the run being resumed (%s); drop --spec, or start a new run with another --out", path, ck.Arch)
	}
	return nil
}

func addTrainFlags(c *cobra.Command, cfg *rundir.Config) {
	f := c.Flags()
	f.IntVar(&cfg.Epochs, "epochs", rundir.DefaultEpochs, "epochs")
	f.IntVar(&cfg.Batch, "batch", 64, "minibatch size")
	f.StringVar((*string)(&cfg.Optimizer), "optimizer", string(rundir.Adam), "adam or sgd")
	f.Float64Var(&cfg.LR, "lr", 0, "base learning rate (default 3e-3 for adam, 0.05 for sgd)")
	f.StringVar((*string)(&cfg.Schedule), "schedule", string(rundir.Cosine), "learning-rate schedule: cosine or constant")
	f.Float64Var(&cfg.WeightDecay, "weight-decay", 0, "weight decay")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed (initialisation and shuffling)")
	f.IntVar(&cfg.TrainLimit, "train-limit", 0, "use only the first N training images (0: all)")
	f.IntVar(&cfg.TestLimit, "test-limit", 0, "use only the first N test images (0: all)")
	f.IntVar(&cfg.Shift, "shift", 0, shiftHelp)
}

// checkTrainFlags rejects values that the library would read as "default"
// (an explicit --lr 0 would silently train at the default rate).
func checkTrainFlags(cmd *cobra.Command, cfg rundir.Config) error {
	if cmd.Flags().Changed("lr") && !(cfg.LR > 0) {
		return fmt.Errorf("--lr: learning rate must be positive and finite, got %v", cfg.LR)
	}
	if cfg.Epochs < 1 {
		return fmt.Errorf("--epochs must be at least 1, got %d", cfg.Epochs)
	}
	if cfg.Batch < 1 {
		return fmt.Errorf("--batch must be at least 1, got %d", cfg.Batch)
	}
	if cfg.LR < 0 || cfg.LR != cfg.LR {
		return fmt.Errorf("--lr: learning rate must be positive and finite, got %v", cfg.LR)
	}
	if cfg.TrainLimit < 0 || cfg.TestLimit < 0 {
		return fmt.Errorf("--train-limit and --test-limit must be ≥ 0 (0: all)")
	}
	// The library's own check (a value that float32 turns into 0 or Inf),
	// before anything is read or created.
	return cfg.Defaults().Validate()
}

// shiftHelp describes --shift wherever it is a flag.
const shiftHelp = "augment: random crop of the training images with N pixels of zero padding on each side (as RandomCrop(size, padding=N)); 0: off"

// recipeLine describes a configuration's augmentation and normalization.
func recipeLine(c rundir.Config) string {
	var parts []string
	if c.Shift > 0 {
		parts = append(parts, fmt.Sprintf("crop with %d px padding", c.Shift))
	}
	if c.Flip {
		parts = append(parts, "flips")
	}
	if n := c.Norm(); n != nil {
		parts = append(parts, fmt.Sprintf("normalized by mean %v std %v", n.Mean, n.Std))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

// loadData reads --data (MNIST when "") with an optional class count and
// prints the data's warnings.
func loadData(dir string, classes int) (*datasets.Pair, error) {
	return loadDataWith(dir, datasets.Options{Classes: classes})
}

// loadRunData reads the data for a command that continues a run: --data
// if given, else the directory the run recorded; the class count is the
// model's, the resize the run's (rundir.RunData), the cache directory the
// command's --cache-dir when it has one. A fingerprint mismatch is refused by the train package.
func loadRunData(cmd *cobra.Command, dir string, ck *rundir.Checkpoint) (*datasets.Pair, error) {
	if !cmd.Flags().Changed("data") && ck.DataDir != "" {
		if st, err := os.Stat(ck.DataDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("the run was trained on the data in %s, which is not there any more; pass --data DIR", ck.DataDir)
		}
		dir = ck.DataDir
	}
	// As the run read it: its resize, and the command's --cache-dir.
	o := rundir.RunData(ck).Options()
	o.Classes = ck.Classes
	if f := cmd.Flags().Lookup("cache-dir"); f != nil {
		o.CacheDir = f.Value.String()
	}
	ds, err := loadDataWith(dir, o)
	if err != nil {
		return nil, err
	}
	if ck.DataSHA != "" && ds.Fingerprint() != ck.DataSHA {
		return nil, fmt.Errorf("--data %s is not the data the run was trained on (%s): the images or labels differ", ds.Dir, ck.DataDir)
	}
	return ds, nil
}

// alreadyDone tells the user that a --resume had nothing to do: the run in
// dir is already at epoch done and the target is epochs ≤ done. This is
// not an error (the run is complete, exit status 0), but it must not pass
// silently.
// With --json the same is one JSON line ("nothing_done": true).
func alreadyDone(dir string, done, epochs int, asJSON bool) error {
	if asJSON {
		return printJSON(map[string]any{"run_dir": dir, "epochs": done, "target_epochs": epochs, "nothing_done": true})
	}
	fmt.Printf("nothing to do: %s is already at epoch %d and --epochs is %d; pass a larger --epochs to train further\n", dir, done, epochs)
	return nil
}

// openRun prepares the run directory out (prepareOut) and takes its lock
// (rundir.Lock). finish releases the lock and, if the command failed,
// removes what prepareOut created. The lock file goes only while this
// command holds the lock and only from a directory it created and that
// holds nothing else: a command refused because another run holds the
// directory must not delete that run's lock.
func openRun(out string) (finish func(failed bool), err error) {
	cleanup, err := prepareOut(out)
	if err != nil {
		return nil, err
	}
	release, err := rundir.Lock(out)
	if err != nil {
		cleanup(false)
		return nil, err
	}
	return func(failed bool) {
		if failed {
			cleanup(true) // while the lock is held
		}
		release()
	}, nil
}

// prepareOut creates the output directory and checks that it is writable.
// cleanup removes what prepareOut created (the directories it made, and
// with withLock, while the caller holds the run lock, the lock file in
// dir: rundir.RemoveEmpty) if nothing else was written there; call it
// when the command fails. Only directories that its own
// os.Mkdir created count: a path that already existed in any form (a
// directory, a file, a dangling symbolic link) is never removed.
func prepareOut(dir string) (cleanup func(withLock bool), err error) {
	var missing []string // outermost last
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string // innermost first
	cleanup = func(withLock bool) {
		for i, d := range created {
			if i == 0 && withLock && d == filepath.Clean(dir) {
				if !rundir.RemoveEmpty(d) {
					return // something worth keeping, or a run of another command
				}
				continue
			}
			if os.Remove(d) != nil {
				return // not empty: something worth keeping
			}
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if st, serr := os.Stat(missing[i]); serr == nil && st.IsDir() {
					continue // made by someone else meanwhile: not ours
				}
			}
			cleanup(false)
			return nil, fmt.Errorf("cannot create output directory: %w", err)
		}
		created = append([]string{missing[i]}, created...)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		cleanup(false)
		if err == nil {
			err = fmt.Errorf("%s is not a directory", dir)
		}
		return nil, fmt.Errorf("cannot create output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-test*")
	if err != nil {
		cleanup(false)
		return nil, fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return cleanup, os.Remove(f.Name())
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
