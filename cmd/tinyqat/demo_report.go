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
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tinyqat/tinyqat/attack"
	"github.com/tinyqat/tinyqat/cluster"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/plots"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/report"
	"github.com/tinyqat/tinyqat/rundir"
)

// reportOptions sizes the measurements that the report adds to a demo.
type reportOptions struct {
	// AttackImages is the number of test images attacked (0: skip attacks).
	AttackImages int
	// PGDSteps is the number of PGD iterations.
	PGDSteps int
	// Eps is the attack ladder.
	Eps []float64
	// LatencyImages is the number of images timed per batch size (at least
	// one batch of each size).
	LatencyImages int
	// ClusterEpochs is the centroid fine-tuning epochs of each k-means run
	// of the demo; ClusterTrainImages limits its training images (0: all).
	ClusterEpochs, ClusterTrainImages int
	// TrainLimit and TestLimit are --quick's image counts, recorded in
	// every run of the demo so that commands continuing them use the same
	// images (0: all).
	TrainLimit, TestLimit int
	// Start is when the demo began (zero: not run by a demo; the report
	// then quotes summary.json's seconds).
	Start time.Time
	// Attacks, when not empty, are results measured before (attack --out):
	// they replace the attacks.
	Attacks []*attack.Result
}

// defaultReport is for `demo`; quickReport for `demo --quick` (≈ 10 s of
// attacks and timing on 2 cores).
var (
	defaultReport = reportOptions{AttackImages: 1000, PGDSteps: 10, Eps: []float64{0, 0.05, 0.1, 0.15, 0.2, 0.3}, LatencyImages: 2000}
	quickReport   = reportOptions{AttackImages: 200, PGDSteps: 5, Eps: []float64{0, 0.05, 0.1, 0.2, 0.3}, LatencyImages: 500, ClusterTrainImages: 5000}
)

const quickHelp = "a smaller pipeline for a first look (under a minute on 2 cores): 10000 training and 2000 test images, 2 float epochs and 1 QAT epoch unless --epochs/--qat-epochs are given, k-means fine-tuning on 5000 images, attacks on 200 images"

// applyQuick shrinks the demo for --quick: the first 10000 training and
// 2000 test images, 2 float epochs and 1 QAT epoch unless given on the command
// line, k-means fine-tuning on the first 5000 training images, and the quick
// report. It returns the report options to use.
func applyQuick(cmd *cobra.Command, quick bool, ds *datasets.Pair, epochs, qatEpochs *int) reportOptions {
	if !quick {
		return defaultReport
	}
	// The runs record the whole data's fingerprint (computed, and kept,
	// before the sets shrink) with these limits, so ptq, qat, eval …
	// --from a quick demo's run find its data and use the same images.
	ds.Fingerprint()
	ds.Train, ds.Test = ds.Train.Subset(10000), ds.Test.Subset(2000)
	if !cmd.Flags().Changed("epochs") {
		*epochs = 2
	}
	if !cmd.Flags().Changed("qat-epochs") {
		*qatEpochs = 1
	}
	opt := quickReport
	opt.TrainLimit, opt.TestLimit = ds.Train.N, ds.Test.N
	return opt
}

// demoReport completes a demo directory (float/, qat-w*a*/ or ptq-w*a*/ runs,
// clusters/w*a*/ k-means runs, ARCH-w8a8.tqm, ARCH-w4a8.tqm; demos before .tqm named them .safetensors):
// it measures what the report needs and the demo
// did not — FGSM and PGD accuracy (white-box and transfer), latency at
// batch 1, 64 and 1000, per-layer weight SQNR — adds the figures to summary
// (under "adversarial", "size_bytes", "latency_us_per_image") and writes
// DIR/report.md with every chart. summary may be nil.
func demoReport(ctx context.Context, ds *datasets.Pair, dir string, summary *demoSummary, opt reportOptions, prog *progress) (*report.Written, error) {
	floatDir := filepath.Join(dir, "float")
	fck, err := rundir.LoadCheckpoint(floatDir)
	if err != nil {
		return nil, err
	}
	fm, err := fck.Model()
	if err != nil {
		return nil, err
	}
	r := &report.Results{Arch: fck.Arch, Data: ds.Dir, Epochs: fck.Epoch, FloatAcc: fck.TestAcc,
		Load: fmt.Sprintf("%d CPU(s), while other programs may run", runtime.NumCPU())}
	if summary == nil {
		summary = &demoSummary{}
	}
	if summary.Seconds != nil {
		r.Seconds = *summary.Seconds
	}

	if err := reportQATRuns(dir, floatDir, fm, r); err != nil {
		return nil, err
	}
	cluster4, err := reportClusterRuns(dir, r)
	if err != nil {
		return nil, err
	}
	sizes, im, err := reportSizes(dir, fck, fm, cluster4, r)
	if err != nil {
		return nil, err
	}
	if s := summary; s.Int8TestAcc != nil {
		c := &report.Int8Check{Name: "QAT W8A8", IntAcc: *s.Int8TestAcc}
		c.SimAcc = deref(s.SimTestAcc)
		c.Agreement = deref(s.Agreement)
		c.Exact = deref(s.ExactSamples)
		c.MaxLSBDiff = int(deref(s.MaxLSBDiff))
		r.Int8 = c
	}
	if opt.LatencyImages > 0 {
		lat, err := reportLatency(ds, fm, im, opt, r, prog)
		if err != nil {
			return nil, err
		}
		summary.LatencyUS = lat
	}
	if err := reportAttacks(ctx, ds, dir, opt, r, prog); err != nil {
		return nil, err
	}
	if len(r.Attacks) > 0 {
		summary.Adversarial = adversarialSummary(r.Attacks)
	}
	summary.SizeBytes = sizes
	if !opt.Start.IsZero() {
		r.Seconds = time.Since(opt.Start).Seconds()
	}
	wr, err := report.Write(dir, r)
	if err != nil {
		return nil, err
	}
	prog.Printf("wrote %s and %d chart files", wr.Report, len(wr.Charts))
	return wr, nil
}

// reportQATRuns adds the demo's QAT runs to r: a row of the accuracy
// table each (PTQ from its epoch-0 line), the test accuracy and training
// loss curves of every run and the float one, and the float model's
// weighted layers.
func reportQATRuns(dir, floatDir string, fm *nn.Model, r *report.Results) error {
	runs, err := runDirs(dir, "float")
	if err != nil {
		return err
	}
	curveRuns := []string{floatDir}
	for _, p := range runs {
		ck, err := rundir.LoadCheckpoint(p)
		if err != nil {
			return err
		}
		if ck.Phase != rundir.PhaseQAT {
			continue
		}
		_, q, err := qat.Load(ck)
		if err != nil {
			return err
		}
		ms, err := rundir.ReadMetrics(p)
		if err != nil {
			return err
		}
		row := report.BitsRow{Name: fmt.Sprintf("W%dA%d", q.Cfg.BitsW, q.Cfg.BitsA), BitsW: q.Cfg.BitsW, BitsA: q.Cfg.BitsA,
			PTQ: math.NaN(), QAT: ck.TestAcc, Cluster: math.NaN()}
		for _, m := range ms {
			if m.Phase == rundir.PhasePTQ {
				row.PTQ = m.TestAcc
			}
		}
		r.Bits = append(r.Bits, row)
		r.QATEpochs = max(r.QATEpochs, ck.Epoch)
		curveRuns = append(curveRuns, p)
	}
	sort.Slice(r.Bits, func(i, j int) bool {
		if r.Bits[i].BitsW != r.Bits[j].BitsW {
			return r.Bits[i].BitsW > r.Bits[j].BitsW
		}
		return r.Bits[i].BitsA > r.Bits[j].BitsA
	})
	if r.TestAcc, err = metricSeries(curveRuns, "test_acc"); err != nil {
		return err
	}
	if r.TrainLoss, err = metricSeries(curveRuns, "train_loss"); err != nil {
		return err
	}
	for _, p := range fm.Params {
		if p.Axis >= 0 {
			r.Layers = append(r.Layers, report.Layer{Name: strings.TrimSuffix(p.Name, ".weight"), Weights: p.Data(), Shape: p.Value.Shape().Clone(), Axis: p.Axis})
		}
	}

	return nil
}

// reportClusterRuns adds the demo's k-means runs (clusters/wBaA/) to r:
// the clustering column of the accuracy table, and the centroids of the
// 4-bit codebook (W4A8) over the weight histograms. It returns that
// W4A8 run's directory ("" without one).
func reportClusterRuns(dir string, r *report.Results) (cluster4 string, err error) {
	cdirs, err := runDirs(filepath.Join(dir, clusterDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	for _, p := range cdirs {
		ck, err := rundir.LoadCheckpoint(p)
		if err != nil {
			return "", err
		}
		if ck.Phase != rundir.PhaseCluster {
			continue
		}
		_, cl, err := cluster.Load(ck)
		if err != nil {
			return "", err
		}
		for i := range r.Bits {
			if r.Bits[i].BitsW == cl.Cfg.Bits && r.Bits[i].BitsA == cl.Cfg.BitsA {
				r.Bits[i].Cluster = ck.TestAcc
			}
		}
		r.ClusterEpochs = max(r.ClusterEpochs, ck.Epoch)
		if cl.Cfg.Bits != 4 || cl.Cfg.BitsA != 8 || cl.Cfg.PerChannel {
			continue
		}
		cluster4 = p
		for i := range r.Layers {
			if cb := cl.Codebook(r.Layers[i].Name + ".weight"); cb != nil && len(cb.Index) == len(r.Layers[i].Weights) {
				r.Layers[i].Centroids = slices.Clone(cb.Centroids)
				r.Layers[i].Clustered = make([]float32, len(cb.Index))
				cb.Decode(r.Layers[i].Clustered)
			}
		}
	}

	return cluster4, nil
}

// reportSizes adds the model sizes to r: the float32 parameters, then
// every integer model file of the demo. It returns them by key, and the
// int8 model (nil when the demo wrote none) for the latency measurement.
func reportSizes(dir string, fck *rundir.Checkpoint, fm *nn.Model, cluster4 string, r *report.Results) (map[string]int64, *infer.Model, error) {
	sizes := map[string]int64{"float32": int64(4 * fm.NumParams())}
	r.Sizes = append(r.Sizes, report.Size{Name: "float32", Bytes: sizes["float32"]})
	int8File := demoModelFile(dir, fck.Arch+"-w8a8")
	// Each file must hold what its name says (a renamed file is refused).
	im, err := modelFileOf(int8File, fck.Arch, "w8a8")
	if err != nil {
		return nil, nil, err
	}
	for _, f := range []struct{ key, name, path, precision string }{
		{"int8", "int8", int8File, "w8a8"},
		{"int4_packed", "int4 packed", demoModelFile(dir, fck.Arch+"-w4a8"), "w4a8"},
		{"clustered", "4-bit k-means", demoModelFile(cluster4, "model"), "c4a8"},
	} {
		if f.key == "clustered" && cluster4 == "" {
			continue
		}
		if m, err := modelFileOf(f.path, fck.Arch, f.precision); err != nil {
			return nil, nil, err
		} else if m == nil {
			continue
		}
		n, err := infer.FileSize(f.path)
		if err != nil {
			return nil, nil, err
		}
		sizes[f.key] = n
		r.Sizes = append(r.Sizes, report.Size{Name: f.name, Bytes: n})
	}
	return sizes, im, nil
}

// reportLatency measures µs per image at batch 1, 64 and 1000, the float32
// runtime (fm's float model) and the int8 runtime (im, if not nil) side by
// side, adds them to r and returns them by engine and batch for the
// summary.
func reportLatency(ds *datasets.Pair, fm *nn.Model, im *infer.Model, opt reportOptions, r *report.Results, prog *progress) (map[string]map[string]float64, error) {
	prog.Printf("== report: latency at batch 1, 64, 1000")
	lat := map[string]map[string]float64{}
	fp, err := export.FloatFromNet(context.Background(), fm, infer.Source{})
	if err != nil {
		return nil, err
	}
	logits := make([]float32, 1000*fm.Classes)
	for _, b := range []int{1, 64, 1000} {
		n := max(b, min(opt.LatencyImages, ds.Test.N)/b*b)
		set := ds.Test.Subset(n)
		if set.N < b {
			continue
		}
		fus, err := timePerImage(func(x []float32, k int) error { return fp.FloatLogitsInto(logits[:k*fm.Classes], x, k) }, set, b)
		if err != nil {
			return nil, err
		}
		r.Latency = append(r.Latency, report.Latency{Engine: "float32 runtime", Batch: b, MicrosPerImage: fus})
		setLat(lat, "float32", b, fus)
		if im != nil {
			ius, err := timePerImage(func(x []float32, k int) error { _, err := im.Predict(x, k); return err }, set, b)
			if err != nil {
				return nil, err
			}
			r.Latency = append(r.Latency, report.Latency{Engine: "int8 runtime", Batch: b, MicrosPerImage: ius})
			setLat(lat, "int8", b, ius)
		}
	}
	if im != nil && (im.Mode == infer.W8A8 || im.Mode == infer.W8A8Asym) && ds.Test.N >= 64 {
		prog.Printf("== report: roofline at batch 64 (peak, bandwidth, layer times)")
		rf, err := measureRoofline(im, ds.Test, 64)
		if err != nil {
			return nil, err
		}
		r.Roofline = rf
	}
	return lat, nil
}

// measureRoofline measures the int8 peak and bandwidths of one core and
// im's layer times on the first b images of set (the fastest of 5
// rounds), as bench --layers --roofline does.
func measureRoofline(im *infer.Model, set *datasets.Set, b int) (*plots.Roofline, error) {
	peak := infer.MeasurePeak(200 * time.Millisecond)
	bw, err := measureBandwidths(true)
	if err != nil {
		return nil, err
	}
	x := make([]float32, b*set.Size())
	for i := range b {
		datasets.ToFloat(x[i*set.Size():(i+1)*set.Size()], set.Image(i))
	}
	times, err := im.TimeLayers(x, b, 5)
	if err != nil {
		return nil, err
	}
	rf := rooflineChart(im.Arch, peak, "int8 peak ("+peak.Level+")", bw, []plots.RooflineSeries{rooflineSeries(im, times, b)})
	return &rf, nil
}

// reportAttacks sets r's attack results: opt.Attacks when given, else
// FGSM and PGD on the first opt.AttackImages test images.
func reportAttacks(ctx context.Context, ds *datasets.Pair, dir string, opt reportOptions, r *report.Results, prog *progress) error {
	r.Attacks = opt.Attacks
	if opt.AttackImages > 0 && len(opt.Attacks) == 0 {
		suite, err := loadSuite(ctx, dir, nil, "", []int{1}, nil)
		if err != nil {
			return err
		}
		set := ds.Test.Subset(opt.AttackImages)
		for _, m := range []attack.Method{attack.FGSM, attack.PGD} {
			prog.Printf("== report: %s on %d test images: %s", strings.ToUpper(string(m)), set.N, suiteNames(suite))
			res, err := attack.Evaluate(ctx, set, suite, opt.Eps, attack.Config{Method: m, Steps: opt.PGDSteps, Seed: 1}, func(s string) { prog.Printf("%s", s) })
			if err != nil {
				return err
			}
			r.Attacks = append(r.Attacks, res)
		}
	}
	return nil
}

func setLat(m map[string]map[string]float64, engine string, batch int, us float64) {
	if m[engine] == nil {
		m[engine] = map[string]float64{}
	}
	m[engine][strconv.Itoa(batch)] = us
}

// timePerImage runs f over set in batches of b, once untimed (graph
// building, caches), then timed; it returns µs per image.
func timePerImage(f func(x []float32, n int) error, set *datasets.Set, b int) (float64, error) {
	x := make([]float32, b*set.Size())
	labels := make([]int, b)
	pass := func() error {
		bt := datasets.NewBatcher(set, b, false, 0)
		for n := bt.Next(x, labels); n > 0; n = bt.Next(x, labels) {
			if err := f(x[:n*set.Size()], n); err != nil {
				return err
			}
		}
		return nil
	}
	warm := set.Subset(b)
	bt := datasets.NewBatcher(warm, b, false, 0)
	if n := bt.Next(x, labels); n > 0 {
		if err := f(x[:n*set.Size()], n); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	if err := pass(); err != nil {
		return 0, err
	}
	return float64(time.Since(t0).Microseconds()) / float64(set.N), nil
}

// maxReportJSON bounds summary.json and an attack result file (a few
// kilobytes each).
const maxReportJSON = 16 << 20

// reportCmd regenerates the report of an existing demo directory.
func reportCmd() *cobra.Command {
	var (
		dir, data, attacks string
		quick              bool
	)
	c := &cobra.Command{
		Use:   "report --from DEMO_DIR [--quick]",
		Short: "Measure attacks and latency for a demo directory and write its report.md with every chart",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("report: --from DEMO_DIR is required")
			}
			// The demo's float run names its data; --data must be the same.
			fck, err := rundir.LoadCheckpoint(filepath.Join(dir, "float"))
			if err != nil {
				if _, serr := os.Stat(filepath.Join(dir, "float", rundir.CheckpointFile)); errors.Is(serr, fs.ErrNotExist) {
					return fmt.Errorf("report: %s is not a demo directory (no float run in %s)", dir, filepath.Join(dir, "float"))
				}
				return fmt.Errorf("report: the demo's float run: %w", err)
			}
			// The charts and report.md go into dir: checked before the
			// attacks and timings, not after them.
			if err := checkOutDir("report:", filepath.Join(dir, "report.md")); err != nil {
				return err
			}
			ds, err := loadRunData(cmd, data, fck)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			summaryPath := filepath.Join(dir, "summary.json")
			summary := &demoSummary{}
			if b, err := stfile.ReadRegular(summaryPath, maxReportJSON); err == nil {
				if err := json.Unmarshal(b, summary); err != nil {
					return fmt.Errorf("report: %s: %v", summaryPath, err)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("report: %w", err)
			}
			opt := defaultReport
			if quick {
				opt = quickReport
			}
			for _, p := range splitList(attacks) {
				b, err := stfile.ReadRegular(p, maxReportJSON)
				if err != nil {
					return fmt.Errorf("report: --attacks: %w", err)
				}
				var res attack.Result
				if err := json.Unmarshal(b, &res); err != nil {
					return fmt.Errorf("report: %s is not the JSON of tinyqat attack --out (%v)", p, err)
				}
				if len(res.Curves) == 0 || len(res.Eps) == 0 || res.Samples < 1 {
					return fmt.Errorf("report: %s is not the JSON of tinyqat attack --out (it holds %d curves, %d eps and %d samples)", p, len(res.Curves), len(res.Eps), res.Samples)
				}
				for _, c := range res.Curves {
					if len(c.Acc) != len(res.Eps) {
						return fmt.Errorf("report: %s: curve %s/%s has %d values for %d eps", p, c.Model, c.Threat, len(c.Acc), len(res.Eps))
					}
				}
				opt.Attacks = append(opt.Attacks, &res)
			}
			if _, err := demoReport(cmd.Context(), ds, dir, summary, opt, newProgress(os.Stdout)); err != nil {
				return err
			}
			return rundir.WriteJSON(summaryPath, summary)
		},
	}
	c.RunE = namedStage("report", c.RunE)
	f := c.Flags()
	f.StringVar(&dir, "from", "", "demo output directory (float/, qat-w*a*/, ARCH-w8a8.tqm)")
	f.StringVar(&data, "data", "", "dataset directory: IDX files, image folders or CIFAR-10 binaries (default: the data the demo was trained on)")
	f.BoolVar(&quick, "quick", false, "attack 200 images with 5 PGD steps and time 500 images (instead of 1000, 10 and 2000)")
	f.StringVar(&attacks, "attacks", "", "comma-separated JSON files of tinyqat attack --out to report instead of attacking again")
	return c
}

// demoModelFile is the model file dir/base.tqm, or dir/base.safetensors
// where only that exists (a demo directory written before model files
// were named .tqm).
func demoModelFile(dir, base string) string {
	p := filepath.Join(dir, base+".tqm")
	if _, err := os.Lstat(p); err != nil {
		if old := filepath.Join(dir, base+".safetensors"); fileExists(old) {
			return old
		}
	}
	return p
}
