package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/attack"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
)

// defaultEps is the ladder of the adversarial issue (pixels in [0, 1]).
const defaultEps = "0,0.05,0.1,0.15,0.2,0.3"

func attackCmd() *cobra.Command {
	var (
		from, data, models, method, epsList, quantDirs, int8File, squeeze, out string
		cfg                                                                    attack.Config
		limit                                                                  int
		asJSON                                                                 bool
	)
	c := &cobra.Command{
		Use:   "attack --from RUN_DIR [--model NAMES] --method fgsm|pgd --eps " + defaultEps + " [--steps N]",
		Short: "Accuracy under adversarial attack (white-box and transfer) of float, PTQ/QAT and int8 runtime models",
		Long: `attack perturbs the test images within eps in L∞ (pixels scaled to [0, 1]) and
reports top-1 accuracy for each model under two threat models:

  white-box   gradients through the model under attack (for PTQ/QAT models
              through the fake-quant graph with its straight-through estimator)
  transfer    images made on the float model, fed to every other model, to
              the int8 runtime and to the float model on the float32
              runtime (` + floatRuntimeName + `)

--from is a float run directory, or a demo directory (holding float/ and the
PTQ/QAT runs, which are then all attacked). Add PTQ/QAT runs with --quant.
The int8 runtime is --int8 FILE, which must have been exported from --from
or from one of the PTQ/QAT runs (another run's model is refused), or the
W8A8 export of a PTQ/QAT run with 8-bit symmetric weights and activations
(QAT preferred). --squeeze adds the float model behind input bit-depth
reduction (feature squeezing).
A model whose white-box accuracy is above its transfer accuracy is masking
its gradients; such points are listed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return errors.New("attack: --from RUN_DIR (a float run or a demo directory) is required")
			}
			m, err := attack.ParseMethod(method)
			if err != nil {
				return err
			}
			cfg.Method = m
			if cfg.Steps < 1 {
				return fmt.Errorf("attack: --steps must be at least 1, got %d", cfg.Steps)
			}
			if cfg.Batch < 1 || cfg.Batch > 65536 {
				return fmt.Errorf("attack: --batch must be in [1, 65536], got %d", cfg.Batch)
			}
			if out != "" {
				if err := refuseReplace("attack: --out", out, false); err != nil {
					return err
				}
				if err := refuseForeign("attack: --out", out, attackFormat); err != nil {
					return err
				}
				if err := checkOutDir("attack: --out", out); err != nil {
					return err
				}
			}
			eps, err := parseFloats("--eps", epsList)
			if err != nil {
				return err
			}
			if err := cfg.CheckEps(eps); err != nil {
				return err
			}
			sqBits, err := parseInts("--squeeze", squeeze, 1, 8)
			if err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("attack: --test-limit must be ≥ 0, got %d", limit)
			}
			suite, err := loadSuite(cmd.Context(), from, splitList(quantDirs), int8File, sqBits, splitList(models))
			if err != nil {
				return err
			}
			// The float run's own data unless --data is given.
			fck, err := rundir.LoadCheckpoint(floatRunDir(from))
			if err != nil {
				return err
			}
			ds, err := loadRunData(cmd, data, fck)
			if err != nil {
				return err
			}
			prog := newProgress(os.Stdout)
			if !cmd.Flags().Changed("test-limit") && !cmd.Flags().Changed("data") {
				// The run's own test set, as its accuracy was measured.
				if rl := rundir.RunData(fck).TestLimit; rl > 0 {
					limit = rl
					prog.Printf("test images: the first %d (--test-limit of the run %s; --test-limit 0 for all)", limit, floatRunDir(from))
				}
			}
			set := ds.Test.Subset(limit)
			prog.Printf("%s on %d test images, eps %v: %s", strings.ToUpper(string(m)), set.N, eps, suiteNames(suite))
			start := time.Now()
			res, err := attack.Evaluate(cmd.Context(), set, suite, eps, cfg, func(s string) { prog.Printf("%s", s) })
			if err != nil {
				return err
			}
			// Differences below 1/√N (N images) are within sampling noise.
			mask := res.Masking(1 / math.Sqrt(float64(res.Samples)))
			summary := map[string]any{"format": attackFormat, "method": m, "eps": eps, "samples": res.Samples, "curves": res.Curves,
				"max_linf": res.MaxLinf, "masking": mask, "seconds": time.Since(start).Seconds(), "config": res.Config}
			if out != "" {
				if err := rundir.WriteJSON(out, summary); err != nil {
					return fmt.Errorf("attack: --out: %w", err)
				}
			}
			if asJSON {
				return printJSON(summary)
			}
			fmt.Print(res.Markdown())
			if len(mask) > 0 {
				fmt.Println("white-box weaker than transfer by more than 1/√N (gradient masking):")
				for _, p := range mask {
					fmt.Printf("  %s at eps %g: white-box %.2f%%, transfer %.2f%%\n", p.Model, p.Eps, 100*p.WhiteBox, 100*p.Transfer)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "float run directory, or a demo directory")
	f.StringVar(&quantDirs, "quant", "", "comma-separated PTQ/QAT run directories to attack too (each quantized from --from's float run, which it records)")
	f.StringVar(&models, "model", "", "comma-separated model names to attack (default: all found), e.g. float,qat-w4a8,int8-runtime")
	f.StringVar(&int8File, "int8", "", "integer model file for the runtime, exported from --from or a --quant run (default: export a W8A8 run in memory)")
	f.StringVar(&method, "method", "fgsm", "fgsm or pgd")
	f.StringVar(&epsList, "eps", defaultEps, "comma-separated L∞ budgets, pixels in [0, 1]")
	f.IntVar(&cfg.Steps, "steps", 10, "PGD iterations (step 2.5·eps/steps)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of PGD's random start")
	f.IntVar(&cfg.Batch, "batch", 100, "images attacked at once")
	f.StringVar(&squeeze, "squeeze", "1", "comma-separated input bit depths for feature squeezing of the float model (\"\": none)")
	f.StringVar(&data, "data", "", "dataset directory: IDX files, image folders or CIFAR-10 binaries (default: the data the float run was trained on)")
	f.IntVar(&limit, "test-limit", 0, "attack only the first N test images (0: all; default: the float run's)")
	f.StringVar(&out, "out", "", "also write the result as JSON to this file")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	var cacheDir string
	addCacheFlag(c, &cacheDir)
	c.RunE = namedStage("attack", c.RunE)
	return c
}

// floatRunDir is the float run of --from: from itself, or from/float when
// from is a demo directory (as loadSuite reads it).
func floatRunDir(from string) string {
	if st, err := os.Stat(filepath.Join(from, "float")); err == nil && st.IsDir() {
		return filepath.Join(from, "float")
	}
	return from
}

// loadSuite gathers the models: the float run, PTQ/QAT runs (from the demo
// layout and --quant), feature-squeezed float models and the int8 runtime.
func loadSuite(ctx context.Context, from string, quantDirs []string, int8File string, squeeze []int, only []string) (attack.Suite, error) {
	var s attack.Suite
	floatDir := from
	if st, err := os.Stat(filepath.Join(from, "float")); err == nil && st.IsDir() {
		floatDir = filepath.Join(from, "float")
		runs, err := runDirs(from, "float")
		if err != nil {
			return s, fmt.Errorf("attack: %w", err)
		}
		for _, p := range runs {
			if !slices.Contains(quantDirs, p) {
				quantDirs = append(quantDirs, p)
			}
		}
	}
	ck, err := rundir.LoadCheckpoint(floatDir)
	if err != nil {
		return s, err
	}
	if ck.Quant != nil {
		return s, fmt.Errorf("attack: --from %s is a %s checkpoint; it must be the float run (transfer attacks are made on it)", floatDir, ck.Phase)
	}
	if s.Source, err = attack.FromCheckpoint(ck); err != nil {
		return s, err
	}
	names := map[string]string{"float": floatDir}
	floatSHA := ck.WeightsSHA()
	var w8a8 []*rundir.Checkpoint
	runs := []attack.SourceRun{{Dir: floatDir, Checkpoint: ck}} // what --int8 may come from
	for _, d := range quantDirs {
		qc, err := rundir.LoadCheckpoint(d)
		if err != nil {
			return s, err
		}
		runs = append(runs, attack.SourceRun{Dir: d, Checkpoint: qc})
		if qc.Quant == nil {
			return s, fmt.Errorf("attack: %s is a float run; --quant takes PTQ or QAT runs", d)
		}
		if qc.Arch != ck.Arch {
			return s, fmt.Errorf("attack: %s is a %s model, the float run is %s", d, qc.Arch, ck.Arch)
		}
		// The same network quantized from another float run would be
		// attacked with --from's images and reported as its quantized
		// twin: the run must record --from's weights as its parent (runs
		// written before tinyqat recorded it are refused: re-run them).
		if qc.Parent != floatSHA {
			if qc.Parent == "" {
				return s, fmt.Errorf("attack: %s does not record the float run it was quantized from (written by an older tinyqat): quantize %s again", d, floatDir)
			}
			return s, fmt.Errorf("attack: %s was quantized from another float run than %s (its weights differ)", d, floatDir)
		}
		m, err := attack.FromCheckpoint(qc)
		if err != nil {
			return s, err
		}
		if prev, ok := names[m.Name]; ok {
			return s, fmt.Errorf("attack: %s and %s are both %s", prev, d, m.Name)
		}
		names[m.Name] = d
		s.Models = append(s.Models, m)
		if q := m.Quant.(*qat.Quantizer); q.Cfg.BitsW == 8 && q.Cfg.BitsA == 8 && q.Cfg.ActScheme == "symmetric" {
			w8a8 = append(w8a8, qc)
		}
	}
	sort.Slice(s.Models, func(i, j int) bool { return modelOrder(s.Models[i].Name) < modelOrder(s.Models[j].Name) })
	for _, b := range squeeze {
		s.Models = append(s.Models, &attack.Model{Name: fmt.Sprintf("squeeze-%dbit", b), Net: s.Source.Net, Squeeze: b, Norm: s.Source.Norm})
	}
	var userF32 *infer.Model
	switch {
	case int8File != "":
		im, err := infer.Load(int8File)
		if err != nil {
			return s, err
		}
		// As --quant: the runtime must be the float run's network.
		if im.Arch != ck.Arch || im.InC != ck.In.C || im.InH != ck.In.H || im.InW != ck.In.W || im.Classes != ck.Classes {
			return s, fmt.Errorf("attack: --int8 %s is a %s model (%dx%dx%d, %d classes), the float run is %s (%dx%dx%d, %d classes)",
				int8File, im.Arch, im.InC, im.InH, im.InW, im.Classes, ck.Arch, ck.In.C, ck.In.H, ck.In.W, ck.Classes)
		}
		// A model of the same network exported from another run would be
		// reported as this run's: it must be the export of --from or of
		// one of the PTQ/QAT runs.
		if _, err := attack.ExportedFrom(ctx, im, int8File, runs); err != nil {
			return s, err
		}
		if im.Precision() == "f32" {
			// The float run's float model: it is the float-runtime row
			// below, not a second one.
			userF32 = im
			break
		}
		s.Runtimes = append(s.Runtimes, attack.Runtime{Name: runtimeName(im), Classifier: im})
	case len(w8a8) > 0:
		// QAT before PTQ: the demo exports its QAT W8A8 run.
		sort.SliceStable(w8a8, func(i, j int) bool { return w8a8[i].Phase == rundir.PhaseQAT && w8a8[j].Phase != rundir.PhaseQAT })
		im, err := exportInt8(ctx, w8a8[0])
		if err != nil {
			return s, err
		}
		s.Runtimes = append(s.Runtimes, attack.Runtime{Name: "int8-runtime", Classifier: im, Twin: string(w8a8[0].Phase) + "-w8a8"})
	}
	// The float run on the float runtime (what a float model ships as):
	// the transfer images are made on its Gorgonia twin.
	fm := userF32
	if fm == nil {
		var err error
		if fm, err = export.Float(ctx, ck); err != nil {
			return s, fmt.Errorf("attack: %w", err)
		}
	}
	s.Runtimes = append(s.Runtimes, attack.Runtime{Name: floatRuntimeName, Classifier: fm})
	if len(only) > 0 {
		known := []string{s.Source.Name}
		var keep []*attack.Model
		for _, m := range s.Models {
			known = append(known, m.Name)
			if slices.Contains(only, m.Name) {
				keep = append(keep, m)
			}
		}
		var rts []attack.Runtime
		for _, r := range s.Runtimes {
			known = append(known, r.Name)
			if slices.Contains(only, r.Name) {
				if !slices.Contains(only, r.Twin) {
					r.Twin = ""
				}
				rts = append(rts, r)
			}
		}
		for _, n := range only {
			if !slices.Contains(known, n) {
				return s, fmt.Errorf("attack: --model %s: no such model (found: %s)", n, strings.Join(known, ", "))
			}
		}
		// The float model stays: it is the transfer source.
		s.Models, s.Runtimes = keep, rts
	}
	return s, nil
}

// floatRuntimeName labels the float run's model on the float32 runtime.
const floatRuntimeName = "f32-runtime"

// runtimeName labels an integer model by what its file records, not by
// its file name: "int8-runtime" for 8-bit weights and activations, else
// "runtime-" and its precision ("runtime-w4a8", "runtime-c4a8").
func runtimeName(m *infer.Model) string {
	if p := m.Precision(); p != "w8a8" {
		return "runtime-" + p
	}
	return "int8-runtime"
}

// attackFormat marks the JSON that attack --out writes, so that a later
// --out may replace it and nothing else.
const attackFormat = "tinyqat-attack"

// refuseForeign refuses an output path holding a file that this command
// did not write: `attack --out DEMO/summary.json` used to replace the
// demo's summary. A missing path is fine; an existing one must be a
// regular JSON file whose "format" is format. (refuseReplace guards
// checkpoints and models for every command; this guards the rest.)
func refuseForeign(flag, path, format string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s %s is %s; refusing to replace it (choose another file)", flag, path, stfile.FileKind(st.Mode()))
	}
	b, err := stfile.ReadRegular(path, maxReportJSON)
	var head struct {
		Format string `json:"format"`
	}
	if err != nil || json.Unmarshal(b, &head) != nil || head.Format != format {
		return fmt.Errorf("%s %s exists and was not written by this command (it is not a %s file); refusing to replace it (choose another file)", flag, path, format)
	}
	return nil
}

// runDirs lists the run directories of a demo directory: its
// subdirectories (links followed) that hold a checkpoint, except those
// named in skip. A checkpoint path that exists but is not a regular file
// (a directory, a named pipe, a dangling link) is an error: such a run
// used to be left out without a word.
func runDirs(dir string, skip ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if slices.Contains(skip, e.Name()) || !isDir(p) {
			continue
		}
		ck := filepath.Join(p, rundir.CheckpointFile)
		if _, err := os.Lstat(ck); errors.Is(err, fs.ErrNotExist) {
			continue // not a run
		}
		st, err := os.Stat(ck)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ck, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is %s, not a checkpoint file", ck, stfile.FileKind(st.Mode()))
		}
		out = append(out, p)
	}
	return out, nil
}

// modelFileOf checks an integer model file of a demo directory before it
// is measured under a label: it returns nil and no error when path does
// not exist, an error when it exists but is not a regular file, or when the model
// it holds is not arch at the precision the label names (a renamed file
// must not be reported as what its name says).
func modelFileOf(path, arch, precision string) (*infer.Model, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	m, err := infer.Load(path)
	if err != nil {
		return nil, err
	}
	if m.Arch != arch || m.Precision() != precision {
		return nil, fmt.Errorf("%s is a %s %s model, where the demo expects %s %s there; refusing to report it under that name", path, m.Arch, m.Precision(), arch, precision)
	}
	return m, nil
}

// exportInt8 converts a W8A8 checkpoint to the integer runtime in memory.
func exportInt8(ctx context.Context, c *rundir.Checkpoint) (*infer.Model, error) {
	return export.Export(ctx, c, infer.W8A8)
}

// modelOrder sorts PTQ before QAT, then by falling weight bits.
func modelOrder(name string) string {
	var phase string
	var w, a int
	if _, err := fmt.Sscanf(strings.Replace(name, "-w", " ", 1), "%s %da%d", &phase, &w, &a); err != nil {
		return name
	}
	return fmt.Sprintf("%s %02d %02d", phase, 99-w, 99-a)
}

func suiteNames(s attack.Suite) string {
	n := []string{s.Source.Name}
	for _, m := range s.Models {
		n = append(n, m.Name)
	}
	for _, r := range s.Runtimes {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseFloats(flag, s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("attack: %s: %q is not a number", flag, f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("attack: %s: no values", flag)
	}
	return out, nil
}

func parseInts(flag, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil || v < lo || v > hi {
			return nil, fmt.Errorf("attack: %s: %q is not an integer in [%d, %d]", flag, f, lo, hi)
		}
		out = append(out, v)
	}
	return out, nil
}

// isDir follows symbolic links (a demo directory may link its runs).
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
