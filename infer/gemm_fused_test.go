package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// fusedCase is one call of a fused kernel test: the packed layer, its
// image and geometry, and its requantization constants.
type fusedCase struct {
	pw                  *packedWeights
	img                 []uint8
	ow, segs, ldu, segS int
	m0, shift           []int32
	z, lo, hi           int32
}

// checkFused runs gemmConvPackedQ on c at every level that has it for
// c's weights (convSets: AVX2's only without a weight −128 and on whole
// panels) and compares each output byte with gemmConvPacked followed by requantU8
// (the unfused pair, itself compared with quant.Requantize elsewhere)
// and with quant.Requantize of that accumulator; every byte around the
// outputs (channels beyond m, rows beyond ow, the bands) keeps its guard.
func checkFused(t *testing.T, where string, c fusedCase) {
	t.Helper()
	pw := c.pw
	for _, lv := range availableLevels() {
		conv, convQ := lv.convSets(pw)
		if convQ == nil {
			continue
		}
		fusedRuns[lv.name]++
		rq := newRequantPanels(c.m0, c.shift, pw.mp, c.z, c.lo, c.hi)
		if rq == nil {
			t.Fatalf("%s: no constants for Z %d, [%d, %d]", where, c.z, c.lo, c.hi)
		}
		acc := make([]int32, c.ow*pw.mp)
		convRows(conv, acc, pw.mp, c.img, c.ldu, pw, c.ow, c.segs, c.segS)
		ldd := pw.m + 3 // rows apart by more than m: the gap must keep its guard
		const band = 64
		want := make([]uint8, c.ow*ldd)
		requantU8(want, acc, c.ow, pw.m, pw.mp, c.m0, c.shift, c.z, c.lo, c.hi, ldd)
		buf := make([]uint8, band+c.ow*ldd+band)
		for i := range buf {
			buf[i] = guard
		}
		convRowsQ(convQ, buf[band:band+c.ow*ldd], ldd, c.img, c.ldu, pw, c.ow, c.segs, c.segS, rq)
		for i, v := range buf {
			r, ch := (i-band)/ldd, (i-band)%ldd
			if i < band || r >= c.ow || ch >= pw.m {
				if v != guard {
					t.Fatalf("%s, level %s: byte %d outside the outputs overwritten (%d)", where, lv.name, i-band, v)
				}
				continue
			}
			a := acc[r*pw.mp+ch]
			q := quant.Requantize(a, c.m0[ch], c.shift[ch], c.z, c.lo, c.hi)
			if v != want[r*ldd+ch] || int32(v) != q {
				t.Fatalf("%s, level %s: row %d channel %d (acc %d, M0 %d, n %d, Z %d, [%d, %d]): fused %d, unfused %d, quant.Requantize %d",
					where, lv.name, r, ch, a, c.m0[ch], c.shift[ch], c.z, c.lo, c.hi, v, want[r*ldd+ch], q)
			}
		}
	}
}

// fusedRuns counts checkFused's kernel runs by level, for the tests'
// check that every level with fused implicit kernels ran.
var fusedRuns = map[string]int{}

// checkFusedRan fails if a level of this CPU with fused implicit-im2col
// kernels ran none of checkFused's cases since the counts were reset.
func checkFusedRan(t *testing.T) {
	t.Helper()
	for _, lv := range availableLevels() {
		if (lv.convQ != nil || lv.sconvQ != nil) && fusedRuns[lv.name] == 0 {
			t.Errorf("level %s: no case ran its fused kernels", lv.name)
		}
	}
	clear(fusedRuns)
}

// kernelWeight draws a weight for the kernel tests: any int8, or with
// no128 one in [−127, 127] (AVX2's signed kernels run only such layers).
func kernelWeight(rng *rand.Rand, no128 bool) int8 {
	if no128 {
		return int8(rng.IntN(255) - 127)
	}
	return int8(rng.IntN(256) - 128)
}

// TestGemmConvFusedMatchesUnfused compares the fused kernels with the
// unfused pair on random convolution rows of ragged shapes (1 to 9
// pixels: every tile height; 1 to 49 channels: a short last panel and
// panel pair; kernel rows read as whole groups and as padded segments)
// with random multipliers, shifts, zero points and clamps. Every other
// row width has no weight −128 and whole panels of channels, so that
// AVX2's signed kernels (whole panels only) take it too.
func TestGemmConvFusedMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 24))
	for _, c := range []int{1, 3, 4, 16, 20} {
		for _, k := range []int{1, 3, 5} {
			for ow := 1; ow <= 9; ow++ {
				m := []int{1, 7, 15, 16, 17, 33, 48, 49}[rng.IntN(8)]
				if ow%2 == 0 {
					m = []int{16, 32, 48, 64}[rng.IntN(4)]
				}
				stride := 1 + rng.IntN(2)
				kc := k * c
				seg := (kc + 3) &^ 3
				w := max((ow-1)*stride+k+rng.IntN(2), (seg+c-1)/c)
				h := k + rng.IntN(2)
				wt := make([]int8, m*k*kc)
				for i := range wt {
					wt[i] = kernelWeight(rng, ow%2 == 0)
				}
				bias := make([]int32, m)
				for i := range bias {
					bias[i] = rng.Int32N(1<<16) - 1<<15
				}
				pw := packWeights(wt, bias, m, k*kc, 0, 255, 0, availableLevels()[0])
				if kc%4 != 0 {
					segW, segK := segmentRows(wt, m, k, kc)
					pw = packWeights(segW, bias, m, segK, 0, 255, 0, availableLevels()[0])
				}
				img := make([]uint8, h*w*c+3) // slack under zero weights
				for i := range img {
					img[i] = uint8(rng.IntN(256))
				}
				m0, shift := make([]int32, m), make([]int32, m)
				for i := range m0 {
					m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 8+rng.Int32N(30)
				}
				z := rng.Int32N(256)
				lo := rng.Int32N(z + 1)
				hi := z + rng.Int32N(256-z)
				checkFused(t, fmt.Sprintf("c %d k %d ow %d m %d", c, k, ow, m), fusedCase{pw, img, ow, k, stride * c, w * c, m0, shift, z, lo, hi})
			}
		}
	}
	checkFusedRan(t)
}

// TestGemmConvFusedEdges drives the fused epilogue with accumulators on
// the edges of the requantization's domain: zero weights, so that each
// accumulator is its channel's bias, set to the int32 extremes, small
// values and exact ties (as TestRequantU8Edges: acc·M0 = (2k+1)·2^(n−1))
// for every shift n in [1, 63], M0 at both ends of [2^23, 2^24), and
// clamps at both ends of the byte range, Z at ±511.
func TestGemmConvFusedEdges(t *testing.T) {
	var cases []fusedEdge
	for sh := int32(1); sh <= 63; sh++ {
		for _, m0 := range []int32{quant.MinM0, quant.MaxM0, 12345678} {
			for _, a := range []int32{math.MinInt32, math.MaxInt32, 0, 1, -1, 3, -3, 1 << 20, -(1 << 20)} {
				cases = append(cases, fusedEdge{a, m0, sh})
			}
		}
		for k := int64(-6); k <= 5; k++ {
			switch {
			case sh >= 24 && sh <= 54:
				cases = append(cases, fusedEdge{int32((2*k + 1) << (sh - 24)), 1 << 23, sh})
			case sh < 24:
				cases = append(cases, fusedEdge{int32(2*k + 1), 1<<24 - 1<<(sh-1), sh})
			}
		}
	}
	cases = append(cases, fusedEdge{math.MinInt32, 3 << 22, 54}) // −1.5: the tie of the largest valuation
	const ow, c = 9, 4
	img := make([]uint8, ow*c)
	for i := range img {
		img[i] = uint8(i * 37)
	}
	// 33: two full panels and one channel (a panel pair and a single
	// panel); 48: whole panels, which AVX2's fused kernels take.
	for _, m := range []int{33, 48} {
		edgeCases(t, cases, m, ow, c, img)
	}
	checkFusedRan(t)
}

// edgeCases is TestGemmConvFusedEdges on m channels.
func edgeCases(t *testing.T, cases []fusedEdge, m, ow, c int, img []uint8) {
	for start := 0; start < len(cases); start += m {
		bias, m0, shift := make([]int32, m), make([]int32, m), make([]int32, m)
		for j := range m {
			cc := cases[(start+j)%len(cases)]
			bias[j], m0[j], shift[j] = cc.acc, cc.m0, cc.shift
		}
		pw := packWeights(make([]int8, m*c), bias, m, c, 0, 255, 0, availableLevels()[0])
		for _, q := range [][3]int32{{0, 0, 255}, {10, 0, 255}, {511, 0, 255}, {-511, 0, 255}, {37, 37, 40}} {
			checkFused(t, fmt.Sprintf("cases %d…, Z %d", start, q[0]), fusedCase{pw, img, ow, 1, c, c, m0, shift, q[0], q[1], q[2]})
		}
	}
}

// fusedEdge is one of TestGemmConvFusedEdges' channels: its accumulator
// (the bias, under zero weights), M0 and shift.
type fusedEdge struct{ acc, m0, shift int32 }

// TestRequantPanelsRange: constants the kernels cannot take (|Z| ≥ 2^9,
// a clamp outside the bytes) give nil, so the layer runs unfused.
func TestRequantPanelsRange(t *testing.T) {
	m0, sh := []int32{quant.MinM0}, []int32{30}
	for _, q := range [][3]int32{{512, 0, 255}, {-512, 0, 255}, {0, -1, 255}, {0, 0, 256}, {0, 9, 8}} {
		if newRequantPanels(m0, sh, 16, q[0], q[1], q[2]) != nil {
			t.Errorf("Z %d, [%d, %d]: constants, want nil", q[0], q[1], q[2])
		}
	}
	if newRequantPanels(m0, sh, 16, 511, 0, 255) == nil {
		t.Error("Z 511: nil, want constants")
	}
}

// TestGemmFusedMatchesUnfused compares gemmPackedQ with gemmPacked
// followed by requantU8 and with quant.Requantize, at every level that has
// fused kernels: 1 to 19 rows (every tile height, the one-row kernel with
// an odd and an even number of groups), ragged channel counts (a short
// last panel and panel pair) and fan-ins, row strides longer than a row,
// random constants; every byte around the outputs keeps its guard. The
// edge ladder runs through the shared epilogue in TestGemmConvFusedEdges.
func TestGemmFusedMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 25))
	for _, lv := range availableLevels() {
		if lv.q == nil {
			continue
		}
		for _, n := range []int{1, 2, 7, 8, 9, 16, 19} {
			for _, m := range []int{1, 15, 16, 17, 33, 49} {
				for _, k := range []int{1, 4, 7, 8, 63, 300} {
					where := fmt.Sprintf("level %s n %d m %d k %d", lv.name, n, m, k)
					wt := make([]int8, m*k)
					for i := range wt {
						wt[i] = int8(rng.IntN(256) - 128)
					}
					bias := make([]int32, m)
					for i := range bias {
						bias[i] = rng.Int32N(1<<16) - 1<<15
					}
					pw := packWeights(wt, bias, m, k, 0, 255, 0, lv)
					ldu := pw.kp + rng.IntN(3)*4
					u := make([]uint8, n*ldu)
					for i := range u {
						u[i] = uint8(rng.IntN(256))
					}
					m0, shift := make([]int32, m), make([]int32, m)
					for i := range m0 {
						m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 8+rng.Int32N(30)
					}
					z := rng.Int32N(256)
					lo := rng.Int32N(z + 1)
					hi := z + rng.Int32N(256-z)
					rq := newRequantPanels(m0, shift, pw.mp, z, lo, hi)
					acc := make([]int32, n*pw.mp)
					gemmPacked(lv, acc, pw.mp, u, ldu, pw, n)
					ldd := m + 1 + rng.IntN(3)
					want := make([]uint8, n*ldd)
					requantU8(want, acc, n, m, pw.mp, m0, shift, z, lo, hi, ldd)
					const band = 64
					buf := make([]uint8, band+n*ldd+band)
					for i := range buf {
						buf[i] = guard
					}
					gemmPackedQ(lv.q, buf[band:band+n*ldd], ldd, u, ldu, pw, n, rq)
					for i, v := range buf {
						r, ch := (i-band)/ldd, (i-band)%ldd
						if i < band || r >= n || ch >= m {
							if v != guard {
								t.Fatalf("%s: byte %d outside the outputs overwritten", where, i-band)
							}
							continue
						}
						q := quant.Requantize(acc[r*pw.mp+ch], m0[ch], shift[ch], z, lo, hi)
						if v != want[r*ldd+ch] || int32(v) != q {
							t.Fatalf("%s: row %d channel %d: fused %d, unfused %d, quant.Requantize %d", where, r, ch, v, want[r*ldd+ch], q)
						}
					}
				}
			}
		}
	}
}

// checkDWFused runs dwConvU8Q on one image with d at every level (the
// VNNI level runs dwRow3VNNI where the CPU has VBMI, the AVX-512 level
// dwRow3QAVX512) and, where it runs, compares its bytes with dwConvU8 followed
// by requantU8 and with quant.Requantize; the bytes around the output keep
// their guard. It returns how many levels ran the fused kernel.
func checkDWFused(t *testing.T, where string, img []uint8, c, h, w, stride, pad int, d *dwWeights, m0, shift []int32, z, lo, hi int32) int {
	t.Helper()
	const k = 3
	oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	ran := 0
	for _, vec := range availableLevels() {
		withLevel(vec, func() {
			padBuf := make([]uint8, (h+2*pad)*(w+2*pad)*c)
			acc := make([]int32, oh*ow*c)
			dwConvU8(acc, img, padBuf, c, h, w, k, stride, pad, oh, ow, d, true)
			want := make([]uint8, oh*ow*c)
			requantU8(want, acc, oh*ow, c, c, m0, shift, z, lo, hi, c)
			const band = 64
			buf := make([]uint8, band+oh*ow*c+band)
			for i := range buf {
				buf[i] = guard
			}
			if !dwConvU8Q(buf[band:band+oh*ow*c], img, padBuf, c, h, w, k, stride, pad, oh, ow, d, true) {
				return
			}
			ran++
			for i, v := range buf {
				j := i - band
				if j < 0 || j >= oh*ow*c {
					if v != guard {
						t.Fatalf("%s, level %v: byte %d outside the output overwritten", where, vec, j)
					}
					continue
				}
				ch := j % c
				q := quant.Requantize(acc[j], m0[ch], shift[ch], z, lo, hi)
				if v != want[j] || int32(v) != q {
					t.Fatalf("%s, level %v: pixel %d channel %d (acc %d): fused %d, unfused %d, quant.Requantize %d", where, vec, j/c, ch, acc[j], v, want[j], q)
				}
			}
		})
	}
	return ran
}

// TestDWFusedMatchesUnfused compares the fused 3×3 depthwise kernel with
// the unfused pair on ragged channel counts (a masked last block), image
// sizes, strides and padding, random weights and constants; and on the
// requantization's edge ladder through the bias (zero weights: each
// accumulator is its bias), as TestGemmConvFusedEdges.
func TestDWFusedMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(26, 26))
	ran := 0
	for _, c := range []int{1, 7, 16, 17, 32, 33, 48, 64} {
		for range 6 {
			h, w, stride, pad := 3+rng.IntN(7), 3+rng.IntN(7), 1+rng.IntN(2), rng.IntN(2)
			img := make([]uint8, h*w*c)
			for i := range img {
				img[i] = uint8(rng.IntN(256))
			}
			d := &dwWeights{w: make([]int32, 9*c), bias: make([]int32, c), padU: int32(rng.IntN(256))}
			for i := range d.w {
				d.w[i] = int32(rng.IntN(256) - 128)
			}
			for i := range d.bias {
				d.bias[i] = rng.Int32N(1<<16) - 1<<15
			}
			m0, shift := make([]int32, c), make([]int32, c)
			for i := range m0 {
				m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 8+rng.Int32N(30)
			}
			z := rng.Int32N(256)
			lo := rng.Int32N(z + 1)
			hi := z + rng.Int32N(256-z)
			d.rq = newRequantPanels(m0, shift, (c+15)&^15, z, lo, hi)
			ran += checkDWFused(t, fmt.Sprintf("c %d h %d w %d stride %d pad %d", c, h, w, stride, pad), img, c, h, w, stride, pad, d, m0, shift, z, lo, hi)
		}
	}
	// The edge ladder: 33 channels a call, zero weights, one 3×3 image.
	var bias, m0s, shifts []int32
	for sh := int32(1); sh <= 63; sh++ {
		for _, m0 := range []int32{quant.MinM0, quant.MaxM0, 3 << 22} {
			for _, a := range []int32{math.MinInt32, math.MaxInt32, 0, 1, -1, 3, -3} {
				bias, m0s, shifts = append(bias, a), append(m0s, m0), append(shifts, sh)
			}
		}
		if sh >= 24 && sh <= 54 {
			for k := int32(-3); k <= 2; k++ {
				bias, m0s, shifts = append(bias, (2*k+1)<<(sh-24)), append(m0s, quant.MinM0), append(shifts, sh)
			}
		}
	}
	const c = 33
	img := make([]uint8, 9*c)
	for start := 0; start < len(bias); start += c {
		d := &dwWeights{w: make([]int32, 9*c), bias: make([]int32, c)}
		m0, shift := make([]int32, c), make([]int32, c)
		for j := range c {
			i := (start + j) % len(bias)
			d.bias[j], m0[j], shift[j] = bias[i], m0s[i], shifts[i]
		}
		for _, q := range [][3]int32{{0, 0, 255}, {-511, 0, 255}, {511, 0, 255}, {37, 37, 40}} {
			d.rq = newRequantPanels(m0, shift, 48, q[0], q[1], q[2])
			ran += checkDWFused(t, fmt.Sprintf("edge cases %d…, Z %d", start, q[0]), img, c, 3, 3, 1, 0, d, m0, shift, q[0], q[1], q[2])
		}
	}
	if avx512 := boundaryLevels()[0].boundary == boundaryAVX512; avx512 && ran == 0 {
		t.Fatal("the fused depthwise kernel never ran on an AVX-512 machine")
	}
}

// TestPairRowsMatchesIm2col runs stems packed pixels-in-groups (pairRows:
// 2 or 4 adjacent output pixels a row) through the fused kernels, output
// row by output row as runConv does, and compares every byte with
// im2colHWC + the portable gemmPacked + requantU8 on the unpacked
// weights: one to three channels, kernels 1 to 7, images with a column
// no window reaches, ragged channel counts; the bytes after the output
// keep their guard. Where a level's fused kernels are signed and store
// whole panels (AVX2's), the weights have no −128 and the cases whose
// f·m channels are not whole panels are skipped.
func TestPairRowsMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 27))
	for _, lv := range availableLevels() {
		if lv.convQ == nil && lv.sconvQ == nil {
			continue
		}
		tried := 0
		for _, c := range []int{1, 2, 3} {
			for _, k := range []int{1, 2, 3, 5, 7} {
				f := pairFactor(c, k)
				if f == 0 {
					continue
				}
				for _, m := range []int{1, 7, 16, 20, 33} {
					ow := f * (1 + rng.IntN(4))
					h, w := k+rng.IntN(3), ow+k-1+rng.IntN(2)
					oh := h - k + 1
					where := fmt.Sprintf("level %s c %d k %d pairs %d m %d ow %d", lv.name, c, k, f, m, ow)
					kk := k * k * c
					wt := make([]int8, m*kk)
					for i := range wt {
						wt[i] = kernelWeight(rng, lv.conv == nil)
					}
					bias := make([]int32, m)
					m0, shift := make([]int32, m), make([]int32, m)
					for i := range bias {
						bias[i] = rng.Int32N(1<<16) - 1<<15
						m0[i], shift[i] = quant.MinM0+rng.Int32N(1<<23), 8+rng.Int32N(30)
					}
					z := rng.Int32N(256)
					lo := rng.Int32N(z + 1)
					hi := z + rng.Int32N(256-z)
					img := make([]uint8, h*w*c)
					for i := range img {
						img[i] = uint8(rng.IntN(256))
					}
					// The reference: im2col, gemm, requantization.
					pw := packWeights(wt, bias, m, kk, 0, 255, 0, goLevel)
					col := make([]uint8, oh*ow*pw.kp)
					im2colHWC(col, img, c, h, w, k, 1, 0, oh, ow, pw.kp, 0)
					acc := make([]int32, oh*ow*pw.mp)
					gemmPacked(goLevel, acc, pw.mp, col, pw.kp, pw, oh*ow)
					want := make([]uint8, oh*ow*m)
					requantU8(want, acc, oh*ow, m, pw.mp, m0, shift, z, lo, hi, m)
					// Pixels in groups of f.
					pwt, pk := pairRows(wt, m, k, c, f)
					var pb, pm0, psh []int32
					for range f {
						pb, pm0, psh = append(pb, bias...), append(pm0, m0...), append(psh, shift...)
					}
					pp := packWeights(pwt, pb, f*m, pk, 0, 255, 0, lv)
					_, convQ := lv.convSets(pp)
					if convQ == nil {
						continue
					}
					tried++
					rq := newRequantPanels(pm0, psh, pp.mp, z, lo, hi)
					const band = 64
					got := make([]uint8, oh*ow*m+band)
					for i := range got {
						got[i] = guard
					}
					for oy := 0; oy < oh; oy++ {
						convRowsQ(convQ, got[oy*ow*m:], f*m, img[oy*w*c:], f*c, pp, ow/f, k, w*c, rq)
					}
					for i, v := range got {
						if i >= oh*ow*m {
							if v != guard {
								t.Fatalf("%s: byte %d after the output overwritten", where, i)
							}
						} else if v != want[i] {
							t.Fatalf("%s: pixel %d channel %d: %d, want %d", where, i/m, i%m, v, want[i])
						}
					}
				}
			}
		}
		if tried < 5 {
			t.Errorf("level %s: %d stems tried", lv.name, tried)
		}
	}
}
