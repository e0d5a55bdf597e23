package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tinyqat/tinyqat/imageinput"
	"github.com/tinyqat/tinyqat/infer"
)

func predictCmd() *cobra.Command {
	var model, invert string
	var asJSON bool
	c := &cobra.Command{
		Use:   "predict --model MODEL IMAGE...",
		Short: "Classify PNG or JPEG images with an integer model",
		Long: `Classify PNG or JPEG images (grey or colour, any size) with an integer model.

Each image is converted to the model's channels, padded to a square with its
border colour, resized to the model's input with Catmull-Rom, and scaled to
[0, 1] as the training data was. MNIST digits are light on dark: with
--invert auto (the default) an image whose border is lighter than mid-grey
(a dark digit on paper) is inverted first; --invert no or yes forces it.
A file that is not a readable PNG or JPEG is an error (exit status 1).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if model == "" {
				return errors.New("predict: --model MODEL is required")
			}
			inv, err := imageinput.ParseInvert(invert)
			if err != nil {
				return err
			}
			m, err := infer.Load(model)
			if err != nil {
				return err
			}
			imgs := make([]*imageinput.Image, len(files))
			for i, f := range files {
				if imgs[i], err = imageinput.Load(f, imageinput.ModelShape(m), inv); err != nil {
					return err
				}
			}
			preds, err := imageinput.Classify(m, imgs)
			if err != nil {
				return err
			}
			type row struct {
				File     string `json:"file"`
				Inverted bool   `json:"inverted"`
				imageinput.Prediction
			}
			rows := make([]row, len(files))
			for i, p := range preds {
				rows[i] = row{files[i], imgs[i].Inverted, p}
				if !asJSON {
					var sb strings.Builder
					for j, s := range p.Scores {
						fmt.Fprintf(&sb, " %d:%.3f", j, s)
					}
					inverted := ""
					if imgs[i].Inverted {
						inverted = " (inverted)"
					}
					fmt.Printf("%s: class %d, score %.3f%s; scores%s\n", files[i], p.Class, p.Scores[p.Class], inverted, sb.String())
				}
			}
			if asJSON {
				return printJSON(map[string]any{"model": model, "predictions": rows})
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "integer model file")
	f.StringVar(&invert, "invert", "auto", "auto (invert when the border is light), yes or no")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	return c
}
