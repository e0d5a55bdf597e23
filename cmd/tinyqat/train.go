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

func trainCmd() *cobra.Command {
	var (
		arch, out, data string
		specFile        string
		classes         int
		resume, asJSON  bool
		printSpec       bool
		cfg             rundir.Config
		rf              recipeFlags
	)
	c := &cobra.Command{
		Use:   "train --model NAME|--spec FILE.json --out RUN_DIR",
		Short: "Train a float32 model (the baseline)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if err := rf.apply(&cfg); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			if printSpec {
				if specFile != "" && cmd.Flags().Changed("model") {
					return errors.New("train: give --model NAME or --spec FILE.json, not both")
				}
				o := datasets.Options{Classes: classes, ResizeH: cfg.ResizeH, ResizeW: cfg.ResizeW, CacheDir: rf.cacheDir}
				return printArchitecture(arch, specFile, out, data, o, cfg.Seed, cmd.Flags().Changed("model"))
			}
			if out == "" {
				return errors.New("train: --out RUN_DIR is required")
			}
			if err := checkTrainFlags(cmd, cfg); err != nil {
				return err
			}
			if classes < 0 || classes == 1 || classes > 256 {
				return fmt.Errorf("train: --classes must be in [2, 256], got %d", classes)
			}
			if specFile != "" && cmd.Flags().Changed("model") {
				return errors.New("train: give --model NAME or --spec FILE.json, not both")
			}
			// A user architecture is read (and checked) before anything
			// else, so a bad file costs nothing.
			var spec []byte
			if specFile != "" {
				if spec, err = readSpec(specFile, cfg.Seed); err != nil {
					return err
				}
			}
			ckPath := filepath.Join(out, rundir.CheckpointFile)
			_, statErr := os.Stat(ckPath)
			exists := statErr == nil
			if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
				return statErr
			}
			if exists && !resume {
				return fmt.Errorf("train: %s already holds a checkpoint; pass --resume to continue it or choose another --out", out)
			}
			if !exists && resume {
				return fmt.Errorf("train: --resume: %s holds no checkpoint to resume (a mistyped --out?); drop --resume to start a new run there", out)
			}
			var ds *datasets.Pair
			if !exists {
				// Read the input before creating --out: a failure or a
				// kill while loading leaves nothing behind.
				o := datasets.Options{Classes: classes, ResizeH: cfg.ResizeH, ResizeW: cfg.ResizeW, CacheDir: rf.cacheDir}
				if ds, err = loadDataWith(data, o); err != nil {
					return err
				}
			}
			finish, err := openRun(out)
			if err != nil {
				return err
			}
			defer func() { finish(err != nil) }()
			var ck *rundir.Checkpoint
			if exists {
				if ck, err = rundir.LoadCheckpoint(ckPath); err != nil {
					return err
				}
				if ck.Phase != rundir.PhaseFloat {
					return fmt.Errorf("train: %s holds a %s checkpoint; resume it with its own command", out, ck.Phase)
				}
				if err := conflicts(cmd, map[string][2]any{
					"model": {arch, ck.Arch}, "classes": {classes, ck.Classes}, "batch": {cfg.Batch, ck.Config.Batch},
					"optimizer": {cfg.Optimizer, ck.Config.Optimizer}, "lr": {cfg.LR, ck.Config.LR}, "schedule": {cfg.Schedule, ck.Config.Schedule},
					"weight-decay": {cfg.WeightDecay, ck.Config.WeightDecay}, "seed": {cfg.Seed, ck.Config.Seed},
					"train-limit": {cfg.TrainLimit, ck.Config.TrainLimit}, "test-limit": {cfg.TestLimit, ck.Config.TestLimit}, "shift": {cfg.Shift, ck.Config.Shift},
					"flip": {cfg.Flip, ck.Config.Flip}, "normalize": {cfg.Normalize, ck.Config.Normalize},
					"mean": {cfg.Mean, ck.Config.Mean}, "std": {cfg.Std, ck.Config.Std},
					"resize": {fmt.Sprintf("%dx%d", cfg.ResizeH, cfg.ResizeW), fmt.Sprintf("%dx%d", ck.Config.ResizeH, ck.Config.ResizeW)},
				}); err != nil {
					return err
				}
				if spec != nil {
					if err := sameSpec(specFile, spec, ck); err != nil {
						return err
					}
				}
			}
			if ck != nil {
				target := ck.Config.Epochs
				if cmd.Flags().Changed("epochs") {
					target = cfg.Epochs
				}
				if ck.Epoch >= target {
					return alreadyDone(out, ck.Epoch, target, asJSON)
				}
				if ds, err = loadRunData(cmd, data, ck); err != nil {
					return err
				}
			}
			var m *nn.Model
			if ck != nil {
				epochs := cfg.Epochs
				cfg = ck.Config
				if cmd.Flags().Changed("epochs") {
					cfg.Epochs = epochs
				}
				if m, err = ck.Model(); err != nil {
					return err
				}
			} else if spec != nil {
				if m, err = specModel(specFile, spec, cfg.Seed, ds); err != nil {
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
			defer tr.Close()
			if ck != nil {
				if err := tr.Resume(ck); err != nil {
					return err
				}
			}
			tr.RunDir = out
			prog := newProgress(os.Stdout)
			tr.Progress = prog
			// The counts used: --train-limit and --test-limit apply.
			prog.Printf("training %s (%d parameters) on %s: %d train / %d test images, %dx%dx%d, %d classes%s",
				m.Arch, m.NumParams(), ds.Dir, ds.Train.Subset(tr.Cfg.TrainLimit).N, ds.Test.Subset(tr.Cfg.TestLimit).N,
				ds.Train.C, ds.Train.H, ds.Train.W, ds.Train.Classes, recipeLine(tr.Cfg))
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
					"params":            m.NumParams(), "run_dir": out, "data": ds.Dir, "classes": m.Classes,
				})
			}
			prog.Printf("test accuracy %.2f%% after %d epochs (%.1fs); checkpoint in %s", 100*tr.TestAcc, tr.Epoch, secs, ckPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&arch, "model", "lenet300", "architecture: "+strings.Join(nn.Architectures, ", "))
	f.StringVar(&specFile, "spec", "", "a user architecture: the JSON of nn.Model.Spec (instead of --model)")
	f.StringVar(&out, "out", "", "run directory for the checkpoint and metrics.jsonl")
	f.StringVar(&data, "data", "", "dataset directory: four IDX files, image folders (DIR/{train,test}/CLASS/*.png|jpg) or CIFAR-10 binaries (default: MNIST from the Go module cache; on --resume, the run's data)")
	f.IntVar(&classes, "classes", 0, "class count (default: from the labels, when training and test labels both cover 0…K−1)")
	f.BoolVar(&resume, "resume", false, "continue the checkpoint in --out up to --epochs, with the run's own settings")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	f.BoolVar(&printSpec, "print-spec", false, "print the architecture as --spec JSON and exit, training nothing: of the run in --out, of --model (for the data's shape) or of --spec")
	addTrainFlags(c, &cfg)
	addRecipeFlags(c, &cfg, &rf)
	return c
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
