package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/cluster"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/plots"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

func demoCmd() *cobra.Command {
	var (
		out, data, arch   string
		epochs, qatEpochs int
		clusterEpochs     int
		asJSON            bool
	)
	var quick bool
	c := &cobra.Command{
		Use:   "demo [--out runs/demo]",
		Short: "The whole pipeline on MNIST: float training, PTQ, QAT, k-means codebooks, int8 and packed 4-bit export, exactness check, speed, attacks, report.md with charts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if epochs < 1 || qatEpochs < 1 {
				return fmt.Errorf("demo: --epochs and --qat-epochs must be at least 1")
			}
			if clusterEpochs < 0 {
				return fmt.Errorf("demo: --cluster-epochs must be at least 0, got %d", clusterEpochs)
			}
			if arch != "lenet300" && arch != "lenet5" {
				// The demo's k-means codebook step refuses batch-norm
				// networks; the other models run through train/ptq/qat.
				return fmt.Errorf("demo: --model must be lenet300 or lenet5, got %q (train, ptq and qat take the others)", arch)
			}
			if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
				return fmt.Errorf("demo: %s is not empty; choose another --out (nothing was overwritten)", out)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			cleanup, err := prepareOut(out)
			if err != nil {
				return err
			}
			defer func() {
				if err != nil {
					cleanup(false)
				}
			}()
			ds, err := loadData(data, 0)
			if err != nil {
				return err
			}
			opt := applyQuick(cmd, quick, ds, &epochs, &qatEpochs)
			opt.ClusterEpochs = clusterEpochs
			return runDemo(cmd.Context(), ds, arch, epochs, qatEpochs, out, asJSON, opt)
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "runs/demo", "output directory (must be new or empty)")
	f.StringVar(&data, "data", "", "directory with the four IDX files (default: MNIST from the Go module cache)")
	f.StringVar(&arch, "model", "lenet300", "lenet300 or lenet5")
	f.IntVar(&epochs, "epochs", 10, "float training epochs")
	f.IntVar(&qatEpochs, "qat-epochs", 2, "QAT fine-tuning epochs per bit-width")
	f.IntVar(&clusterEpochs, "cluster-epochs", 1, "centroid fine-tuning epochs of each k-means (codebook) run (0: cluster only)")
	f.BoolVar(&asJSON, "json", false, "print the summary as one JSON line at the end")
	f.BoolVar(&quick, "quick", false, quickHelp)
	return c
}

func runDemo(ctx context.Context, ds *datasets.Pair, arch string, epochs, qatEpochs int, out string, asJSON bool, opt reportOptions) error {
	prog := newProgress(os.Stdout)
	start := time.Now()
	summary := map[string]any{"model": arch, "data": ds.Dir, "epochs": epochs, "qat_epochs": qatEpochs}

	prog.Printf("== 1. float training: %s, %d epochs", arch, epochs)
	m, err := nn.New(arch, nn.Shape{C: ds.Train.C, H: ds.Train.H, W: ds.Train.W}, ds.Train.Classes, 1)
	if err != nil {
		return err
	}
	tr, err := train.NewTrainer(m, ds, rundir.Config{Epochs: epochs, Seed: 1, TrainLimit: opt.TrainLimit, TestLimit: opt.TestLimit})
	if err != nil {
		return err
	}
	defer tr.Close()
	floatDir := filepath.Join(out, "float")
	tr.RunDir, tr.Progress = floatDir, prog
	if err := tr.Run(ctx); err != nil {
		return err
	}
	summary["float_test_acc"] = tr.TestAcc
	ck, err := rundir.LoadCheckpoint(floatDir)
	if err != nil {
		return err
	}

	bits := [][2]int{{8, 8}, {4, 8}, {4, 4}}
	var cats []string
	ptqAcc, qatAcc, floatAcc := make([]float64, len(bits)), make([]float64, len(bits)), make([]float64, len(bits))
	curveRuns := []string{floatDir}
	table := []map[string]any{}
	for i, b := range bits {
		name := fmt.Sprintf("W%dA%d", b[0], b[1])
		cats = append(cats, name)
		qc := qat.Config{BitsW: b[0], BitsA: b[1]}
		prog.Printf("== 2. %s: post-training quantization, then %d QAT epochs", name, qatEpochs)
		dir := filepath.Join(out, fmt.Sprintf("qat-w%da%d", b[0], b[1]))
		res, err := qat.Quantize(ctx, ck, ds, qat.Options{Quant: qc, Train: rundir.Config{Epochs: qatEpochs, LR: 1e-3, Seed: 1, TrainLimit: opt.TrainLimit, TestLimit: opt.TestLimit}, RunDir: dir, Progress: prog})
		if err != nil {
			return err
		}
		res.Trainer.Close() // its graphs are not needed again
		floatAcc[i], ptqAcc[i], qatAcc[i] = 100*res.FloatAcc, 100*res.PTQAcc, 100*res.TestAcc
		curveRuns = append(curveRuns, dir)
		table = append(table, map[string]any{"bits": name, "float": res.FloatAcc, "ptq": res.PTQAcc, "qat": res.TestAcc})
	}

	// k-means codebooks at the same bit-widths (weights: B-bit indices
	// into one table per layer; activations: the same uniform quantizer).
	clusterAcc := make([]float64, len(bits))
	for i, b := range bits {
		prog.Printf("== 2b. %s: %d-bit k-means codebooks, %d fine-tuning epoch(s) of the centroids", cats[i], b[0], opt.ClusterEpochs)
		dir := filepath.Join(out, clusterDir, fmt.Sprintf("w%da%d", b[0], b[1]))
		tc := rundir.Config{Epochs: opt.ClusterEpochs, LR: 1e-3, Seed: 1, TrainLimit: opt.ClusterTrainImages, TestLimit: opt.TestLimit}
		res, err := cluster.FineTune(ctx, ck, ds, cluster.Options{Cluster: cluster.Config{Bits: b[0], BitsA: b[1]}, Train: tc, RunDir: dir, Progress: prog})
		if err != nil {
			return err
		}
		res.Trainer.Close()
		clusterAcc[i] = 100 * res.TestAcc
		table[i]["cluster"] = res.TestAcc
		if b != [2]int{4, 8} {
			continue
		}
		// The 4-bit codebook model: exported with packed indices, measured
		// on disk and in the integer runtime.
		im, path, err := exportClusterRun(ctx, dir)
		if err != nil {
			return err
		}
		size, err := infer.FileSize(path)
		if err != nil {
			return err
		}
		rtAcc, err := export.Accuracy(ctx, im, ds.Test, 1000)
		if err != nil {
			return err
		}
		trainN := ds.Train.N
		if opt.ClusterTrainImages > 0 {
			trainN = min(trainN, opt.ClusterTrainImages)
		}
		prog.Printf("%s: %d bytes (%s), integer runtime %.2f%%", path, size, im.Precision(), 100*rtAcc)
		summary["cluster_4bit"] = map[string]any{"bits": b[0], "bits_a": b[1], "epochs": opt.ClusterEpochs, "train_images": trainN,
			"float_test_acc": res.FloatAcc, "before_finetune_acc": res.ClusterAcc, "test_acc": res.TestAcc,
			"runtime_test_acc": rtAcc, "bytes": size, "precision": im.Precision(), "model_file": path}
	}
	summary["table"] = table

	prog.Printf("== 3. export W8A8 QAT to the integer runtime")
	qck, err := rundir.LoadCheckpoint(filepath.Join(out, "qat-w8a8"))
	if err != nil {
		return err
	}
	im, err := export.Export(ctx, qck, infer.W8A8)
	if err != nil {
		return err
	}
	modelPath := filepath.Join(out, arch+"-w8a8.tqm")
	if err := im.Save(modelPath); err != nil {
		return err
	}
	size, _ := infer.FileSize(modelPath)
	floatBytes := 4 * m.NumParams()
	prog.Printf("%s: %d bytes, %.2fx smaller than %d bytes of float32 parameters", modelPath, size, float64(floatBytes)/float64(size), floatBytes)
	summary["model_bytes"], summary["float32_bytes"] = size, floatBytes

	// W4A8 QAT, exported with its 4-bit weights bit-packed: the size the
	// report compares with int8 and the codebook.
	ck4, err := rundir.LoadCheckpoint(filepath.Join(out, "qat-w4a8"))
	if err != nil {
		return err
	}
	im4, err := export.Export(ctx, ck4, infer.W8A8)
	if err != nil {
		return err
	}
	path4 := filepath.Join(out, arch+"-w4a8.tqm")
	if err := im4.Save(path4); err != nil {
		return err
	}
	size4, err := infer.FileSize(path4)
	if err != nil {
		return err
	}
	prog.Printf("%s: %d bytes (%s), %.2fx smaller than float32", path4, size4, im4.Precision(), float64(floatBytes)/float64(size4))

	prog.Printf("== 4. integer runtime against the fake-quant simulation on %d test images", ds.Test.N)
	cmp, err := export.Compare(ctx, im, qck, ds.Test, 1000)
	if err != nil {
		return err
	}
	prog.Printf("QAT weights in float %.2f%%  simulation %.2f%%  int8 runtime %.2f%%  top-1 agreement %.2f%%  bit-identical logits %.2f%%  max |Δ| %d LSB",
		100*cmp.FloatAcc, 100*cmp.SimAcc, 100*cmp.IntAcc, 100*cmp.Agreement, 100*cmp.ExactSamples, cmp.MaxLSBDiff)
	summary["int8_test_acc"], summary["sim_test_acc"], summary["agreement"] = cmp.IntAcc, cmp.SimAcc, cmp.Agreement
	summary["exact_samples"], summary["max_lsb_diff"] = cmp.ExactSamples, cmp.MaxLSBDiff

	prog.Printf("== 5. speed on the test set, batch 1000 (one pass each, same process)")
	fm, err := qck.Model()
	if err != nil {
		return err
	}
	floatSecs, intSecs, err := timeBoth(ctx, fm, im, ds.Test)
	if err != nil {
		return err
	}
	prog.Printf("float32 Gorgonia forward %.3fs, int8 runtime %.3fs: %.2fx", floatSecs, intSecs, floatSecs/intSecs)
	summary["float_forward_seconds"], summary["int8_forward_seconds"] = floatSecs, intSecs

	prog.Printf("== 6. plots")
	curves := filepath.Join(out, "test_accuracy.png")
	series, err := metricSeries(curveRuns, "test_acc")
	if err != nil {
		return err
	}
	if err := plots.Curves(curves, "MNIST test accuracy per epoch ("+arch+")", "epoch (QAT fine-tuning continues after the float epochs)", "test accuracy (%)", series); err != nil {
		return err
	}
	bars := filepath.Join(out, "accuracy_by_bits.png")
	if err := plots.Bars(bars, "Float, PTQ and QAT accuracy ("+arch+")", "test accuracy (%)", cats,
		[]plots.Group{{Name: "float", Values: floatAcc}, {Name: "PTQ", Values: ptqAcc}, {Name: "QAT", Values: qatAcc}, {Name: "k-means", Values: clusterAcc}}, "%.2f"); err != nil {
		return err
	}
	prog.Printf("wrote %s and %s", curves, bars)

	prog.Printf("\n| bits | float | PTQ | QAT (%d epochs) | k-means (%d epochs) |\n|---|---|---|---|---|", qatEpochs, opt.ClusterEpochs)
	for i, c := range cats {
		prog.Printf("| %s | %.2f%% | %.2f%% | %.2f%% | %.2f%% |", c, floatAcc[i], ptqAcc[i], qatAcc[i], clusterAcc[i])
	}
	prog.Printf("== 7. adversarial attacks, latency and report.md")
	opt.Start = start
	if _, err := demoReport(ctx, ds, out, summary, opt, prog); err != nil {
		return err
	}
	summary["seconds"] = time.Since(start).Seconds()
	if err := rundir.WriteJSON(filepath.Join(out, "summary.json"), summary); err != nil {
		return err
	}
	prog.Printf("done in %.0fs; everything is in %s", time.Since(start).Seconds(), out)
	if asJSON {
		return printJSON(summary)
	}
	return nil
}

// clusterDir holds the demo's k-means runs (clusters/wBaA/), one level
// down so that tools that take every run of the demo directory (attack)
// see only float, PTQ and QAT runs.
const clusterDir = "clusters"

// exportClusterRun exports the cluster run in dir to the integer runtime
// (W8A8, packed indices and int8 tables) as dir/model.tqm.
func exportClusterRun(ctx context.Context, dir string) (*infer.Model, string, error) {
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		return nil, "", err
	}
	im, err := export.ExportCluster(ctx, ck, infer.W8A8)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, ClusterModelFile)
	if err := im.Save(path); err != nil {
		return nil, "", err
	}
	return im, path, nil
}

// timeBoth runs the float model and the integer model over a set once each.
func timeBoth(ctx context.Context, fm *nn.Model, im *infer.Model, s *datasets.Set) (float64, float64, error) {
	p := nn.NewPredictor(fm, nil)
	defer p.Close()
	t0 := time.Now()
	if _, err := train.Accuracy(ctx, p, s, 1000); err != nil {
		return 0, 0, err
	}
	floatSecs := time.Since(t0).Seconds()
	t0 = time.Now()
	if _, err := export.Accuracy(context.Background(), im, s, 1000); err != nil {
		return 0, 0, err
	}
	return floatSecs, time.Since(t0).Seconds(), nil
}
