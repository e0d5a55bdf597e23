package infer

// The implicit-im2col convolutions: the GEMM on rows read in place from
// a (padded) channels-last image, unfused and with the requantization
// fused, on the image's bytes or on its pre-signed operand planes. No
// floating point may appear in this file (TestKernelsUseNoFloat).

import "fmt"

// gemmConvPacked is gemmPacked on rows that are not contiguous: row r's
// kp bytes are segs segments of kp/segs bytes, segment j at
// u[r·ldu + j·segStride:]. These are a convolution's im2col rows read in
// place from a channels-last image with every receptive field inside it
// (padded first): one output row of ow pixels, ldu = stride·C, a segment
// per kernel row (k·C bytes, segStride = the image's row of W·C bytes).
// The weights' columns are in the same (ky, kx, ci) order as im2colHWC's,
// so the sums are those of im2col and gemmPacked, which is the reference
// twin (TestGemmConvMatchesIm2col). kp must split into segs segments of
// whole 4-byte groups (kp = segs·k·C, k·C a multiple of 4). It panics
// (Go bounds check) rather than let a kernel touch memory outside the
// slices.
func gemmConvPacked(ks *convKernelSet, c []int32, ldc int, u []uint8, ldu int, pw *packedWeights, n, segs, segStride int) {
	if n == 0 {
		return
	}
	if segs < 1 || pw.kp%segs != 0 || (pw.kp/segs)%4 != 0 || segStride < pw.kp/segs || ldc < pw.mp {
		panic(fmt.Sprintf("infer: gemmConvPacked: %d segments with stride %d do not tile a row of %d bytes in 4-byte groups (ldc %d, %d channels)", segs, segStride, pw.kp, ldc, pw.mp))
	}
	if ks.pre != nil {
		panic("infer: gemmConvPacked: pre-signed kernels (gemmConvPackedPre)")
	}
	seg := pw.kp / segs
	_ = u[(n-1)*ldu+(segs-1)*segStride+seg-1]
	_ = c[(n-1)*ldc+pw.mp-1]
	if ks.signed && !pw.no128 {
		panic("infer: gemmConvPacked: signed kernels on weights with −128")
	}
	bias := pw.biasFor(ks.signed)
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.fn[rr-1][pp-1](&u[r*ldu], ldu, &pw.w[q*ldw], ldw, &bias[16*q], &c[r*ldc+16*q], ldc*4, seg/4, segs, segStride-seg)
		}
	}
}

// requantPanels: the fused kernels' requantization constants
// (requantStore in gemm_gen.go), for each panel q of 16 channels 28
// vectors of 8 int64 lanes (rqPanel bytes):
//
//	0, 1   M0 of channels 16q + 2j (even) and 16q + 2j + 1 (odd), lane j
//	2, 3   n, even and odd
//	4, 5   2^(n−1) − 1, even and odd
//	6, 7   2^n (bit n: the odd test), even and odd
//	8, 9   lo − Z and hi − Z in every lane
//	10     Z in every 32-bit half
//	11     1 in every lane
//	12     the panel's channel mask in lane 0 (bits of channels < m);
//	       lane 1 is 1 if vectors 13–21 are set (enableRequant32);
//	       lane 2 is 1 if vectors 22–27 are set (enableRequantClamp)
//	13–21  the 32-bit form's constants (requant32)
//	22–27  the clamped form's constants (requantClamp)
//
// Padding channels (16q + j ≥ m) get M0 = 0 and n = 1: their bytes are
// masked out. The arithmetic is requantU8AVX512's (whose twin is
// quant.Requantize), so it needs |Z| < 2^9 and lo, hi in [0, 255].
const rqLanes = 28 * 8

// newRequantPanels builds the requantPanels of the mp/16 panels of a
// layer's m = len(m0) channels, or returns nil when Z, lo or hi are out of
// the kernels' range (then the layer runs unfused).
func newRequantPanels(m0, shift []int32, mp int, z, lo, hi int32) []int64 {
	if z <= -(1<<9) || z >= 1<<9 || lo < 0 || hi > 255 || lo > hi {
		return nil
	}
	m := len(m0)
	rq := make([]int64, mp/16*rqLanes)
	for q := 0; q < mp/16; q++ {
		v := rq[q*rqLanes : (q+1)*rqLanes]
		for j := 0; j < 16; j++ {
			c, half := 16*q+j, j%2 // half: 0 even, 1 odd
			mul, n := int64(0), int64(1)
			if c < m {
				mul, n = int64(m0[c]), int64(shift[c])
				v[12*8] |= 1 << j
			}
			v[half*8+j/2] = mul
			v[(2+half)*8+j/2] = n
			v[(4+half)*8+j/2] = 1<<(n-1) - 1
			v[(6+half)*8+j/2] = int64(uint64(1) << n)
		}
		for j := 0; j < 8; j++ {
			v[8*8+j], v[9*8+j] = int64(lo-z), int64(hi-z)
			v[10*8+j] = int64(uint64(uint32(z)) | uint64(uint32(z))<<32)
			v[11*8+j] = 1
		}
	}
	return rq
}

// gemmConvPackedQ is gemmConvPacked with the requantization fused: row
// r's pw.m output bytes go to dst[r·ldd:], requantized with rq
// (newRequantPanels of the layer's constants), and no accumulator is
// written. gemmConvPacked followed by requantU8 is its reference twin
// (TestGemmConvFusedMatchesUnfused). It panics (Go bounds check) rather
// than let a kernel touch memory outside the slices.
func gemmConvPackedQ(ks *convQKernelSet, dst []uint8, ldd int, u []uint8, ldu int, pw *packedWeights, n, segs, segStride int, rq []int64) {
	if n == 0 {
		return
	}
	if segs < 1 || pw.kp%segs != 0 || (pw.kp/segs)%4 != 0 || segStride < pw.kp/segs || ldd < pw.m || len(rq) < pw.mp/16*rqLanes {
		panic(fmt.Sprintf("infer: gemmConvPackedQ: %d segments with stride %d do not tile a row of %d bytes in 4-byte groups (ldd %d, %d channels, %d constants)", segs, segStride, pw.kp, ldd, pw.m, len(rq)))
	}
	if ks.pre != nil || ks.signed && !pw.no128 || ks.wholePanels && pw.m != pw.mp {
		panic(fmt.Sprintf("infer: gemmConvPackedQ: kernels not for these weights (signed %v, no −128 %v; whole panels %v, %d channels)", ks.signed, pw.no128, ks.wholePanels, pw.m))
	}
	seg := pw.kp / segs
	_ = u[(n-1)*ldu+(segs-1)*segStride+seg-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	bias := pw.biasFor(ks.signed)
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.fn[rr-1][pp-1](&u[r*ldu], ldu, &pw.w[q*ldw], ldw, &bias[16*q], &dst[r*ldd+16*q], ldd, seg/4, segs, segStride-seg, &rq[q*rqLanes])
		}
	}
}

// gemmConvPackedPre is gemmConvPacked with the pre-signed kernels
// (ks.pre): the rows are read from sp, the two planes of signPlanes of
// the image (v at sp[i], |v| at sp[plane+i]), at the offsets
// gemmConvPacked would read the image at. gemmConvPacked on the image
// with the signed kernels' sums is its reference (TestGemmConvMatchesIm2col
// through convRows). It panics (Go bounds check) rather than let a kernel
// touch memory outside the slices.
func gemmConvPackedPre(ks *convKernelSet, c []int32, ldc int, sp []uint8, plane, ldu int, pw *packedWeights, n, segs, segStride int) {
	if n == 0 {
		return
	}
	if ks.pre == nil || !pw.no128 || segs < 1 || pw.kp%segs != 0 || (pw.kp/segs)%4 != 0 || segStride < pw.kp/segs || ldc < pw.mp || plane < 0 {
		panic(fmt.Sprintf("infer: gemmConvPackedPre: kernels %v, %d segments with stride %d of a row of %d bytes (whole 4-byte groups needed), ldc %d, %d channels, no −128 %v, plane %d",
			ks.pre != nil, segs, segStride, pw.kp, ldc, pw.mp, pw.no128, plane))
	}
	seg := pw.kp / segs
	_ = sp[plane+(n-1)*ldu+(segs-1)*segStride+seg-1]
	_ = c[(n-1)*ldc+pw.mp-1]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q++ {
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.pre[rr-1][0](&sp[r*ldu], ldu, &pw.w[q*ldw], ldw, &pw.bias128[16*q], &c[r*ldc+16*q], ldc*4, seg/4, segs, segStride-seg, plane)
		}
	}
}

// gemmConvPackedPreQ is gemmConvPackedQ with the pre-signed kernels
// (ks.pre, whole panels), the rows read from sp as gemmConvPackedPre's.
// gemmConvPackedPre followed by requantU8 is its reference twin. It
// panics (Go bounds check) rather than let a kernel touch memory outside
// the slices.
func gemmConvPackedPreQ(ks *convQKernelSet, dst []uint8, ldd int, sp []uint8, plane, ldu int, pw *packedWeights, n, segs, segStride int, rq []int64) {
	if n == 0 {
		return
	}
	if ks.pre == nil || !pw.no128 || pw.m != pw.mp || segs < 1 || pw.kp%segs != 0 || (pw.kp/segs)%4 != 0 || segStride < pw.kp/segs || ldd < pw.m || len(rq) < pw.mp/16*rqLanes || plane < 0 {
		panic(fmt.Sprintf("infer: gemmConvPackedPreQ: kernels %v, %d segments with stride %d of a row of %d bytes (whole 4-byte groups needed), ldd %d, %d channels of %d (whole panels needed), no −128 %v, %d constants, plane %d",
			ks.pre != nil, segs, segStride, pw.kp, ldd, pw.m, pw.mp, pw.no128, len(rq), plane))
	}
	seg := pw.kp / segs
	_ = sp[plane+(n-1)*ldu+(segs-1)*segStride+seg-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q++ {
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.pre[rr-1][0](&sp[r*ldu], ldu, &pw.w[q*ldw], ldw, &pw.bias128[16*q], &dst[r*ldd+16*q], ldd, seg/4, segs, segStride-seg, plane, &rq[q*rqLanes])
		}
	}
}
