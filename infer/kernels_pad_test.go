package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCopyRowsMatchesCopy compares padImage at every level of this CPU
// (copyRowsVec where the boundary level has it, copy row by row
// otherwise) with padding built pixel by pixel, on rows of 1 to 200
// bytes (under 16: copy; 16 to 63: 16-byte moves; longer: 64-byte
// moves, the last ones overlapping), 1 to 4 channels of width, padding 0
// to 2, and a second image padded into the same buffer without its
// border (border false, as the runtime pads a layer's samples). Every
// byte past the padded image keeps its guard.
func TestCopyRowsMatchesCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	vec := 0
	for _, lv := range availableLevels() {
		withLevel(lv, func() {
			for _, c := range []int{1, 3, 16, 64} {
				for w := 1; w*c <= 200; w += 1 + rng.IntN(3) {
					h, p := 1+rng.IntN(5), rng.IntN(3)
					v := uint8(rng.IntN(256))
					wp := (w + 2*p) * c
					size := (h + 2*p) * wp
					dst := make([]uint8, size+64)
					for i := range dst {
						dst[i] = guard
					}
					for img := 0; img < 2; img++ {
						src := make([]uint8, h*w*c)
						for i := range src {
							src[i] = uint8(rng.IntN(256))
						}
						padImage(dst, src, c, h, w, p, v, img == 0)
						want := make([]uint8, size)
						for y := 0; y < h+2*p; y++ {
							for x := 0; x < w+2*p; x++ {
								for ch := 0; ch < c; ch++ {
									b := v
									if y >= p && y < h+p && x >= p && x < w+p {
										b = src[((y-p)*w+x-p)*c+ch]
									}
									want[(y*(w+2*p)+x)*c+ch] = b
								}
							}
						}
						where := fmt.Sprintf("level %s c %d h %d w %d p %d image %d", lv.name, c, h, w, p, img)
						if !slices.Equal(dst[:size], want) {
							t.Fatalf("%s: padded image differs", where)
						}
						for i, b := range dst[size:] {
							if b != guard {
								t.Fatalf("%s: byte %d past the image overwritten", where, i)
							}
						}
					}
					if lv.boundary == boundaryAVX512 && w*c >= 16 {
						vec++
					}
				}
			}
		})
	}
	if levelWithPW() != nil && vec == 0 {
		t.Fatal("no image padded with the vector copy")
	}
}
