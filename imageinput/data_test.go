package imageinput

import (
	"image"
	"image/color"
	"slices"
	"strings"
	"testing"
)

// TestFromData: PrepAuto picks the training data's reading for a model
// trained on an image folder (even at MNIST's shape), transparency goes
// to black, a non-square image is stretched (not padded), and only
// InvertAlways inverts.
func TestFromData(t *testing.T) {
	// 2×1 RGBA: a transparent pixel (with colour behind it) and an opaque one.
	src := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	src.SetNRGBA(0, 0, color.NRGBA{255, 255, 255, 0})
	src.SetNRGBA(1, 0, color.NRGBA{100, 150, 200, 255})
	for _, tc := range []struct {
		name  string
		shape Shape
		opt   Options
		prep  string
		bytes []uint8
		note  string // a part of the note; sizes are HxW, as --resize HxW writes them
	}{
		{"same size", Shape{3, 1, 2}, Options{Data: "folder"}, "data", []uint8{0, 100, 0, 150, 0, 200}, ": 1x2 (HxW), transparency"},
		{"stretched 2x1 to 4x2", Shape{3, 2, 4}, Options{Data: "folder"},
			"data", []uint8{0, 25, 75, 100, 0, 25, 75, 100, 0, 38, 113, 150, 0, 38, 113, 150, 0, 50, 150, 200, 0, 50, 150, 200}, " 1x2 stretched to 2x4 (HxW, as --resize HxW;"},
		{"grey, shrunk to 1x1", Shape{1, 1, 1}, Options{Data: "folder"}, "data", []uint8{71}, " 1x2 stretched to 1x1 (HxW, as --resize HxW; area averaging down, bilinear up); colour taken as its luminance (the model is grey)"},
		{"inverted when asked", Shape{3, 1, 2}, Options{Data: "folder", Invert: InvertAlways}, "data", []uint8{255, 0, 255, 0, 255, 0}, ""},
		{"prep data given", Shape{3, 1, 2}, Options{Prep: PrepData}, "data", []uint8{0, 100, 0, 150, 0, 200}, ""},
		{"idx data: padded", Shape{3, 1, 2}, Options{Data: "idx"}, "none", nil, ""},
		{"not recorded: padded", Shape{3, 1, 2}, Options{}, "none", nil, "resized to 1x2 (HxW)"},
		{"padded, grey model", Shape{1, 1, 2}, Options{}, "none", nil, "resized to 1x2 (HxW); colour taken as its luminance (the model is grey)"},
	} {
		img, err := FromImage(src, tc.shape, tc.opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if img.Prep != tc.prep || tc.bytes != nil && !slices.Equal(img.Bytes, tc.bytes) || !strings.Contains(img.Note, tc.note) {
			t.Errorf("%s: prep %s, bytes %v (%s); want %s, %v (%q)", tc.name, img.Prep, img.Bytes, img.Note, tc.prep, tc.bytes, tc.note)
		}
		for i, v := range img.Bytes {
			if img.Pixels[i] != float32(v)/255 {
				t.Fatalf("%s: pixel %d is %v for byte %d", tc.name, i, img.Pixels[i], v)
			}
		}
	}
	// At MNIST's shape, a folder model's image is read as data, not
	// re-centred as a digit.
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range g.Pix {
		g.Pix[i] = 240
	}
	g.Pix[0] = 0
	img, err := FromImage(g, MNIST, Options{Data: "folder"})
	if err != nil || img.Prep != "data" || img.Inverted || !slices.Equal(img.Bytes, g.Pix) {
		t.Errorf("1x28x28 folder model: %+v, %v", img, err)
	}
	// A grey image for a colour model: three equal channels, and the note says so.
	for _, prep := range []Prep{PrepData, PrepNone} {
		img, err := FromImage(g, Shape{3, 28, 28}, Options{Prep: prep})
		if err != nil || !strings.HasSuffix(img.Note, "; grey copied to R, G and B (the model is colour)") || !slices.Equal(img.Bytes[:784], img.Bytes[784:2*784]) {
			t.Errorf("grey image, colour model, prep %v: %+v, %v", prep, img.Note, err)
		}
	}
	if p, err := ParsePrep("data"); p != PrepData || err != nil {
		t.Errorf("ParsePrep(data) = %v, %v", p, err)
	}
}

// TestAutoPrepMNISTOnly: PrepAuto gives a 1×28×28 model MNIST's digit
// preparation only when its file says it was trained on MNIST (or says
// nothing of its data, as files before the fingerprint was recorded);
// a 28×28 model of other IDX data (Fashion-MNIST, say) gets PrepNone,
// and --prep mnist still forces the digit preparation.
func TestAutoPrepMNISTOnly(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 40, 30)) // a light bar on black
	for y := 10; y < 20; y++ {
		for x := 5; x < 35; x++ {
			g.Pix[y*g.Stride+x] = 200
		}
	}
	other := "0000000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"MNIST's fingerprint", Options{Data: "idx", DataSHA: MNISTDataSHA}, "mnist"},
		{"idx, no fingerprint recorded", Options{Data: "idx"}, "mnist"},
		{"nothing recorded", Options{}, "mnist"},
		{"other idx data", Options{Data: "idx", DataSHA: other}, "none"},
		{"other idx data, prep mnist given", Options{Data: "idx", DataSHA: other, Prep: PrepMNIST}, "mnist"},
		{"folder data", Options{Data: "folder", DataSHA: MNISTDataSHA}, "data"},
	} {
		img, err := FromImage(g, MNIST, tc.opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if img.Prep != tc.want {
			t.Errorf("%s: prep %s, want %s", tc.name, img.Prep, tc.want)
		}
	}
}
