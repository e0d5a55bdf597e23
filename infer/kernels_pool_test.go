package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMaxPoolU8MatchesReference compares maxPoolU8 at every boundary level
// with maxPoolHWC on ragged channel counts (the 64-byte mask's edges) and
// odd sizes, with guard bands around the output (2×2 stride 2 without
// AVX-512: maxPool2Words).
func TestMaxPoolU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, lv := range boundaryLevels() {
		withLevel(lv, func() {
			for _, c := range []int{1, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 50, 63, 64, 65} {
				for _, hw := range [][2]int{{2, 2}, {3, 5}, {8, 8}, {24, 24}, {25, 9}} {
					for _, ks := range [][2]int{{2, 2}, {3, 2}, {2, 1}} {
						h, w, k, s := hw[0], hw[1], ks[0], ks[1]
						if k > h || k > w {
							continue
						}
						oh, ow := (h-k)/s+1, (w-k)/s+1
						src := make([]uint8, h*w*c)
						for i := range src {
							switch (c + h + k) % 4 { // whole inputs of extremes too
							case 1:
								src[i] = 0
							case 2:
								src[i] = 255
							case 3:
								src[i] = []uint8{0x7f, 0x80}[(i+i/c)%2]
							default:
								src[i] = uint8(rng.IntN(256))
								if rng.IntN(4) == 0 {
									src[i] = []uint8{0, 255, 127, 128}[rng.IntN(4)]
								}
							}
						}
						const band = 64
						got := make([]uint8, band+oh*ow*c+band)
						for i := range got {
							got[i] = guard
						}
						want := make([]uint8, oh*ow*c)
						maxPoolU8(got[band:band+oh*ow*c], src, c, h, w, k, s, oh, ow)
						maxPoolHWC(want, src, c, h, w, k, s, oh, ow)
						// maxPoolHWC shares the byte-max trick with the code
						// under test: check it against plain comparisons.
						for oy := range oh {
							for ox := range ow {
								for ch := range c {
									m := uint8(0)
									for dy := range k {
										for dx := range k {
											m = max(m, src[((oy*s+dy)*w+ox*s+dx)*c+ch])
										}
									}
									if want[(oy*ow+ox)*c+ch] != m {
										t.Fatalf("c=%d %dx%d k=%d s=%d: maxPoolHWC gives %d at (%d,%d,%d), the window's maximum is %d", c, h, w, k, s, want[(oy*ow+ox)*c+ch], oy, ox, ch, m)
									}
								}
							}
						}
						where := fmt.Sprintf("level %v c=%d %dx%d k=%d s=%d", lv, c, h, w, k, s)
						if !slices.Equal(got[band:band+len(want)], want) {
							t.Fatalf("%s: differs from maxPoolHWC", where)
						}
						for i := range band {
							if got[i] != guard || got[band+len(want)+i] != guard {
								t.Fatalf("%s: guard band overwritten", where)
							}
						}
					}
				}
			}
		})
	}
}
