package plots

import (
	"encoding/xml"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// pixels is the PNG size gonum's vgimg gives a length: at its 96 dpi,
// round(length/inch·96) (vgimg.NewWith).
func pixels(l vg.Length) int { return int(float64(l/vg.Inch)*96 + 0.5) }

// checkImage decodes a PNG and checks its size, or parses an SVG and checks
// its width and height in points.
func checkImage(t *testing.T, path string, w, h vg.Length) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".png") {
		cfg, format, err := image.DecodeConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if format != "png" || cfg.Width != pixels(w) || cfg.Height != pixels(h) {
			t.Errorf("%s: %s %dx%d, want png %dx%d", path, format, cfg.Width, cfg.Height, pixels(w), pixels(h))
		}
		// Decode the whole image too: a truncated file fails here.
		f.Seek(0, 0)
		if _, _, err := image.Decode(f); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return
	}
	var root struct {
		XMLName xml.Name
		Width   string `xml:"width,attr"`
		Height  string `xml:"height,attr"`
	}
	if err := xml.NewDecoder(f).Decode(&root); err != nil {
		t.Fatalf("%s: not XML: %v", path, err)
	}
	pt := func(s string) float64 {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "pt"), 64)
		if err != nil {
			t.Fatalf("%s: size %q", path, s)
		}
		return v
	}
	if root.XMLName.Local != "svg" || math.Abs(pt(root.Width)-w.Points()) > 0.01 || math.Abs(pt(root.Height)-h.Points()) > 0.01 {
		t.Errorf("%s: <%s width=%s height=%s>, want svg %.2fpt × %.2fpt", path, root.XMLName.Local, root.Width, root.Height, w.Points(), h.Points())
	}
}

func TestReportChartsRender(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("TINYQAT_CHART_DIR"); d != "" {
		dir = d // keep the charts to look at them
	}
	// A bell of weights and the symmetric int4/int8 grids of its max |w| = 0.3.
	var w []float64
	for i := range 2000 {
		w = append(w, 0.1*math.Sin(float64(i))*math.Cos(float64(i)/7))
	}
	w = append(w, 0.3, -0.25)
	grid := func(bits int) []float64 {
		n := 1<<(bits-1) - 1
		var l []float64
		for q := -n; q <= n; q++ {
			l = append(l, 0.3*float64(q)/float64(n))
		}
		return l
	}
	charts := []struct {
		name        string
		legendRight bool
		draw        func(path string) error
	}{
		{"hist", false, func(p string) error {
			return WeightHistogram(p, WeightHist{Title: "fc1 weights", Values: w, Grids: []Grid{{"int8", grid(8)}, {"int4", grid(4)}},
				Clip: [2]float64{-0.3, 0.3}, Centroids: []float64{-0.2, -0.05, 0, 0.04, 0.18}, CentroidsName: "k-means codebook"})
		}},
		{"sqnr", false, func(p string) error {
			return GroupedBars(p, BarChart{Title: "SQNR", XLabel: "layer", YLabel: "SQNR (dB)", Categories: []string{"fc1", "fc2", "fc3"},
				Groups: []Group{{"8-bit", []float64{40, 41, 39}}, {"4-bit", []float64{16, 17, 15}}, {"2-bit", []float64{4, 5, 3}}, {"4-bit k-means", []float64{17, 18, 16}}}, Format: "%.1f"})
		}},
		{"size", false, func(p string) error {
			// One unnamed group (no legend), two-line category labels.
			return GroupedBars(p, BarChart{Title: "size", YLabel: "KiB", Categories: []string{"float32", "int8\n3.97× smaller", "int4 packed\n7.95× smaller", "clustered\n7.83× smaller"},
				Groups: []Group{{"", []float64{1041, 262, 131, 133}}}, Format: "%.1f"})
		}},
		{"latency", false, func(p string) error {
			return GroupedBars(p, BarChart{Title: "latency", XLabel: "batch size", YLabel: "µs per image", Categories: []string{"1", "64", "1000"},
				Groups: []Group{{"float32", []float64{30, 6, 5}}, {"int8", []float64{11, 9.6, 10.2}}, {"ONNX Runtime int8", []float64{13.7, 1.68, 1.53}}}, Format: "%.1f"})
		}},
		{"curves", true, func(p string) error {
			return CurvesLegendRight(p, "loss", "epoch", "loss (nats)", []Series{{"float", []float64{1, 2, 3}, []float64{0.3, 0.1, 0.05}},
				{"qat-w4a8", []float64{3, 4}, []float64{0.06, 0.04}}})
		}},
		{"bits", true, func(p string) error {
			return AccuracyByBits(p, "accuracy by bits", 98.3, []Series{{"PTQ", []float64{2, 4, 8}, []float64{60, 98.1, 98.3}},
				{"QAT", []float64{2, 4, 8}, []float64{97.6, 98.4, 98.35}}, {"k-means", []float64{2, 4}, []float64{95, 98.2}}})
		}},
		{"eps", false, func(p string) error {
			x := []float64{0, 0.1, 0.2, 0.3}
			return AccuracyVsEps(p, "FGSM", []Series{{"float", x, []float64{98, 20, 1, 0}}, {"qat-w2a8", x, []float64{97, 12, 0.4, 0}}},
				[]Series{{"float", x, []float64{98, 20, 1, 0}}, {"qat-w2a8", x, []float64{97, 31, 2, 0}}, {"int8-runtime", x, []float64{98, 19, 1, 0}}})
		}},
	}
	for _, c := range charts {
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, c.name+ext)
			if err := c.draw(path); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			w, h := Size.W, Size.H
			if c.legendRight {
				w, h = LegendRightSize.W, LegendRightSize.H
			}
			if c.name == "eps" {
				w, h = WideSize.W, WideSize.H
			}
			checkImage(t, path, w, h)
		}
	}
}

func TestReportChartsReject(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	bad := []error{
		GroupedBars(p("a.png"), BarChart{}),
		GroupedBars(p("b.png"), BarChart{Categories: []string{"x"}, Groups: []Group{{"g", []float64{1, 2}}}}),
		GroupedBars(p("d.png"), BarChart{Categories: []string{"x"}, Groups: []Group{{"g", []float64{math.NaN()}}}}),
		GroupedBars(p("e.gif"), BarChart{Categories: []string{"x"}, Groups: []Group{{"g", []float64{1}}}}),
		WeightHistogram(p("f.png"), WeightHist{}),
		WeightHistogram(p("g.png"), WeightHist{Values: []float64{1, math.Inf(1)}}),
		AccuracyByBits(p("h.png"), "", 98, nil),
		AccuracyVsEps(p("i.png"), "", nil, nil),
		AccuracyVsEps(p("j.jpg2"), "", []Series{{"a", []float64{0}, []float64{1}}}, nil),
	}
	for i, err := range bad {
		if err == nil {
			t.Errorf("case %c: bad input accepted", 'a'+i)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("a rejected chart left %s behind", e.Name())
	}
}
