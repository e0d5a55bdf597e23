package imageinput

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyqat/tinyqat/internal/pixels"
)

// fuzzModes are the model inputs and options FuzzLoad reads a file with
// (its mode argument picks one): each preparation, each inversion, grey
// and colour models, images larger and smaller than the input.
var fuzzModes = []struct {
	s    Shape
	opt  Options
	prep string // Image.Prep wanted
}{
	{mnist, Options{}, "mnist"},
	{mnist, Options{Prep: PrepNone, Invert: InvertAlways}, "none"},
	{Shape{3, 8, 8}, Options{}, "none"},
	{Shape{1, 5, 7}, Options{Prep: PrepData, Invert: InvertNever}, "data"},
	{Shape{3, 6, 4}, Options{Data: "folder", Invert: InvertAlways}, "data"},
	{mnist, Options{Prep: PrepMNIST, Invert: InvertNever}, "mnist"},
}

// maxFuzzPixels bounds the images FuzzLoad decodes: a header declaring
// more (up to MaxPixels, 2^26) is legitimate but costs the fuzzer a
// large allocation per run; the bomb tests check the bounds themselves.
const maxFuzzPixels = 1 << 16

// FuzzLoad: any bytes in an image file given to `tinyqat predict`. An
// error is an *Error naming the file, wrapping ErrFormat (or ErrNoInk,
// for MNIST's preparation); an accepted image has the model's C·H·W
// values, Pixels = Bytes/255, the size its header declares, and with
// the data's preparation exactly the pixels the training read.
func FuzzLoad(f *testing.F) {
	d := digit(28, 28, 0, 255) // dark ink on white paper
	nrgba := image.NewNRGBA(image.Rect(0, 0, 9, 5))
	for i := range nrgba.Pix {
		nrgba.Pix[i] = uint8(37 * i)
	}
	pal := image.NewPaletted(image.Rect(0, 0, 4, 3), color.Palette{color.Black, color.RGBA{200, 10, 10, 255}})
	pal.Pix[5] = 1
	g16 := image.NewGray16(image.Rect(0, 0, 3, 7))
	for i := range g16.Pix {
		g16.Pix[i] = uint8(11 * i)
	}
	seeds := [][]byte{encodePNG(f, d), encodeJPEG(f, d), encodePNG(f, nrgba), encodeJPEG(f, nrgba), encodePNG(f, pal), encodePNG(f, g16),
		encodePNG(f, digit(1, 1, 0, 0))}
	for i, b := range seeds {
		f.Add(b, uint8(i))
		f.Add(b[:len(b)/2], uint8(i))
		f.Add(b[:len(b)-1], uint8(i+1))
	}
	for _, b := range []string{"", "GIF89a", "BM", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "RIFF\x00\x00\x00\x00WEBP"} {
		f.Add([]byte(b), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		cfg, format, declared := declared(data)
		if declared && int64(cfg.Width)*int64(cfg.Height) > maxFuzzPixels {
			t.Skip("declares a large image")
		}
		m := fuzzModes[int(mode)%len(fuzzModes)]
		path := filepath.Join(t.TempDir(), "x.png")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := Load(path, m.s, m.opt)
		if err != nil {
			var ie *Error
			if img != nil || !errors.As(err, &ie) || ie.Path != path ||
				!(errors.Is(err, ErrFormat) || m.prep == "mnist" && errors.Is(err, ErrNoInk)) {
				t.Fatalf("error %q (%T): want an *Error for %s wrapping ErrFormat", err, err, path)
			}
			return
		}
		n := m.s.C * m.s.H * m.s.W
		if !declared || img.Format != format || img.SrcW != cfg.Width || img.SrcH != cfg.Height {
			t.Fatalf("read as a %dx%d %s; its header declares %dx%d %s", img.SrcW, img.SrcH, img.Format, cfg.Width, cfg.Height, format)
		}
		if img.Prep != m.prep || len(img.Pixels) != n || len(img.Bytes) != n {
			t.Fatalf("prep %q, %d pixels, %d bytes; want %q and %d", img.Prep, len(img.Pixels), len(img.Bytes), m.prep, n)
		}
		for i, v := range img.Bytes {
			if img.Pixels[i] != float32(v)/255 {
				t.Fatalf("pixel %d is %v, byte %d", i, img.Pixels[i], v)
			}
		}
		if img.Inverted && m.opt.Invert == InvertNever || !img.Inverted && m.opt.Invert == InvertAlways {
			t.Fatalf("inverted %v with invert %v", img.Inverted, m.opt.Invert)
		}
		if m.prep == "data" && !img.Inverted {
			// The pixels the training read from the file (datasets' decoding).
			var src image.Image
			if format == "png" {
				src, err = png.Decode(bytes.NewReader(data))
			} else {
				src, err = jpeg.Decode(bytes.NewReader(data))
			}
			if err != nil {
				t.Fatal(err)
			}
			full := make([]uint8, m.s.C*cfg.Width*cfg.Height)
			pixels.ToCHW(full, src, m.s.C)
			want := make([]uint8, n)
			pixels.Resize(want, full, m.s.C, cfg.Height, cfg.Width, m.s.H, m.s.W)
			if !bytes.Equal(img.Bytes, want) {
				t.Fatalf("data preparation: %v, want %v", img.Bytes, want)
			}
		}
	})
}

// declared is what a PNG or JPEG header declares, by the file's first
// bytes (as Decode sniffs them).
func declared(b []byte) (image.Config, string, bool) {
	var cfg image.Config
	var err error
	format := sniff(b)
	switch format {
	case "png":
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	case "jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	default:
		return cfg, format, false
	}
	return cfg, format, err == nil
}
