package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tinyqat/tinyqat/imageinput"
	"github.com/tinyqat/tinyqat/infer"
)

func predictCmd() *cobra.Command {
	var model, invert, prep string
	var asJSON bool
	c := &cobra.Command{
		Use:   "predict --model MODEL IMAGE...",
		Short: "Classify PNG or JPEG images with a model file (integer or float32)",
		Long: `Classify PNG or JPEG images (grey or colour, any size) with a model file:
an integer model, or a float32 one (export of a float run).

A file is read as PNG or JPEG by its content, whatever its name; any other
format (GIF, BMP, WebP, ...) is refused, naming what the file is. A file
that is not a readable PNG or JPEG is an error (exit status 1).

--prep data (the default for a model trained on an image folder, which
its file records when exported by this version) reads each image as the
training read the folder's images: transparent pixels composited over
black, the model's channels taken as training took them (a grey image
three equal channels; a colour image, for a grey model, the luminance of
Go's color.GrayModel), and an image of another size than the model's
input stretched to it as --resize HxW stretched the training images
(each axis on its own: area averaging down, bilinear up; no padding).
No inversion unless --invert yes. An image of the training folder so
gets exactly the pixels the model was trained on, and the class eval
computes for it.

--prep mnist (the default for a model trained on MNIST, which its file
records by the data's fingerprint, and for a 1x28x28 model whose file
does not say) prepares each image as MNIST's digits were: grey, inverted when
the background is light (a dark digit on paper; --invert yes or no forces
it), the background taken to 0 and the strongest ink to 1, the bounding box
of the ink scaled with its aspect ratio kept to fit 20x20 (antialiased),
and placed in the 28x28 field with its centre of mass at the centre. So a
digit that fills the frame and the same digit small in a corner give the
same input.

--prep none (the default for the remaining models: other IDX data, such
as Fashion-MNIST's 28x28 images, which are not digits, CIFAR-10, or a
model of another shape whose file does not say) converts each image to the
model's channels (a colour model takes R, G, B, a grey image three equal
channels; a grey model takes the luminance 0.299 R + 0.587 G + 0.114 B,
Go's color.GrayModel), pads it to a square with its border colour,
resizes it to the model's input with Catmull-Rom, and gives its 8-bit
pixels to the model, which normalizes them as its training data was; for
a grey model, with --invert auto, an image whose border is lighter than
mid-grey is inverted and stretched (paper 0, darkest ink 1). A colour
model takes photos as they are. Transparent pixels are put on the border
colour (a transparent border counts as white).

Each line names the class (with its name when the model has class names)
and says what was done to the image (inverted, prepared). An image that
cannot be read is named on stderr (with --json, a row with "error") and
the others are still classified; the exit status is then non-zero.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if model == "" {
				return errors.New("predict: --model MODEL is required")
			}
			inv, err := imageinput.ParseInvert(invert)
			if err != nil {
				return fmt.Errorf("predict: --invert %q: want auto, yes or no", invert)
			}
			pr, err := imageinput.ParsePrep(prep)
			if err != nil {
				return fmt.Errorf("predict: --prep %q: want auto, data, mnist or none", prep)
			}
			m, err := infer.Load(model)
			if err != nil {
				return err
			}
			s := imageinput.ModelShape(m)
			if pr == imageinput.PrepMNIST && s != imageinput.MNIST {
				return fmt.Errorf("predict: --prep mnist makes 1x28x28 grey images; %s takes %dx%dx%d (use --prep none)", model, s.C, s.H, s.W)
			}
			// An image that cannot be read is reported on its own line
			// and the others are still classified; the exit status says
			// that one failed.
			opt := imageinput.ModelOptions(m) // what the file says of the training data
			opt.Invert, opt.Prep = inv, pr
			var imgs []*imageinput.Image
			var good []int
			bad := make([]error, len(files))
			nbad := 0
			for i, f := range files {
				img, err := imageinput.Load(f, s, opt)
				if err != nil {
					if errors.Is(err, imageinput.ErrNoInk) {
						err = fmt.Errorf("predict: %w (--prep none classifies it as it is)", err)
					}
					if len(files) == 1 {
						return err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad[i] = err
					nbad++
					continue
				}
				imgs = append(imgs, img)
				good = append(good, i)
			}
			var preds []imageinput.Prediction
			if len(imgs) > 0 {
				if preds, err = imageinput.Classify(m, imgs); err != nil {
					return err
				}
			}
			type row struct {
				File     string `json:"file"`
				Error    string `json:"error,omitempty"`
				Inverted bool   `json:"inverted"`
				Prep     string `json:"prep"`
				Note     string `json:"note"`
				imageinput.Prediction
			}
			rows := make([]row, len(files))
			for i, err := range bad {
				if err != nil {
					rows[i] = row{File: files[i], Error: err.Error()}
				}
			}
			for k, p := range preds {
				i := good[k]
				rows[i] = row{files[i], "", imgs[k].Inverted, imgs[k].Prep, imgs[k].Note, p}
				if !asJSON {
					var sb strings.Builder
					for j, s := range p.Scores {
						fmt.Fprintf(&sb, " %d:%.3f", j, s)
					}
					done := imgs[k].Note
					if imgs[k].Inverted {
						done = "inverted; " + done
					}
					class := strconv.Itoa(p.Class)
					if p.Name != "" {
						class += " " + strconv.Quote(p.Name)
					}
					fmt.Printf("%s: class %s, score %.3f (%s); scores%s\n", files[i], class, p.Scores[p.Class], done, sb.String())
				}
			}
			if asJSON {
				if err := printJSON(map[string]any{"model": model, "predictions": rows}); err != nil {
					return err
				}
			}
			if nbad > 0 {
				return fmt.Errorf("predict: %d of %d images could not be read (above)", nbad, len(files))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "model file (integer, or float32 from a float run)")
	f.StringVar(&invert, "invert", "auto", "auto (invert a grey model's image when its border is light; never with --prep data), yes or no")
	f.StringVar(&prep, "prep", "auto", "data (as the training read its image folder: stretched to the input, transparency over black), mnist (bounding box to 20x20, centred by mass in 28x28), none (pad and resize the whole image), or auto (data for models trained on an image folder, else mnist for models trained on MNIST, else none)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON line at the end")
	c.RunE = namedStage("predict", c.RunE)
	return c
}
