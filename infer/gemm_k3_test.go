package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestK3MatchesConvQ compares the 3×3 kernels (gemmConvK3Q: each input
// group broadcast once for every output it meets) with the
// implicit-im2col fused kernels, their reference twin, and with
// quant.Requantize of gemmConvPacked's sums, on 16, 32 and 64 channels
// at strides 1 and 2, on rows of 1 to 31 pixels (every kernel width and
// splits past 8 and 14), 1 to 49 output channels (one panel, a pair, a
// short last panel) and random or extreme bytes; every byte around the
// outputs keeps its guard.
func TestK3MatchesConvQ(t *testing.T) {
	var lv *level
	for _, l := range availableLevels() {
		if l.k3 != nil {
			lv = l
			break
		}
	}
	if lv == nil {
		t.Skip("no VNNIK3 kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(26, 26))
	for _, c := range k3Channels {
		for st := 1; st <= 2; st++ {
			for ow := 1; ow <= 31; ow++ {
				m := []int{1, 7, 15, 16, 17, 32, 33, 49}[rng.IntN(8)]
				extreme := ow%5 == 0
				wt := make([]int8, m*9*c)
				for i := range wt {
					wt[i] = int8(rng.IntN(256) - 128)
					if extreme {
						wt[i] = -128
					}
				}
				bias := make([]int32, m)
				for i := range bias {
					bias[i] = rng.Int32N(1<<16) - 1<<15
				}
				pw := packWeights(wt, bias, m, 9*c, 0, 255, 0, lv)
				w := (ow-1)*st + 3 + rng.IntN(3)
				img := make([]uint8, 3*w*c)
				for i := range img {
					img[i] = uint8(rng.IntN(256))
					if extreme {
						img[i] = 255
					}
				}
				m0, shift := make([]int32, m), make([]int32, m)
				for i := range m0 {
					m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 16+rng.Int32N(20)
				}
				z := rng.Int32N(256)
				lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
				rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
				ldd := m + 2
				want := make([]uint8, ow*ldd)
				gemmConvPackedQ(lv.convQ, want, ldd, img, st*c, pw, ow, 3, w*c, rq)
				acc := make([]int32, ow*pw.mp)
				gemmConvPacked(lv.conv, acc, pw.mp, img, st*c, pw, ow, 3, w*c)
				const band = 64
				buf := make([]uint8, band+ow*ldd+band)
				for i := range buf {
					buf[i] = guard
				}
				gemmConvK3Q(lv.k3, buf[band:band+ow*ldd], ldd, img, st, c, pw, ow, w*c, rq)
				for i, v := range buf {
					r, ch := (i-band)/ldd, (i-band)%ldd
					where := fmt.Sprintf("c %d stride %d ow %d m %d", c, st, ow, m)
					if i < band || r >= ow || ch >= m {
						if v != guard {
							t.Fatalf("%s: byte %d outside the outputs overwritten (%d)", where, i-band, v)
						}
						continue
					}
					q := quant.Requantize(acc[r*pw.mp+ch], m0[ch], shift[ch], z, lo, hi)
					if v != want[r*ldd+ch] || int32(v) != q {
						t.Fatalf("%s: pixel %d channel %d: k3 %d, convQ %d, quant.Requantize %d", where, r, ch, v, want[r*ldd+ch], q)
					}
				}
			}
		}
	}
}

// TestK3ImageMatchesRows compares gemmConvK3Image (every output row of
// an image a call, with and without the fused add) with gemmConvK3Q and
// gemmConvK3QA a row at a time, on 1 to 3 output rows of 1 to 31 pixels
// (one to three calls a row), 1 to 49 output channels (short panels, an
// odd panel after a pair), strides 1 and 2 and each channel count of
// the kernels. Every byte past the outputs keeps its guard.
func TestK3ImageMatchesRows(t *testing.T) {
	var lv *level
	for _, l := range availableLevels() {
		if l.k3a != nil {
			lv = l
			break
		}
	}
	if lv == nil {
		t.Skip("no VNNIK3 kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(52, 52))
	fa := newFusedAdd(testAddConsts(7, -3, 12582913, 17, 13207024, 23, 17, 0, 127), 1, 0)
	for _, c := range k3Channels {
		for st := 1; st <= 2; st++ {
			for n := 1; n <= 31; n += 1 + rng.IntN(3) {
				m := []int{1, 7, 16, 17, 33, 49}[rng.IntN(6)]
				oh := 1 + rng.IntN(3)
				wt := make([]int8, m*9*c)
				for i := range wt {
					wt[i] = int8(rng.IntN(256) - 128)
				}
				bias := make([]int32, m)
				for i := range bias {
					bias[i] = rng.Int32N(1<<16) - 1<<15
				}
				pw := packWeights(wt, bias, m, 9*c, 0, 255, 0, lv)
				w := (n-1)*st + 3 + rng.IntN(2)
				h := (oh-1)*st + 3
				img := make([]uint8, h*w*c)
				for i := range img {
					img[i] = uint8(rng.IntN(256))
				}
				m0, shift := make([]int32, m), make([]int32, m)
				for i := range m0 {
					m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 16+rng.Int32N(20)
				}
				z := rng.Int32N(256)
				lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
				rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
				short := make([]uint8, oh*n*m)
				for i := range short {
					short[i] = uint8(rng.IntN(256))
				}
				for _, add := range []bool{false, true} {
					want := make([]uint8, oh*n*m)
					for y := 0; y < oh; y++ {
						row, out := img[y*st*w*c:], want[y*n*m:]
						if add {
							gemmConvK3QA(lv.k3a, out, m, row, st, c, pw, n, w*c, rq, short[y*n*m:], fa)
						} else {
							gemmConvK3Q(lv.k3, out, m, row, st, c, pw, n, w*c, rq)
						}
					}
					got := make([]uint8, oh*n*m+64)
					for i := range got {
						got[i] = guard
					}
					if add {
						gemmConvK3Image(lv, got, m, img, st, c, pw, oh, n, w*c, rq, short, fa)
					} else {
						gemmConvK3Image(lv, got, m, img, st, c, pw, oh, n, w*c, rq, nil, nil)
					}
					where := fmt.Sprintf("c %d stride %d %d×%d m %d add %v", c, st, oh, n, m, add)
					if !slices.Equal(got[:oh*n*m], want) {
						t.Fatalf("%s: the image differs from the rows", where)
					}
					for i, v := range got[oh*n*m:] {
						if v != guard {
							t.Fatalf("%s: byte %d past the outputs overwritten", where, i)
						}
					}
				}
			}
		}
	}
}
