package imageinput

import (
	"fmt"
	"image"
	"image/color"

	"github.com/tinyqat/tinyqat/internal/pixels"
)

// FromData prepares a decoded image as the training data's image folders
// were read (package datasets, with the same code: internal/pixels), so
// that an image of a model's training folder gives the model exactly the
// bytes it was trained on:
//
//  1. The model's channels (s.C) as datasets takes them (pixels.ToCHW):
//     transparency composited over black (RGB premultiplied by alpha), a
//     grey image three equal channels for a colour model, a colour image
//     the luminance of Go's color.GrayModel for a grey one.
//  2. An image of another size than the model's H×W is stretched to it,
//     each axis on its own (pixels.Resize, datasets.Resize: area
//     averaging down, bilinear up), as the run's --resize HxW stretched
//     its images; an image of the model's size is taken as it is.
//  3. Inverted (255 − p, then stretched as for PrepNone) only with
//     InvertAlways: the training images were not inverted.
//  4. Bytes kept, and p/255 in float32 (datasets.ToFloat).
//
// Memory: the image's C·W·H bytes and two rows of the resize.
func FromData(src image.Image, s Shape, inv Invert) (*Image, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b := src.Bounds()
	if b.Empty() || b.Dx() > MaxPixels/b.Dy() {
		return nil, fmt.Errorf("%w: size %dx%d outside [1, %d pixels]", ErrFormat, b.Dx(), b.Dy(), MaxPixels)
	}
	w, h := b.Dx(), b.Dy()
	out := &Image{Bytes: make([]uint8, s.C*s.H*s.W), Pixels: make([]float32, s.C*s.H*s.W), Prep: "data"}
	if w == s.W && h == s.H {
		pixels.ToCHW(out.Bytes, src, s.C)
		out.Note = fmt.Sprintf("as the training images were read: %dx%d (HxW), transparency over black", h, w)
	} else {
		full := make([]uint8, s.C*w*h)
		pixels.ToCHW(full, src, s.C)
		pixels.Resize(out.Bytes, full, s.C, h, w, s.H, s.W)
		out.Note = fmt.Sprintf("as the training images were read: transparency over black, %dx%d stretched to %dx%d (HxW, as --resize HxW; area averaging down, bilinear up)", h, w, s.H, s.W)
	}
	out.Note += channelNote(src, s.C)
	if inv == InvertAlways {
		out.Inverted = true
		planes := make([][]uint8, s.C)
		for c := range planes {
			planes[c] = out.Bytes[c*s.H*s.W : (c+1)*s.H*s.W]
		}
		invertStretch(planes, s.H, s.W)
	}
	for i, v := range out.Bytes {
		out.Pixels[i] = float32(v) / 255 // as datasets.ToFloat
	}
	return out, nil
}

// channelNote says how an image's channels became the model's c, when
// they differ: "" when a grey image meets a grey model or a colour image
// a colour one.
func channelNote(src image.Image, c int) string {
	grey := src.ColorModel() == color.GrayModel || src.ColorModel() == color.Gray16Model
	switch {
	case c == 1 && !grey:
		return "; colour taken as its luminance (the model is grey)"
	case c == 3 && grey:
		return "; grey copied to R, G and B (the model is colour)"
	}
	return ""
}
