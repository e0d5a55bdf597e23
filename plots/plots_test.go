package plots

import (
	"bytes"
	"image"
	"image/png"
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

// TestDrawnMark: charts carry tinyqat's mark in both formats and stay
// valid (the PNG decodes; the SVG still ends in a comment after </svg>);
// a file tinyqat did not draw has none.
func TestDrawnMark(t *testing.T) {
	dir := t.TempDir()
	s := []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{0.5, 0.7}}}
	for _, name := range []string{"c.png", "c.svg"} {
		path := filepath.Join(dir, name)
		if err := Curves(path, "t", "x", "y", s); err != nil {
			t.Fatal(err)
		}
		if !Drawn(path) {
			t.Errorf("%s: no mark", name)
		}
	}
	f, err := os.Open(filepath.Join(dir, "c.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("the marked PNG does not decode: %v", err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)))
	foreign := filepath.Join(dir, "photo.png")
	os.WriteFile(foreign, buf.Bytes(), 0o644)
	for _, p := range []string{foreign, filepath.Join(dir, "missing.png")} {
		if Drawn(p) {
			t.Errorf("%s reads as drawn by tinyqat", p)
		}
	}
}
