//go:build amd64 && !purego

package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/tinyqat/tinyqat/quant"
)

// pageEndInt32, pageEndInt64 and pageEndUint32 are pageEnd's tail(4·n)
// (8·n) as n values: a slice whose last element ends just before an
// inaccessible page (the buffer is page aligned, so they are aligned).
func pageEndInt32(tail func(int) []uint8, n int) []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(tail(4*n)))), n)
}

func pageEndInt64(tail func(int) []uint8, n int) []int64 {
	return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(tail(8*n)))), n)
}

func pageEndUint32(tail func(int) []uint8, n int) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(tail(4*n)))), n)
}

// dw3Case draws a 3×3 depthwise row: c channels, stride, ow outputs,
// an input row of w pixels (the taps' extent, or one more), the input
// (exactly the three rows' bytes the row's taps reach, as dwTaps checks)
// and the weights (full int8 range, the extremes often) and a bias of
// bits bits (signed), each ending just before an inaccessible page.
func dw3Case(rng *rand.Rand, c, stride, ow, bits int, srcT, wT, bT func(int) []uint8) (w int, src []uint8, d *dwWeights) {
	w = (ow-1)*stride + 3 + rng.IntN(2)
	src = srcT((2*w + (ow-1)*stride + 3) * c)
	fillPattern(rng, src, rng.IntN(5))
	d = &dwWeights{w: pageEndInt32(wT, 9*c), bias: pageEndInt32(bT, c)}
	for i := range d.w {
		d.w[i] = int32(rng.IntN(256) - 128)
		if rng.IntN(4) == 0 {
			d.w[i] = []int32{-128, 127, -127}[rng.IntN(3)]
		}
	}
	for i := range d.bias {
		d.bias[i] = int32(rng.Uint32()) >> (32 - bits)
	}
	return w, src, d
}

// TestDWRow3AVX2MatchesTwin runs the AVX2 3×3 depthwise row kernel
// (dwRow3AVX2) on its own and through dwTaps at the AVX2 level and
// compares it bit for bit with its Go twin dwTapsGo: every channel count
// 1…40 and 64, 65 (whole blocks of 8 and a Go tail), strides 1–3, 1 to 5
// outputs, biases over all of int32 (the sums wrap, as Go's do). The input
// ends at the last tap's last byte, the weights, bias and accumulators at
// their last element, each before an inaccessible page (a read or write
// past one faults); the kernel alone leaves channels c8… untouched.
func TestDWRow3AVX2MatchesTwin(t *testing.T) {
	lv := avx2Level(t)
	rng := rand.New(rand.NewPCG(91, 91))
	srcT, wT, bT, accT := pageEnd(t, 1<<16), pageEnd(t, 4*9*65), pageEnd(t, 4*65), pageEnd(t, 4*5*65)
	cs := []int{64, 65}
	for c := 1; c <= 40; c++ {
		cs = append(cs, c)
	}
	for _, c := range cs {
		for stride := 1; stride <= 3; stride++ {
			for _, ow := range []int{1, 2, 3, 5} {
				w, src, d := dw3Case(rng, c, stride, ow, 32, srcT, wT, bT)
				where := fmt.Sprintf("c=%d stride %d ow %d w %d", c, stride, ow, w)
				want := make([]int32, ow*c)
				dwTapsGo(want, src, c, 0, w, 3, stride, ow, d)
				acc := pageEndInt32(accT, ow*c)
				if c8 := c &^ 7; c8 > 0 {
					const sentinel = -0x5a5a5a5a
					for i := range acc {
						acc[i] = sentinel
					}
					dwRow3AVX2(&acc[0], &src[0], c, c8, w, stride, ow, &d.w[0], &d.bias[0])
					for i, v := range acc {
						if ch := i % c; ch < c8 && v != want[i] || ch >= c8 && v != sentinel {
							t.Fatalf("%s: dwRow3AVX2 pixel %d channel %d: %d, want %d (c8 %d)", where, i/c, ch, v, want[i], c8)
						}
					}
				}
				clear(acc)
				withLevel(lv, func() { dwTaps(acc, src, c, w, 3, stride, ow, d) })
				if !slices.Equal(acc, want) {
					t.Fatalf("%s: dwTaps at the AVX2 level differs from dwTapsGo", where)
				}
			}
		}
	}
}

// TestDWRow3QAVX2MatchesTwin runs the fused AVX2 3×3 depthwise row
// (dwRowQ at the AVX2 level: dwRow3QAVX2) on layers with the clamped
// form and compares every byte with its twin, dwTapsGo followed by
// requantClamp on the channel's form, and with quant.Requantize: 8 to
// 72 channels (half panels of rq at the end: 8, 24, 40, 72), strides
// 1–3, 1 to 5 outputs. The input, weights, bias, requantization panels
// (exactly (c+15)/16 of them) and output each end before an
// inaccessible page; a guard band before the output keeps its bytes.
// dwQ holds there, and not for a channel count that is not whole blocks
// of 8 or a layer without the clamped form.
func TestDWRow3QAVX2MatchesTwin(t *testing.T) {
	lv := avx2Level(t)
	rng := rand.New(rand.NewPCG(92, 92))
	srcT, wT, bT, rqT, dstT := pageEnd(t, 1<<16), pageEnd(t, 4*9*72), pageEnd(t, 4*72), pageEnd(t, 8*5*rqLanes), pageEnd(t, 64+5*72)
	ran := 0
	for _, c := range []int{8, 16, 24, 32, 40, 48, 64, 72} {
		for stride := 1; stride <= 3; stride++ {
			for _, ow := range []int{1, 2, 3, 5} {
				w, src, d := dw3Case(rng, c, stride, ow, 16, srcT, wT, bT)
				m0, shift := make([]int32, c), make([]int32, c)
				for i := range m0 {
					m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 24+rng.Int32N(9)
				}
				z := rng.Int32N(256)
				lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
				rq := newRequantPanels(m0, shift, (c+15)&^15, z, lo, hi)
				bound := dwAccBound(d, 255)
				where := fmt.Sprintf("c=%d stride %d ow %d w %d", c, stride, ow, w)
				if !enableRequantClamp(rq, m0, shift, z, lo, hi, bound) {
					t.Fatalf("%s: clamped form refused", where)
				}
				d.rq = pageEndInt64(rqT, len(rq))
				copy(d.rq, rq)
				acc := make([]int32, ow*c)
				dwTapsGo(acc, src, c, 0, w, 3, stride, ow, d)
				const band = 64
				buf := dstT(band + ow*c)
				for i := range buf {
					buf[i] = guard
				}
				dst := buf[band:]
				var q bool
				withLevel(lv, func() {
					if q = dwQ(3, c, d); q {
						dwRowQ(dst, src, c, w, 3, stride, ow, d)
					}
				})
				if !q {
					t.Fatalf("%s: dwQ false at the AVX2 level with the clamped form", where)
				}
				ran++
				for i, v := range dst {
					ch := i % c
					f, ok := newClampForm(m0[ch], shift[ch], z, lo, hi, bound)
					if !ok {
						t.Fatalf("%s: channel %d has no clamped form", where, ch)
					}
					twin := requantClamp(acc[i], f.l, f.h, f.ml, f.mh, f.c, f.k)
					if ref := quant.Requantize(acc[i], m0[ch], shift[ch], z, lo, hi); int32(v) != twin || twin != ref {
						t.Fatalf("%s: pixel %d channel %d (acc %d): %d, requantClamp %d, quant.Requantize %d", where, i/c, ch, acc[i], v, twin, ref)
					}
				}
				for i := range band {
					if buf[i] != guard {
						t.Fatalf("%s: guard band before the output overwritten", where)
					}
				}
				// Without the clamped form, or a ragged channel
				// count, the AVX2 level runs the unfused pair.
				d.rq[12*8+2] = 0
				withLevel(lv, func() { q = dwQ(3, c, d) })
				if q {
					t.Fatalf("%s: dwQ true at the AVX2 level without the clamped form", where)
				}
				d.rq[12*8+2] = 1
				withLevel(lv, func() { q = dwQ(3, c+1, d) || dwQ(3, c-4, d) })
				if q {
					t.Fatalf("%s: dwQ true at the AVX2 level for a channel count not a multiple of 8", where)
				}
			}
		}
	}
	t.Logf("%d rows", ran)
}

// TestGapSumsAVX2MatchesSums runs gapSums at the AVX2 level and checks
// that it takes exactly the channel counts that are multiples of 16 (the
// AVX2 kernel; the others return false, for the SWAR words), and that
// those sums equal the plain sums bit for bit: pixel counts around the
// 256-pixel flushes of the 16-bit lanes, all-255 inputs among the
// patterns. The input ends at its last byte and the sums at the c-th,
// each before an inaccessible page.
func TestGapSumsAVX2MatchesSums(t *testing.T) {
	lv := avx2Level(t)
	rng := rand.New(rand.NewPCG(93, 93))
	hws := []int{1, 2, 3, 255, 256, 257, 511, 512, 513, 1031}
	srcT, sumT := pageEnd(t, 1031*256), pageEnd(t, 4*256)
	k := 0
	for _, c := range []int{1, 8, 15, 16, 17, 24, 32, 48, 64, 112, 240, 256} {
		for _, hw := range hws {
			k++
			src := srcT(hw * c)
			fillPattern(rng, src, k)
			want := make([]uint32, c)
			for i, v := range src {
				want[i%c] += uint32(v)
			}
			sums := pageEndUint32(sumT, c)
			clear(sums)
			var ran bool
			withLevel(lv, func() { ran = gapSums(sums, src, c, hw) })
			if ran != (c%16 == 0) {
				t.Fatalf("c=%d hw=%d: gapSums ran %v at the AVX2 level, want %v", c, hw, ran, c%16 == 0)
			}
			if ran && !slices.Equal(sums, want) {
				t.Fatalf("c=%d hw=%d pattern %d: sums %v, want %v", c, hw, k%5, sums, want)
			}
		}
	}
}
