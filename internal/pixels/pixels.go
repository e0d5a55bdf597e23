// Package pixels turns decoded images into the CHW bytes a model reads and
// scales them: the one implementation that the training data (datasets,
// image folders and --resize) and the deployed preprocessing (imageinput,
// `tinyqat predict`) share, so that a model sees at prediction time the
// pixels it was trained on. It imports the standard library only.
package pixels

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// ToCHW writes img's pixels into dst (c·w·h bytes) as c planes (1: grey,
// 3: red, green, blue). Grey images fill all three planes alike;
// transparency is composited over black (RGB premultiplied by alpha:
// image.Image's RGBA values, each taken to 8 bits by its high byte). A
// one-plane image is the luminance of Go's color.GrayModel of those
// premultiplied values, (19595·R + 38470·G + 7471·B + 2^15) >> 24 on
// 16-bit values.
func ToCHW(dst []uint8, img image.Image, c int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := w * h
	if c != 1 && c != 3 || len(dst) != c*n {
		panic(fmt.Sprintf("pixels: ToCHW of a %dx%d image into %d planes (%d bytes)", w, h, c, len(dst)))
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for ch := 0; ch < c; ch++ {
				copy(dst[ch*n+y*w:], row)
			}
		}
		return
	case *image.YCbCr:
		if c == 3 {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
					r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
					i := y*w + x
					dst[i], dst[n+i], dst[2*n+i] = r, g, bl
				}
			}
			return
		}
	case *image.RGBA:
		if c == 3 {
			for y := 0; y < h; y++ {
				row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
				for x := 0; x < w; x++ {
					i := y*w + x
					dst[i], dst[n+i], dst[2*n+i] = row[4*x], row[4*x+1], row[4*x+2]
				}
			}
			return
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			col := img.At(b.Min.X+x, b.Min.Y+y)
			i := y*w + x
			if c == 1 {
				dst[i] = color.GrayModel.Convert(col).(color.Gray).Y
				continue
			}
			r, g, bl, _ := col.RGBA()
			dst[i], dst[n+i], dst[2*n+i] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
		}
	}
}

// Resize scales the c planes of h×w bytes in src (CHW) to oh×ow into dst
// (c·oh·ow bytes). Each axis is scaled on its own (rows first, then
// columns of the result), in float64, rounded once at the end (half up):
//
//	shrinking (out < in): area averaging. Output pixel i covers the input
//	    interval [i·in/out, (i+1)·in/out); its value is the mean of the
//	    input pixels weighted by how much of each the interval covers
//	    (Pillow's BOX filter, OpenCV's INTER_AREA when shrinking).
//	enlarging (out > in): bilinear with pixel centres at half-integers:
//	    output i samples the input at s = (i+½)·in/out − ½, clamped to
//	    [0, in−1], between pixels ⌊s⌋ and ⌊s⌋+1 (OpenCV's INTER_LINEAR,
//	    Pillow's BILINEAR when enlarging).
//	same size: a copy.
//
// Weights are computed from integers, so a worked example is exact: the
// row 0, 90, 180 shrunk to two pixels gives 30 and 150; the row 0, 100
// enlarged to four gives 0, 25, 75, 100.
//
// Memory beyond dst is two scaled rows (2·ow float64) and the weights of
// one output pixel of each axis, whatever the input's size or aspect ratio: each
// scaled row is computed when the first output row that reads it is, and
// kept while the next one may read it (output rows read input rows in
// increasing order). Every output value is the same sum, term for term
// in the same order, as with the whole scaled plane in memory.
func Resize(dst, src []uint8, c, h, w, oh, ow int) {
	if c < 1 || h < 1 || w < 1 || oh < 1 || ow < 1 || len(src) != c*h*w || len(dst) != c*oh*ow {
		panic(fmt.Sprintf("pixels: Resize of %d×%d×%d (%d bytes) to %d×%d (%d bytes)", c, h, w, len(src), oh, ow, len(dst)))
	}
	if h == oh && w == ow {
		copy(dst, src)
		return
	}
	// rows[s] holds the scaled input row at[s] (−1: none) of the current plane.
	var rows [2][]float64
	var at [2]int
	for s := range rows {
		rows[s] = make([]float64, ow)
	}
	var wbuf, cbuf []float64
	acc := make([]float64, ow)
	for ch := 0; ch < c; ch++ {
		at = [2]int{-1, -1}
		// row returns input row y of plane ch scaled to ow columns.
		row := func(y int) []float64 {
			for s := range at {
				if at[s] == y {
					return rows[s]
				}
			}
			s := 0 // replace the older row: rows are read in increasing order
			if at[1] < at[0] {
				s = 1
			}
			in := src[(ch*h+y)*w : (ch*h+y+1)*w]
			out := rows[s]
			for j := range out {
				var k0 int
				k0, cbuf = taps(j, w, ow, cbuf[:0])
				var sum float64
				for t, wt := range cbuf {
					sum += wt * float64(in[k0+t])
				}
				out[j] = sum
			}
			at[s] = y
			return out
		}
		for i := 0; i < oh; i++ {
			var k0 int
			k0, wbuf = taps(i, h, oh, wbuf[:0])
			clear(acc)
			for t, wt := range wbuf {
				r := row(k0 + t)
				for j := range acc {
					acc[j] += wt * r[j]
				}
			}
			out := dst[(ch*oh+i)*ow : (ch*oh+i+1)*ow]
			for j, s := range acc {
				out[j] = uint8(min(255, max(0, math.Floor(s+0.5))))
			}
		}
	}
}

// taps returns the first input index and the weights (appended to buf)
// of the input pixels that make output pixel i of an axis scaled from in
// to out pixels (see Resize).
func taps(i, in, out int, buf []float64) (int, []float64) {
	if out <= in {
		// Input pixel k covers [k·out, (k+1)·out) in units of 1/(in·out) of
		// the axis, output pixel i covers [i·in, (i+1)·in).
		lo, hi := i*in, (i+1)*in
		k0 := lo / out
		for k := k0; k < in && k*out < hi; k++ {
			ov := min((k+1)*out, hi) - max(k*out, lo)
			buf = append(buf, float64(ov)/float64(in))
		}
		return k0, buf
	}
	// s = ((2i+1)·in − out) / (2·out).
	num, den := (2*i+1)*in-out, 2*out
	if num <= 0 {
		return 0, append(buf, 1)
	}
	k0, rem := num/den, num%den
	if k0 >= in-1 {
		return in - 1, append(buf, 1)
	}
	f := float64(rem) / float64(den)
	return k0, append(buf, 1-f, f)
}
