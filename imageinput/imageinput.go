// Package imageinput turns PNG and JPEG files into the float32 input of a
// model: the pixels a network trained on MNIST-style data expects. It
// imports the standard library, golang.org/x/image/draw and infer only, so
// a program that classifies images carries no training code.
//
// Preprocessing, in order:
//
//  1. Decode (PNG or JPEG, any size, grey or colour; alpha is composed
//     over the background colour of step 3).
//  2. Convert to the model's channels: one channel is the luminance
//     (color.GrayModel, ITU-R 601 weights), three channels are R, G, B.
//  3. Pad the shorter side to a square with the mean colour of the image's
//     border, so the aspect ratio is kept, then resize to the model's H×W
//     with Catmull-Rom (golang.org/x/image/draw), in 8-bit values.
//  4. Invert if asked: MNIST digits are light on a dark background. With
//     InvertAuto (the default) the image is inverted when the mean of its
//     outermost ring of pixels after resizing is above mid-grey (a dark
//     digit on white paper); InvertNever and InvertAlways force it. An
//     inverted image is also stretched so that the paper (the ring's mean)
//     becomes 0 and the darkest ink 255, as MNIST's background is 0.
//  5. Scale each 8-bit value p to p/255 in float32, exactly as
//     datasets.ToFloat does for the training data.
package imageinput

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the decoders
	_ "image/png"
	"io"
	"io/fs"
	"os"

	"golang.org/x/image/draw"
)

// MaxPixels bounds the decoded size of an image (width·height), so a small
// file that claims to be huge cannot exhaust memory.
const MaxPixels = 1 << 26

// MaxCanvasSide is the largest image side padded to a square at full
// resolution before resizing (a canvas of at most 2048² NRGBA pixels,
// 16 MiB). Larger images are scaled directly into their place on the
// model-sized square: the same geometry, without the canvas, so the
// memory stays bounded whatever the aspect ratio.
const MaxCanvasSide = 2048

// placed is the rectangle that a w×h image centred on a side×side square
// covers once the square is resized to ow×oh, at least one pixel each way.
func placed(w, h, side, ow, oh int) image.Rectangle {
	round := func(a, n int) int { return (a*n + side/2) / side } // nearest output pixel edge
	x0, x1 := round((side-w)/2, ow), round((side-w)/2+w, ow)
	y0, y1 := round((side-h)/2, oh), round((side-h)/2+h, oh)
	if x1 <= x0 {
		x0, x1 = min(x0, ow-1), min(x0, ow-1)+1
	}
	if y1 <= y0 {
		y0, y1 = min(y0, oh-1), min(y0, oh-1)+1
	}
	return image.Rect(x0, y0, x1, y1)
}

// Invert chooses whether the image is inverted (255 − p).
type Invert int

const (
	// InvertAuto inverts when the border is lighter than mid-grey.
	InvertAuto Invert = iota
	// InvertNever keeps the pixels.
	InvertNever
	// InvertAlways inverts.
	InvertAlways
)

// ParseInvert reads "auto", "no" or "yes".
func ParseInvert(s string) (Invert, error) {
	switch s {
	case "auto":
		return InvertAuto, nil
	case "no", "never", "off", "false":
		return InvertNever, nil
	case "yes", "always", "on", "true":
		return InvertAlways, nil
	}
	return 0, fmt.Errorf("imageinput: invert must be auto, yes or no, got %q", s)
}

// Shape is the model input: channels (1 or 3), height and width.
type Shape struct{ C, H, W int }

// Image is one preprocessed image.
type Image struct {
	// Pixels are C·H·W float32 values in [0, 1], CHW order.
	Pixels []float32
	// Inverted tells whether step 4 inverted the image.
	Inverted bool
	// Format is the decoder's name ("png", "jpeg"); SrcW, SrcH the
	// original size.
	Format     string
	SrcW, SrcH int
}

// Error reports an image that cannot be used, with the file it came from.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("imageinput: %s: %v", e.Path, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ErrFormat is wrapped by the error for data that is not a PNG or JPEG
// image, or is a damaged one.
var ErrFormat = errors.New("not a readable PNG or JPEG image")

// Load reads and preprocesses the image file at path.
func Load(path string, s Shape, inv Invert) (*Image, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, &Error{path, err}
	}
	img, err := Decode(bytes.NewReader(data), s, inv)
	if err != nil {
		return nil, &Error{path, err}
	}
	return img, nil
}

// MaxFileBytes bounds the size of an image file Load reads (a
// MaxPixels-pixel photo compresses to far less).
const MaxFileBytes = 256 << 20

// readBounded reads a regular file of at most MaxFileBytes: a device or a
// named pipe (predict /dev/zero) would otherwise be read without end.
func readBounded(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fileKind(st.Mode()))
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%w: empty file (0 bytes)", ErrFormat)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%d bytes, more than the %d-byte limit for an image file", st.Size(), MaxFileBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err == nil && len(data) > MaxFileBytes {
		err = fmt.Errorf("more than the %d-byte limit for an image file", MaxFileBytes)
	}
	return data, err
}

// fileKind names what a non-regular file is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.Type().String()
}

// Decode reads a PNG or JPEG image from r and preprocesses it.
func Decode(r io.Reader, s Shape, inv Invert) (*Image, error) {
	if s.C != 1 && s.C != 3 || s.H < 1 || s.W < 1 || s.H*s.W > MaxPixels {
		return nil, fmt.Errorf("model input %dx%dx%d: only 1 or 3 channels of a positive size are supported", s.C, s.H, s.W)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrFormat, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxPixels/max(cfg.Height, 1) {
		return nil, fmt.Errorf("%w: size %dx%d outside [1, %d pixels]", ErrFormat, cfg.Width, cfg.Height, MaxPixels)
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrFormat, err)
	}
	out := FromImage(src, s, inv)
	out.Format, out.SrcW, out.SrcH = format, cfg.Width, cfg.Height
	return out, nil
}

// FromImage preprocesses a decoded image (steps 2 to 5).
func FromImage(src image.Image, s Shape, inv Invert) *Image {
	b := src.Bounds()
	bg := borderMean(src)
	side := max(b.Dx(), b.Dy())
	small := image.NewNRGBA(image.Rect(0, 0, s.W, s.H))
	if side <= MaxCanvasSide {
		// Square canvas of the border colour, the image centred on it.
		sq := image.NewNRGBA(image.Rect(0, 0, side, side))
		draw.Draw(sq, sq.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
		off := image.Pt((side-b.Dx())/2, (side-b.Dy())/2)
		draw.Draw(sq, b.Sub(b.Min).Add(off), src, b.Min, draw.Over)
		draw.CatmullRom.Scale(small, small.Bounds(), sq, sq.Bounds(), draw.Src, nil)
	} else {
		// No full-resolution canvas (a 100000×1 image would need 40 GB):
		// fill the output with the border colour and scale the image
		// straight into the rectangle it covers on the square, at least
		// one pixel each way. The kernel's temporary buffer is only
		// (output width)×(source height).
		draw.Draw(small, small.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
		draw.CatmullRom.Scale(small, placed(b.Dx(), b.Dy(), side, s.W, s.H), src, b, draw.Over, nil)
	}

	planes := make([][]uint8, s.C)
	for c := range planes {
		planes[c] = make([]uint8, s.H*s.W)
	}
	for y := 0; y < s.H; y++ {
		for x := 0; x < s.W; x++ {
			px := small.NRGBAAt(x, y)
			if s.C == 1 {
				planes[0][y*s.W+x] = color.GrayModel.Convert(color.NRGBA{px.R, px.G, px.B, 255}).(color.Gray).Y
			} else {
				planes[0][y*s.W+x], planes[1][y*s.W+x], planes[2][y*s.W+x] = px.R, px.G, px.B
			}
		}
	}
	out := &Image{Pixels: make([]float32, s.C*s.H*s.W)}
	switch inv {
	case InvertAlways:
		out.Inverted = true
	case InvertAuto:
		out.Inverted = ringMean(planes, s.H, s.W) > 127.5
	}
	if out.Inverted {
		invertStretch(planes, s.H, s.W)
	}
	for c, p := range planes {
		for i, v := range p {
			out.Pixels[c*s.H*s.W+i] = float32(v) / 255 // as datasets.ToFloat
		}
	}
	return out
}

// invertStretch inverts the planes (255 − p), then stretches the values
// so that the paper (the mean of the outermost ring) becomes 0 and the
// darkest ink 255, as in MNIST, where the background is exactly 0.
func invertStretch(planes [][]uint8, h, w int) {
	hi := 0
	for _, p := range planes {
		for i, v := range p {
			p[i] = 255 - v
			hi = max(hi, int(p[i]))
		}
	}
	lo := int(ringMean(planes, h, w) + 0.5)
	if hi <= lo {
		return
	}
	for _, p := range planes {
		for i, v := range p {
			p[i] = uint8(min(255, max(0, ((int(v)-lo)*255+(hi-lo)/2)/(hi-lo))))
		}
	}
}

// borderMean is the mean colour of the outermost pixels of src, opaque.
func borderMean(src image.Image) color.NRGBA {
	b := src.Bounds()
	var r, g, bl, n uint64
	add := func(x, y int) {
		c := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
		// Transparent pixels count as white paper.
		a := uint64(c.A)
		r += (uint64(c.R)*a + 255*(255-a)) / 255
		g += (uint64(c.G)*a + 255*(255-a)) / 255
		bl += (uint64(c.B)*a + 255*(255-a)) / 255
		n++
	}
	for x := b.Min.X; x < b.Max.X; x++ {
		add(x, b.Min.Y)
		if b.Dy() > 1 {
			add(x, b.Max.Y-1)
		}
	}
	for y := b.Min.Y + 1; y < b.Max.Y-1; y++ {
		add(b.Min.X, y)
		if b.Dx() > 1 {
			add(b.Max.X-1, y)
		}
	}
	if n == 0 {
		return color.NRGBA{A: 255}
	}
	return color.NRGBA{uint8(r / n), uint8(g / n), uint8(bl / n), 255}
}

// ringMean is the mean 8-bit value of the outermost ring of an H×W image,
// over all planes.
func ringMean(planes [][]uint8, h, w int) float64 {
	var sum, n float64
	for _, p := range planes {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if y == 0 || y == h-1 || x == 0 || x == w-1 {
					sum += float64(p[y*w+x])
					n++
				}
			}
		}
	}
	return sum / n
}
