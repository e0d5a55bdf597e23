//go:build amd64 && !purego

package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestDWImageMatchesUnfused compares the whole-image depthwise kernel
// (dwImgQ: no padded copy, edges in the kernel) with dwConvU8 followed by
// requantU8 and with quant.Requantize, at the VNNI level, on 16 to 80
// channels, images from 1×1 to 13×14 (every row schedule: left edges,
// odd and even widths, right-edge pairs and singles), stride 1 and 2,
// padding 0 and 1, the padding byte and zero point at their ends and
// clamped forms near their limits; a second sample runs with border
// false on the same padding buffer, as the runtime's do, and the bytes
// around the output keep their guard. It fails if the kernel never ran
// or missed a tail kind.
func TestDWImageMatchesUnfused(t *testing.T) {
	lv := availableLevels()[0]
	var has bool
	withLevel(lv, func() { has = dwVNNI(16, 1) })
	if !has {
		t.Skip("no VNNI depthwise kernel on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(71, 71))
	ran, tails := 0, map[[3]int]bool{}
	for _, c := range []int{16, 32, 48, 64, 80, 128} {
		for _, hw := range [][2]int{{1, 1}, {2, 2}, {3, 3}, {3, 4}, {4, 5}, {5, 6}, {7, 7}, {6, 9}, {13, 14}, {14, 13}, {2, 11}} {
			for _, stride := range []int{1, 2} {
				for pad := range 2 {
					h, w := hw[0], hw[1]
					oh, ow := (h+2*pad-3)/stride+1, (w+2*pad-3)/stride+1
					if oh <= 0 || ow <= 0 || h+2*pad < 3 || w+2*pad < 3 {
						continue
					}
					ext := rng.IntN(3) // 0: random; 1: all-255 input, weights −127; 2: padding byte and Z at the ends
					d := &dwWeights{w: make([]int32, 9*c), bias: make([]int32, c), padU: int32(rng.IntN(256))}
					for i := range d.w {
						d.w[i] = int32(rng.IntN(255) - 127)
						if ext == 1 {
							d.w[i] = -127
						}
					}
					for i := range d.bias {
						d.bias[i] = rng.Int32N(1<<16) - 1<<15
					}
					m0, shift := make([]int32, c), make([]int32, c)
					for i := range m0 {
						m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 24+rng.Int32N(9)
					}
					z := rng.Int32N(256)
					if ext == 2 {
						d.padU, z = int32(255*rng.IntN(2)), int32(255*rng.IntN(2))
						m0[0] = quant.MaxM0
					}
					lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
					d.rq = newRequantPanels(m0, shift, (c+15)&^15, z, lo, hi)
					if !enableRequantClamp(d.rq, m0, shift, z, lo, hi, dwAccBound(d, 255)) {
						t.Fatalf("c %d: clamped form refused", c)
					}
					where := fmt.Sprintf("c %d h %d w %d stride %d pad %d ext %d", c, h, w, stride, pad, ext)
					padBuf := make([]uint8, (h+2*pad)*(w+2*pad)*c)
					for s := range 2 {
						img := make([]uint8, h*w*c)
						for i := range img {
							img[i] = uint8(rng.IntN(256))
							if ext == 1 {
								img[i] = 255
							}
						}
						acc := make([]int32, oh*ow*c)
						dwConvU8(acc, img, make([]uint8, len(padBuf)), c, h, w, 3, stride, pad, oh, ow, d, true)
						want := make([]uint8, oh*ow*c)
						requantU8(want, acc, oh*ow, c, c, m0, shift, z, lo, hi, c)
						const band = 64
						buf := make([]uint8, band+oh*ow*c+band)
						for i := range buf {
							buf[i] = guard
						}
						var did bool
						withLevel(lv, func() { did = dwImgQ(buf[band:band+oh*ow*c], img, padBuf, c, h, w, stride, pad, oh, ow, d, s == 0) })
						tail, ok := dwImgTail(w, stride, pad, ow)
						if did != ok {
							t.Fatalf("%s: dwImgQ ran %v, dwImgTail says %v", where, did, ok)
						}
						if !did {
							continue
						}
						ran++
						tails[[3]int{stride, pad, tail}] = true
						for i, v := range buf {
							j := i - band
							if j < 0 || j >= oh*ow*c {
								if v != guard {
									t.Fatalf("%s: byte %d outside the output overwritten", where, j)
								}
								continue
							}
							ch := j % c
							q := quant.Requantize(acc[j], m0[ch], shift[ch], z, lo, hi)
							if v != want[j] || int32(v) != q {
								t.Fatalf("%s sample %d: pixel %d channel %d (acc %d): %d, unfused %d, quant.Requantize %d", where, s, j/c, ch, acc[j], v, want[j], q)
							}
						}
					}
				}
			}
		}
	}
	for _, k := range [][3]int{{1, 0, 0}, {2, 0, 0}, {1, 1, 1}, {1, 1, 2}, {2, 1, 0}, {2, 1, 1}} {
		if !tails[k] {
			t.Errorf("stride %d pad %d tail %d never ran", k[0], k[1], k[2])
		}
	}
	t.Logf("%d images on the whole-image kernel", ran)
}

// TestDWImageModelMatchesRows runs mobilenet-tiny's shape (depthwise
// stride 1 and 2, padding 1, 16–64 channels) and variants of other
// widths and zero points whole, with the whole-image depthwise kernel and
// without it (dwImgOff: padImage and the row kernels), at batch 5 (the
// padding row is written by the first sample only).
func TestDWImageModelMatchesRows(t *testing.T) {
	for i, mode := range []Mode{W8A8, W8A8Asym} {
		m := mobilenetShape(t, mode)
		x := testInput(m, 5, uint64(40+i))
		got, err := m.Logits(x, 5)
		if err != nil {
			t.Fatal(err)
		}
		dwImgOff = true
		want, err := m.Logits(x, 5)
		dwImgOff = false
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("%s: logit %d = %d, want %d", mode, j, got[j], want[j])
			}
		}
	}
}
