package infer

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestPWConvMatchesConvQ compares the whole-image 1×1 kernels (gemmPW,
// with and without the fused add) with quant.Requantize and
// quant.RequantizeAdd on the sums, and with their reference twin, the
// implicit-im2col kernels one output row a call (gemmConvPackedQ, QA),
// on ragged shapes: 4 to 64 input channels, 1 to 64 output channels
// (short panels), strides 1 to 3, rows of 1 to 20 pixels (every tile and
// last tile; rows of 2 to 4 two at a time, an odd last one alone; a
// column), odd images, and extreme weights, inputs, zero points and
// multipliers. Every byte between and around the outputs keeps its
// guard.
func TestPWConvMatchesConvQ(t *testing.T) {
	var lv *level
	for _, l := range availableLevels() {
		if l.pw != nil {
			lv = l
			break
		}
	}
	if lv == nil {
		t.Skip("no VNNIPW kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(41, 41))
	adds := []*addConsts{
		testAddConsts(-128, -128, quant.MinM0, 20, quant.MinM0+12345, 21, 0, 0, 255),
		testAddConsts(-255, 255, quant.MaxM0, 31, quant.MinM0, 24, 255, 0, 255),
		testAddConsts(7, -3, 12582913, 17, 13207024, 23, 17, 0, 127),
	}
	ran, tiles := 0, map[[2]int]bool{}
	for _, c := range []int{4, 8, 16, 20, 32, 36, 64} {
		for ow := 1; ow <= 20; ow++ {
			m := []int{1, 5, 15, 16, 17, 33, 48, 64}[rng.IntN(8)]
			st, oh := 1+rng.IntN(3), 1+rng.IntN(4)
			switch {
			case ow == 1:
				oh = 1 + (c/4)%2 // a column, or one pixel
			case ow <= 4:
				oh = 2 + (c/4+ow)%2 // two-row tiles, a last row alone or not
			}
			extreme := ow%5 == 0
			w := (ow-1)*st + 1 + rng.IntN(st)
			h := (oh-1)*st + 1 + rng.IntN(2)
			wt := make([]int8, m*c)
			for i := range wt {
				wt[i] = int8(rng.IntN(256) - 128)
				if extreme {
					wt[i] = []int8{-128, 127}[(ow/5)%2]
				}
			}
			bias := make([]int32, m)
			for i := range bias {
				bias[i] = rng.Int32N(1<<14) - 1<<13
			}
			img := make([]uint8, h*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
				if extreme {
					img[i] = 255
				}
			}
			pw := packWeights(wt, bias, m, c, 0, 255, 0, lv)
			bound := accBound(pw, 255)
			m0, shift := make([]int32, m), make([]int32, m)
			for i := range m0 {
				// Sums spread over a byte (the clamped form needs it), or
				// over the bound's range.
				m0[i] = quant.MinM0 + rng.Int32N(1<<23)
				shift[i] = 31 + rng.Int32N(5)
				if i%3 == 0 {
					shift[i] = min(42, max(13, 23+int32(bits.Len64(uint64(bound)))-8+rng.Int32N(3)-1))
				}
				if extreme {
					m0[i] = []int32{quant.MinM0 + 1, quant.MaxM0}[i%2] // odd: no tie
				}
			}
			z := rng.Int32N(256)
			if extreme {
				z = []int32{0, 255}[ow%2]
			}
			lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
			rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
			if !enableRequantClamp(rq, m0, shift, z, lo, hi, bound) {
				// Every channel's sums spread over the bound's range.
				for i := range shift {
					shift[i] = min(42, max(13, 23+int32(bits.Len64(uint64(bound)))-8))
				}
				rq = newRequantPanels(m0, shift, pw.mp, z, lo, hi)
				if !enableRequantClamp(rq, m0, shift, z, lo, hi, bound) {
					continue
				}
			}
			// The sums and their requantization.
			P, ldd := oh*ow, m+2
			conv := make([]uint8, P*ldd)
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					px := img[(y*st*w+x*st)*c:][:c]
					for ch := 0; ch < m; ch++ {
						acc := bias[ch]
						for ci, u := range px {
							acc += int32(u) * int32(wt[ch*c+ci])
						}
						conv[(y*ow+x)*ldd+ch] = uint8(quant.Requantize(acc, m0[ch], shift[ch], z, lo, hi))
					}
				}
			}
			short := make([]uint8, P*ldd)
			for i := range short {
				short[i] = uint8(rng.IntN(256))
			}
			short[0], short[len(short)-1] = 0, 255
			for ai := -1; ai < len(adds); ai++ {
				var fa *fusedAdd
				if ai >= 0 {
					if fa = newFusedAdd(adds[ai], ai%2, 0); fa == nil {
						t.Fatalf("add %d: no fused form", ai)
					}
				}
				const band = 64
				buf, twin := make([]uint8, band+P*ldd+band), make([]uint8, P*ldd)
				for i := range buf {
					buf[i] = guard
				}
				gemmPW(lv.pw, buf[band:band+P*ldd], ldd, img, st*c, st*w*c, pw, oh, ow, rq, short, fa)
				for y := 0; y < oh; y++ {
					row, out := img[y*st*w*c:], twin[y*ow*ldd:(y+1)*ow*ldd]
					if fa != nil {
						gemmConvPackedQA(lv.convQA, out, ldd, row, st*c, pw, ow, 1, c, rq, short[y*ow*ldd:], fa)
					} else {
						gemmConvPackedQ(lv.convQ, out, ldd, row, st*c, pw, ow, 1, c, rq)
					}
				}
				where := fmt.Sprintf("c %d m %d stride %d %d×%d add %d", c, m, st, oh, ow, ai)
				for i, v := range buf {
					p, ch := (i-band)/ldd, (i-band)%ldd
					if i < band || p >= P || ch >= m {
						if v != guard {
							t.Fatalf("%s: byte %d outside the outputs overwritten (%d)", where, i-band, v)
						}
						continue
					}
					want := conv[p*ldd+ch]
					if fa != nil {
						want = fa.vec.apply(short[p*ldd+ch], want)
						da, db := int32(short[p*ldd+ch])+adds[ai].ka, int32(conv[p*ldd+ch])+adds[ai].kb
						if ai%2 == 0 {
							da, db = int32(conv[p*ldd+ch])+adds[ai].ka, int32(short[p*ldd+ch])+adds[ai].kb
						}
						if q := quant.RequantizeAdd(da, db, adds[ai].m0a, adds[ai].na, adds[ai].m0b, adds[ai].nb, adds[ai].z, adds[ai].lo, adds[ai].hi); int32(want) != q {
							t.Fatalf("%s: pixel %d channel %d: the add's reference twin %d, quant.RequantizeAdd %d", where, p, ch, want, q)
						}
					}
					if v != want || twin[p*ldd+ch] != v {
						t.Fatalf("%s: pixel %d channel %d: whole-image kernel %d, one row a call %d, reference %d", where, p, ch, v, twin[p*ldd+ch], want)
					}
				}
				ran++
				switch tl := min(ow, pwTile); {
				case ow >= 2 && ow <= 4:
					tiles[[2]int{ow, 100 + oh%2}] = true // two-row tiles
					if oh%2 == 1 {
						tiles[[2]int{ow, 0}] = true // the last row alone
					}
				case ow == 1 && oh > 1:
					tiles[[2]int{-1, 0}] = true // a column: one run
				default:
					tiles[[2]int{tl, ow % tl}] = true
				}
			}
		}
	}
	// Every kernel of the tables: the short rows', every last tile, and
	// the two-row tiles of 2 to 4 pixels with an odd row after or not.
	if ran < 200 || len(tiles) != 2*pwTile-1+6+1 {
		t.Fatalf("%d cases on %d kernels (%v): the clamped form too rare", ran, len(tiles), tiles)
	}
}

// TestPWModelMatchesUnfused runs models with 1×1 convolutions the VNNIPW
// kernels take (strides 2 and 3 with and without a fused add, a stride-1
// one with an add; odd images, 20 and 36 channels) at every level of
// this CPU, batch 1 and a ragged 7, and compares the logits and every
// layer's output (a trace) with and without the kernels (pwOff) and
// with the slow interpreter, bit for bit.
func TestPWModelMatchesUnfused(t *testing.T) {
	build := func(mode Mode) *Model {
		g := newGraph(t, rand.New(rand.NewPCG(42, 42)), mode, "pw", 4, 11, 13, 10)
		x := g.weighted(-2, 20, 3, 1, 1, 0, true, false)
		body := g.weighted(-2, 36, 3, 2, 1, 0, false, false)
		short := g.weighted(x, 36, 1, 2, 0, 0, false, false)
		x = g.add(body, short, true, 0)                // a 1×1 stride-2 producer (6×7)
		x = g.weighted(x, 20, 1, 3, 0, 0, true, false) // stride 3, no add (2×3)
		x = g.weighted(x, 28, 1, 1, 0, 0, true, false) // stride 1, no add: one run
		body = g.weighted(-2, 20, 3, 1, 1, 0, false, false)
		short = g.weighted(x, 20, 1, 1, 0, 0, false, false)
		g.add(short, body, false, 0) // a stride-1 producer, the first operand
		g.gap()
		g.weighted(-2, 10, 0, 0, 0, 0, false, false)
		return g.done()
	}
	rng := rand.New(rand.NewPCG(43, 43))
	for _, m := range []*Model{build(W8A8), build(W8A8Asym)} {
		if lv := levelWithPW(); lv != nil {
			taken := 0
			for i, l := range m.Layers {
				if p := m.plan().layers[i]; l.Kind == KindConv2D && p.pw != nil && pwLayer(lv, l, p.pw, l.InC, p.fa != nil) {
					taken++
				}
			}
			if taken != 4 {
				t.Fatalf("%s: %d layers on the VNNIPW kernels, want 4", m.Mode, taken)
			}
		}
		for _, n := range []int{1, 7} {
			x := randInput(rng, m, n)
			want := interpretMode(m, x, n)
			for _, lv := range availableLevels() {
				var logits [2][]int32
				for off := 0; off < 2; off++ {
					withLevel(lv, func() {
						pwOff = off == 1
						defer func() { pwOff = false }()
						where := fmt.Sprintf("%s n=%d level %s pwOff %v", m.Mode, n, lv.name, pwOff)
						if _, err := m.trace(x, n, func(li int, out []int32) {
							if !slices.Equal(out, want[li]) {
								t.Fatalf("%s: layer %d (%s) differs", where, li, m.Layers[li].Kind)
							}
						}); err != nil {
							t.Fatal(err)
						}
						got, err := m.Logits(x, n)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want[len(want)-1]) {
							t.Fatalf("%s: logits differ from the interpreter's", where)
						}
						logits[off] = got
					})
				}
				if !slices.Equal(logits[0], logits[1]) {
					t.Fatalf("%s n=%d level %s: logits differ with and without the kernels", m.Mode, n, lv.name)
				}
			}
		}
	}
}

// levelWithPW is the best level of this CPU with the VNNIPW kernels, or
// nil.
func levelWithPW() *level {
	for _, l := range availableLevels() {
		if l.pw != nil {
			return l
		}
	}
	return nil
}
