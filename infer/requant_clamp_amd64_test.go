//go:build amd64 && !purego

package infer

import (
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
	dwClampCases(t, rng, func(k dwClampCase) {
		where, img, c, h, w, stride, pad, d, m0, shift, z, lo, hi := k.where, k.img, k.c, k.h, k.w, k.stride, k.pad, k.d, k.m0, k.shift, k.z, k.lo, k.hi
		lv := availableLevels()[0]
		var vnni bool
		withLevel(lv, func() { vnni = dwVNNI(c, stride) })
		if !vnni {
			return
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
	})
	var has bool // this machine has the VNNI depthwise kernel
	withLevel(availableLevels()[0], func() { has = dwVNNI(16, 1) })
	if spoiled == 0 && has {
		t.Fatal("the VNNI depthwise kernel never ran with the other forms spoiled")
	}
}
