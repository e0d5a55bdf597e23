package infer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestBandwidthLoops checks every level's read and copy loops against the
// plain Go loops on buffers of 0 to 3 blocks, at word offsets that shift
// the alignment: the same sum of words (random words, so a skipped or
// doubled load changes it), the same copy, and the guard words around
// the copy's destination untouched.
func TestBandwidthLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const guard = 64 // words on each side of the destination
	const sentinel = 0x5a5a5a5a5a5a5a5a
	for _, lv := range availableLevels() {
		for _, blocks := range []int{0, 1, 2, 3, 17} {
			for _, off := range []int{0, 1, 3} {
				n := blocks * bandwidthBlock / 8
				src := make([]uint64, n+off)
				for i := range src {
					src[i] = rng.Uint64()
				}
				p := src[off:]
				if got, want := readSum(lv, p), readSumGo(p); got != want {
					t.Errorf("%s, %d words at offset %d: read sum %#x, want %#x", lv.name, n, off, got, want)
				}
				dst := make([]uint64, n+2*guard+off)
				for i := range dst {
					dst[i] = sentinel
				}
				copyWords(lv, dst[guard+off:guard+off+n], p)
				for i, v := range dst {
					j := i - guard - off
					want := uint64(sentinel)
					if j >= 0 && j < n {
						want = p[j]
					}
					if v != want {
						t.Errorf("%s, %d words at offset %d: dst word %d (source word %d) = %#x, want %#x", lv.name, n, off, i, j, v, want)
						break
					}
				}
			}
		}
	}
}

// TestReadSumGo checks the reference read loop on a worked example:
// words 1..40 sum to 40·41/2 = 820, and the sum wraps modulo 2⁶⁴.
func TestReadSumGo(t *testing.T) {
	p := make([]uint64, 40)
	for i := range p {
		p[i] = uint64(i + 1)
	}
	if got := readSumGo(p); got != 820 {
		t.Errorf("Σ 1..40 = %d, want 820", got)
	}
	if got := readSumGo([]uint64{1<<63 + 5, 1 << 63, 7}); got != 12 {
		t.Errorf("wrapping sum = %d, want 12", got)
	}
}

// TestMeasureBandwidth measures a small buffer at every level and checks
// that the result names the level and size and has positive rates (no
// timing threshold: the machine is shared), and that bad sizes are
// refused.
func TestMeasureBandwidth(t *testing.T) {
	for _, lv := range availableLevels() {
		old := testLevel
		testLevel = lv
		bw, err := MeasureBandwidth(4096, time.Millisecond)
		testLevel = old
		if err != nil || bw.Level != lv.name || bw.Bytes != 4096 || !(bw.ReadGBs > 0) || !(bw.CopyGBs > 0) {
			t.Errorf("level %s: MeasureBandwidth = %+v, %v", lv.name, bw, err)
		}
	}
	for _, size := range []int{0, -512, 256, 1000, 512 + 256} {
		if _, err := MeasureBandwidth(size, time.Millisecond); err == nil {
			t.Errorf("size %d: no error", size)
		}
	}
}

// TestTraffic checks the byte model on layers worked by hand.
func TestTraffic(t *testing.T) {
	conv := &Layer{Kind: KindConv2D, InC: 3, InH: 8, InW: 8, OutC: 4, OutH: 6, OutW: 6, K: 3, Stride: 1,
		W: make([]int8, 4*3*9), Bias: make([]int32, 4), M0: make([]int32, 4), Shift: make([]int32, 4)}
	add := &Layer{Kind: KindAdd, InC: 4, InH: 6, InW: 6, OutC: 4, OutH: 6, OutW: 6}
	for _, c := range []struct {
		l    *Layer
		n    int
		want int64
	}{
		// 108 weight bytes + 3·4·4 = 48 bytes of bias, M0, shift; per
		// sample 192 input and 144 output bytes.
		{conv, 1, 108 + 48 + 192 + 144},
		{conv, 64, 108 + 48 + 64*(192+144)},
		// Two inputs of 144 bytes and an output of 144, no parameters.
		{add, 10, 10 * 3 * 144},
	} {
		if got := c.l.Traffic(c.n); got != c.want {
			t.Errorf("%s, n = %d: %d bytes, want %d", c.l.Kind, c.n, got, c.want)
		}
	}
}
