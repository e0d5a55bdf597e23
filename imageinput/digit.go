package imageinput

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/draw"
)

// The geometry of MNIST (LeCun, Cortes and Burges, "The MNIST database of
// handwritten digits"): "The original black and white (bilevel) images
// from NIST were size normalized to fit in a 20x20 pixel box while
// preserving their aspect ratio. The resulting images contain grey levels
// as a result of the anti-aliasing technique used by the normalization
// algorithm. The images were centered in a 28x28 image by computing the
// center of mass of the pixels, and translating the image so as to
// position this point at the center of the 28x28 field."
const (
	digitBox   = 20
	digitField = 28
	// inkLevel is the least value (of 255, after the paper is taken to 0
	// and the darkest ink to 255) that counts towards the ink's bounding
	// box, so that faint noise and JPEG ringing do not widen it.
	inkLevel = 64
)

// ErrNoInk is wrapped by PrepareDigit's error for an image without a
// digit: every pixel is the colour of its border.
var ErrNoInk = errors.New("no ink to centre: the image is one colour, or its strokes are too thin to survive shrinking a very large image")

// PrepareDigit prepares an image of one handwritten digit as MNIST's
// makers prepared theirs, so that a model trained on MNIST sees what it
// was trained on:
//
//  1. Grey (luminance); inverted when the background (the mean colour of
//     the border) is lighter than mid-grey (inv forces it either way).
//  2. The background level becomes 0 and the strongest ink 255.
//  3. The bounding box of the ink (values ≥ 64) is cut out and scaled,
//     aspect ratio kept, so that its longer side is 20 pixels, with the
//     Catmull-Rom kernel (widened when shrinking: antialiased).
//  4. The box is placed in a 28×28 field, shifted by whole pixels so that
//     its centre of mass, with pixel i covering [i, i+1), is within half a
//     pixel of (14, 14) — unless that would push ink out of the field,
//     where the box is kept whole at the edge.
//
// A large image is first area-averaged to at most MaxCanvasSide pixels a
// side, as in FromImage. The result is 1×28×28, values in [0, 1].
func PrepareDigit(src image.Image, inv Invert) (*Image, error) {
	b := src.Bounds()
	if b.Empty() || b.Dx() > MaxPixels/b.Dy() {
		return nil, fmt.Errorf("%w: size %dx%d outside [1, %d pixels]", ErrFormat, b.Dx(), b.Dy(), MaxPixels)
	}
	bg := borderMean(src)
	sq := squareCanvas(src, bg)
	n := sq.Bounds().Dx()
	side := max(b.Dx(), b.Dy()) // source pixels per n canvas pixels

	grey := func(c color.NRGBA) int {
		return int(color.GrayModel.Convert(color.NRGBA{c.R, c.G, c.B, 255}).(color.Gray).Y)
	}
	paper := grey(bg)
	out := &Image{Pixels: make([]float32, digitField*digitField), Bytes: make([]uint8, digitField*digitField), Prep: "mnist"}
	switch inv {
	case InvertAlways:
		out.Inverted = true
	case InvertAuto:
		out.Inverted = 2*paper > 255
	}
	g := make([]uint8, n*n)
	hi := 0
	for y := range n {
		for x := range n {
			v := grey(sq.NRGBAAt(x, y))
			if out.Inverted {
				v = 255 - v
			}
			g[y*n+x] = uint8(v)
			hi = max(hi, v)
		}
	}
	if out.Inverted {
		paper = 255 - paper
	}
	if hi <= paper {
		return nil, ErrNoInk
	}
	// Paper to 0, the strongest ink to 255; the box of the ink.
	box := image.Rectangle{Min: image.Pt(n, n)}
	crop := image.NewGray(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			v := min(255, max(0, ((int(g[y*n+x])-paper)*255+(hi-paper)/2)/(hi-paper)))
			crop.Pix[y*crop.Stride+x] = uint8(v)
			if v >= inkLevel {
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	if box.Empty() {
		return nil, ErrNoInk
	}
	bw, bh := box.Dx(), box.Dy()
	long := max(bw, bh)
	sw, sh := max(1, (bw*digitBox+long/2)/long), max(1, (bh*digitBox+long/2)/long)
	small := image.NewGray(image.Rect(0, 0, sw, sh))
	draw.CatmullRom.Scale(small, small.Bounds(), crop, box, draw.Src, nil)

	// Centre of mass, pixel (x, y) at (x + ½, y + ½).
	var mass, mx, my float64
	for y := range sh {
		for x := range sw {
			v := float64(small.Pix[y*small.Stride+x])
			mass += v
			mx += v * (float64(x) + 0.5)
			my += v * (float64(y) + 0.5)
		}
	}
	if mass == 0 {
		return nil, ErrNoInk
	}
	half := float64(digitField) / 2
	ox := min(max(int(math.Floor(half-mx/mass+0.5)), 0), digitField-sw)
	oy := min(max(int(math.Floor(half-my/mass+0.5)), 0), digitField-sh)
	for y := range sh {
		for x := range sw {
			v := small.Pix[y*small.Stride+x]
			out.Bytes[(y+oy)*digitField+x+ox] = v
			out.Pixels[(y+oy)*digitField+x+ox] = float32(v) / 255
		}
	}
	// The box's size in source pixels, for the note.
	// (Measured on the canvas, so rounded to its pixels: never wider than
	// the image itself.)
	srcW, srcH := min((bw*side+n/2)/n, b.Dx()), min((bh*side+n/2)/n, b.Dy())
	out.Note = fmt.Sprintf("MNIST-style: ink box %dx%d px scaled to %dx%d, centred by mass in 28x28", srcW, srcH, sw, sh)
	return out, nil
}
