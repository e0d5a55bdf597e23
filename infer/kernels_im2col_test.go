package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIm2colU8MatchesReference compares im2colU8 with im2colHWC on the
// fast paths' shapes (no padding, kernel rows of ≤ 4, ≤ 8 or ≥ 16 bytes) and others,
// sources exactly as long as the image (at its end the fast path must
// copy kernel rows instead of loading 8 bytes) and guard bands after the
// output. Only the k·k·c bytes of each row are compared: both leave
// the padding as it is.
func TestIm2colU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	type shape struct{ c, h, w, k, stride, pad int }
	for _, sh := range []shape{
		{1, 28, 28, 5, 1, 0}, {1, 9, 7, 3, 1, 0}, {2, 8, 8, 3, 1, 0}, {1, 10, 11, 5, 2, 0},
		{8, 5, 5, 1, 1, 0}, {1, 6, 6, 2, 2, 0}, {1, 5, 5, 5, 1, 0}, {3, 8, 8, 3, 1, 1}, {20, 12, 12, 5, 1, 0},
		// Last kernel rows as 4-byte moves: the padded 28×28 stems of
		// resnet8 and mobilenet-tiny (9 bytes in 12), runs of 4.
		{1, 30, 30, 3, 1, 0}, {1, 30, 30, 3, 2, 0}, {2, 6, 6, 2, 1, 0}, {1, 7, 7, 4, 1, 0}, {1, 8, 9, 3, 3, 0},
		// Kernel rows of ≥ 16 bytes (im2colRuns): multiples of 16, ragged, strided.
		{16, 9, 9, 3, 1, 0}, {16, 9, 9, 3, 2, 0}, {17, 6, 7, 3, 2, 0}, {6, 5, 5, 3, 1, 0}, {64, 6, 6, 1, 2, 0}, {32, 4, 4, 3, 1, 0},
	} {
		oh, ow := (sh.h+2*sh.pad-sh.k)/sh.stride+1, (sh.w+2*sh.pad-sh.k)/sh.stride+1
		row := sh.k * sh.k * sh.c
		for _, rowLen := range []int{row, (row + 3) &^ 3, row + 8} {
			where := fmt.Sprintf("%+v rowLen %d", sh, rowLen)
			src := make([]uint8, sh.h*sh.w*sh.c)
			for i := range src {
				src[i] = uint8(rng.IntN(256))
			}
			const band = 32
			got := make([]uint8, oh*ow*rowLen+band)
			want := make([]uint8, oh*ow*rowLen)
			for i := range got {
				got[i] = guard
			}
			im2colU8(got[:oh*ow*rowLen], src, sh.c, sh.h, sh.w, sh.k, sh.stride, sh.pad, oh, ow, rowLen, 9)
			im2colHWC(want, src, sh.c, sh.h, sh.w, sh.k, sh.stride, sh.pad, oh, ow, rowLen, 9)
			for p := 0; p < oh*ow; p++ {
				if !slices.Equal(got[p*rowLen:p*rowLen+row], want[p*rowLen:p*rowLen+row]) {
					t.Fatalf("%s: position %d differs", where, p)
				}
			}
			for _, v := range got[oh*ow*rowLen:] {
				if v != guard {
					t.Fatalf("%s: guard band overwritten", where)
				}
			}
		}
	}
}
