package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestBytesToInputMatches compares the byte input path (bytesToInput:
// the VBMI lookups and interleave where the CPU has them, the loops for
// the tail) with bytesRef at every boundary level, for 1, 2 and 3
// channels, ragged images (the 64-pixel steps and the tail) and random
// tables, with every byte value in every channel. Bytes around the image
// keep the guard.
func TestBytesToInputMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(44, 44))
	for _, lv := range boundaryLevels() {
		withLevel(lv, func() {
			for _, nc := range []int{1, 2, 3} {
				for _, hw := range []int{1, 63, 64, 65, 127, 256, 300, 1024} {
					lut := make([][256]uint8, nc)
					for c := range lut {
						for p := range lut[c] {
							lut[c][p] = uint8(rng.IntN(256))
						}
					}
					pix := make([]uint8, nc*hw)
					for i := range pix {
						pix[i] = uint8(i*7 + i/hw) // every value in every plane of 256 or more
						if rng.IntN(2) == 0 {
							pix[i] = uint8(rng.IntN(256))
						}
					}
					want := make([]uint8, nc*hw)
					bytesRef(want, pix, lut, hw)
					const band = 64
					buf := make([]uint8, band+nc*hw+band)
					for i := range buf {
						buf[i] = guard
					}
					bytesToInput(buf[band:band+nc*hw], pix, lut, hw)
					where := fmt.Sprintf("level %s channels %d hw %d", lv.name, nc, hw)
					for i := range band {
						if buf[i] != guard || buf[band+nc*hw+i] != guard {
							t.Fatalf("%s: guard band overwritten", where)
						}
					}
					for i, w := range want {
						if got := buf[band+i]; got != w {
							t.Fatalf("%s: pixel %d channel %d: got %d, reference %d", where, i/nc, i%nc, got, w)
						}
					}
				}
			}
		})
	}
}
