package infer

// The batched u8×s8 GEMM of the integer runtime: weights packed once per
// model, activations as unsigned bytes, int32 accumulators. No floating
// point may appear in this file (TestKernelsUseNoFloat).

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

//
// Activations are stored as int8 (w8a8) or uint8 with a zero point
// (w8a8-asym); a layer multiplies the weights with s − Z. The kernels take
// unsigned bytes u = s − lo, lo the lowest value the layer's input can take
// (its storage range, or the previous layer's clamp), so u ∈ [0, hi − lo]:
//
//	Σ_j (s_j − Z)·w_j = Σ_j u_j·w_j + (lo − Z)·Σ_j w_j
//
// and the second term is folded into the bias at load (packedWeights.bias).

// kernelFunc is a micro-kernel of gemm_gen.go: R rows × P panels of 16
// output channels (see there for the exact contract).
type kernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, c *int32, ldc int, groups int)

// kernelSet is one level's kernels: fn[r-1][p-1] computes r ≤ R rows and
// p ≤ P panels.
type kernelSet struct {
	r, p int
	fn   [][]kernelFunc
	// signed kernels compute Σ (u − 128)·w and take bias128; they need
	// weights ≥ −127 (no128).
	signed bool
	// q, if set, is this set with the requantization fused, on whole
	// panels (level.fusedQ).
	q *kernelQSet
}

// convKernelFunc is an implicit-im2col micro-kernel of gemm_gen.go
// (VNNIConv): a kernelFunc whose rows are segs segments of 4·groups bytes,
// each skip bytes after the end of the one before.
type convKernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, c *int32, ldc int, groups, segs, skip int)

// preConvKernelFunc is a convKernelFunc on pre-signed operands
// (gemm_gen.go, AVX2SignPre): u is the plane of v = u − 128 of an image
// and u + plane the plane of |v| (signPlanes), rows and segments as
// convKernelFunc's in both planes. It computes Σ v·w (signed: bias128).
type preConvKernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, c *int32, ldc int, groups, segs, skip, plane int)

// preConvQKernelFunc is a preConvKernelFunc with the requantization
// fused on one whole panel (AVX2SignPreQ): as convQKernelFunc, every
// panel's 16 bytes stored.
type preConvQKernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, dst *uint8, ldd int, groups, segs, skip, plane int, rq *int64)

// convKernelSet is a level's implicit-im2col kernels, as kernelSet: fn,
// or pre (pre-signed operands: gemmConvPackedPre).
type convKernelSet struct {
	r, p int
	fn   [][]convKernelFunc
	pre  [][]preConvKernelFunc
	// signed: as kernelSet.signed (the kernels take bias128 and need
	// weights ≥ −127).
	signed bool
}

// kernelQFunc is a kernelFunc with the requantization fused (VNNIQ), as
// convQKernelFunc.
type kernelQFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, dst *uint8, ldd int, groups int, rq *int64)

// kernelQSet is a level's fused GEMM kernels.
type kernelQSet struct {
	r, p int
	fn   [][]kernelQFunc
	// signed: as kernelSet.signed (the kernels take bias128).
	signed bool
}

// fusedQ is the fused GEMM kernel set lv runs pw with (gemmPackedQ), or
// nil: the level's own (q), or the fused form of the set lv.kernels
// picks (the AVX2 kernels), which stores whole panels of 16 channels.
func (lv *level) fusedQ(pw *packedWeights) *kernelQSet {
	if pw.rq == nil {
		return nil
	}
	if lv.q != nil {
		return lv.q
	}
	if ks := lv.kernels(pw); ks != nil && ks.q != nil && pw.m%16 == 0 {
		return ks.q
	}
	return nil
}

// convQKernelFunc is a convKernelFunc with the requantization fused
// (gemm_gen.go, VNNIConvQ): instead of the accumulators it writes each
// row's requantized bytes, channel j of row r at dst[r·ldd + j] for the
// layer's channels (the rest masked), with the constants of rq
// (newRequantPanels).
type convQKernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, dst *uint8, ldd int, groups, segs, skip int, rq *int64)

// convQKernelSet is a level's fused implicit-im2col kernels: fn, or pre
// (gemmConvPackedPreQ).
type convQKernelSet struct {
	r, p int
	fn   [][]convQKernelFunc
	pre  [][]preConvQKernelFunc
	// signed: as convKernelSet.signed. wholePanels: the kernels store
	// whole panels of 16 bytes (the AVX2 ones), so they run only layers
	// of a multiple of 16 channels.
	signed, wholePanels bool
}

// convQAKernelFunc is a convQKernelFunc with a residual add fused after
// the requantization (gemm_gen.go, VNNIConvQA): the requantized byte of
// channel j of row r is the add's second operand, its first is
// sa[r·ldd + j], and the add's bytes are stored (constants av, an
// addPanel: gemm_add.go).
type convQAKernelFunc func(u *uint8, ldu int, w *int8, ldw int, bias *int32, dst *uint8, ldd int, groups, segs, skip int, rq *int64, sa *uint8, av *int64)

// convQAKernelSet is a level's fused implicit-im2col kernels with the add.
type convQAKernelSet struct {
	r, p int
	fn   [][]convQAKernelFunc
}

// k3KernelFunc is a fused 3×3 convolution kernel on 16, 32 or 64 input
// channels and one or two panels of outputs (gemm_gen.go, VNNIK3): r
// output pixels of a row from the image at u (rowStride bytes a row).
type k3KernelFunc func(u *uint8, w *int8, bias *int32, dst *uint8, ldd, rowStride int, rq *int64)

// k3AKernelFunc is a k3KernelFunc with a residual add fused after the
// requantization, as convQAKernelFunc (gemm_gen.go, VNNIK3A).
type k3AKernelFunc func(u *uint8, w *int8, bias *int32, dst *uint8, ldd, rowStride int, rq *int64, sa *uint8, av *int64)

// level is a CPU level: the one dispatch decision of the runtime, made
// once (activeLevel, the best of availableLevels; tests force each
// level the machine has through testLevel). It holds the GEMM kernel
// table and the level of the layer-boundary kernels.
//
// fast may saturate and is used only for layers whose operands provably
// do not (packedWeights.safe16); exact is used otherwise, or exact2 if
// set and the layer has no weight −128. A nil exact means the portable Go
// kernel. conv, if set, runs convolutions without im2col
// (gemmConvPacked); it must be exact.
type level struct {
	name string
	// boundary is the level of the vector kernels between the GEMMs
	// (requantization, input quantization, add, depthwise, pooling):
	// boundaryGo, boundaryAVX2 or boundaryAVX512 (AVX-512F and BW).
	boundary            int
	fast, exact, exact2 *kernelSet
	conv                *convKernelSet
	// convQ, if set, is conv with the requantization fused
	// (gemmConvPackedQ); a level with convQ has conv.
	convQ *convQKernelSet
	// convQA, if set, is convQ with a residual add fused
	// (gemmConvPackedQA); a level with convQA has convQ.
	convQA *convQAKernelSet
	// k3, if set, is k3[c][s−1][p−1][r−1]: a fused 3×3 convolution of
	// stride s on k3Channels[c] channels, p panels, r pixels
	// (gemmConvK3Q); a level with k3 has convQ.
	k3 [][][][]k3KernelFunc
	// k3a, if set, is k3 with a residual add fused (gemmConvK3QA); a
	// level with k3a has k3 and convQA.
	k3a [][][][]k3AKernelFunc
	// pw, if set, is the fused 1×1 kernels over whole images (gemmPW,
	// kernels_pw.go); a level with pw has convQA.
	pw *pwKernelSet
	// q, if set, is the fused form of the kernels lv.kernels picks for
	// every layer (gemmPackedQ): it must be exact for every layer.
	q *kernelQSet
	// sconv and sconvQ, if set, are implicit-im2col kernels that are
	// exact only for some layers (AVX2's, signed and pre-signed: no
	// weight −128; the fused ones on whole panels), fconv and fconvQ
	// faster ones for the layers the level's fast kernels take (safe16:
	// AVX2's u·w on the image's bytes); convSets picks them per layer. A
	// level has either conv or sconv.
	sconv, fconv   *convKernelSet
	sconvQ, fconvQ *convQKernelSet
}

// convSets returns the implicit-im2col kernels lv runs pw with
// (gemmConvPacked, or gemmConvPackedPre for pre-signed ones) and their
// fused form (gemmConvPackedQ, PreQ), nil where it has none: the level's
// own conv and convQ, exact for every layer; or, where pw allows them, its
// fconv and fconvQ for a layer whose int16 pair sums cannot saturate
// (AVX2's u·w on the image's bytes, 7 instructions a group and row), else
// its sconv and sconvQ (signed: no weight −128; pre-signed operand
// planes, 8 instructions); the fused ones of both store whole panels
// (a multiple of 16 channels).
func (lv *level) convSets(pw *packedWeights) (*convKernelSet, *convQKernelSet) {
	if lv.conv != nil {
		return lv.conv, lv.convQ
	}
	c, q := lv.sconv, lv.sconvQ
	if pw.safe16 && lv.fconv != nil {
		c, q = lv.fconv, lv.fconvQ
	}
	if c == nil || c.signed && !pw.no128 {
		return nil, nil
	}
	if q != nil && !(q.signed && !pw.no128) && !(q.wholePanels && pw.m%16 != 0) {
		return c, q
	}
	return c, nil
}

// kernels is the kernel set lv runs pw with (nil: portable Go).
func (lv *level) kernels(pw *packedWeights) *kernelSet {
	switch {
	case pw.safe16 && lv.fast != nil:
		return lv.fast
	case pw.no128 && lv.exact2 != nil:
		return lv.exact2
	}
	return lv.exact
}

// goLevel is the portable reference level, available everywhere.
var goLevel = &level{name: "go"}

// activeLevel is the level new models pack for: the best one the CPU has
// (gemm_amd64.go), chosen once at start-up.
var activeLevel = availableLevels()[0]

// testLevel, when not nil, overrides every model's level (tests only).
var testLevel *level

// boundaryLevel is the level the boundary kernels run at: the forced
// level's (tests), else the active level's.
func boundaryLevel() int {
	if testLevel != nil {
		return testLevel.boundary
	}
	return activeLevel.boundary
}

// packedWeights is a layer's weights in the kernels' layout: panels of 16
// output channels (m padded with zero channels to mp, a multiple of 16),
// each panel kp/4 groups of 16 channels × 4 consecutive weights (k padded
// with zeros to kp, a multiple of 4):
//
//	w[q·16·kp + g·64 + 4j + b] = W[16q + j][4g + b]
//
// Zero weights add nothing, so the padding changes no real output and the
// kernels need no scalar tails.
type packedWeights struct {
	m, k, mp, kp int
	w            []int8
	// bias is the layer's bias plus (lo − Z)·Σ_j W[c][j] (see the top of
	// this file), zero for the padding channels.
	bias []int32
	// bias128 is bias + 128·Σ_j W[c][j], for the signed kernels.
	bias128 []int32
	// no128 says that no weight is −128.
	no128 bool
	// lo is the lowest stored input value: u = s − lo.
	lo int32
	// padU is the operand of a padding pixel (stored value Z) for im2col.
	padU uint8
	// safe16 says that every pair of a group, u_a·w_a + u_b·w_b, fits int16
	// for all inputs in range: the AVX2 kernels need no split.
	safe16 bool
	level  *level
	// rq is the layer's requantization for the fused kernels
	// (newRequantPanels), nil if it has none.
	rq []int64
	// pairs > 1 marks a convolution's weights packed for pairs adjacent
	// output pixels at once (pairRows); 0 or 1 otherwise.
	pairs int
	// stem, if set, is the convolution's pixel-lane form (stemImage),
	// which runs in place of the GEMM where the level has convQ.
	stem *stemPlan
}

// packWeights packs the (m, k) row-major weights w of a layer whose stored
// inputs lie in [lo, hi] (which includes the zero point zero) and returns
// them with the corrected bias.
func packWeights(w []int8, bias []int32, m, k int, lo, hi, zero int32, lv *level) *packedWeights {
	p := &packedWeights{m: m, k: k, mp: (m + 15) &^ 15, kp: (k + 3) &^ 3, lo: lo, padU: uint8(zero - lo), level: lv}
	p.w = make([]int8, p.mp*p.kp)
	p.bias = make([]int32, p.mp)
	p.bias128 = make([]int32, p.mp)
	p.no128 = true
	maxPair := int32(0)
	for c := 0; c < m; c++ {
		row := w[c*k : (c+1)*k]
		sum := int64(0)
		for j, v := range row {
			p.w[(c/16)*16*p.kp+(j/4)*64+(c%16)*4+j%4] = v
			sum += int64(v)
			p.no128 = p.no128 && v != -128
			if j%2 == 0 {
				pair := iabs(int32(v))
				if j+1 < k {
					pair += iabs(int32(row[j+1]))
				}
				maxPair = max(maxPair, pair)
			}
		}
		var err error
		if p.bias[c], p.bias128[c], err = packBias(bias[c], lo, zero, sum); err != nil {
			panic(fmt.Sprintf("infer: packWeights: channel %d: %v (Validate's bounds keep it in range)", c, err))
		}
	}
	p.safe16 = (hi-lo)*maxPair <= 32767
	return p
}

// packBias returns a channel's packed biases, computed in int64:
//
//	b    = bias + (lo − Z)·sum        (the unsigned kernels: Σ u·w + b)
//	b128 = b + 128·sum                (the signed ones: Σ (u − 128)·w + b128)
//
// with sum = Σ_j W[c][j], and an error if either does not fit int32 (then
// a kernel would start from a wrapped bias). For a valid model both fit,
// with room: Validate keeps |bias| < 2^30 and the fan-in k ≤ maxFanIn, so
// |sum| ≤ 127·k and 255·127·k < 2^30; the storage offset lo is the
// lowest stored value, at most the zero point, and Z − lo ≤ 255, so
// |b| < 2^30 + 255·127·k < 2^31, and b128 = bias + (lo − Z + 128)·sum
// with lo − Z + 128 ∈ [−127, 128]: |b128| < 2^30 + 128·127·k < 2^31.
// (Bounding b and 128·sum apart, as this comment once did, gives only
// 2^31 + 2^29: TestPackBiasEdges has the cases.) Every sum a kernel forms
// from these is a true accumulator, inside int32.
func packBias(bias, lo, zero int32, sum int64) (b, b128 int32, err error) {
	v := int64(bias) + int64(lo-zero)*sum
	v128 := v + 128*sum
	if v != int64(int32(v)) || v128 != int64(int32(v128)) {
		return 0, 0, fmt.Errorf("packed biases %d and %d (bias %d, offset %d, zero point %d, weight sum %d) do not fit int32", v, v128, bias, lo, zero, sum)
	}
	return int32(v), int32(v128), nil
}

// biasFor is the packed bias the kernels start from: bias128 for the
// signed kernels (Σ (u − 128)·w), bias for the others.
func (p *packedWeights) biasFor(signed bool) []int32 {
	if signed {
		return p.bias128
	}
	return p.bias
}

func iabs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// gemmPacked computes, for the n rows of u (row stride ldu ≥ kp bytes, of
// which only the first kp are read; bytes k…kp−1 may hold anything, their
// weights are zero),
//
//	c[r·ldc + j] = bias[j] + Σ_{i<kp} u[r·ldu + i] · W[j][i],  j < mp,
//
// with the kernels of lv. It panics (Go bounds check) rather than let a
// kernel touch memory outside the slices.
func gemmPacked(lv *level, c []int32, ldc int, u []uint8, ldu int, pw *packedWeights, n int) {
	if n == 0 {
		return
	}
	_ = u[(n-1)*ldu+pw.kp-1]
	_ = c[(n-1)*ldc+pw.mp-1]
	if ldu < pw.kp || ldc < pw.mp {
		panic("infer: gemmPacked: row strides shorter than a row")
	}
	ks := lv.kernels(pw)
	if ks == nil {
		gemmPackedGo(c, ldc, u, ldu, pw, n)
		return
	}
	bias := pw.biasFor(ks.signed)
	panels, ldw, groups := pw.mp/16, pw.kp*16, pw.kp/4
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.fn[rr-1][pp-1](&u[r*ldu], ldu, &pw.w[q*ldw], ldw, &bias[16*q], &c[r*ldc+16*q], ldc*4, groups)
		}
	}
}

// gemmPackedQ is gemmPacked with the requantization fused: row r's pw.m
// output bytes go to dst[r·ldd:], requantized with rq
// (newRequantPanels), and no accumulator is written. gemmPacked followed
// by requantU8 is its reference twin (TestGemmFusedMatchesUnfused). It
// panics (Go bounds check) rather than let a kernel touch memory outside
// the slices.
func gemmPackedQ(ks *kernelQSet, dst []uint8, ldd int, u []uint8, ldu int, pw *packedWeights, n int, rq []int64) {
	if n == 0 {
		return
	}
	if ldu < pw.kp || ldd < pw.m || len(rq) < pw.mp/16*rqLanes {
		panic(fmt.Sprintf("infer: gemmPackedQ: row strides %d, %d shorter than a row (%d bytes, %d channels) or %d constants", ldu, ldd, pw.kp, pw.m, len(rq)))
	}
	_ = u[(n-1)*ldu+pw.kp-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	bias := pw.biasFor(ks.signed)
	panels, ldw, groups := pw.mp/16, pw.kp*16, pw.kp/4
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		// The full tiles with the kernel and the pointers hoisted (a long
		// run of rows makes thousands of calls; the slices' bounds were
		// checked above), then the short last one.
		f, w, b, c := ks.fn[ks.r-1][pp-1], &pw.w[q*ldw], &bias[16*q], &rq[q*rqLanes]
		up, dp := unsafe.Pointer(&u[0]), unsafe.Pointer(&dst[16*q])
		full := n - n%ks.r
		for r := 0; r < full; r += ks.r {
			f((*uint8)(unsafe.Add(up, r*ldu)), ldu, w, ldw, b, (*uint8)(unsafe.Add(dp, r*ldd)), ldd, groups, c)
		}
		if rr := n - full; rr > 0 {
			ks.fn[rr-1][pp-1](&u[full*ldu], ldu, w, ldw, b, &dst[full*ldd+16*q], ldd, groups, c)
		}
	}
}

// pairFactor is how many adjacent output pixels of a stride-1
// convolution on c channels with k×k kernels pairRows packs together so
// that a kernel row of the group, (k + p − 1)·c bytes, is whole 4-byte
// groups: 2 or 4, or 0 if neither fits or the kernel rows are whole
// groups already (then the plain implicit kernels read them).
func pairFactor(c, k int) int {
	if k*c%4 == 0 {
		return 0
	}
	for _, p := range []int{2, 4} {
		if (k+p-1)*c%4 == 0 {
			return p
		}
	}
	return 0
}

// pairRows packs the m rows of k×k×c weights w (columns in (ky, kx, ci)
// order) for p adjacent output pixels at once: row j·m + o is output
// channel o of the j-th pixel of the group, over k segments of s = (k +
// p − 1)·c bytes, one per kernel row, each the input row's bytes from the
// group's first pixel on:
//
//	W'[j·m + o][ky·s + (kx + j)·c + ci] = W[o][(ky·k + kx)·c + ci],  0 elsewhere
//
// so that one row of the implicit convolution (gemmConvPackedQ with p·m
// channels) computes p pixels, whose outputs are p·m contiguous bytes of
// a channels-last image. The zero weights add nothing: each pixel's sum is
// its own. For the one- and three-channel stems the segments are whole
// groups with no padding, and the wider tile of channels shares each
// broadcast input group among more of them. It returns W' and its row
// length k·s.
func pairRows(w []int8, m, k, c, p int) ([]int8, int) {
	s := (k + p - 1) * c
	kk := k * k * c
	out := make([]int8, p*m*k*s)
	for j := 0; j < p; j++ {
		for o := 0; o < m; o++ {
			row := out[(j*m+o)*k*s : (j*m+o+1)*k*s]
			for ky := 0; ky < k; ky++ {
				copy(row[ky*s+j*c:ky*s+(j+k)*c], w[o*kk+ky*k*c:o*kk+(ky+1)*k*c])
			}
		}
	}
	return out, k * s
}

// gemmPackedGo is the portable kernel on the packed layout: the same sums
// as the assembly, in plain Go (int32 arithmetic wraps like the SIMD
// lanes; the true sums fit, so the order does not matter).
func gemmPackedGo(c []int32, ldc int, u []uint8, ldu int, pw *packedWeights, n int) {
	groups := pw.kp / 4
	for q := 0; q < pw.mp/16; q++ {
		panel := pw.w[q*16*pw.kp : (q+1)*16*pw.kp]
		for r := 0; r < n; r++ {
			var s [16]int32
			copy(s[:], pw.bias[16*q:16*q+16])
			ur := u[r*ldu : r*ldu+pw.kp]
			for g := 0; g < groups; g++ {
				u0, u1, u2, u3 := int32(ur[4*g]), int32(ur[4*g+1]), int32(ur[4*g+2]), int32(ur[4*g+3])
				wg := (*[64]int8)(panel[g*64 : g*64+64])
				for j := range s {
					s[j] += u0*int32(wg[4*j]) + u1*int32(wg[4*j+1]) + u2*int32(wg[4*j+2]) + u3*int32(wg[4*j+3])
				}
			}
			copy(c[r*ldc+16*q:r*ldc+16*q+16], s[:])
		}
	}
}

// im2colHWC lays out the receptive fields of one channels-last (h, w, c)
// image as rows of length rowLen ≥ k·k·c, in (ky, kx, ci) order:
//
//	dst[(oy·ow + ox)·rowLen + (ky·k + kx)·c + ci] = src[oy·s+ky−p, ox·s+kx−p, ci]
//
// with padV outside the image (the excess of each row is left as it is).
// Inside the image each ky is one run of k·c contiguous bytes. Its
// reference twin is im2col on the CHW image with the columns permuted
// (TestIm2colHWCMatchesReference).
func im2colHWC(dst, src []uint8, c, h, w, k, stride, pad, oh, ow, rowLen int, padV uint8) {
	run := k * c
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			d := dst[(oy*ow+ox)*rowLen : (oy*ow+ox)*rowLen+k*run]
			y0, x0 := oy*stride-pad, ox*stride-pad
			if y0 >= 0 && x0 >= 0 && y0+k <= h && x0+k <= w {
				i := (oy*ow + ox) * rowLen
				for ky := 0; ky < k; ky++ {
					s := ((y0+ky)*w + x0) * c
					if run <= 8 && s+8 <= len(src) && i+ky*run+8 <= len(dst) {
						// A short run as one 8-byte move: the excess lands
						// on the next run, the row's padding or the next
						// row, all written later or ignored.
						binary.LittleEndian.PutUint64(dst[i+ky*run:], binary.LittleEndian.Uint64(src[s:]))
					} else {
						copy(d[ky*run:(ky+1)*run], src[s:s+run])
					}
				}
				continue
			}
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					y, x := y0+ky, x0+kx
					o := d[(ky*k+kx)*c : (ky*k+kx+1)*c]
					if y < 0 || y >= h || x < 0 || x >= w {
						for i := range o {
							o[i] = padV
						}
					} else {
						copy(o, src[(y*w+x)*c:(y*w+x+1)*c])
					}
				}
			}
		}
	}
}

// toUnsignedHWC writes u = s − lo (stored activations s ≥ lo, so u lies
// in [0, 255]) for a (c, hw) CHW image, channels last.
func toUnsignedHWC[T act](u []uint8, s []T, lo int32, c, hw int) {
	for ci := 0; ci < c; ci++ {
		for p := 0; p < hw; p++ {
			u[p*c+ci] = uint8(int32(s[ci*hw+p]) - lo)
		}
	}
}
