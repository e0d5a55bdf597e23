package datasets

import "github.com/tinyqat/tinyqat/internal/pixels"

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
// It is the one implementation (internal/pixels) that imageinput uses
// too: `tinyqat predict` scales a photo for a model trained on an image
// folder exactly as its training images were.
func Resize(dst, src []uint8, c, h, w, oh, ow int) { pixels.Resize(dst, src, c, h, w, oh, ow) }
