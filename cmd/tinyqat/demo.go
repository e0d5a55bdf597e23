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
	f.StringVar(&data, "data", "", "dataset directory: IDX files, image folders or CIFAR-10 binaries (default: MNIST from the Go module cache)")
	f.StringVar(&arch, "model", "lenet300", "lenet300 or lenet5")
	f.IntVar(&epochs, "epochs", 10, "float training epochs")
	f.IntVar(&qatEpochs, "qat-epochs", 2, "QAT fine-tuning epochs per bit-width")
	f.IntVar(&clusterEpochs, "cluster-epochs", 1, "centroid fine-tuning epochs of each k-means (codebook) run (0: cluster only)")
	f.BoolVar(&asJSON, "json", false, "print the summary as one JSON line at the end")
	f.BoolVar(&quick, "quick", false, quickHelp)
	return c
}

// demoBits are the demo's bit-widths, {weights, activations}.
var demoBits = [][2]int{{8, 8}, {4, 8}, {4, 4}}

// demo is a demo run in progress: its settings and what each step
// hands to the next and to the summary.
type demo struct {
	ds      *datasets.Pair
	arch    string
	out     string
	opt     reportOptions
	prog    *progress
	start   time.Time
	summary *demoSummary

	cats                                 []string  // "W8A8", ... per demoBits
	floatAcc, ptqAcc, qatAcc, clusterAcc []float64 // %, per demoBits
	curveRuns                            []string  // run directories with test accuracy curves
	table                                []demoRow
}

func runDemo(ctx context.Context, ds *datasets.Pair, arch string, epochs, qatEpochs int, out string, asJSON bool, opt reportOptions) error {
	d := &demo{ds: ds, arch: arch, out: out, opt: opt, prog: newProgress(os.Stdout), start: time.Now(),
		summary: &demoSummary{Model: new(arch), Data: new(ds.Dir), Epochs: new(epochs), QATEpochs: new(qatEpochs)}}
	ck, m, err := d.float(ctx, epochs)
	if err != nil {
		return err
	}
	if err := d.quantize(ctx, ck, qatEpochs); err != nil {
		return err
	}
	if err := d.cluster(ctx, ck); err != nil {
		return err
	}
	d.summary.Table = d.table
	im, qck, err := d.export(ctx, m)
	if err != nil {
		return err
	}
	if err := d.compare(ctx, im, qck); err != nil {
		return err
	}
	if err := d.plot(qatEpochs); err != nil {
		return err
	}
	prog, summary, start := d.prog, d.summary, d.start
	prog.Printf("== 7. adversarial attacks, latency and report.md")
	opt.Start = start
	if _, err := demoReport(ctx, ds, out, summary, opt, prog); err != nil {
		return err
	}
	summary.Seconds = new(time.Since(start).Seconds())
	if err := rundir.WriteJSON(filepath.Join(out, "summary.json"), summary); err != nil {
		return err
	}
	prog.Printf("done in %.0fs; everything is in %s", time.Since(start).Seconds(), out)
	if asJSON {
		return printJSON(summary)
	}
	return nil
}

// float trains the float model (step 1) and returns its checkpoint.
func (d *demo) float(ctx context.Context, epochs int) (*rundir.Checkpoint, *nn.Model, error) {
	d.prog.Printf("== 1. float training: %s, %d epochs", d.arch, epochs)
	m, err := nn.New(d.arch, nn.Shape{C: d.ds.Train.C, H: d.ds.Train.H, W: d.ds.Train.W}, d.ds.Train.Classes, 1)
	if err != nil {
		return nil, nil, err
	}
	tr, err := train.NewTrainer(m, d.ds, rundir.Config{Epochs: epochs, Seed: 1, TrainLimit: d.opt.TrainLimit, TestLimit: d.opt.TestLimit})
	if err != nil {
		return nil, nil, err
	}
	defer tr.Close()
	floatDir := filepath.Join(d.out, "float")
	tr.RunDir, tr.Progress = floatDir, d.prog
	if err := tr.Run(ctx); err != nil {
		return nil, nil, err
	}
	d.summary.FloatTestAcc = new(tr.TestAcc)
	ck, err := rundir.LoadCheckpoint(floatDir)
	if err != nil {
		return nil, nil, err
	}
	d.curveRuns = []string{floatDir}
	return ck, m, nil
}

// quantize runs PTQ then QAT at each of demoBits (step 2).
func (d *demo) quantize(ctx context.Context, ck *rundir.Checkpoint, qatEpochs int) error {
	n := len(demoBits)
	d.floatAcc, d.ptqAcc, d.qatAcc = make([]float64, n), make([]float64, n), make([]float64, n)
	for i, b := range demoBits {
		name := fmt.Sprintf("W%dA%d", b[0], b[1])
		d.cats = append(d.cats, name)
		qc := qat.Config{BitsW: b[0], BitsA: b[1]}
		d.prog.Printf("== 2. %s: post-training quantization, then %d QAT epoch%s", name, qatEpochs, plural(qatEpochs))
		dir := filepath.Join(d.out, fmt.Sprintf("qat-w%da%d", b[0], b[1]))
		res, err := qat.Quantize(ctx, ck, d.ds, qat.Options{Quant: qc, Train: rundir.Config{Epochs: qatEpochs, LR: 1e-3, Seed: 1, TrainLimit: d.opt.TrainLimit, TestLimit: d.opt.TestLimit}, RunDir: dir, Progress: d.prog})
		if err != nil {
			return err
		}
		res.Trainer.Close() // its graphs are not needed again
		d.floatAcc[i], d.ptqAcc[i], d.qatAcc[i] = 100*res.FloatAcc, 100*res.PTQAcc, 100*res.TestAcc
		d.curveRuns = append(d.curveRuns, dir)
		d.table = append(d.table, demoRow{Bits: name, Float: res.FloatAcc, PTQ: res.PTQAcc, QAT: res.TestAcc})
	}
	return nil
}

// cluster runs k-means codebooks at the same bit-widths (step 2b;
// weights: B-bit indices into one table per layer; activations: the same
// uniform quantizer), and exports and measures the 4-bit one.
func (d *demo) cluster(ctx context.Context, ck *rundir.Checkpoint) error {
	d.clusterAcc = make([]float64, len(demoBits))
	for i, b := range demoBits {
		d.prog.Printf("== 2b. %s: %d-bit k-means codebooks, %d fine-tuning epoch%s of the centroids", d.cats[i], b[0], d.opt.ClusterEpochs, plural(d.opt.ClusterEpochs))
		dir := filepath.Join(d.out, clusterDir, fmt.Sprintf("w%da%d", b[0], b[1]))
		tc := rundir.Config{Epochs: d.opt.ClusterEpochs, LR: 1e-3, Seed: 1, TrainLimit: d.opt.ClusterTrainImages, TestLimit: d.opt.TestLimit}
		res, err := cluster.FineTune(ctx, ck, d.ds, cluster.Options{Cluster: cluster.Config{Bits: b[0], BitsA: b[1]}, Train: tc, RunDir: dir, Progress: d.prog})
		if err != nil {
			return err
		}
		res.Trainer.Close()
		d.clusterAcc[i] = 100 * res.TestAcc
		d.table[i].Cluster = new(res.TestAcc)
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
		rtAcc, err := export.Accuracy(ctx, im, d.ds.Test, 1000)
		if err != nil {
			return err
		}
		trainN := d.ds.Train.N
		if d.opt.ClusterTrainImages > 0 {
			trainN = min(trainN, d.opt.ClusterTrainImages)
		}
		d.prog.Printf("%s: %d bytes (%s), integer runtime %.2f%%", path, size, im.Precision(), 100*rtAcc)
		d.summary.Cluster4Bit = &clusterSummary{Bits: b[0], BitsA: b[1], Epochs: d.opt.ClusterEpochs, TrainImages: trainN,
			FloatTestAcc: res.FloatAcc, BeforeFinetuneAcc: res.ClusterAcc, TestAcc: res.TestAcc,
			RuntimeTestAcc: rtAcc, Bytes: size, Precision: im.Precision(), ModelFile: path}
	}
	return nil
}

// export writes the W8A8 and W4A8 QAT runs as integer model files
// (step 3) and returns the W8A8 model and its checkpoint.
func (d *demo) export(ctx context.Context, m *nn.Model) (*infer.Model, *rundir.Checkpoint, error) {
	d.prog.Printf("== 3. export W8A8 QAT to the integer runtime")
	qck, err := rundir.LoadCheckpoint(filepath.Join(d.out, "qat-w8a8"))
	if err != nil {
		return nil, nil, err
	}
	im, err := export.Export(ctx, qck, infer.W8A8)
	if err != nil {
		return nil, nil, err
	}
	modelPath := filepath.Join(d.out, d.arch+"-w8a8.tqm")
	if err := im.Save(modelPath); err != nil {
		return nil, nil, err
	}
	size, _ := infer.FileSize(modelPath)
	floatBytes := 4 * m.NumParams()
	d.prog.Printf("%s: %d bytes, %.2fx smaller than %d bytes of float32 parameters", modelPath, size, float64(floatBytes)/float64(size), floatBytes)
	d.summary.ModelBytes, d.summary.Float32Bytes = new(size), new(floatBytes)

	// W4A8 QAT, exported with its 4-bit weights bit-packed: the size the
	// report compares with int8 and the codebook.
	ck4, err := rundir.LoadCheckpoint(filepath.Join(d.out, "qat-w4a8"))
	if err != nil {
		return nil, nil, err
	}
	im4, err := export.Export(ctx, ck4, infer.W8A8)
	if err != nil {
		return nil, nil, err
	}
	path4 := filepath.Join(d.out, d.arch+"-w4a8.tqm")
	if err := im4.Save(path4); err != nil {
		return nil, nil, err
	}
	size4, err := infer.FileSize(path4)
	if err != nil {
		return nil, nil, err
	}
	d.prog.Printf("%s: %d bytes (%s), %.2fx smaller than float32", path4, size4, im4.Precision(), float64(floatBytes)/float64(size4))
	return im, qck, nil
}

// compare checks the integer runtime against the fake-quant simulation
// (step 4) and times both (step 5).
func (d *demo) compare(ctx context.Context, im *infer.Model, qck *rundir.Checkpoint) error {
	d.prog.Printf("== 4. integer runtime against the fake-quant simulation on %d test images", d.ds.Test.N)
	cmp, err := export.Compare(ctx, im, qck, d.ds.Test, 1000)
	if err != nil {
		return err
	}
	d.prog.Printf("QAT weights in float %.2f%%  simulation %.2f%%  int8 runtime %.2f%%  top-1 agreement %.2f%%  bit-identical logits %.2f%%  max |Δ| %d LSB",
		100*cmp.FloatAcc, 100*cmp.SimAcc, 100*cmp.IntAcc, 100*cmp.Agreement, 100*cmp.ExactSamples, cmp.MaxLSBDiff)
	d.summary.Int8TestAcc, d.summary.SimTestAcc, d.summary.Agreement = new(cmp.IntAcc), new(cmp.SimAcc), new(cmp.Agreement)
	d.summary.ExactSamples, d.summary.MaxLSBDiff = new(cmp.ExactSamples), new(cmp.MaxLSBDiff)

	d.prog.Printf("== 5. speed on the test set, batch 1000 (one pass each, same process)")
	fm, err := qck.Model()
	if err != nil {
		return err
	}
	floatSecs, intSecs, err := timeBoth(ctx, fm, im, d.ds.Test)
	if err != nil {
		return err
	}
	d.prog.Printf("float32 runtime %.3fs, int8 runtime %.3fs: %.2fx", floatSecs, intSecs, floatSecs/intSecs)
	d.summary.FloatForwardSeconds, d.summary.Int8ForwardSeconds = new(floatSecs), new(intSecs)
	return nil
}

// plot draws the accuracy curves and bars (step 6) and prints the table.
func (d *demo) plot(qatEpochs int) error {
	d.prog.Printf("== 6. plots")
	curves := filepath.Join(d.out, "test_accuracy.png")
	series, err := metricSeries(d.curveRuns, "test_acc")
	if err != nil {
		return err
	}
	if err := plots.Curves(curves, "MNIST test accuracy per epoch ("+d.arch+")", "epoch (QAT fine-tuning continues after the float epochs)", "test accuracy (%)", series); err != nil {
		return err
	}
	bars := filepath.Join(d.out, "accuracy_by_bits.png")
	if err := plots.Bars(bars, "Float, PTQ and QAT accuracy ("+d.arch+")", "test accuracy (%)", d.cats,
		[]plots.Group{{Name: "float", Values: d.floatAcc}, {Name: "PTQ", Values: d.ptqAcc}, {Name: "QAT", Values: d.qatAcc}, {Name: "k-means", Values: d.clusterAcc}}, "%.2f"); err != nil {
		return err
	}
	d.prog.Printf("wrote %s and %s", curves, bars)

	d.prog.Printf("\n| bits | float | PTQ | QAT (%d epoch%s) | k-means (%d epoch%s) |\n|---|---|---|---|---|", qatEpochs, plural(qatEpochs), d.opt.ClusterEpochs, plural(d.opt.ClusterEpochs))
	for i, c := range d.cats {
		d.prog.Printf("| %s | %.2f%% | %.2f%% | %.2f%% | %.2f%% |", c, d.floatAcc[i], d.ptqAcc[i], d.qatAcc[i], d.clusterAcc[i])
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
	im, err := export.Export(ctx, ck, infer.W8A8)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, ClusterModelFile)
	if err := im.Save(path); err != nil {
		return nil, "", err
	}
	return im, path, nil
}

// timeBoth runs the float model (on the float32 runtime) and the integer
// model over a set once each.
func timeBoth(ctx context.Context, fm *nn.Model, im *infer.Model, s *datasets.Set) (float64, float64, error) {
	f, err := export.FloatFromNet(ctx, fm, infer.Source{})
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if _, err := export.Accuracy(ctx, f, s, 1000); err != nil {
		return 0, 0, err
	}
	floatSecs := time.Since(t0).Seconds()
	t0 = time.Now()
	if _, err := export.Accuracy(context.Background(), im, s, 1000); err != nil {
		return 0, 0, err
	}
	return floatSecs, time.Since(t0).Seconds(), nil
}
