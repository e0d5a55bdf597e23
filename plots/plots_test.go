package plots

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCurvesAndBars(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "c.png")
	err := Curves(png, "loss", "epoch", "loss", []Series{
		{Name: "float", X: []float64{1, 2, 3}, Y: []float64{0.3, 0.1, 0.05}},
		{Name: "qat", X: []float64{4, 5}, Y: []float64{0.06, 0.04}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(png)
	if !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatal("not a PNG")
	}
	svg := filepath.Join(dir, "b.svg")
	if err := Bars(svg, "acc", "%", []string{"W8A8", "W4A4"}, []Group{{"PTQ", []float64{98, 90}}, {"QAT", []float64{98.5, 97}}}, "%.1f"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(svg)
	if !bytes.Contains(b, []byte("<svg")) {
		t.Fatal("not an SVG")
	}
	if err := Curves(filepath.Join(dir, "x.jpg2"), "", "", "", nil); err == nil {
		t.Error("unknown extension accepted")
	}
	if err := Bars(filepath.Join(dir, "y.png"), "", "", []string{"a"}, []Group{{"g", []float64{1, 2}}}, ""); err == nil {
		t.Error("mismatched group accepted")
	}
}
