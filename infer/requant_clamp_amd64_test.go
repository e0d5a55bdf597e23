//go:build amd64 && !purego

package infer

import (
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestDWClampSpoiled runs the depthwise kernels that take the clamped
// form only (dwRow3VNNI at the VNNI level, dwRow3QAVX2 at the AVX2
// level) on TestDWClampMatchesUnfused's layers with the other forms'
// constants spoiled, so that a kernel ignoring the form's flag fails.
func TestDWClampSpoiled(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 63))
	spoiled := map[string]int{}
	dwClampCases(t, rng, func(k dwClampCase) {
		where, img, c, h, w, stride, pad, d, m0, shift, z, lo, hi := k.where, k.img, k.c, k.h, k.w, k.stride, k.pad, k.d, k.m0, k.shift, k.z, k.lo, k.hi
		var lvs []*level
		for _, l := range availableLevels() {
			var clampOnly bool
			withLevel(l, func() { clampOnly = dwVNNI(c, stride) || boundaryLevel() == boundaryAVX2 && dwQ(3, c, d) })
			if clampOnly {
				lvs = append(lvs, l)
			}
		}
		if lvs == nil {
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
		for _, lv := range lvs {
			got := make([]uint8, oh*ow*c)
			withLevel(lv, func() {
				if !dwConvU8Q(got, img, padBuf, c, h, w, 3, stride, pad, oh, ow, d, true) {
					t.Fatalf("%s, level %s: the fused kernel did not run", where, lv.name)
				}
			})
			for j, v := range got {
				if want := quant.Requantize(acc[j], m0[j%c], shift[j%c], z, lo, hi); int32(v) != want {
					t.Fatalf("%s, level %s, spoiled: pixel %d channel %d (acc %d): %d, want %d", where, lv.name, j/c, j%c, acc[j], v, want)
				}
			}
			spoiled[lv.name]++
		}
	})
	var vnni, avx2 bool // this machine has the VNNI, the AVX2 depthwise kernel
	for _, l := range availableLevels() {
		withLevel(l, func() {
			vnni = vnni || dwVNNI(16, 1)
			avx2 = avx2 || boundaryLevel() == boundaryAVX2
		})
	}
	if vnni && spoiled[levelVNNI.name] == 0 {
		t.Fatal("the VNNI depthwise kernel never ran with the other forms spoiled")
	}
	if avx2 && spoiled[levelAVX2.name] == 0 {
		t.Fatal("the AVX2 depthwise kernel never ran with the other forms spoiled")
	}
	t.Logf("spoiled runs by level: %v", spoiled)
}
