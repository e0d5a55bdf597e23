package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"google.golang.org/protobuf/proto"
)

func exportCmd() *cobra.Command {
	var from, out, mode, cName string
	var asJSON bool
	var onnxFlags *onnxExportFlags
	c := &cobra.Command{
		Use:   "export --from RUN_DIR --out MODEL|DIR [--mode w8a8|w8a8-asym|w8-only|f32] [--format tinyqat|onnx|c]",
		Short: "Export a PTQ, QAT or cluster checkpoint to an integer model file, or a float run to a float32 model file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || out == "" {
				return errors.New("export: --from RUN_DIR and --out MODEL are required")
			}
			isONNX, err := onnxFlags.selected()
			if err != nil {
				return err
			}
			isC := onnxFlags.format == "c" // --out is a directory (exportC checks it)
			if cmd.Flags().Changed("c-name") && !isC {
				return fmt.Errorf("export: --c-name %s is for --format c (it names the C files), and the format is %s", cName, onnxFlags.format)
			}
			if err := refuseReplace("export: --out", out, !isONNX); err != nil && !isC {
				return err
			}
			if err := refuseForeignOutput("export: --out", out, isONNX); err != nil && !isC {
				return err
			}
			ck, err := rundir.LoadCheckpoint(from)
			if err != nil {
				return err
			}
			if ck.Phase == rundir.PhaseFloat && !isONNX && !isC {
				return exportFloat(cmd, ck, from, out, mode, asJSON)
			}
			if ck.Phase == rundir.PhaseFloat && isC {
				return fmt.Errorf("export: %s holds a float model: quantize it first (tinyqat ptq, qat or cluster --from %[1]s); C export needs an integer model", from)
			}
			if cmd.Flags().Changed("mode") && mode == floatMode {
				if ck.Phase != rundir.PhaseFloat {
					return fmt.Errorf("export: --mode f32 writes the float model of a float run; %s is a %s run: export it in an integer mode, or its float run with --mode f32", from, ck.Phase)
				}
				mode = defaultMode(ck) // ONNX of a float run: its float graph
			} else if cmd.Flags().Changed("mode") {
				if _, err := infer.ParseMode(mode); err != nil {
					return err
				}
			}
			if w := unfinishedRun(ck, from); w != "" {
				fmt.Fprintln(os.Stderr, "tinyqat: warning:", w)
			}
			if !cmd.Flags().Changed("mode") {
				mode = defaultMode(ck)
			}
			md, err := infer.ParseMode(mode)
			if err != nil {
				return err
			}
			if isONNX {
				return onnxFlags.export(ck, md, out, asJSON, func(ck *rundir.Checkpoint, md infer.Mode) (*infer.Model, error) {
					return export.Export(cmd.Context(), ck, md)
				})
			}
			m, err := export.Export(cmd.Context(), ck, md)
			if err != nil {
				return err
			}
			if abs, err := filepath.Abs(from); err == nil {
				m.Source.Run = abs
			}
			if isC {
				return exportC(m, out, cName, asJSON)
			}
			if err := m.Save(out); err != nil {
				return err
			}
			size, err := infer.FileSize(out)
			if err != nil {
				return err
			}
			nm, err := ck.Model()
			if err != nil {
				return err
			}
			floatBytes := int64(4 * nm.NumParams())
			ratio := float64(floatBytes) / float64(size)
			bitsW, bitsA := m.Bits()
			if asJSON {
				return printJSON(map[string]any{"model": out, "mode": md, "arch": m.Arch, "bytes": size,
					"float32_bytes": floatBytes, "ratio": ratio, "params": nm.NumParams(),
					"bits_w": bitsW, "bits_a": bitsA, "source": m.Source})
			}
			fmt.Printf("wrote %s (%s, %s, runtime mode %s): %d bytes; float32 parameters take %d bytes: %.2fx smaller\n",
				out, m.Arch, m.Precision(), md, size, floatBytes, ratio)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "PTQ, QAT or cluster run directory (or checkpoint file); a float run writes a float32 model")
	f.StringVar(&out, "out", "", "model file to write")
	f.StringVar(&mode, "mode", "", "w8a8, w8a8-asym or w8-only (default: w8a8-asym for a run quantized with --act-scheme affine, else w8a8); f32 (the only mode of a float run)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	f.StringVar(&cName, "c-name", "model", "with --format c: the C identifier prefix and file name (DIR/NAME.h, DIR/NAME.c)")
	onnxFlags = addONNXExportFlags(f)
	c.RunE = namedStage("export", c.RunE)
	return c
}

// refuseForeignOutput refuses to replace an existing file that is not an
// earlier output of the same kind: export replaces a tinyqat model file
// with a model, and a tinyqat ONNX graph with a graph, nothing else (a
// user's notes.txt, a demo's summary.json or report.md, an ONNX graph
// with a tinyqat model).
func refuseForeignOutput(flag, path string, onnx bool) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if !st.Mode().IsRegular() {
		return nil // the atomic write refuses it, naming what it is
	}
	if onnx {
		if isTinyqatONNX(path, st.Size()) {
			return nil
		}
		return fmt.Errorf("%s %s exists and is not an ONNX graph written by tinyqat; refusing to replace it (choose another file, or remove it first)", flag, path)
	}
	if f := stfile.Format(path); f == modelFileFormat || f == floatModelFileFormat {
		return nil
	}
	return fmt.Errorf("%s %s exists and is not a tinyqat model file; refusing to replace it (choose another file, or remove it first)", flag, path)
}

// isTinyqatONNX reports whether the file at path (of size bytes) is an
// ONNX model whose producer is tinyqat. Graphs above 1 GiB are not read.
func isTinyqatONNX(path string, size int64) bool {
	if size <= 0 || size > 1<<30 {
		return false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var mp onnxpb.ModelProto
	return proto.Unmarshal(b, &mp) == nil && mp.GetProducerName() == "tinyqat" && mp.Graph != nil
}

// unfinishedRun says, for a QAT or cluster run that stopped before its
// last epoch (interrupted, or still running), what export is about to do;
// "" for a finished run.
func unfinishedRun(ck *rundir.Checkpoint, from string) string {
	if (ck.Phase != rundir.PhaseQAT && ck.Phase != rundir.PhaseCluster) || ck.Config.Epochs <= 0 || ck.Epoch >= ck.Config.Epochs {
		return ""
	}
	cmd := "qat"
	if ck.Phase == rundir.PhaseCluster {
		cmd = "cluster"
	}
	return fmt.Sprintf("%s stopped after epoch %d of %d (interrupted, or still running): exporting that checkpoint; `tinyqat %s --resume --out %s` finishes the run",
		from, ck.Epoch, ck.Config.Epochs, cmd, from)
}

// defaultMode is the export mode of a checkpoint when --mode is not given:
// the integer mode that matches its activation scheme (affine activations
// need w8a8-asym; w8a8 would be refused).
func defaultMode(ck *rundir.Checkpoint) string {
	if ck.Quant == nil {
		return string(infer.W8A8) // a float run: Export explains what to do
	}
	if _, q, err := qat.Load(ck); err == nil && q.Cfg.ActScheme == qat.ActAffine {
		return string(infer.W8A8Asym)
	}
	return string(infer.W8A8)
}

func evalCmd() *cobra.Command {
	var model, data, compare string
	var asJSON bool
	var batch, testLimit int
	var cacheDir string
	c := &cobra.Command{
		Use:   "eval --model MODEL [--compare RUN_DIR] [--test-limit N]",
		Short: "Test accuracy of a model; with --compare, an integer model against its float model and fake-quant simulation, a float model against its Gorgonia graph",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if model == "" {
				return errors.New("eval: --model MODEL is required")
			}
			if batch < 1 || batch > 1<<16 {
				return fmt.Errorf("eval: --batch must be in [1, 65536], got %d", batch)
			}
			var ck *rundir.Checkpoint
			if compare != "" {
				if ck, err = rundir.LoadCheckpoint(compare); err != nil {
					return err
				}
			}
			m, test, err := loadModelAndTest(cmd, model, data, ck)
			if err != nil {
				return err
			}
			if ck != nil && m.Mode == infer.W8Only {
				return fmt.Errorf("eval: %s is a w8-only model (int8 weights, float32 arithmetic): --compare checks integer models against their simulation; run eval without --compare, or export with --mode w8a8", model)
			}
			if testLimit < 0 {
				return fmt.Errorf("eval: --test-limit must be ≥ 0, got %d", testLimit)
			}
			if ck != nil && !cmd.Flags().Changed("test-limit") && !cmd.Flags().Changed("data") {
				// The run's own test set, as its accuracy was measured.
				if testLimit = rundir.RunData(ck).TestLimit; testLimit > 0 && !asJSON {
					fmt.Printf("test images: the first %d (--test-limit of the run %s; --test-limit 0 for all)\n", testLimit, compare)
				}
			}
			test = test.Subset(testLimit)
			start := time.Now()
			result := map[string]any{"model": model, "mode": m.Mode, "precision": m.Precision(), "arch": m.Arch, "samples": test.N}
			// A run of the kind the model needs that is not its source
			// is named with the model ("eval: export: the checkpoint is a
			// resnet8 …" did not say which files).
			if ck != nil && (m.Mode == infer.F32) == (ck.Phase == rundir.PhaseFloat) {
				if err := export.CheckSource(m, ck); err != nil {
					msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "export: "), "the checkpoint is not the model's source: ")
					return fmt.Errorf("eval: --compare %s is not the source of %s: %s", compare, model, msg)
				}
			}
			if ck != nil && m.Mode == infer.F32 {
				if err := evalCompareFloat(cmd, m, ck, test, batch, result, asJSON); err != nil {
					return err
				}
			} else if ck != nil {
				if ck.Phase == rundir.PhaseFloat {
					return fmt.Errorf("eval: --compare %s is a float run; %s is an integer model: --compare takes the PTQ, QAT or cluster run it was exported from", compare, model)
				}
				if !export.HasSource(m) {
					fmt.Fprintf(os.Stderr, "tinyqat: warning: %s does not record the run it was exported from (an older file): cannot check that %s is its source beyond the architecture\n", model, compare)
				}
				cmp, err := export.Compare(cmd.Context(), m, ck, test, batch)
				if err != nil {
					return err
				}
				result["test_acc"], result["float_test_acc"], result["sim_test_acc"] = cmp.IntAcc, cmp.FloatAcc, cmp.SimAcc
				result["agreement"], result["max_lsb_diff"], result["exact_samples"] = cmp.Agreement, cmp.MaxLSBDiff, cmp.ExactSamples
				result["first_divergence"], result["layers"] = cmp.FirstDivergence, cmp.Layers
				if !asJSON {
					const row = "%-40s %s\n"
					fmt.Printf(row, "float (same weights, no quantization)", fmt.Sprintf("%.2f%%", 100*cmp.FloatAcc))
					fmt.Printf(row, "fake-quant simulation", fmt.Sprintf("%.2f%%", 100*cmp.SimAcc))
					label := m.Precision()
					if m.Mode == infer.W8A8Asym { // as export names the mode
						label += ", w8a8-asym"
					}
					fmt.Printf(row, "integer runtime ("+label+")", fmt.Sprintf("%.2f%%", 100*cmp.IntAcc))
					fmt.Printf(row, "top-1 agreement sim/runtime", fmt.Sprintf("%.4f%%  (%d images)", 100*cmp.Agreement, cmp.Samples))
					fmt.Printf(row, "bit-identical logits", fmt.Sprintf("%.4f%%; max |Δlogit| %d LSB", 100*cmp.ExactSamples, cmp.MaxLSBDiff))
					// The names' column is as wide as the longest name
					// ("res.conv1" pushed its row out of line).
					w := 8
					for _, d := range cmp.Layers {
						w = max(w, utf8.RuneCountInString(d.Layer))
					}
					for _, d := range cmp.Layers {
						fmt.Printf("  %-*s %9d values, %7d differ, max %d LSB\n", w, d.Layer, d.Elements, d.Differ, d.MaxDiff)
					}
					if cmp.FirstDivergence == "" {
						fmt.Println("simulation and runtime agree bit for bit at every layer")
					} else {
						fmt.Printf("first divergence at %s\n", cmp.FirstDivergence)
					}
				}
			} else {
				acc, err := export.Accuracy(cmd.Context(), m, test, batch)
				if err != nil {
					return err
				}
				result["test_acc"] = acc
				if !asJSON {
					fmt.Printf("%s (%s) test accuracy %.2f%% on %d images\n", model, m.Precision(), 100*acc, test.N)
				}
			}
			result["seconds"] = time.Since(start).Seconds()
			if asJSON {
				return printJSON(result)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "model file (integer or float32)")
	f.StringVar(&data, "data", "", "dataset directory: IDX files, image folders or CIFAR-10 binaries, read as the model's training data was (its --resize) (default: with --compare, the data the run was trained on; else the data of the run the model was exported from, if that run is still there; else MNIST from the Go module cache)")
	f.StringVar(&compare, "compare", "", "the run directory the model was exported from (PTQ/QAT/cluster; float for a float32 model)")
	f.IntVar(&batch, "batch", 1000, "evaluation batch size")
	f.IntVar(&testLimit, "test-limit", 0, "evaluate the first N test images (0: all; default with --compare: the run's own --test-limit)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	addCacheFlag(c, &cacheDir)
	c.RunE = namedStage("eval", c.RunE)
	return c
}

// loadModelAndTest loads an integer model and the test set it must fit
// (image shape and class count): --data if given, else the data run ck
// was trained on when a run is given (nil: none), else MNIST.
func loadModelAndTest(cmd *cobra.Command, model, data string, ck *rundir.Checkpoint) (*infer.Model, *datasets.Set, error) {
	m, err := infer.Load(model)
	if err != nil {
		return nil, nil, err
	}
	if ck == nil && !cmd.Flags().Changed("data") && m.Source.Run != "" {
		// The model's own run, if it is still there, names its data.
		if rc, err := rundir.LoadCheckpoint(m.Source.Run); err == nil && rc.DataDir != "" {
			ck = rc
		}
	}
	var ds *datasets.Pair
	if ck != nil {
		ds, err = loadRunData(cmd, data, ck)
	} else {
		// As a run's data is read: with the command's --cache-dir, and
		// the data's warnings printed, and scaled as the model's training
		// data was (--resize, which the model file records), so that a
		// model trained on resized images evaluates on its folder without
		// its run.
		o := datasets.Options{ResizeH: m.Source.ResizeH, ResizeW: m.Source.ResizeW}
		if f := cmd.Flags().Lookup("cache-dir"); f != nil {
			o.CacheDir = f.Value.String()
		}
		ds, err = loadDataWith(data, o)
	}
	if err != nil {
		return nil, nil, err
	}
	test := ds.Test
	if err := m.CheckData(test.C, test.H, test.W, test.Classes); err != nil {
		if test.C == m.InC && test.Classes == m.Classes {
			err = fmt.Errorf("%w (was it trained with --resize %dx%d? name its run, --compare RUN, and the data is read as the run read it)", err, m.InH, m.InW)
		}
		return nil, nil, err
	}
	// Labels are class indices: compared under other names they would
	// score the wrong classes.
	if names := test.ClassNames; len(m.ClassNames) > 0 && len(names) > 0 && !slices.Equal(m.ClassNames, names) {
		return nil, nil, fmt.Errorf("%s names its classes %q, the data in %s %q: its accuracy would be measured against the wrong classes", model, m.ClassNames, ds.Dir, names)
	}
	return m, test, nil
}
