// Command predict is the smallest deployment of a tinyqat model: it loads
// an integer model file and classifies PNG or JPEG images with the int8
// runtime. It imports only infer and imageinput (no training code), so it
// builds into a small binary:
//
//	go build -ldflags='-s -w' -o predict ./examples/predict
//	./predict model.safetensors digit.png
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
		if imgs[i], err = imageinput.Load(f, imageinput.ModelShape(m), imageinput.InvertAuto); err != nil {
			return err
		}
	}
	preds, err := imageinput.Classify(m, imgs)
	if err != nil {
		return err
	}
	for i, p := range preds {
		fmt.Printf("%s: %d (score %.3f)\n", files[i], p.Class, p.Scores[p.Class])
	}
	return nil
}
