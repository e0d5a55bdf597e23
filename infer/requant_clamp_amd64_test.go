//go:build amd64 && !purego

package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestDWClampVNNISpoiled runs the VNNI depthwise kernel (dwRow3VNNI,
// the one that takes the clamped form) on TestDWClampMatchesUnfused's
// layers with the other forms' constants spoiled, so that a kernel
// ignoring the form's flag fails.
func TestDWClampVNNISpoiled(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 63))
	spoiled := 0
	for _, c := range []int{16, 17, 32, 64} {
		for rep := range 4 {
			h, w, stride, pad := 3+rng.IntN(7), 3+rng.IntN(7), 1+rng.IntN(2), rng.IntN(2)
			img := make([]uint8, h*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
				if rep == 0 {
					img[i] = 255
				}
			}
			d := &dwWeights{w: make([]int32, 9*c), bias: make([]int32, c), padU: int32(rng.IntN(256))}
			for i := range d.w {
				d.w[i] = int32(rng.IntN(255) - 127)
				if rep == 0 {
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
			lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
			d.rq = newRequantPanels(m0, shift, (c+15)&^15, z, lo, hi)
			if !enableRequantClamp(d.rq, m0, shift, z, lo, hi, dwAccBound(d, 255)) {
				t.Fatalf("c %d: clamped form refused", c)
			}
			where := fmt.Sprintf("clamped c %d h %d w %d stride %d pad %d", c, h, w, stride, pad)
			lv := availableLevels()[0]
			var vnni bool
			withLevel(lv, func() { vnni = dwVNNI(c, stride) })
			if !vnni {
				continue
			}
			for q := 0; q < len(d.rq)/rqLanes; q++ {
				v := d.rq[q*rqLanes : (q+1)*rqLanes]
				for i := range v {
					if vec := i / 8; vec != 12 && vec < 22 {
						v[i] = int64(rng.Uint64())
					}
				}
				v[12*8+1] = 1
			}
			oh, ow := (h+2*pad-3)/stride+1, (w+2*pad-3)/stride+1
			padBuf := make([]uint8, (h+2*pad)*(w+2*pad)*c)
			acc := make([]int32, oh*ow*c)
			dwConvU8(acc, img, padBuf, c, h, w, 3, stride, pad, oh, ow, d, true)
			got := make([]uint8, oh*ow*c)
			withLevel(lv, func() {
				if !dwConvU8Q(got, img, padBuf, c, h, w, 3, stride, pad, oh, ow, d, true) {
					t.Fatalf("%s: the fused kernel did not run", where)
				}
			})
			for j, v := range got {
				if want := quant.Requantize(acc[j], m0[j%c], shift[j%c], z, lo, hi); int32(v) != want {
					t.Fatalf("%s, spoiled: pixel %d channel %d (acc %d): %d, want %d", where, j/c, j%c, acc[j], v, want)
				}
			}
			spoiled++
		}
	}
	var has bool // this machine has the VNNI depthwise kernel
	withLevel(availableLevels()[0], func() { has = dwVNNI(16, 1) })
	if spoiled == 0 && has {
		t.Fatal("the VNNI depthwise kernel never ran with the other forms spoiled")
	}
}
