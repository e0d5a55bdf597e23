// Package report turns a pipeline's results into charts and a markdown
// report (report.md) that a person can read without the code: a summary
// table, every chart embedded, and under each chart one paragraph, written
// from the numbers, that says what the chart shows.
//
// It computes only what is a function of the inputs (quantization error of
// the given weights, ratios, differences); measurements (accuracies, sizes,
// latencies, attacks) come from the caller.
package report

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tinyqat/tinyqat/attack"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/plots"
)

// FileName is the report's name inside the output directory.
const FileName = "report.md"

// Results is what a pipeline run measured. Accuracies are fractions in
// [0, 1]. Any part may be empty: its chart and paragraph are then left out.
type Results struct {
	Arch      string // "lenet300"
	Data      string // data set directory or name
	Epochs    int    // float epochs
	QATEpochs int    // QAT epochs per bit-width
	// ClusterEpochs is the centroid fine-tuning epochs of the k-means runs.
	ClusterEpochs int
	FloatAcc      float64
	// Bits has one row per quantized configuration.
	Bits []BitsRow
	// Int8 is the integer runtime's check against the simulation (nil: not run).
	Int8 *Int8Check
	// Sizes are model sizes in bytes ("float32", "int8", "int4 packed", "clustered").
	Sizes []Size
	// Latency figures, µs per image.
	Latency []Latency
	// Roofline is the integer runtime's layers against the peak and
	// bandwidths measured on the machine (nil: not measured); drawn in
	// the speed section, so only with Latency.
	Roofline *plots.Roofline
	// TestAcc and TrainLoss are per-epoch curves (X: epoch on one axis
	// through float training then QAT; Y: accuracy in % or loss).
	TestAcc, TrainLoss []plots.Series
	// Layers hold the float weights of each weighted layer (for the
	// histogram and the quantization error).
	Layers []Layer
	// HistLayer names the layer whose histogram is drawn ("" = the first).
	HistLayer string
	// Attacks are adversarial evaluations (FGSM, PGD).
	Attacks []*attack.Result
	// Seconds is the pipeline's wall time (0: unknown).
	Seconds float64
	// Load describes the measuring conditions ("2 cores shared with 6 other jobs").
	Load string
}

// BitsRow is one bit-width's accuracies. Cluster is the k-means
// (codebook) accuracy, or NaN when clustering was not run.
type BitsRow struct {
	Name         string // "W4A8"
	BitsW, BitsA int
	PTQ, QAT     float64
	Cluster      float64
}

// Int8Check compares the integer runtime with the fake-quant simulation.
type Int8Check struct {
	Name              string // which checkpoint was exported ("QAT W8A8")
	SimAcc, IntAcc    float64
	Agreement, Exact  float64 // top-1 agreement; share of bit-identical logits
	MaxLSBDiff        int
	FloatSecs, IntSec float64 // one pass over the test set (0: not timed)
}

// Size is a model's size.
type Size struct {
	Name  string
	Bytes int64
}

// Latency is µs per image of one engine at one batch size.
type Latency struct {
	Engine         string
	Batch          int
	MicrosPerImage float64
}

// Layer is a weighted layer's float weights, laid out as in nn.Param, with
// the output-channel axis (1 for Linear, 0 for Conv2D).
type Layer struct {
	Name    string
	Weights []float32
	Shape   []int
	Axis    int
	// Centroids are the layer's k-means codebook (nil: none), drawn on the
	// histogram; Clustered are its weights as the codebook stores them
	// (each replaced by its centroid; nil: none), for the SQNR chart.
	Centroids, Clustered []float32
}

// Written lists what Write produced.
type Written struct {
	Report string   // path of report.md
	Charts []string // every chart file (PNG and SVG)
}

// SQNRBits are the bit-widths of the quantization-error chart.
var SQNRBits = []int{8, 4, 2}

// chart is one chart of the report: its base name, heading and paragraph.
type chart struct {
	base, heading, text string
}

// Write draws every chart the results allow into dir (PNG, embedded, and
// SVG, linked) and writes dir/report.md atomically.
func Write(dir string, r *Results) (*Written, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	w := &Written{Report: filepath.Join(dir, FileName)}
	var charts []chart
	draw := func(base string, f func(path string) error) error {
		for _, ext := range []string{".png", ".svg"} {
			p := filepath.Join(dir, base+ext)
			if err := f(p); err != nil {
				return fmt.Errorf("report: %s: %w", base, err)
			}
			w.Charts = append(w.Charts, p)
		}
		return nil
	}
	add := func(base, heading, text string, f func(path string) error) error {
		if err := draw(base, f); err != nil {
			return err
		}
		charts = append(charts, chart{base, heading, text})
		return nil
	}

	if len(r.TestAcc) > 0 {
		if err := add("curve_test_accuracy", "Test accuracy per epoch", curvesText(r), func(p string) error {
			return plots.CurvesLegendRight(p, "Test accuracy per epoch ("+r.Arch+")", "epoch (float training, then QAT fine-tuning)", "test accuracy (%)", r.TestAcc)
		}); err != nil {
			return nil, err
		}
	}
	if len(r.TrainLoss) > 0 {
		if err := add("curve_train_loss", "Training loss per epoch", lossText(r), func(p string) error {
			return plots.CurvesLegendRight(p, "Training loss per epoch ("+r.Arch+")", "epoch (float training, then QAT fine-tuning)", "mean cross-entropy (nats)", r.TrainLoss)
		}); err != nil {
			return nil, err
		}
	}
	if len(r.Bits) > 0 {
		series := bitsSeries(r.Bits)
		if err := add("accuracy_vs_bits", "Accuracy against weight bits", bitsText(r), func(p string) error {
			return plots.AccuracyByBits(p, "Test accuracy against weight bits ("+r.Arch+"; A8, A4: activation bits)", 100*r.FloatAcc, series)
		}); err != nil {
			return nil, err
		}
	}
	if l := r.histLayer(); l != nil {
		h, text := histogram(l, r.ClusterEpochs)
		if err := add("weights_"+l.Name, "Weights of "+l.Name+" and the quantization grids", text, func(p string) error {
			return plots.WeightHistogram(p, h)
		}); err != nil {
			return nil, err
		}
	}
	if len(r.Layers) > 0 {
		sq, err := SQNRTable(r.Layers, SQNRBits)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(r.Layers))
		for i, l := range r.Layers {
			names[i] = l.Name
		}
		groups := make([]plots.Group, len(SQNRBits))
		for j, b := range SQNRBits {
			groups[j] = plots.Group{Name: fmt.Sprintf("%d-bit uniform, per channel", b), Values: make([]float64, len(r.Layers))}
			for i := range r.Layers {
				groups[j].Values[i] = sq[i][j]
			}
		}
		cl, clName, err := clusterSQNR(r.Layers)
		if err != nil {
			return nil, err
		}
		if cl != nil {
			groups = append(groups, plots.Group{Name: clName, Values: cl})
		}
		if err := add("sqnr", "Where the precision is lost: quantization error per layer", sqnrText(names, sq, cl, clName), func(p string) error {
			return plots.GroupedBars(p, plots.BarChart{Title: "Weight quantization SQNR per layer (" + r.Arch + ")", XLabel: "layer",
				YLabel: "SQNR (dB, higher is better)", Categories: names, Groups: groups, Format: "%.1f"})
		}); err != nil {
			return nil, err
		}
	}
	if len(r.Sizes) > 0 {
		cats := make([]string, len(r.Sizes))
		vals := make([]float64, len(r.Sizes))
		for i, s := range r.Sizes {
			cats[i], vals[i] = s.Name, float64(s.Bytes)/1024
			if i > 0 && s.Bytes > 0 {
				cats[i] += fmt.Sprintf("\n%.2f× smaller", float64(r.Sizes[0].Bytes)/float64(s.Bytes))
			}
		}
		if err := add("model_size", "Model size", sizeText(r.Sizes), func(p string) error {
			return plots.GroupedBars(p, plots.BarChart{Title: "Size of the model's weights and file (" + r.Arch + ")", XLabel: "storage (ratio against " + r.Sizes[0].Name + ")",
				YLabel: "size (KiB, 1 KiB = 1024 bytes)", Categories: cats, Groups: []plots.Group{{Values: vals}}, Format: "%.1f"})
		}); err != nil {
			return nil, err
		}
	}
	if len(r.Latency) > 0 {
		cats, groups := latencyGroups(r.Latency)
		for _, g := range groups {
			for j, v := range g.Values {
				if math.IsNaN(v) {
					g.Values[j] = 0 // not measured: no bar
				}
			}
		}
		if err := add("latency", "Latency by batch size", latencyText(r), func(p string) error {
			return plots.GroupedBars(p, plots.BarChart{Title: "Inference time per image (" + r.Arch + ")", XLabel: "batch size (images)",
				YLabel: "time per image (µs, lower is better)", Categories: cats, Groups: groups, Format: "%.1f"})
		}); err != nil {
			return nil, err
		}
		if r.Roofline != nil {
			if err := add("roofline", "Where the int8 runtime's time goes: the roofline", rooflineText(r.Roofline), func(p string) error {
				return plots.RooflineChart(p, *r.Roofline)
			}); err != nil {
				return nil, err
			}
		}
	}
	for i, a := range r.Attacks {
		if err := checkAttack(a); err != nil {
			return nil, fmt.Errorf("report: attack result %d: %w", i+1, err)
		}
	}
	for _, a := range r.Attacks {
		wb, tr := attackSeries(a)
		name := strings.ToUpper(string(a.Config.Method))
		title := name
		if a.Config.Method == attack.PGD {
			title = fmt.Sprintf("PGD-%d", a.Config.Steps)
		}
		if err := add("attack_"+string(a.Config.Method), "Accuracy under attack: "+title, attackText(a, title), func(p string) error {
			return plots.AccuracyVsEps(p, title, wb, tr)
		}); err != nil {
			return nil, err
		}
	}

	var b strings.Builder
	r.writeHeader(&b)
	for _, c := range charts {
		fmt.Fprintf(&b, "\n## %s\n\n![%s](%s.png)\n\n%s\n\n(Vector version: [%s.svg](%s.svg).)\n", c.heading, c.heading, c.base, c.text, c.base, c.base)
	}
	if len(r.Attacks) > 0 {
		b.WriteString("\n## Adversarial robustness: the tables\n")
		for _, a := range r.Attacks {
			fmt.Fprintf(&b, "\n%s, accuracy (%%) on %d test images; ε is the L∞ budget with pixels in [0, 1]:\n\n%s", strings.ToUpper(string(a.Config.Method)), a.Samples, a.Markdown())
		}
		b.WriteString("\n" + literature + "\n")
	}
	err := stfile.WriteAtomic(w.Report, func(wr io.Writer) error {
		_, err := io.WriteString(wr, b.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return w, nil
}

// checkAttack refuses an attack result that the text and charts cannot
// read: no ε ladder, no curves, or a curve of another length.
func checkAttack(a *attack.Result) error {
	switch {
	case a == nil:
		return errors.New("nil")
	case len(a.Eps) == 0 || len(a.Curves) == 0:
		return fmt.Errorf("%d eps values and %d curves; need at least one of each", len(a.Eps), len(a.Curves))
	}
	for _, c := range a.Curves {
		if len(c.Acc) != len(a.Eps) {
			return fmt.Errorf("curve %s/%s has %d values for %d eps", c.Model, c.Threat, len(c.Acc), len(a.Eps))
		}
	}
	return nil
}

const literature = `What the literature found, for comparison: Galloway et al. (2017,
"Attacking Binarized Neural Networks") saw ±1 weights and activations improve
robustness against some attacks, but warned that such nets can mask gradients;
Lin, Gan and Han (2019, "Defensive Quantization") found plain low-bit
quantization *less* robust, because the rounding error of each layer amplifies
a small input perturbation, and restored robustness only by controlling the
Lipschitz constant; Xu et al. (2017, "Feature Squeezing") found reducing the
input's bit depth an effective defence on MNIST, against attackers unaware of it.
A white-box attack through a fake-quant graph uses the straight-through
estimator's gradient; when it leaves a model more accurate than the transfer
attack from the float model, the gradient is masked and the white-box number
overstates robustness.`

func (r *Results) histLayer() *Layer {
	for i := range r.Layers {
		if r.HistLayer == "" || r.Layers[i].Name == r.HistLayer {
			return &r.Layers[i]
		}
	}
	return nil
}

func (r *Results) writeHeader(b *strings.Builder) {
	fmt.Fprintf(b, "# tinyqat report: %s\n\n", r.Arch)
	if r.Data != "" {
		fmt.Fprintf(b, "Data: `%s`. ", r.Data)
	}
	if r.Epochs > 0 {
		fmt.Fprintf(b, "Float training: %d epoch(s); QAT: %d epoch(s) per bit-width", r.Epochs, r.QATEpochs)
		if slices.ContainsFunc(r.Bits, func(x BitsRow) bool { return !math.IsNaN(x.Cluster) }) {
			fmt.Fprintf(b, "; k-means codebooks: %d epoch(s) of centroid fine-tuning per bit-width", r.ClusterEpochs)
		}
		b.WriteString(". ")
	}
	if r.Seconds > 0 {
		fmt.Fprintf(b, "Wall time %.0f s. ", r.Seconds)
	}
	if r.Load != "" {
		fmt.Fprintf(b, "Measured on %s. ", r.Load)
	}
	b.WriteString("\n\n## Summary\n\n")
	if len(r.Bits) > 0 {
		cluster := slices.ContainsFunc(r.Bits, func(x BitsRow) bool { return !math.IsNaN(x.Cluster) })
		b.WriteString("| bits | float32 | PTQ | QAT |")
		if cluster {
			b.WriteString(" k-means |")
		}
		b.WriteString("\n|---|---:|---:|---:|")
		if cluster {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, x := range r.Bits {
			fmt.Fprintf(b, "| %s | %.2f%% | %.2f%% | %.2f%% |", x.Name, 100*r.FloatAcc, 100*x.PTQ, 100*x.QAT)
			if cluster {
				if math.IsNaN(x.Cluster) {
					b.WriteString(" – |")
				} else {
					fmt.Fprintf(b, " %.2f%% |", 100*x.Cluster)
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if c := r.Int8; c != nil {
		fmt.Fprintf(b, "Integer runtime (%s exported): %.2f%% against %.2f%% for its fake-quant simulation; top-1 agreement %.2f%%, bit-identical logits on %.2f%% of images, largest difference %d LSB.\n\n",
			c.Name, 100*c.IntAcc, 100*c.SimAcc, 100*c.Agreement, 100*c.Exact, c.MaxLSBDiff)
	}
	if len(r.Sizes) > 0 {
		b.WriteString("| storage | bytes | vs float32 |\n|---|---:|---:|\n")
		base := r.Sizes[0].Bytes
		for i, s := range r.Sizes {
			rt := ratio(base, s.Bytes)
			if i == 0 {
				rt = "–"
			}
			fmt.Fprintf(b, "| %s | %d | %s |\n", s.Name, s.Bytes, rt)
		}
		b.WriteString("\n")
	}
	if len(r.Latency) > 0 {
		cats, groups := latencyGroups(r.Latency)
		b.WriteString("| µs per image |")
		for _, c := range cats {
			fmt.Fprintf(b, " batch %s |", c)
		}
		b.WriteString("\n|---|")
		for range cats {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, g := range groups {
			fmt.Fprintf(b, "| %s |", g.Name)
			for _, v := range g.Values {
				if math.IsNaN(v) {
					b.WriteString(" – |")
				} else {
					fmt.Fprintf(b, " %.1f |", v)
				}
			}
			b.WriteString("\n")
		}
	}
	for _, a := range r.Attacks {
		b.WriteString("\n" + attackVerdict(a) + "\n")
	}
}

func ratio(base, v int64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f× smaller", float64(base)/float64(v))
}
