package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/quant"
)

// colourModel is a w8a8 model of 3×4×4 inputs whose class c is the
// brightest of channel c (R, G, B): its logit is the sum of channel c's
// normalized pixels. It has class names and an input normalization
// (mean ½, std ¼: pixels in [0, 1] become [−2, 2], the input grid).
func colourModel(t *testing.T) *infer.Model {
	t.Helper()
	in := infer.QParams{Scale: 2.0 / 127, Bits: 8, Signed: true}
	out := infer.QParams{Scale: 32.0 / 100, Bits: 8, Signed: true}
	fc := &infer.Layer{Kind: infer.KindLinear, Name: "fc", InC: 48, InH: 1, InW: 1, OutC: 3, OutH: 1, OutW: 1,
		In: in, Out: out, WBits: 8, W: make([]int8, 3*48), Bias: make([]int32, 3), M0: make([]int32, 3), Shift: make([]int32, 3),
		WScale: []float32{1.0 / 127, 1.0 / 127, 1.0 / 127}}
	fc.Lo, fc.Hi = out.QRange()
	for c := range 3 {
		for j := range 16 {
			fc.W[c*48+c*16+j] = 127
		}
		var err error
		if fc.M0[c], fc.Shift[c], err = quant.QuantizeMultiplier(in.Scale*fc.WScale[c], out.Scale); err != nil {
			t.Fatal(err)
		}
	}
	m := &infer.Model{Version: infer.FormatVersion, Arch: "colour", Mode: infer.W8A8, InC: 3, InH: 4, InW: 4, Classes: 3, Input: in,
		Layers:     []*infer.Layer{{Kind: infer.KindFlatten, InC: 3, InH: 4, InW: 4, OutC: 48, OutH: 1, OutW: 1}, fc},
		ClassNames: []string{"red", "green", "blue"},
		Norm:       &infer.InputNorm{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(w, img); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPredictColourNames: a colour model classifies colour images in
// colour (a grey conversion would make the three classes tie), its class
// names are printed and in the JSON, a light-bordered photo is not
// inverted, and a grey image is given to it as three equal channels.
func TestPredictColourNames(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "colour.tqm")
	if err := colourModel(t).Save(model); err != nil {
		t.Fatal(err)
	}
	solid := func(name string, c color.Color) string {
		img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
		for i := 0; i < 64; i++ {
			img.Set(i%8, i/8, c)
		}
		f := filepath.Join(dir, name)
		writePNG(t, f, img)
		return f
	}
	// Light colours: a grey model's auto inversion would invert them.
	files := []string{
		solid("pink.png", color.NRGBA{250, 180, 180, 255}),
		solid("mint.png", color.NRGBA{170, 240, 170, 255}),
		solid("sky.png", color.NRGBA{170, 190, 250, 255}),
	}
	want := []string{"red", "green", "blue"}
	out, errOut, status := runCLI(t, append([]string{"predict", "--model", model}, files...)...)
	if status != 0 {
		t.Fatalf("predict: %d %q", status, errOut)
	}
	for i, f := range files {
		if !strings.Contains(out, f+`: class `+string(rune('0'+i))+` "`+want[i]+`"`) {
			t.Errorf("%s: want class %d %q in %q", f, i, want[i], out)
		}
	}
	if strings.Contains(out, "inverted") {
		t.Errorf("a colour photo was inverted: %q", out)
	}
	out, _, status = runCLI(t, append([]string{"predict", "--model", model, "--json"}, files...)...)
	preds, _ := lastJSON(t, out)["predictions"].([]any)
	if status != 0 || len(preds) != 3 {
		t.Fatalf("JSON: %d %q", status, out)
	}
	for i, p := range preds {
		if row := p.(map[string]any); row["name"] != want[i] || int(row["class"].(float64)) != i || row["inverted"] != false {
			t.Errorf("JSON row %d: %v", i, row)
		}
	}
	// A grey image: three equal channels, so the three logits tie and
	// the first class wins; the scores are equal.
	g := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range g.Pix {
		g.Pix[i] = 200
	}
	grey := filepath.Join(dir, "grey.png")
	writePNG(t, grey, g)
	out, _, status = runCLI(t, "predict", "--model", model, "--json", grey)
	row := lastJSON(t, out)["predictions"].([]any)[0].(map[string]any)
	logits := row["logits"].([]any)
	if status != 0 || logits[0] != logits[1] || logits[1] != logits[2] || row["name"] != "red" {
		t.Errorf("grey image on a colour model: %v", row)
	}
}

// TestEvalDataFolder: `eval --data` on an image folder (no run) reads it
// with --cache-dir, refuses data whose class names are not the model's
// (its labels would score other classes) and, for another image size,
// suggests the run's resize.
func TestEvalDataFolder(t *testing.T) {
	tree := func(side int) string {
		root := t.TempDir()
		for _, split := range []string{"train", "test"} {
			for c, name := range []string{"blue", "green", "red"} {
				d := filepath.Join(root, split, name)
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				img := image.NewNRGBA(image.Rect(0, 0, side, side))
				for i := 0; i < side*side; i++ {
					img.Set(i%side, i/side, []color.NRGBA{{40, 40, 250, 255}, {40, 250, 40, 255}, {250, 40, 40, 255}}[c])
				}
				writePNG(t, filepath.Join(d, "1.png"), img)
			}
		}
		return root
	}
	dir := t.TempDir()
	sorted := colourModel(t) // classes as the folders sort: blue, green, red
	sorted.ClassNames = []string{"blue", "green", "red"}
	sortedFile, otherFile := filepath.Join(dir, "sorted.tqm"), filepath.Join(dir, "other.tqm")
	if err := sorted.Save(sortedFile); err != nil {
		t.Fatal(err)
	}
	if err := colourModel(t).Save(otherFile); err != nil { // red, green, blue
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, model string
		side        int
		status      int
		want        string
	}{
		{"same names", sortedFile, 4, 0, "test accuracy"},
		{"other names", otherFile, 4, 1, `names its classes ["red" "green" "blue"]`},
		{"other size", sortedFile, 8, 1, "trained with --resize 4x4?"},
	} {
		cache := filepath.Join(t.TempDir(), "cache")
		out, errOut, status := runCLI(t, "eval", "--model", tc.model, "--data", tree(tc.side), "--cache-dir", cache)
		if status != tc.status || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%s: status %d, want %d; output %q %q, want %q", tc.name, status, tc.status, out, errOut, tc.want)
		}
		if ents, _ := os.ReadDir(cache); len(ents) != 1 {
			t.Errorf("%s: --cache-dir holds %d files, want the tree's cache", tc.name, len(ents))
		}
	}
}
