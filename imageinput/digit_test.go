package imageinput

import (
	"bytes"
	"errors"
	"image"
	"math"
	"strings"
	"testing"
)

// seven draws a "7" as dark strokes on white paper, w×h: the digit's own
// unit square is mapped to [x0, x0+size)×[y0, y0+size), and the stroke
// is 0.12·size thick, so every copy has the same shape.
func seven(w, h, x0, y0, size int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	// Segments in the unit square: the top bar and the long diagonal.
	segs := [][4]float64{{0.15, 0.1, 0.85, 0.1}, {0.85, 0.1, 0.4, 0.95}}
	half := 0.06
	for y := range h {
		for x := range w {
			px, py := (float64(x-x0)+0.5)/float64(size), (float64(y-y0)+0.5)/float64(size)
			v := uint8(255)
			for _, s := range segs {
				dx, dy := s[2]-s[0], s[3]-s[1]
				t := max(0, min(1, ((px-s[0])*dx+(py-s[1])*dy)/(dx*dx+dy*dy)))
				if math.Hypot(px-s[0]-t*dx, py-s[1]-t*dy) < half {
					v = 0
				}
			}
			g.Pix[y*g.Stride+x] = v
		}
	}
	return g
}

// centreOfMass of a 28×28 image, pixel i covering [i, i+1) (so the field's
// centre is 14).
func centreOfMass(p []float32) (float64, float64) {
	var m, mx, my float64
	for i, v := range p {
		x, y := i%28, i/28
		m += float64(v)
		mx += float64(v) * (float64(x) + 0.5)
		my += float64(v) * (float64(y) + 0.5)
	}
	return mx / m, my / m
}

// TestPrepareDigitByHand: a black 60×300 bar on white 400×400 paper, off
// centre. Worked by hand: the paper (255) is lighter than mid-grey, so the
// image is inverted: the bar is 255 and the paper 0. The ink box is 60×300;
// its longer side becomes 20, the other (60·20 + 150)/300 = 4 (rounded):
// a 4×20 box, uniform 255 (Catmull-Rom's weights sum to 1). Its centre of
// mass is (2, 10), so it is shifted by (round(14 − 2), round(14 − 10)) =
// (12, 4): the output is 1 on x in [12, 16), y in [4, 24), and 0 elsewhere,
// with its centre of mass exactly at (14, 14).
func TestPrepareDigitByHand(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 400, 400))
	for i := range g.Pix {
		x, y := i%400, i/400
		g.Pix[i] = 255
		if x >= 30 && x < 90 && y >= 80 && y < 380 {
			g.Pix[i] = 0
		}
	}
	img, err := PrepareDigit(g, InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	if !img.Inverted || img.Prep != "mnist" || !strings.Contains(img.Note, "ink box 60x300 px scaled to 4x20") {
		t.Errorf("inverted %v, prep %q, note %q", img.Inverted, img.Prep, img.Note)
	}
	for i, v := range img.Pixels {
		x, y := i%28, i/28
		want := float32(0)
		if x >= 12 && x < 16 && y >= 4 && y < 24 {
			want = 1
		}
		if v != want {
			t.Fatalf("pixel (%d, %d) = %v, want %v", x, y, v, want)
		}
	}
	if cx, cy := centreOfMass(img.Pixels); cx != 14 || cy != 14 {
		t.Errorf("centre of mass (%v, %v), want (14, 14)", cx, cy)
	}
}

// TestPrepareDigitScaleInvariant: issue 18's "7" read as 3 when it filled
// the frame and as 7 when it was small with a margin. Prepared as MNIST
// was, the full-frame stroke and the same stroke shrunk to 0.3 in a corner
// give (nearly) the same 28×28 input, centred by mass; padded and resized
// whole (PrepNone), they do not.
func TestPrepareDigitScaleInvariant(t *testing.T) {
	full := seven(280, 280, 0, 0, 280)    // the 7 nearly touches the frame
	small := seven(280, 280, 30, 150, 84) // 0.3 of it, in the lower left
	prep := func(g *image.Gray, p Prep) []float32 {
		img, err := Decode(bytes.NewReader(encodePNG(t, g)), mnist, Options{Prep: p})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(img.Note)
		if want := []string{"none", "mnist"}[min(int(p), 2)-1]; img.Prep != want {
			t.Fatalf("prep %q, want %q", img.Prep, want)
		}
		return img.Pixels
	}
	diff := func(a, b []float32) (mean, worst float64) {
		for i := range a {
			d := math.Abs(float64(a[i] - b[i]))
			mean += d / float64(len(a))
			worst = max(worst, d)
		}
		return mean, worst
	}
	a, b := prep(full, PrepMNIST), prep(small, PrepMNIST)
	for _, p := range [][]float32{a, b} {
		if cx, cy := centreOfMass(p); math.Abs(cx-14) > 0.5 || math.Abs(cy-14) > 0.5 {
			t.Errorf("centre of mass (%.2f, %.2f), want within 0.5 of (14, 14)", cx, cy)
		}
	}
	mean, worst := diff(a, b)
	t.Logf("MNIST preparation: mean difference %.4f, largest %.3f", mean, worst)
	// Both ink boxes (230×269 and 68×82 source pixels) become 17×20: the
	// antialiased edges differ a little (measured: mean 0.005, largest
	// 0.196; whole-image resizing differs by 0.23 on average).
	if mean > 0.02 || worst > 0.35 {
		t.Errorf("full-frame and shrunk digits differ: mean %.4f, largest %.3f", mean, worst)
	}
	rawMean, _ := diff(prep(full, PrepNone), prep(small, PrepNone))
	t.Logf("padded and resized whole: mean difference %.4f", rawMean)
	if rawMean < 0.1 {
		t.Errorf("without preparation the two differ by only %.4f on average: the test shows nothing", rawMean)
	}
}

// TestPrepareDigitChoices: a light digit on black (MNIST's own look) is
// not inverted; a blank image has no ink; the preparation makes 28×28
// grey images only; PrepAuto prepares for a 1×28×28 model only.
func TestPrepareDigitChoices(t *testing.T) {
	light := digit(56, 56, 255, 0)
	img, err := PrepareDigit(light, InvertAuto)
	if err != nil || img.Inverted {
		t.Fatalf("light on dark: %v, inverted %v", err, img != nil && img.Inverted)
	}
	blank := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range blank.Pix {
		blank.Pix[i] = 230
	}
	if _, err := PrepareDigit(blank, InvertAuto); !errors.Is(err, ErrNoInk) {
		t.Errorf("blank: %v, want ErrNoInk", err)
	}
	if _, err := FromImage(light, Shape{1, 16, 16}, Options{Prep: PrepMNIST}); err == nil || !strings.Contains(err.Error(), "1x28x28") {
		t.Errorf("MNIST preparation for a 16×16 model: %v", err)
	}
	for s, want := range map[Shape]string{mnist: "mnist", {1, 16, 16}: "none", {3, 28, 28}: "none"} {
		img, err := FromImage(light, s, Options{})
		if err != nil || img.Prep != want {
			t.Errorf("%v: prep %v (%v), want %s", s, img, err, want)
		}
	}
	for in, want := range map[string]Prep{"auto": PrepAuto, "none": PrepNone, "mnist": PrepMNIST} {
		if got, err := ParsePrep(in); err != nil || got != want {
			t.Errorf("ParsePrep(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePrep("emnist"); err == nil {
		t.Error("ParsePrep accepted emnist")
	}
}

// TestPrepareDigitNoteNeverWiderThanImage: a 1-pixel-wide image taller than
// MaxCanvasSide is measured on the shrunken canvas, where its ink is one
// canvas pixel (several source pixels) wide; the note said "ink box 2x5000"
// of a 1×5000 image.
func TestPrepareDigitNoteNeverWiderThanImage(t *testing.T) {
	const h = 5000
	g := image.NewGray(image.Rect(0, 0, 1, h))
	for y := range h {
		g.Pix[y] = 255
		if y >= 2000 && y < 3000 {
			g.Pix[y] = 0
		}
	}
	img, err := PrepareDigit(g, InvertAuto)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(img.Note, "ink box 1x") {
		t.Errorf("note %q: want an ink box 1 pixel wide", img.Note)
	}
}
