package infer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestIm2colU8MatchesReference compares im2colU8 with im2colHWC on the
// fast paths' shapes (no padding, kernel rows of ≤ 4, ≤ 8 or ≥ 16 bytes) and others,
// sources exactly as long as the image (at its end the fast path must
// copy kernel rows instead of loading 8 bytes) and guard bands after the
// output. Only the k·k·c bytes of each row are compared: both leave
// the padding as it is.
func TestIm2colU8MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	type shape struct{ c, h, w, k, stride, pad int }
	for _, sh := range []shape{
		{1, 28, 28, 5, 1, 0}, {1, 9, 7, 3, 1, 0}, {2, 8, 8, 3, 1, 0}, {1, 10, 11, 5, 2, 0},
		{8, 5, 5, 1, 1, 0}, {1, 6, 6, 2, 2, 0}, {1, 5, 5, 5, 1, 0}, {3, 8, 8, 3, 1, 1}, {20, 12, 12, 5, 1, 0},
		// Last kernel rows as 4-byte moves: the padded 28×28 stems of
		// resnet8 and mobilenet-tiny (9 bytes in 12), runs of 4.
		{1, 30, 30, 3, 1, 0}, {1, 30, 30, 3, 2, 0}, {2, 6, 6, 2, 1, 0}, {1, 7, 7, 4, 1, 0}, {1, 8, 9, 3, 3, 0},
		// Kernel rows of ≥ 16 bytes (im2colRuns): multiples of 16, ragged, strided.
		{16, 9, 9, 3, 1, 0}, {16, 9, 9, 3, 2, 0}, {17, 6, 7, 3, 2, 0}, {6, 5, 5, 3, 1, 0}, {64, 6, 6, 1, 2, 0}, {32, 4, 4, 3, 1, 0},
	} {
		oh, ow := (sh.h+2*sh.pad-sh.k)/sh.stride+1, (sh.w+2*sh.pad-sh.k)/sh.stride+1
		row := sh.k * sh.k * sh.c
		for _, rowLen := range []int{row, (row + 3) &^ 3, row + 8} {
			where := fmt.Sprintf("%+v rowLen %d", sh, rowLen)
			src := make([]uint8, sh.h*sh.w*sh.c)
			for i := range src {
				src[i] = uint8(rng.IntN(256))
			}
			const band = 32
			got := make([]uint8, oh*ow*rowLen+band)
			want := make([]uint8, oh*ow*rowLen)
			for i := range got {
				got[i] = guard
			}
			im2colU8(got[:oh*ow*rowLen], src, sh.c, sh.h, sh.w, sh.k, sh.stride, sh.pad, oh, ow, rowLen, 9)
			im2colHWC(want, src, sh.c, sh.h, sh.w, sh.k, sh.stride, sh.pad, oh, ow, rowLen, 9)
			for p := 0; p < oh*ow; p++ {
				if !slices.Equal(got[p*rowLen:p*rowLen+row], want[p*rowLen:p*rowLen+row]) {
					t.Fatalf("%s: position %d differs", where, p)
				}
			}
			for _, v := range got[oh*ow*rowLen:] {
				if v != guard {
					t.Fatalf("%s: guard band overwritten", where)
				}
			}
		}
	}
}

// TestGemmConvMatchesIm2col compares gemmConvPacked (implicit im2col, at
// every level that has it) with im2colHWC followed by the portable
// gemmPacked, bit for bit, output row by output row as the runtime calls
// it, on ragged shapes: output rows of 1 to 9 pixels (every tile height
// and a short last tile), 1 to 3 panels (a short last panel pair),
// strides 1 to 3, and kernel rows of 4 to 320 bytes, or of 1 to 25 bytes
// read as segments padded to whole groups. Every accumulator
// after the rows it computes must keep its guard value.
func TestGemmConvMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	type shape struct{ c, k, stride, h, w, m int }
	var shapes []shape
	for _, c := range []int{4, 8, 12, 16, 20, 32, 64} {
		for _, k := range []int{1, 3, 5} {
			for _, stride := range []int{1, 2, 3} {
				for ow := 1; ow <= 9; ow++ {
					w := (ow-1)*stride + k + rng.IntN(2) // sometimes a column no window reaches
					shapes = append(shapes, shape{c, k, stride, k + rng.IntN(3), w, []int{1, 16, 17, 33, 48}[rng.IntN(5)]})
				}
			}
		}
	}
	shapes = append(shapes, shape{1, 4, 1, 6, 7, 16}, shape{2, 2, 2, 5, 9, 20})
	// Kernel rows of ragged length, read as segments padded with zero
	// weights (segmentRows): the one-channel 3×3 stems, and others.
	for _, c := range []int{1, 2, 3, 5} {
		for _, k := range []int{1, 3, 5} {
			if k*c%4 == 0 {
				continue
			}
			for ow := 1; ow <= 9; ow++ {
				stride := 1 + rng.IntN(2)
				// Exact fits too: the last window's segment reads the slack.
				w := (ow-1)*stride + k + rng.IntN(2)
				if w*c < (k*c+3)&^3 { // as the plan: a segment within an image row
					w = ((k*c+3)&^3 + c - 1) / c
				}
				shapes = append(shapes, shape{c, k, stride, k + rng.IntN(3), w, []int{1, 16, 17, 33}[rng.IntN(4)]})
			}
		}
	}
	for _, lv := range availableLevels() {
		if lv.conv == nil && lv.sconv == nil {
			continue
		}
		ran := 0
		for _, sh := range shapes {
			where := fmt.Sprintf("level %s %+v", lv.name, sh)
			oh, ow := (sh.h-sh.k)/sh.stride+1, (sh.w-sh.k)/sh.stride+1
			kk := sh.k * sh.k * sh.c
			wt := make([]int8, sh.m*kk)
			for i := range wt {
				wt[i] = kernelWeight(rng, lv.conv == nil) // AVX2's signed kernels: no −128
			}
			bias := make([]int32, sh.m)
			for i := range bias {
				bias[i] = rng.Int32N(1<<16) - 1<<15
			}
			pw := packWeights(wt, bias, sh.m, kk, 0, 255, 0, lv)
			pwc, slack := pw, 0
			if kc := sh.k * sh.c; kc%4 != 0 {
				segW, segK := segmentRows(wt, sh.m, sh.k, kc)
				pwc, slack = packWeights(segW, bias, sh.m, segK, 0, 255, 0, lv), 3
			}
			conv, _ := lv.convSets(pwc)
			if conv == nil {
				t.Fatalf("%s: no implicit kernels for the weights", where)
			}
			ran++
			img := make([]uint8, sh.h*sh.w*sh.c+slack) // slack: random bytes under zero weights
			for i := range img {
				img[i] = uint8(rng.IntN(256))
			}
			col := make([]uint8, oh*ow*pw.kp)
			im2colHWC(col, img[:sh.h*sh.w*sh.c], sh.c, sh.h, sh.w, sh.k, sh.stride, 0, oh, ow, pw.kp, 0)
			want := make([]int32, oh*ow*pw.mp)
			gemmPacked(goLevel, want, pw.mp, col, pw.kp, pw, oh*ow)
			const band = 48
			got := make([]int32, ow*pw.mp+band)
			for oy := 0; oy < oh; oy++ {
				for i := range got {
					got[i] = -7
				}
				convRows(conv, got, pw.mp, img[oy*sh.stride*sh.w*sh.c:], sh.stride*sh.c, pwc, ow, sh.k, sh.w*sh.c)
				if !slices.Equal(got[:ow*pw.mp], want[oy*ow*pw.mp:(oy+1)*ow*pw.mp]) {
					t.Fatalf("%s: output row %d differs", where, oy)
				}
				for _, v := range got[ow*pw.mp:] {
					if v != -7 {
						t.Fatalf("%s: guard band overwritten", where)
					}
				}
			}
		}
		if ran == 0 {
			t.Errorf("level %s: no shape ran", lv.name)
		}
	}
}

// TestSignConvExtremes runs the AVX2 implicit-im2col kernels on the
// operands' extremes — every input byte 0, 255, 127, 128 or alternating 0
// and 255, every weight 127, −127, alternating or 0 — and compares the
// accumulators with the portable gemmPacked on im2col rows and the fused
// bytes with requantU8 of them: the pre-signed kernels (Σ (u − 128)·w as
// |u − 128|·(sign·w), whose int16 pair sums reach 2·128·127 = 32512 at
// u = 0 and w = ±127) on inputs of the whole byte range, and the fast
// ones (u·w) on inputs of 0…127 (a ReLU's: pair sums up to 2·127·127 =
// 32258), where the layer is safe16.
func TestSignConvExtremes(t *testing.T) {
	ran, fast := 0, 0
	for _, lv := range availableLevels() {
		if lv.sconv == nil {
			continue
		}
		const c, k, h = 16, 3, 3
		for _, m := range []int{16, 32} {
			for ow := 1; ow <= 9; ow++ {
				w := ow + k - 1
				for wi, wf := range []func(i int) int8{
					func(int) int8 { return 127 }, func(int) int8 { return -127 },
					func(i int) int8 { return int8(127 - 254*(i%2)) }, func(int) int8 { return 0 },
				} {
					for ii, inf := range []func(i int) uint8{
						func(int) uint8 { return 0 }, func(int) uint8 { return 255 }, func(int) uint8 { return 127 },
						func(int) uint8 { return 128 }, func(i int) uint8 { return uint8(255 * (i % 2)) },
					} {
						where := fmt.Sprintf("level %s m %d ow %d weights %d input %d", lv.name, m, ow, wi, ii)
						kk := k * k * c
						wt := make([]int8, m*kk)
						for i := range wt {
							wt[i] = wf(i)
						}
						bias := make([]int32, m)
						for i := range bias {
							bias[i] = int32(i*1000 - 7000)
						}
						img := make([]uint8, h*w*c)
						for i := range img {
							img[i] = inf(i)
						}
						hi := int32(255)
						if ii == 2 || ii == 3 && wi%2 == 0 { // some ReLU ranges: the fast kernels
							hi = 127
							for i := range img {
								img[i] = min(img[i], 127)
							}
						}
						pw := packWeights(wt, bias, m, kk, 0, hi, 0, lv)
						conv, convQ := lv.convSets(pw)
						if conv == nil || convQ == nil || (conv.pre == nil) != pw.safe16 {
							t.Fatalf("%s: implicit kernels %v, fused %v, safe16 %v", where, conv != nil, convQ != nil, pw.safe16)
						}
						if pw.safe16 {
							fast++
						}
						ran++
						col := make([]uint8, ow*pw.kp)
						im2colHWC(col, img, c, h, w, k, 1, 0, 1, ow, pw.kp, 0)
						want := make([]int32, ow*pw.mp)
						gemmPacked(goLevel, want, pw.mp, col, pw.kp, pw, ow)
						got := make([]int32, ow*pw.mp)
						convRows(conv, got, pw.mp, img, c, pw, ow, k, w*c)
						if !slices.Equal(got, want) {
							t.Fatalf("%s: accumulators differ", where)
						}
						m0, shift := make([]int32, m), make([]int32, m)
						for i := range m0 {
							m0[i], shift[i] = quant.MinM0+int32(i)*99991, 20+int32(i%8)
						}
						rq := newRequantPanels(m0, shift, pw.mp, 128, 0, 255)
						wantB := make([]uint8, ow*m)
						requantU8(wantB, want, ow, m, pw.mp, m0, shift, 128, 0, 255, m)
						gotB := make([]uint8, ow*m)
						convRowsQ(convQ, gotB, m, img, c, pw, ow, k, w*c, rq)
						if !slices.Equal(gotB, wantB) {
							t.Fatalf("%s: fused bytes differ", where)
						}
					}
				}
			}
		}
	}
	if (ran == 0 || fast == 0 || fast == ran) && slices.ContainsFunc(availableLevels(), func(l *level) bool { return l.name == "avx2" }) {
		t.Fatalf("avx2 level: %d cases, %d on the fast kernels: both kinds must run", ran, fast)
	}
}

// testPlanes returns signPlanes of img at a plane distance that is not a
// multiple of anything (the pre-signed kernels take any distance).
func testPlanes(img []uint8) ([]uint8, int) {
	plane := len(img) + 13
	sp := make([]uint8, plane+len(img))
	signPlanes(sp, plane, img)
	return sp, plane
}

// convRows is gemmConvPacked on img, or with a pre-signed set
// gemmConvPackedPre on img's operand planes, as runConv runs them.
func convRows(ks *convKernelSet, c []int32, ldc int, img []uint8, ldu int, pw *packedWeights, n, segs, segStride int) {
	if ks.pre == nil {
		gemmConvPacked(ks, c, ldc, img, ldu, pw, n, segs, segStride)
		return
	}
	sp, plane := testPlanes(img)
	gemmConvPackedPre(ks, c, ldc, sp, plane, ldu, pw, n, segs, segStride)
}

// convRowsQ is convRows for the fused kernels.
func convRowsQ(ks *convQKernelSet, dst []uint8, ldd int, img []uint8, ldu int, pw *packedWeights, n, segs, segStride int, rq []int64) {
	if ks.pre == nil {
		gemmConvPackedQ(ks, dst, ldd, img, ldu, pw, n, segs, segStride, rq)
		return
	}
	sp, plane := testPlanes(img)
	gemmConvPackedPreQ(ks, dst, ldd, sp, plane, ldu, pw, n, segs, segStride, rq)
}
