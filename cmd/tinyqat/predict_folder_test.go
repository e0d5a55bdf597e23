package main

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/imageinput"
	"github.com/tinyqat/tinyqat/infer"
)

// folderImage is image j of class k (0 or 1) at w×h: a dark or light
// ground, fully transparent where colour says nothing (with colour
// garbage behind the alpha, as editors leave it), a half-transparent
// stroke and an opaque blob whose colour and place depend on the class.
func folderImage(colour bool, k, j, w, h int) image.Image {
	if !colour {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(230 - 10*j) // light paper: an auto inversion would invert it
		}
		for y := range h {
			x := (y*(w-1)/max(h-1, 1) + k*w/2) % w // a dark diagonal, shifted by class
			g.Pix[y*g.Stride+x] = uint8(20 + 30*k)
		}
		return g
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(37 * x), uint8(91 * y), uint8(13 * j), 0} // transparent
			switch {
			case (x+y+j)%3 == 0:
				c = color.NRGBA{uint8(200 * (1 - k)), 120, uint8(200 * k), 128} // half transparent
			case x >= w/4+k*w/4 && x < w/2+k*w/4 && y >= h/3:
				c = color.NRGBA{uint8(250 - 200*k), uint8(60 + 20*j), uint8(50 + 200*k), 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// TestPredictFolderPixels: for a model trained on an image folder,
// predict reads one of the folder's images exactly as training did:
// imageinput with the model's options (what predict calls) gives the
// dataset's bytes bit for bit — transparent RGBA pixels on black, not on
// the border colour; non-square images stretched by the run's --resize
// (or taken at their own size), not padded to a square and resampled
// with Catmull-Rom; a grey 1x28x28 model's images neither re-centred as
// MNIST digits nor inverted — and predict's class and logits (float32
// and int8 models) equal the runtime's on the dataset's image.
func TestPredictFolderPixels(t *testing.T) {
	type size struct{ w, h int }
	for _, tc := range []struct {
		name    string
		colour  bool
		resize  string // "" none
		c, h, w int    // the model's input
		sizes   []size // of images 0, 1, … of each class
	}{
		{"colour RGBA, --resize 6x10", true, "6x10", 3, 6, 10, []size{{16, 9}, {7, 13}, {10, 6}, {4, 3}}},
		{"colour RGBA, own size 5x9", true, "", 3, 5, 9, []size{{9, 5}, {9, 5}, {9, 5}}},
		{"grey, --resize 28x28", false, "28x28", 1, 28, 28, []size{{40, 30}, {20, 36}, {28, 28}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			for _, split := range []string{"train", "test"} {
				for k, class := range []string{"ant", "bee"} {
					d := filepath.Join(data, split, class)
					if err := os.MkdirAll(d, 0o755); err != nil {
						t.Fatal(err)
					}
					for j, s := range tc.sizes {
						writePNG(t, filepath.Join(d, fmt.Sprintf("%d.png", j)), folderImage(tc.colour, k, j+len(split), s.w, s.h))
					}
				}
			}
			spec := filepath.Join(dir, "spec.json")
			os.WriteFile(spec, fmt.Appendf(nil, `{"format":"tinyqat-nn-spec","version":1,"arch":"tiny","input":[%d,%d,%d],"classes":2,`+
				`"layers":[{"kind":"flatten"},{"kind":"linear","name":"fc","out":2}]}`, tc.c, tc.h, tc.w), 0o644)
			run, ptq := filepath.Join(dir, "float"), filepath.Join(dir, "ptq")
			f32, w8 := filepath.Join(dir, "f32.tqm"), filepath.Join(dir, "w8.tqm")
			train := []string{"train", "--spec", spec, "--epochs", "1", "--batch", "4", "--data", data, "--out", run, "--cache-dir", filepath.Join(dir, "cache")}
			if tc.resize != "" {
				train = append(train, "--resize", tc.resize)
			}
			for _, args := range [][]string{train,
				{"export", "--from", run, "--out", f32},
				{"ptq", "--from", run, "--calib-batches", "1", "--out", ptq, "--cache-dir", filepath.Join(dir, "cache")},
				{"export", "--from", ptq, "--out", w8}} {
				if _, errOut, status := runCLI(t, args...); status != 0 {
					t.Fatalf("%v: %d %s", args, status, errOut)
				}
			}
			ds, err := datasets.Open(data, datasets.Options{ResizeH: tc.h * min(len(tc.resize), 1), ResizeW: tc.w * min(len(tc.resize), 1), NoCache: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, model := range []string{f32, w8} {
				m, err := infer.Load(model)
				if err != nil {
					t.Fatal(err)
				}
				// The file records the data's layout and the run's resize.
				if rs := fmt.Sprintf("%dx%d", m.Source.ResizeH, m.Source.ResizeW); m.Source.Data != "folder" || tc.resize != "" && rs != tc.resize || tc.resize == "" && rs != "0x0" {
					t.Errorf("%s: source records data %q, resize %s; want folder, %q", filepath.Base(model), m.Source.Data, rs, tc.resize)
				}
				for split, set := range map[string]*datasets.Set{"train": ds.Train, "test": ds.Test} {
					// Image i of the set: its class's next file (classes are
					// interleaved, each in file-name order).
					seen := map[uint8]int{}
					var files []string
					for i := range set.N {
						k := set.Labels[i]
						files = append(files, filepath.Join(data, split, set.ClassNames[k], fmt.Sprintf("%d.png", seen[k])))
						seen[k]++
					}
					x := make([]float32, len(set.Pix))
					datasets.ToFloat(x, set.Pix)
					want, err := m.Predict(x, set.N)
					if err != nil {
						t.Fatal(err)
					}
					var fromSet []*imageinput.Image
					for i, f := range files {
						img, err := imageinput.Load(f, imageinput.ModelShape(m), imageinput.ModelOptions(m))
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(img.Bytes, set.Image(i)) || img.Inverted {
							t.Errorf("%s %s: predict's bytes (%s; inverted %v)\n%v\ndiffer from the dataset's\n%v", filepath.Base(model), f, img.Note, img.Inverted, img.Bytes, set.Image(i))
						}
						px := make([]float32, set.Size())
						datasets.ToFloat(px, set.Image(i))
						fromSet = append(fromSet, &imageinput.Image{Bytes: set.Image(i), Pixels: px})
					}
					preds, err := imageinput.Classify(m, fromSet)
					if err != nil {
						t.Fatal(err)
					}
					out, errOut, status := runCLI(t, append([]string{"predict", "--model", model, "--json"}, files...)...)
					if status != 0 {
						t.Fatalf("predict: %d %s", status, errOut)
					}
					rows, _ := lastJSON(t, out)["predictions"].([]any)
					if len(rows) != set.N {
						t.Fatalf("predict: %q", out)
					}
					for i, r := range rows {
						row := r.(map[string]any)
						var logits []float32
						for _, v := range row["logits"].([]any) {
							logits = append(logits, float32(v.(float64)))
						}
						if int(row["class"].(float64)) != want[i] || row["prep"] != "data" || !slices.Equal(logits, preds[i].Logits) {
							t.Errorf("%s %s: predict says %v; the model on the dataset's image: class %d, logits %v", filepath.Base(model), files[i], row, want[i], preds[i].Logits)
						}
					}
				}
				// eval on the folder named by --data, without its run: the
				// images are read as the run read them (the --resize the
				// model file records), so it scores the dataset's images.
				x := make([]float32, len(ds.Test.Pix))
				datasets.ToFloat(x, ds.Test.Pix)
				want, err := m.Predict(x, ds.Test.N)
				if err != nil {
					t.Fatal(err)
				}
				right := 0
				for i, c := range want {
					if c == int(ds.Test.Labels[i]) {
						right++
					}
				}
				out, errOut, status := runCLI(t, "eval", "--model", model, "--data", data, "--cache-dir", filepath.Join(dir, "cache"), "--json")
				if status != 0 {
					t.Fatalf("eval --data: %d %s", status, errOut)
				}
				if acc := lastJSON(t, out)["test_acc"]; acc != float64(right)/float64(ds.Test.N) {
					t.Errorf("%s: eval --data gives test_acc %v, the model on the dataset's images %d of %d", filepath.Base(model), acc, right, ds.Test.N)
				}
			}
		})
	}
}
