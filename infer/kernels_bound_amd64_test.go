//go:build amd64 && !purego

package infer

import (
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/tinyqat/tinyqat/quant"
)

// avx2Level is levelAVX2 if this CPU runs it, else the test skips.
func avx2Level(t *testing.T) *level {
	t.Helper()
	for _, lv := range availableLevels() {
		if lv.boundary == boundaryAVX2 {
			return lv
		}
	}
	t.Skip("no AVX2 boundary level on this CPU")
	return nil
}

// fillPattern fills b with pattern k: random bytes sprinkled with the
// extremes, all 0, all 255, alternating 0x7f/0x80, or random 0x7f/0x80/0/255.
func fillPattern(rng *rand.Rand, b []uint8, k int) {
	for i := range b {
		switch k % 5 {
		case 0:
			b[i] = uint8(rng.IntN(256))
			if rng.IntN(4) == 0 {
				b[i] = []uint8{0, 255, 0x7f, 0x80}[rng.IntN(4)]
			}
		case 1:
			b[i] = 0
		case 2:
			b[i] = 255
		case 3:
			b[i] = []uint8{0x7f, 0x80}[i%2]
		default:
			b[i] = []uint8{0, 255, 0x7f, 0x80}[rng.IntN(4)]
		}
	}
}

// TestMaxPool2AVX2MatchesReference runs the AVX2 pooling kernel
// (maxPool2U8AVX2 through maxPool2Vec at the AVX2 level) on every channel
// count 1…70 (each chunk size and its overlapping tail), odd and even
// widths and heights, and compares it bit for bit with maxPool2Words and
// with plain comparisons of the window's four bytes. The input ends
// exactly at the last window's last byte and the output at its last
// byte, each just before an inaccessible page (a read or write past
// either faults), with a guard band before the output.
func TestMaxPool2AVX2MatchesReference(t *testing.T) {
	lv := avx2Level(t)
	rng := rand.New(rand.NewPCG(71, 71))
	srcTail, dstTail := pageEnd(t, 1<<16), pageEnd(t, 1<<16)
	cases := 0
	for c := 1; c <= 70; c++ {
		for _, o := range [][2]int{{1, 1}, {1, 2}, {2, 3}, {3, 1}, {4, 5}, {2, 8}} {
			for _, odd := range []int{0, 1} {
				oh, ow := o[0], o[1]
				h, w := 2*oh+odd, 2*ow+odd
				full := make([]uint8, h*w*c)
				fillPattern(rng, full, cases)
				n := ((2*oh-1)*w + 2*ow) * c // through the last window's last byte
				src := srcTail(n)
				copy(src, full)
				const band = 64
				buf := dstTail(band + oh*ow*c)
				for i := range buf {
					buf[i] = guard
				}
				got := buf[band:]
				want := make([]uint8, oh*ow*c)
				maxPool2Words(want, full, c, w, oh, ow)
				var ran bool
				withLevel(lv, func() { ran = maxPool2Vec(got, src, c, w, oh, ow) })
				if !ran {
					t.Fatalf("c=%d: maxPool2Vec did not run at level %v", c, lv)
				}
				for oy := range oh {
					for ox := range ow {
						for ch := range c {
							s := (2*oy*w+2*ox)*c + ch
							m := max(full[s], full[s+c], full[s+w*c], full[s+w*c+c])
							if i := (oy*ow+ox)*c + ch; want[i] != m || got[i] != m {
								t.Fatalf("c=%d %dx%d → %dx%d, pattern %d: (%d,%d,%d) AVX2 %d, maxPool2Words %d, the window's maximum %d",
									c, h, w, oh, ow, cases%5, oy, ox, ch, got[i], want[i], m)
							}
						}
					}
				}
				for i := range band {
					if buf[i] != guard {
						t.Fatalf("c=%d %dx%d: guard band before the output overwritten", c, h, w)
					}
				}
				cases++
			}
		}
	}
}

// TestAddU8AVX2MatchesTwin checks the AVX2 add: its Go twin (applyAVX2)
// equals apply on all 65,536 operand pairs of every layer in its domain
// (addVec.dword), the kernel (addU8 at the AVX2 level: the word kernel
// where the layer has addW's form, else addU8AVX2) equals the table
// on all pairs, and on every length 0…40 with the operands and the output
// ending just before an inaccessible page, in place (dst = x) too; a
// layer outside the domain (shift 1: quotients beyond int32) takes the
// table.
func TestAddU8AVX2MatchesTwin(t *testing.T) {
	lv := avx2Level(t)
	rng := rand.New(rand.NewPCG(72, 72))
	x, y := make([]uint8, 256*256), make([]uint8, 256*256)
	for i := range x {
		x[i], y[i] = uint8(i/256), uint8(i%256)
	}
	type cfg struct{ offA, za, offB, zb, m0a, na, m0b, nb, offO, zo, lo, hi int32 }
	cfgs := []cfg{
		{0, 0, 0, 255, quant.MinM0, 24, quant.MinM0, 24, 0, 0, 0, 255},                   // ties: ½ steps
		{-127, 0, -127, 0, quant.MaxM0, 56, quant.MaxM0, 63, -127, 0, -127, 127},         // n = 63: the sign bit is bit n
		{0, 255, 0, 0, quant.MaxM0, 32, quant.MaxM0, 33, 0, 128, 0, 255},                 // n = 33: beyond the low dword
		{0, 17, 0, 200, quant.MinM0 + 1, 23, quant.MaxM0, 25, 0, 100, 100, 255},          // a ReLU clamp
		{-127, 0, 0, 3, quant.MaxM0 - 5, 12, quant.MinM0 + 99, 11, -127, 0, -5, 6},       // a narrow clamp, large quotients
		{-127, 127, -127, -127, quant.MaxM0, 9, quant.MaxM0, 9, -127, 0, -127, 127},      // |q| near 2^24
		{-127, 127, -127, 127, quant.MaxM0, 1, quant.MaxM0, 1, -127, 0, -127, 127},       // shift 1, q near −2^32: not dword
		{0, 0, 0, 0, quant.MaxM0, 1, quant.MaxM0 - 3, 1, 0, 0, 0, 255},                   // shift 1, q near 2^33: not dword
		{-127, 127, -127, -127, quant.MinM0, 24, quant.MinM0, 31, -127, -128, -127, 127}, // shifts 7 apart
	}
	for range 30 {
		offA, offB, offO := -rng.Int32N(128), -rng.Int32N(128), -rng.Int32N(128)
		na := 1 + rng.Int32N(56)
		cfgs = append(cfgs, cfg{offA, offA + rng.Int32N(256), offB, offB + rng.Int32N(256),
			quant.MinM0 + rng.Int32N(1<<23), na, quant.MinM0 + rng.Int32N(1<<23), na + rng.Int32N(8),
			offO, offO + rng.Int32N(256), offO, offO + rng.Int32N(256)})
	}
	xt, yt, dt := pageEnd(t, 64), pageEnd(t, 64), pageEnd(t, 64)
	dword, wide, words, dwordOnly := 0, 0, 0, 0
	for i, c := range cfgs {
		c.hi = max(c.hi, c.lo)
		l := &Layer{In: QParams{Zero: c.za}, In2: QParams{Zero: c.zb}, Out: QParams{Zero: c.zo},
			M0: []int32{c.m0a, c.m0b}, Shift: []int32{c.na, c.nb}, Lo: c.lo, Hi: c.hi}
		ac := newAddConsts(l, &value{off: c.offA}, &value{off: c.offB}, &value{off: c.offO})
		v := ac.vec
		if v == nil {
			continue
		}
		var done int
		withLevel(lv, func() { done = addVecU8(make([]uint8, 64), x[:64], y[:64], ac) })
		if ac.word != nil {
			words++
			if done != 64 {
				t.Fatalf("case %d %+v: the word kernel did %d of 64 elements", i, c, done)
			}
		}
		if !v.dword {
			wide++
			if ac.word == nil && done != 0 {
				t.Fatalf("case %d %+v: the AVX2 kernel ran outside its domain", i, c)
			}
		} else {
			dword++
			if ac.word == nil {
				dwordOnly++ // addU8AVX2 runs
			}
			for j := range x {
				if a, b := v.applyAVX2(x[j], y[j]), v.apply(x[j], y[j]); a != b {
					t.Fatalf("case %d %+v: u = (%d, %d): applyAVX2 %d, apply %d", i, c, x[j], y[j], a, b)
				}
			}
		}
		got := make([]uint8, len(x))
		withLevel(lv, func() { addU8(got, x, y, ac) })
		for j := range got {
			if want := ac.table[int(x[j])<<8|int(y[j])]; got[j] != want {
				t.Fatalf("case %d %+v: u = (%d, %d) gives %d, the table %d", i, c, x[j], y[j], got[j], want)
			}
		}
		for n := 0; n <= 40; n++ {
			off := rng.IntN(len(x) - n)
			xs, ys, ds := xt(n), yt(n), dt(n)
			copy(xs, x[off:off+n])
			copy(ys, y[off:off+n])
			withLevel(lv, func() { addU8(ds, xs, ys, ac) })
			if !slices.Equal(ds, got[off:off+n]) {
				t.Fatalf("case %d, length %d: differs from the whole-range run", i, n)
			}
			withLevel(lv, func() { addU8(xs, xs, ys, ac) }) // in place
			if !slices.Equal(xs, got[off:off+n]) {
				t.Fatalf("case %d, length %d in place: differs", i, n)
			}
		}
	}
	t.Logf("%d dword, %d wide, %d word, %d dword without word", dword, wide, words, dwordOnly)
	if dword < 25 || wide < 2 || words < 20 || dwordOnly < 2 {
		t.Errorf("%d layers in the AVX2 kernel's domain and %d outside it, %d in the word kernel's, %d in addU8AVX2's: want ≥ 25, ≥ 2, ≥ 20 and ≥ 2", dword, wide, words, dwordOnly)
	}
}

// TestBoundaryAVX2PathsTaken fails on a CPU with AVX2 but not AVX-512 if
// the AVX2 pooling or add kernel is not what runs (the tests comparing
// them with Go would then compare Go with Go and pass): the active
// boundary level is AVX2, maxPool2Vec runs on lenet5's channel counts
// and others, and addVecU8 runs on every add layer of resnet8's shape.
func TestBoundaryAVX2PathsTaken(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	avx512 := cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	if !avx512 && boundaryLevel() != boundaryAVX2 {
		t.Fatalf("boundary level %d on an AVX2 CPU without AVX-512, want boundaryAVX2 (%d)", boundaryLevel(), boundaryAVX2)
	}
	withLevel(avx2Level(t), func() {
		for _, c := range []int{1, 3, 6, 16, 20, 50, 64, 65, 128} {
			src, dst := make([]uint8, 4*c), make([]uint8, c)
			if !maxPool2Vec(dst, src, c, 2, 1, 1) {
				t.Errorf("maxPool2Vec does not run the AVX2 kernel on %d channels", c)
			}
		}
		m := resnet8Shape(t, W8A8)
		adds := 0
		for i, p := range m.plan().layers {
			if p.add == nil {
				continue
			}
			adds++
			if p.add.vec == nil || !p.add.vec.dword || p.add.word == nil {
				t.Errorf("layer %d: the add has no AVX2 constants (vec %+v, word %v)", i, p.add.vec, p.add.word)
				continue
			}
			x := make([]uint8, 64)
			if n := addVecU8(make([]uint8, 64), x, x, p.add); n != 64 {
				t.Errorf("layer %d: addVecU8 did %d of 64 elements", i, n)
			}
		}
		if adds != 3 {
			t.Errorf("%d add layers in resnet8's shape, want 3", adds)
		}
	})
}
