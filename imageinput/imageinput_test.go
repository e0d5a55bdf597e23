package imageinput

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// digit draws a light vertical bar (a "1") on a dark background, w×h.
func digit(w, h int, fg, bg uint8) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := bg
			if x >= w*2/5 && x < w*3/5 && y >= h/5 && y < h*4/5 {
				v = fg
			}
			g.SetGray(x, y, color.Gray{v})
		}
	}
	return g
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var mnist = Shape{1, 28, 28}

// At the model's own size the pipeline is the identity on the pixels:
// Catmull-Rom's weights at integer offsets are 1, 0, 0, so p/255 comes out
// as datasets.ToFloat computes it.
func TestSameSizeIsExact(t *testing.T) {
	g := digit(28, 28, 200, 0)
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 7) // every value of a ramp, not only 0 and 200
	}
	g.Pix[0], g.Pix[27], g.Pix[28*27], g.Pix[28*28-1] = 0, 0, 0, 0
	img, err := Decode(bytes.NewReader(encodePNG(t, g)), mnist, Options{Invert: InvertNever, Prep: PrepNone})
	if err != nil {
		t.Fatal(err)
	}
	if img.Format != "png" || img.SrcW != 28 || img.SrcH != 28 || img.Inverted {
		t.Errorf("format %s %dx%d inverted %v", img.Format, img.SrcW, img.SrcH, img.Inverted)
	}
	for i, v := range img.Pixels {
		if v != float32(g.Pix[i])/255 {
			t.Fatalf("pixel %d = %v, want %v/255", i, v, g.Pix[i])
		}
	}
}

func TestAutoInvert(t *testing.T) {
	light := digit(56, 56, 255, 0) // MNIST style
	dark := digit(56, 56, 0, 255)  // ink on paper
	a, err := Decode(bytes.NewReader(encodePNG(t, light)), mnist, Options{Invert: InvertAuto, Prep: PrepNone})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(bytes.NewReader(encodePNG(t, dark)), mnist, Options{Invert: InvertAuto, Prep: PrepNone})
	if err != nil {
		t.Fatal(err)
	}
	if a.Inverted || !b.Inverted {
		t.Fatalf("inverted: light-on-dark %v, dark-on-light %v", a.Inverted, b.Inverted)
	}
	for i := range a.Pixels {
		// The two are exact negatives, so after inversion they agree up to
		// the 8-bit rounding of the resize (one step each way).
		if d := math.Abs(float64(a.Pixels[i] - b.Pixels[i])); d > 1.0/255+1e-6 {
			t.Fatalf("pixel %d: %v vs %v", i, a.Pixels[i], b.Pixels[i])
		}
	}
	n, err := Decode(bytes.NewReader(encodePNG(t, dark)), mnist, Options{Invert: InvertNever, Prep: PrepNone})
	if err != nil || n.Inverted || n.Pixels[0] != 1 {
		t.Fatalf("InvertNever: %v, inverted %v, corner %v", err, n.Inverted, n.Pixels[0])
	}
	y, err := Decode(bytes.NewReader(encodePNG(t, light)), mnist, Options{Invert: InvertAlways, Prep: PrepNone})
	if err != nil || !y.Inverted || y.Pixels[0] != 1 {
		t.Fatalf("InvertAlways: %v, inverted %v, corner %v", err, y.Inverted, y.Pixels[0])
	}
}

// Colour and grey, PNG and JPEG, odd sizes: the same picture gives the
// same input (to the JPEG's loss), in [0, 1], with the digit in the middle.
func TestFormatsAndSizes(t *testing.T) {
	for _, size := range [][2]int{{37, 23}, {23, 37}, {1, 1}, {5, 301}, {28, 28}, {100, 100}} {
		w, h := size[0], size[1]
		g := digit(w, h, 255, 0)
		rgba := image.NewRGBA(g.Bounds())
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := g.GrayAt(x, y).Y
				rgba.Set(x, y, color.RGBA{v, v, v, 255})
			}
		}
		ref, err := Decode(bytes.NewReader(encodePNG(t, g)), mnist, Options{Invert: InvertNever, Prep: PrepNone})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			data []byte
			tol  float64 // JPEG at quality 95 moves an edge pixel by up to ~10%
		}{
			{"png rgb", encodePNG(t, rgba), 0},
			{"jpeg grey", encodeJPEG(t, g), 0.35},
			{"jpeg rgb", encodeJPEG(t, rgba), 0.35},
			// A zero byte between the start marker and the next one: Go's
			// decoder skips it, and datasets trains on such files.
			{"jpeg stray byte", append([]byte{0xff, 0xd8, 0}, encodeJPEG(t, g)[2:]...), 0.35},
		} {
			img, err := Decode(bytes.NewReader(c.data), mnist, Options{Invert: InvertNever, Prep: PrepNone})
			if err != nil {
				t.Fatalf("%dx%d %s: %v", w, h, c.name, err)
			}
			if len(img.Pixels) != 28*28 || img.SrcW != w || img.SrcH != h {
				t.Fatalf("%dx%d %s: %d pixels, source %dx%d", w, h, c.name, len(img.Pixels), img.SrcW, img.SrcH)
			}
			for i, v := range img.Pixels {
				if v < 0 || v > 1 || math.Abs(float64(v-ref.Pixels[i])) > c.tol {
					t.Fatalf("%dx%d %s: pixel %d = %v, grey PNG %v", w, h, c.name, i, v, ref.Pixels[i])
				}
			}
		}
		if w >= 20 && h >= 20 && ref.Pixels[14*28+14] < 0.9 {
			t.Errorf("%dx%d: centre %v, the bar is lost", w, h, ref.Pixels[14*28+14])
		}
	}
}

func TestColourModel(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < 64; i++ {
		img.Set(i%8, i/8, color.NRGBA{255, 0, 0, 255}) // pure red
	}
	got, err := Decode(bytes.NewReader(encodePNG(t, img)), Shape{3, 4, 4}, Options{Invert: InvertNever, Prep: PrepNone})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got.Pixels {
		want := float32(0)
		if i < 16 { // the R plane
			want = 1
		}
		if v != want {
			t.Fatalf("value %d = %v, want %v", i, v, want)
		}
	}
	// Grey of pure red: color.GrayModel gives (19595·255 + 1<<15) >> 24 = 76.
	grey, err := Decode(bytes.NewReader(encodePNG(t, img)), Shape{1, 4, 4}, Options{Invert: InvertNever, Prep: PrepNone})
	if err != nil || grey.Pixels[0] != float32(76)/255 {
		t.Fatalf("grey of red: %v %v", err, grey.Pixels)
	}
}

func TestTransparentIsPaper(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 20, 20)) // transparent
	for y := 4; y < 16; y++ {
		img.Set(10, y, color.NRGBA{0, 0, 0, 255}) // black ink
	}
	got, err := Decode(bytes.NewReader(encodePNG(t, img)), mnist, Options{Invert: InvertAuto, Prep: PrepNone})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Inverted || got.Pixels[0] != 0 {
		t.Fatalf("inverted %v, corner %v: a transparent background should read as paper", got.Inverted, got.Pixels[0])
	}
}

func TestBadFiles(t *testing.T) {
	good := encodePNG(t, digit(28, 28, 255, 0))
	dir := t.TempDir()
	cases := map[string][]byte{
		"empty.png":     {},
		"text.png":      []byte("this is not an image"),
		"truncated.png": good[:len(good)/2],
		"truncated.jpg": encodeJPEG(t, digit(28, 28, 255, 0))[:200],
		// A PNG header that claims 2^30×2^30 pixels (IHDR only).
		"huge.png": append(append([]byte{}, good[:16]...), 0x40, 0, 0, 0, 0x40, 0, 0, 0, 8, 0, 0, 0, 0),
	}
	for name, data := range cases {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, mnist, Options{Invert: InvertAuto, Prep: PrepNone})
		var ie *Error
		if !errors.As(err, &ie) || ie.Path != p || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want an *Error for the path wrapping ErrFormat", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.png"), mnist, Options{Invert: InvertAuto, Prep: PrepNone}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Decode(bytes.NewReader(good), Shape{2, 28, 28}, Options{Invert: InvertAuto, Prep: PrepNone}); err == nil {
		t.Error("a 2-channel model input was accepted")
	}
}

func TestParseInvert(t *testing.T) {
	for s, want := range map[string]Invert{"auto": InvertAuto, "no": InvertNever, "yes": InvertAlways} {
		if got, err := ParseInvert(s); err != nil || got != want {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseInvert("sometimes"); err == nil {
		t.Error("ParseInvert accepted sometimes")
	}
}

// A photo of grey paper (200) with grey ink (50) becomes MNIST-like: the
// paper 0, the ink 1.
func TestInvertStretches(t *testing.T) {
	img, err := Decode(bytes.NewReader(encodePNG(t, digit(28, 28, 50, 200))), mnist, Options{Invert: InvertAuto, Prep: PrepNone})
	if err != nil {
		t.Fatal(err)
	}
	if !img.Inverted || img.Pixels[0] != 0 || img.Pixels[14*28+14] != 1 {
		t.Fatalf("inverted %v, paper %v, ink %v", img.Inverted, img.Pixels[0], img.Pixels[14*28+14])
	}
}

// TestOnlyPNGAndJPEG: files are read by their content, PNG and JPEG only.
// image.Decode took any registered format: this test imports image/gif,
// as cmd/tinyqat's dependencies do, and an animated GIF named .png was
// read. A refused file says what it is.
func TestOnlyPNGAndJPEG(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 28, 28), color.Palette{color.Black, color.White})
	var anim bytes.Buffer
	if err := gif.EncodeAll(&anim, &gif.GIF{Image: []*image.Paletted{pal, pal}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jpegBytes := encodeJPEG(t, digit(28, 28, 255, 0))
	for name, c := range map[string]struct {
		data []byte
		want string // "" accepted
	}{
		"anim.png":   {anim.Bytes(), "the file is a GIF image (by its content); only PNG and JPEG are read"},
		"bitmap.jpg": {append([]byte("BM"), make([]byte, 60)...), "the file is a BMP image"},
		"photo.png":  {append([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "), make([]byte, 20)...), "the file is a WebP image"},
		"text.png":   {[]byte("hello, world"), "unrecognised content (first bytes 68 65 6c 6c 6f 2c 20 77)"},
		"named.png":  {jpegBytes, ""}, // a JPEG named .png is a JPEG
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := Load(p, mnist, Options{})
		switch {
		case c.want == "" && (err != nil || img.Format != "jpeg"):
			t.Errorf("%s: %v, format %v", name, err, img)
		case c.want != "" && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p)):
			t.Errorf("%s: got %v, want an error naming the file and %q", name, err, c.want)
		}
	}
}

// TestChannelConversions: a colour model gets R, G, B (a grey image as
// three equal planes) and is never inverted automatically (a light sky
// is no paper); a grey model gets the stated luminance
// (19595·R' + 38470·G' + 7471·B' + 2^15) >> 24 with R' = 257·R; Bytes
// are the pixels' 8-bit values, Pixels = Bytes/255, for both preparations.
func TestChannelConversions(t *testing.T) {
	for _, c := range [][3]uint8{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {200, 120, 30}, {170, 190, 250}, {1, 2, 3}} {
		img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
		for i := 0; i < 64; i++ {
			img.Set(i%8, i/8, color.NRGBA{c[0], c[1], c[2], 255})
		}
		file := encodePNG(t, img)
		rgb, err := Decode(bytes.NewReader(file), Shape{3, 4, 4}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rgb.Inverted {
			t.Errorf("%v: a colour model's image was inverted", c)
		}
		for i, b := range rgb.Bytes {
			if b != c[i/16] || rgb.Pixels[i] != float32(b)/255 {
				t.Fatalf("%v: colour value %d = %d (%v)", c, i, b, rgb.Pixels[i])
			}
		}
		grey, err := Decode(bytes.NewReader(file), Shape{1, 4, 4}, Options{Invert: InvertNever})
		if err != nil {
			t.Fatal(err)
		}
		y := uint8((19595*257*uint32(c[0]) + 38470*257*uint32(c[1]) + 7471*257*uint32(c[2]) + 1<<15) >> 24)
		for i, b := range grey.Bytes {
			if b != y || grey.Pixels[i] != float32(b)/255 {
				t.Fatalf("%v: grey value %d = %d, want %d", c, i, b, y)
			}
		}
	}
	g := digit(20, 20, 255, 0)
	rgb, err := Decode(bytes.NewReader(encodePNG(t, g)), Shape{3, 10, 10}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, gr, b := rgb.Bytes[:100], rgb.Bytes[100:200], rgb.Bytes[200:]
	if !slices.Equal(r, gr) || !slices.Equal(r, b) || slices.Max(r) == 0 {
		t.Fatalf("a grey image on a colour model: planes differ or are blank")
	}
	d, err := Decode(bytes.NewReader(encodePNG(t, digit(56, 56, 0, 255))), mnist, Options{})
	if err != nil || d.Prep != "mnist" || len(d.Bytes) != 784 {
		t.Fatalf("digit: %v", err)
	}
	for i, v := range d.Bytes {
		if d.Pixels[i] != float32(v)/255 {
			t.Fatalf("digit pixel %d: %v, bytes %d", i, d.Pixels[i], v)
		}
	}
}
