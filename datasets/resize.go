package datasets

import (
	"fmt"
	"math"
)

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
func Resize(dst, src []uint8, c, h, w, oh, ow int) {
	if c < 1 || h < 1 || w < 1 || oh < 1 || ow < 1 || len(src) != c*h*w || len(dst) != c*oh*ow {
		panic(fmt.Sprintf("datasets: Resize of %d×%d×%d (%d bytes) to %d×%d (%d bytes)", c, h, w, len(src), oh, ow, len(dst)))
	}
	if h == oh && w == ow {
		copy(dst, src)
		return
	}
	tmp := make([]float64, c*h*ow) // after scaling columns
	var wbuf []float64
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			row := src[(ch*h+y)*w : (ch*h+y+1)*w]
			out := tmp[(ch*h+y)*ow : (ch*h+y+1)*ow]
			for j := range out {
				var k0 int
				k0, wbuf = taps(j, w, ow, wbuf[:0])
				var s float64
				for t, wt := range wbuf {
					s += wt * float64(row[k0+t])
				}
				out[j] = s
			}
		}
	}
	for ch := 0; ch < c; ch++ {
		plane := tmp[ch*h*ow : (ch+1)*h*ow]
		for i := 0; i < oh; i++ {
			var k0 int
			k0, wbuf = taps(i, h, oh, wbuf[:0])
			out := dst[(ch*oh+i)*ow : (ch*oh+i+1)*ow]
			for j := range out {
				var s float64
				for t, wt := range wbuf {
					s += wt * plane[(k0+t)*ow+j]
				}
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
