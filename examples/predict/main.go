// Command predict is the smallest deployment of a tinyqat model: it loads
// an integer model file and classifies PNG or JPEG images with the int8
// runtime. Files are read as PNG or JPEG by their content; any other
// format is refused, naming what it is. For a model trained on an image
// folder each image is read as its training images were (transparency over
// black, stretched to the model's input as --resize did); for a model
// trained on MNIST (its file records the data's fingerprint; a 1×28×28
// model whose file does not say counts as one) each image is prepared as MNIST's digits
// were (the ink's box scaled to 20×20, centred by mass in 28×28); other
// images are padded to a square and resized (imageinput's defaults, as
// `tinyqat predict`). Each
// line says what was done. It imports only infer and imageinput (no
// training code), so it builds into a small binary:
//
//	go build -ldflags='-s -w' -o predict ./examples/predict
//	./predict model.tqm digit.png
package main

import (
	"fmt"
	"os"

	"github.com/tinyqat/tinyqat/imageinput"
	"github.com/tinyqat/tinyqat/infer"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: predict MODEL IMAGE...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "predict:", err)
		os.Exit(1)
	}
}

func run(model string, files []string) error {
	m, err := infer.Load(model)
	if err != nil {
		return err
	}
	imgs := make([]*imageinput.Image, len(files))
	for i, f := range files {
		if imgs[i], err = imageinput.Load(f, imageinput.ModelShape(m), imageinput.ModelOptions(m)); err != nil {
			return err
		}
	}
	preds, err := imageinput.Classify(m, imgs)
	if err != nil {
		return err
	}
	for i, p := range preds {
		done := imgs[i].Note
		if imgs[i].Inverted {
			done = "inverted; " + done
		}
		class := fmt.Sprint(p.Class)
		if p.Name != "" {
			class += " " + p.Name
		}
		fmt.Printf("%s: %s (score %.3f; %s)\n", files[i], class, p.Scores[p.Class], done)
	}
	return nil
}
