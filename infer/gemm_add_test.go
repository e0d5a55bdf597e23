package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// testAddConsts is newAddConsts on raw constants: the add of operands
// with offsets ka, kb (d = u + k), multipliers (m0a, na), (m0b, nb), and
// the output's Z and clamp on the unsigned storage.
func testAddConsts(ka, kb, m0a, na, m0b, nb, z, lo, hi int32) *addConsts {
	c := &addConsts{ka: ka, kb: kb, m0a: m0a, na: na, m0b: m0b, nb: nb, z: z, lo: lo, hi: hi}
	c.table = make([]uint8, 256*256)
	for ua := range 256 {
		for ub := range 256 {
			c.table[ua<<8|ub] = uint8(quant.RequantizeAdd(int32(ua)+ka, int32(ub)+kb, m0a, na, m0b, nb, z, lo, hi))
		}
	}
	c.vec = newAddVec(c)
	return c
}

// TestGemmConvAddFusedMatchesUnfused compares the convolution kernels
// with the residual add fused (gemmConvPackedQA) with the unfused path
// (gemmConvPacked, requantU8, then the add by quant.RequantizeAdd with
// the convolution as either operand) and with the reference twin
// addFusedRef, on ragged shapes (1 to 9 pixels, 1 to 49 channels) and
// add constants from the ordinary to the extremes the vector form takes
// (offsets at both ends, shifts 7 apart either way, M0 at both ends).
// Every byte around the outputs keeps its guard.
func TestGemmConvAddFusedMatchesUnfused(t *testing.T) {
	var lv *level
	for _, l := range availableLevels() {
		if l.convQA != nil {
			lv = l
			break
		}
	}
	if lv == nil {
		t.Skip("no fused-add kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(25, 25))
	adds := []struct{ ka, kb, m0a, na, m0b, nb, z, lo, hi int32 }{
		{-128, -128, quant.MinM0, 20, quant.MinM0 + 12345, 21, 0, 0, 255},
		{0, 0, quant.MaxM0, 30, quant.MaxM0, 30, 128, 128, 255}, // ReLU at Z
		{-255, 255, quant.MaxM0, 31, quant.MinM0, 24, 255, 0, 255},
		{255, -255, quant.MinM0, 24, quant.MaxM0, 31, -256, 0, 255},
		{-383, -383, quant.MaxM0 - 1, 38, quant.MaxM0 - 1, 38, 511, 3, 250},
		{7, -3, 12582913, 17, 13207024, 23, 17, 0, 127},
	}
	found := 0
	for ai, ad := range adds {
		ac := testAddConsts(ad.ka, ad.kb, ad.m0a, ad.na, ad.m0b, ad.nb, ad.z, ad.lo, ad.hi)
		if ac.vec == nil {
			t.Fatalf("add %d: no vector form", ai)
		}
		for _, c := range []int{4, 16, 20} {
			for _, k := range []int{1, 3} {
				for ow := 1; ow <= 9; ow++ {
					m := []int{1, 7, 15, 16, 17, 33, 48, 49}[rng.IntN(8)]
					stride := 1 + rng.IntN(2)
					kc := k * c
					w := (ow-1)*stride + k + rng.IntN(2)
					wt := make([]int8, m*k*kc)
					for i := range wt {
						wt[i] = int8(rng.IntN(256) - 128)
					}
					bias := make([]int32, m)
					for i := range bias {
						bias[i] = rng.Int32N(1<<16) - 1<<15
					}
					pw := packWeights(wt, bias, m, k*kc, 0, 255, 0, lv)
					img := make([]uint8, k*w*c)
					for i := range img {
						img[i] = uint8(rng.IntN(256))
					}
					m0, shift := make([]int32, m), make([]int32, m)
					for i := range m0 {
						m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 8+rng.Int32N(14)
					}
					z := rng.Int32N(256)
					lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
					rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
					acc := make([]int32, ow*pw.mp)
					gemmConvPacked(lv.conv, acc, pw.mp, img, stride*c, pw, ow, k, w*c)
					ldd := m + 3
					conv := make([]uint8, ow*ldd)
					requantU8(conv, acc, ow, m, pw.mp, m0, shift, z, lo, hi, ldd)
					short := make([]uint8, ow*ldd)
					for i := range short {
						short[i] = uint8(rng.IntN(256))
					}
					short[0], short[len(short)-1] = 0, 255 // the extremes
					for op := 0; op < 2; op++ {            // the convolution as operand op
						fa := newFusedAdd(ac, op, 0)
						const band = 64
						buf := make([]uint8, band+ow*ldd+band)
						for i := range buf {
							buf[i] = guard
						}
						gemmConvPackedQA(lv.convQA, buf[band:band+ow*ldd], ldd, img, stride*c, pw, ow, k, w*c, rq, short, fa)
						ref := make([]uint8, m)
						for i, v := range buf {
							r, ch := (i-band)/ldd, (i-band)%ldd
							if i < band || r >= ow || ch >= m {
								if v != guard {
									t.Fatalf("add %d c %d k %d ow %d m %d op %d: byte %d outside the outputs overwritten (%d)", ai, c, k, ow, m, op, i-band, v)
								}
								continue
							}
							if ch == 0 {
								addFusedRef(ref, short[r*ldd:r*ldd+m], conv[r*ldd:r*ldd+m], fa)
							}
							da, db := int32(short[r*ldd+ch])+ad.ka, int32(conv[r*ldd+ch])+ad.kb
							if op == 0 {
								da, db = int32(conv[r*ldd+ch])+ad.ka, int32(short[r*ldd+ch])+ad.kb
							}
							want := quant.RequantizeAdd(da, db, ad.m0a, ad.na, ad.m0b, ad.nb, ad.z, ad.lo, ad.hi)
							if int32(v) != want || ref[ch] != v {
								t.Fatalf("%s", fmt.Sprintf("add %d c %d k %d ow %d m %d op %d: row %d channel %d (short %d, conv %d): fused %d, reference twin %d, quant.RequantizeAdd %d",
									ai, c, k, ow, m, op, r, ch, short[r*ldd+ch], conv[r*ldd+ch], v, ref[ch], want))
							}
							found++
						}
					}
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no output compared")
	}
}

// TestFusedAddModelMatchesInterpreter runs models whose adds follow the
// convolution that produces one of their operands (the first or the
// second; a 3×3 and a 1×1 stride-2 producer; 20 channels: a short panel;
// the shortcut the convolution's own input, or the model's input) at
// every level of this CPU, batch 1 and a ragged 5, and compares the
// logits (fused where the level has the kernels) and every layer's
// output (a trace: unfused) with the slow interpreter bit for bit.
func TestFusedAddModelMatchesInterpreter(t *testing.T) {
	build := func(mode Mode) *Model {
		g := newGraph(t, rand.New(rand.NewPCG(33, 33)), mode, "fused-add", 4, 9, 9, 10)
		x := g.weighted(-2, 20, 3, 1, 1, 0, true, false)
		body := g.weighted(-2, 20, 3, 1, 1, 0, false, false)
		x = g.add(x, body, true, 0) // the convolution second
		body = g.weighted(x, 20, 3, 1, 1, 0, false, false)
		x = g.add(body, x, false, 0) // the convolution first, reading the shortcut
		g.weighted(x, 24, 3, 2, 1, 0, true, false)
		body = g.weighted(-2, 24, 3, 1, 1, 0, false, false)
		short := g.weighted(x, 24, 1, 2, 0, 0, false, false)
		x = g.add(body, short, true, 0) // a 1×1 stride-2 producer
		// 16 channels: 3×3 producers on the VNNIK3 kernels, stride 1 and 2.
		x = g.weighted(x, 16, 3, 1, 1, 0, true, false)
		body = g.weighted(-2, 16, 3, 1, 1, 0, false, false)
		x = g.add(x, body, true, 0)
		short = g.weighted(x, 16, 1, 2, 0, 0, false, false)
		body = g.weighted(x, 16, 3, 2, 1, 0, false, false)
		g.add(short, body, false, 0)
		g.gap()
		g.weighted(-2, 10, 0, 0, 0, 0, false, false)
		return g.done()
	}
	rng := rand.New(rand.NewPCG(34, 34))
	for _, m := range []*Model{build(W8A8), build(W8A8Asym)} {
		fused := 0
		for _, p := range m.plan().layers {
			if p.fa != nil {
				fused++
			}
		}
		if fused != 5 {
			t.Fatalf("%s: %d adds fused, want 5", m.Mode, fused)
		}
		for _, n := range []int{1, 5} {
			x := randInput(rng, m, n)
			want := interpretMode(m, x, n)
			for _, lv := range availableLevels() {
				withLevel(lv, func() {
					where := fmt.Sprintf("%s n=%d level %s", m.Mode, n, lv.name)
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
						t.Fatalf("%s: logits differ", where)
					}
				})
			}
		}
	}
}

// TestAddWMatchesTable checks the fused epilogue's word form (addW) on
// the edge ladder of add constants: offsets at both ends, M0 at both
// ends, shifts from 13 to 46 up to 7 apart either way, zero points and
// clamps at their ends. Wherever newFusedAdd keeps it, the form equals
// quant.RequantizeAdd (the add's table) on all 65,536 operand pairs,
// with the convolution as either operand; wherever it refuses a form
// that fits, some pair differs (a tie rounded half up), and both happen.
func TestAddWMatchesTable(t *testing.T) {
	kept, tied := 0, 0
	for _, k := range [][2]int32{{-128, -128}, {0, 0}, {-383, 255}, {255, -383}} {
		for _, m := range [][2]int32{{quant.MinM0, quant.MinM0}, {quant.MaxM0, quant.MinM0 + 12345}, {quant.MaxM0 - 1, quant.MaxM0}, {12582913, 13207024}} {
			for _, n := range [][2]int32{{13, 13}, {15, 16}, {16, 16}, {20, 21}, {24, 24}, {24, 31}, {31, 24}, {38, 38}, {40, 46}, {46, 46}} {
				for _, q := range [][3]int32{{0, 0, 255}, {-17, 3, 250}} {
					ac := testAddConsts(k[0], k[1], m[0], n[0], m[1], n[1], q[0], q[1], q[2])
					if ac.vec == nil {
						continue
					}
					for conv := 0; conv < 2; conv++ {
						o := *ac.vec
						if conv == 0 {
							o.a, o.b = ac.vec.b, ac.vec.a
						}
						w := newAddW(&o)
						fa := newFusedAdd(ac, conv, 0)
						if w == nil {
							if fa != nil || max(n[0], n[1]) >= 16 && max(n[0], n[1]) <= 46 && o.a < 1<<31-1<<15 && o.b < 1<<31-1<<15 {
								t.Fatalf("k %v M0 %v n %v: no word form, fused %v", k, m, n, fa != nil)
							}
							continue
						}
						diff := 0
						for us := range 256 {
							for uc := range 256 {
								i := us<<8 | uc
								if conv == 0 {
									i = uc<<8 | us
								}
								if w.apply(uint8(us), uint8(uc)) != ac.table[i] {
									diff++
								}
							}
						}
						switch {
						case diff == 0 && fa == nil, diff > 0 && fa != nil:
							t.Fatalf("k %v M0 %v n %v Z %v conv %d: %d pairs differ, fused %v", k, m, n, q, conv, diff, fa != nil)
						case diff == 0:
							kept++
						default:
							tied++
						}
					}
				}
			}
		}
	}
	if kept < 100 || tied == 0 {
		t.Fatalf("kept %d, refused for a tie %d: the ladder does not reach both sides", kept, tied)
	}
}
