package report

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/attack"
	"github.com/tinyqat/tinyqat/plots"
)

// fixed is a complete set of results with made-up but plausible numbers.
func fixed() *Results {
	w := make([]float32, 6*4) // Linear weight (in 6, out 4), axis 1
	for i := range w {
		w[i] = float32(math.Sin(float64(i)+0.5)) * 0.2
	}
	w2 := make([]float32, 4*3)
	for i := range w2 {
		w2[i] = float32(math.Cos(float64(i))) * 0.5
	}
	// A 2-bit codebook for each layer: every weight replaced by its nearest centroid.
	c1, c2 := []float32{-0.15, -0.05, 0.05, 0.12}, []float32{-0.4, -0.1, 0.1, 0.4}
	eps := []float64{0, 0.1, 0.2}
	return &Results{
		Arch: "lenet300", Data: "mnist", Epochs: 3, QATEpochs: 1, ClusterEpochs: 1, FloatAcc: 0.983,
		Bits: []BitsRow{
			{Name: "W8A8", BitsW: 8, BitsA: 8, PTQ: 0.983, QAT: 0.984, Cluster: math.NaN()},
			{Name: "W4A8", BitsW: 4, BitsA: 8, PTQ: 0.982, QAT: 0.984, Cluster: 0.981},
			{Name: "W2A8", BitsW: 2, BitsA: 8, PTQ: 0.607, QAT: 0.976, Cluster: math.NaN()},
		},
		Int8:      &Int8Check{Name: "QAT W8A8", SimAcc: 0.984, IntAcc: 0.984, Agreement: 1, Exact: 1},
		Sizes:     []Size{{"float32", 1066440}, {"int8", 270000}, {"int4 packed", 140000}, {"4-bit k-means", 142000}},
		Latency:   []Latency{{"float32", 1, 30}, {"float32", 64, 6}, {"float32", 1000, 5}, {"int8", 1, 11}, {"int8", 64, 9.6}, {"int8", 1000, 10.2}, {"ONNX Runtime int8", 1000, 1.5}},
		TestAcc:   []plots.Series{{Name: "float", X: []float64{1, 2, 3}, Y: []float64{96.6, 98.1, 98.3}}, {Name: "QAT W8A8", X: []float64{3, 4}, Y: []float64{98.3, 98.4}}},
		TrainLoss: []plots.Series{{Name: "float", X: []float64{1, 2, 3}, Y: []float64{0.2, 0.07, 0.03}}},
		Layers: []Layer{{Name: "fc1", Weights: w, Shape: []int{6, 4}, Axis: 1, Centroids: c1, Clustered: nearest(w, c1)},
			{Name: "fc2", Weights: w2, Shape: []int{4, 3}, Axis: 1, Centroids: c2, Clustered: nearest(w2, c2)}},
		Attacks: []*attack.Result{{
			Config: attack.Config{Method: attack.FGSM}, Eps: eps, Samples: 10000, MaxLinf: eps,
			Curves: []attack.Curve{
				{Model: "float", Threat: attack.WhiteBox, Acc: []float64{0.983, 0.25, 0.01}},
				{Model: "qat-w2a8", Threat: attack.WhiteBox, Acc: []float64{0.976, 0.176, 0.005}},
				{Model: "squeeze-1bit", Threat: attack.WhiteBox, Acc: []float64{0.98, 0.945, 0.8}},
				{Model: "float", Threat: attack.Transfer, Acc: []float64{0.983, 0.25, 0.01}},
				{Model: "qat-w2a8", Threat: attack.Transfer, Acc: []float64{0.976, 0.378, 0.05}},
				{Model: "squeeze-1bit", Threat: attack.Transfer, Acc: []float64{0.98, 0.945, 0.8}},
				{Model: "int8-runtime", Threat: attack.Transfer, Acc: []float64{0.984, 0.236, 0.01}},
			},
		}},
		Load: "2 shared cores",
	}
}

// nearest replaces each weight by its nearest centroid.
func nearest(w, c []float32) []float32 {
	out := make([]float32, len(w))
	for i, x := range w {
		best := c[0]
		for _, v := range c {
			if math.Abs(float64(x-v)) < math.Abs(float64(x-best)) {
				best = v
			}
		}
		out[i] = best
	}
	return out
}

var link = regexp.MustCompile(`\]\(([^)]+)\)`)

func TestWriteLinksOnlyExistingFiles(t *testing.T) {
	dir := t.TempDir()
	wr, err := Write(dir, fixed())
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(wr.Report)
	if err != nil {
		t.Fatal(err)
	}
	links := link.FindAllStringSubmatch(string(md), -1)
	// 8 charts (test accuracy, loss, bits, histogram, SQNR, size, latency,
	// FGSM), each embedded as PNG and linked as SVG: 16 links.
	if len(links) != 16 || len(wr.Charts) != 16 {
		t.Errorf("%d links and %d chart files, want 16 of each", len(links), len(wr.Charts))
	}
	for _, l := range links {
		p := filepath.Join(dir, l[1])
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("report.md links %s, which does not exist or is empty", l[1])
		}
	}
	text := string(md)
	for _, want := range []string{
		"| W2A8 | 98.30% | 60.70% | 97.60% | – |",
		"| W4A8 | 98.30% | 98.20% | 98.40% | 98.10% |",
		"3.95× smaller", // 1066440 / 270000
		"The largest PTQ loss is at W2A8 (37.60 points)",
		// FGSM: the float model falls below half its clean accuracy at ε = 0.1.
		"**FGSM finding at ε = 0.1**",
		// qat-w2a8: min(white-box 17.6, transfer 37.8) − 25.0 = −7.4 points.
		"qat-w2a8 (-7.4 points)",
		"does not support \"quantization defends\"",
		"squeeze-1bit keeps 94.5% against the transfer attack",
		"Galloway",
		"| ONNX Runtime int8 | – | – | 1.5 |",
		"| 4-bit k-means | 142000 | 7.51× smaller |", // 1066440 / 142000
		"k-means codebooks: 1 epoch(s) of centroid fine-tuning",
		"The green triangles are the 2-bit k-means codebook: 4 values (after 1 epoch(s)",
		"The last bar of each layer (2-bit k-means, per tensor)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

func TestWritePartial(t *testing.T) {
	// Only accuracies: no chart may be linked that was not drawn.
	dir := t.TempDir()
	r := &Results{Arch: "lenet5", FloatAcc: 0.99, Bits: []BitsRow{{Name: "W8A8", BitsW: 8, BitsA: 8, PTQ: 0.99, QAT: 0.99, Cluster: math.NaN()}}}
	wr, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(wr.Report)
	for _, l := range link.FindAllStringSubmatch(string(md), -1) {
		if _, err := os.Stat(filepath.Join(dir, l[1])); err != nil {
			t.Errorf("links missing %s", l[1])
		}
	}
	if strings.Contains(string(md), "latency") || len(wr.Charts) != 2 {
		t.Errorf("partial results drew %v", wr.Charts)
	}
}

func TestClusterSQNR(t *testing.T) {
	// Weights [1, −1, 0.5] stored as [1, −1, 0]: signal 2.25, noise 0.25,
	// SQNR = 10·log10(9) = 9.542 dB.
	l := Layer{Name: "x", Weights: []float32{1, -1, 0.5}, Shape: []int{3}, Axis: 0, Centroids: []float32{-1, 0, 1, 2}, Clustered: []float32{1, -1, 0}}
	sq, name, err := clusterSQNR([]Layer{l})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(sq[0]-10*math.Log10(9)) > 1e-9 || name != "2-bit k-means, per tensor" {
		t.Errorf("SQNR %v (%q), want %v", sq, name, 10*math.Log10(9))
	}
	if sq, _, err := clusterSQNR([]Layer{{Name: "y", Weights: []float32{1}}}); sq != nil || err != nil {
		t.Errorf("no codebook: %v, %v", sq, err)
	}
	// A codebook on some layers only, or of the wrong length, is an error.
	for _, ls := range [][]Layer{{l, {Name: "y", Weights: []float32{1}}}, {{Name: "z", Weights: []float32{1, 2}, Clustered: []float32{1}}}} {
		if _, _, err := clusterSQNR(ls); err == nil {
			t.Errorf("%v: accepted", ls)
		}
	}
}

func TestSQNR(t *testing.T) {
	// One channel [−1, 0.5, 0.25] at 2 bits: S = 1/1, q = [−1, 0(0.5 rounds
	// away from zero → 1)...]: worked by hand below.
	// 2 bits symmetric: qmax = 1, S = 1; 0.5/1 = 0.5 → round half away = 1,
	// 0.25 → 0. ŵ = [−1, 1, 0]; noise = 0 + 0.25 + 0.0625 = 0.3125;
	// signal = 1 + 0.25 + 0.0625 = 1.3125; SQNR = 10·log10(4.2) = 6.232 dB.
	l := Layer{Name: "x", Weights: []float32{-1, 0.5, 0.25}, Shape: []int{3, 1}, Axis: 1}
	sq, err := SQNRTable([]Layer{l}, []int{2, 8})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(sq[0][0]-10*math.Log10(4.2)) > 1e-3 {
		t.Errorf("2-bit SQNR %v, want %v", sq[0][0], 10*math.Log10(4.2))
	}
	if sq[0][1] < 40 {
		t.Errorf("8-bit SQNR %v; 8 bits should be far above 2", sq[0][1])
	}
	if _, err := SQNRTable([]Layer{{Name: "bad", Weights: []float32{1}, Shape: []int{2}, Axis: 0}}, []int{8}); err == nil {
		t.Error("mismatched shape accepted")
	}
}

// TestAttackWithoutSourceWhiteBox: an attack result (from `attack --out`,
// possibly edited or filtered) whose source model has no white-box curve
// used to panic with a nil dereference in the chart's paragraph. Now the
// chart is drawn from the curves there are and the text says what is
// missing; curves whose length does not match the ε ladder are refused.
func TestAttackWithoutSourceWhiteBox(t *testing.T) {
	eps := []float64{0, 0.1, 0.2}
	for _, curves := range [][]attack.Curve{
		{ // the transfer curve first, no white-box curve of its model
			{Model: "float", Threat: attack.Transfer, Acc: []float64{0.98, 0.25, 0.01}},
			{Model: "qat-w8a8", Threat: attack.WhiteBox, Acc: []float64{0.97, 0.2, 0.01}},
			{Model: "squeeze-1bit", Threat: attack.WhiteBox, Acc: []float64{0.97, 0.9, 0.8}},
			{Model: "squeeze-1bit", Threat: attack.Transfer, Acc: []float64{0.97, 0.9, 0.8}},
		},
		{ // only a runtime's transfer curve
			{Model: "int8-runtime", Threat: attack.Transfer, Acc: []float64{0.98, 0.3, 0.02}},
		},
	} {
		r := &Results{Arch: "lenet300", FloatAcc: 0.98, Attacks: []*attack.Result{{
			Config: attack.Config{Method: attack.FGSM}, Eps: eps, Samples: 100, MaxLinf: eps, Curves: curves}}}
		dir := t.TempDir()
		wr, err := Write(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := os.ReadFile(wr.Report)
		if want := "has no white-box curve"; !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
		if len(wr.Charts) != 2 {
			t.Errorf("charts %v, want the FGSM chart", wr.Charts)
		}
	}
	for _, a := range []*attack.Result{
		{Config: attack.Config{Method: attack.FGSM}, Eps: eps, Samples: 100},
		{Config: attack.Config{Method: attack.FGSM}, Eps: eps, Samples: 100, Curves: []attack.Curve{{Model: "float", Threat: attack.WhiteBox, Acc: []float64{1}}}},
		nil,
	} {
		if _, err := Write(t.TempDir(), &Results{Arch: "lenet300", Attacks: []*attack.Result{a}}); err == nil || !strings.Contains(err.Error(), "report: attack") {
			t.Errorf("%+v: got %v, want an error naming the attack result", a, err)
		}
	}
}
