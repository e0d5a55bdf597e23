package infer

// 1×1 convolutions over whole images (the stride-2 projections of
// residual networks): the VNNIPW kernels. No floating point may appear
// in this file (TestKernelsUseNoFloat).

import "fmt"

// pwKernelFunc is a VNNIPW kernel (gemm_gen_conv.go, vnniPW): a fused 1×1
// convolution on one panel of 16 output channels over oh rows of pixels,
// pixel x of row y the 4·groups bytes at u + y·row + x·pix, in tiles
// tiles of the kernel's r pixels and a last one of its t, the output
// pixels ldd bytes apart from dst, requantized with one panel of rq in
// the clamped form.
type pwKernelFunc func(u *uint8, pix, row int, w *int8, bias *int32, dst *uint8, ldd, groups, oh, tiles int, rq *int64)

// pwAKernelFunc is a pwKernelFunc with the residual add fused after the
// requantization (as convQAKernelFunc): the shortcut's pixels are ldd
// bytes apart from sa.
type pwAKernelFunc func(u *uint8, pix, row int, w *int8, bias *int32, dst *uint8, ldd, groups, oh, tiles int, rq *int64, sa *uint8, av *int64)

// pwKernelSet is a level's VNNIPW kernels: fn[r−1][t] (and fa[r−1][t]
// with the add) has tiles of r pixels and a last tile of t; r is pwTile
// for every t < pwTile, or a row shorter than pwTile with t = 0.
type pwKernelSet struct {
	fn [][]pwKernelFunc
	fa [][]pwAKernelFunc
	// fn2[ow−2] (fa2 with the add) has tiles of two rows of ow = 2 to 4
	// pixels, its oh the pairs of rows.
	fn2 []pwKernelFunc
	fa2 []pwAKernelFunc
}

// pwTile is the VNNIPW kernels' longest tile (gemm_gen_conv.go: pwMaxR).
const pwTile = 8

// pwOff, set by tests, runs the 1×1 convolutions the VNNIPW kernels would
// take the way they run without them.
var pwOff bool

// clampedForm reports whether the requantization constants rq have the
// clamped form (enableRequantClamp: set for every panel or none).
func clampedForm(rq []int64) bool { return len(rq) >= rqLanes && rq[12*8+2] != 0 }

// pwLayer reports whether runConv runs l on the VNNIPW kernels of lv: a
// 1×1 convolution without padding, on all its channels, a pixel a whole
// packed row (C a multiple of 4), with the clamped requantization. They
// broadcast each input group once per panel, where the two-panel GEMM
// kernels share it; their epilogue keeps its constants in registers and
// they take a whole image (or run of pixels) a call, where the
// implicit-im2col kernels take an output row. Measured on AMD Zen 5,
// they are the faster on up to 64 input channels with a stride or a
// fused add (rows apart or an add: the implicit-im2col kernels), on up
// to 32 otherwise (one run of rows: the fused GEMM, runPointwise).
func pwLayer(lv *level, l *Layer, pw *packedWeights, inC int, add bool) bool {
	return lv.pw != nil && !pwOff && l.K == 1 && l.Pad == 0 && inC == l.InC && pw.kp == inC &&
		clampedForm(pw.rq) && (pw.kp <= 32 || pw.kp <= 64 && (l.Stride > 1 || add))
}

// gemmPW runs a 1×1 convolution (pw, rq) on the oh×ow grid of pixels of
// u, pixel (y, x) the pw.kp bytes at u[y·row + x·pix:], on the VNNIPW
// kernels: output pixel y·ow + x's pw.m bytes go to dst[(y·ow + x)·ldd:].
// Rows of 2 to 4 pixels go two at a time (fn2), a column as one run.
// With fa, each is the second operand of the add whose first is the
// same byte of sa, and the add's byte is stored. gemmConvPackedQ (QA),
// one call an output row, is its reference twin (TestPWConvMatchesConvQ).
// It panics (Go bounds check) rather than let a kernel touch memory
// outside the slices.
func gemmPW(ks *pwKernelSet, dst []uint8, ldd int, u []uint8, pix, row int, pw *packedWeights, oh, ow int, rq []int64, sa []uint8, fa *fusedAdd) {
	if oh <= 0 || ow <= 0 {
		return
	}
	if pw.kp%4 != 0 || pix < 0 || row < 0 || ldd < pw.m || len(rq) < pw.mp/16*rqLanes || !clampedForm(rq) || (fa != nil && len(fa.panel) < addPanelLanes) {
		panic(fmt.Sprintf("infer: gemmPW: %d-byte pixels %d apart, rows %d apart, ldd %d for %d channels, %d constants (clamped form %v)", pw.kp, pix, row, ldd, pw.m, len(rq), clampedForm(rq)))
	}
	_ = u[(oh-1)*row+(ow-1)*pix+pw.kp-1]
	_ = dst[(oh*ow-1)*ldd+pw.m-1]
	if fa != nil {
		_ = sa[(oh*ow-1)*ldd+pw.m-1]
	}
	if ow == 1 { // a column: one run of pixels row bytes apart
		oh, ow, pix = 1, oh, row
	}
	panels, ldw, groups := pw.mp/16, pw.kp*16, pw.kp/4
	if ow <= 4 && oh >= 2 && ks.fn2 != nil {
		// Short rows two at a time (8 pixels a tile for 4), the last
		// one on its own if oh is odd.
		for q := 0; q < panels; q++ {
			if fa != nil {
				ks.fa2[ow-2](&u[0], pix, row, &pw.w[q*ldw], &pw.bias[16*q], &dst[16*q], ldd, groups, oh/2, 1, &rq[q*rqLanes], &sa[16*q], &fa.panel[0])
				continue
			}
			ks.fn2[ow-2](&u[0], pix, row, &pw.w[q*ldw], &pw.bias[16*q], &dst[16*q], ldd, groups, oh/2, 1, &rq[q*rqLanes])
		}
		if oh%2 == 0 {
			return
		}
		last := (oh - 1) * ow * ldd
		u, dst, oh = u[(oh-1)*row:], dst[last:], 1
		if fa != nil {
			sa = sa[last:]
		}
	}
	r, t, tiles := pwTile, ow%pwTile, ow/pwTile
	if ow < pwTile {
		r, t, tiles = ow, 0, 1
	}
	for q := 0; q < panels; q++ {
		if fa != nil {
			ks.fa[r-1][t](&u[0], pix, row, &pw.w[q*ldw], &pw.bias[16*q], &dst[16*q], ldd, groups, oh, tiles, &rq[q*rqLanes], &sa[16*q], &fa.panel[0])
			continue
		}
		ks.fn[r-1][t](&u[0], pix, row, &pw.w[q*ldw], &pw.bias[16*q], &dst[16*q], ldd, groups, oh, tiles, &rq[q*rqLanes])
	}
}

// runPW is runConv for a layer pwLayer takes: n samples, one gemmPW call
// each (a stride-1 image is one run of pixels, and so are all n
// samples when they are stored back to back), with the add fused if ca
// is set (the add's output then goes to ca.dst).
func runPW(lv *level, l *Layer, pw *packedWeights, src []uint8, inStride int, dstb []uint8, o *value, n int, ca *convAdd) {
	inSize, size := l.InSize(), l.OutSize()
	oh, ow, pix, row := l.OutH, l.OutW, l.Stride*l.InC, l.Stride*l.InW*l.InC
	dst, dstStride := dstb, o.stride
	var sa []uint8
	var saStride int
	var fa *fusedAdd
	if ca != nil {
		dst, dstStride, sa, saStride, fa = ca.dst, ca.dstStride, ca.sa, ca.saStride, ca.fa
	}
	if l.Stride == 1 {
		oh, ow = 1, l.OutH*l.OutW
		if inStride == inSize && dstStride == size && (ca == nil || saStride == size) {
			if ca != nil {
				sa = sa[:n*size]
			}
			gemmPW(lv.pw, dst[:n*size], l.OutC, src[:n*inSize], pix, 0, pw, 1, n*ow, pw.rq, sa, fa)
			return
		}
	}
	for i := 0; i < n; i++ {
		var s []uint8
		if ca != nil {
			s = sa[i*saStride : i*saStride+size]
		}
		gemmPW(lv.pw, dst[i*dstStride:i*dstStride+size], l.OutC, src[i*inStride:i*inStride+inSize], pix, row, pw, oh, ow, pw.rq, s, fa)
	}
}
