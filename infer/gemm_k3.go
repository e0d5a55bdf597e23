package infer

// The 3×3 convolution on 16 channels with input reuse across kernel
// columns. No floating point may appear in this file
// (TestKernelsUseNoFloat).

import "fmt"

// k3MaxR is the most output pixels of one VNNIK3 call (gemm_gen.go).
const k3MaxR = 14

// useK3 says whether gemmConvK3Q runs pw: a 3×3 convolution of stride 1
// or 2 on 16 input channels (rows of 144 bytes, whole groups) into at
// most 16 output channels, with its requantization, at a level with the
// kernels.
func useK3(lv *level, l *Layer, pw *packedWeights, inC int) bool {
	return lv.k3 != nil && l.K == 3 && inC == 16 && (l.Stride == 1 || l.Stride == 2) &&
		pw.mp == 16 && pw.kp == 144 && pw.pairs <= 1 && pw.rq != nil
}

// gemmConvK3Q is gemmConvPackedQ for a 3×3 convolution of stride st on
// 16 channels into one panel (useK3): n output pixels of one row, pixel
// j's receptive field at u[j·st·16:] with image rows rowStride bytes
// apart, requantized into dst[j·ldd:]. The kernels broadcast each input
// group once for every output it meets (vnniK3); gemmConvPackedQ with
// ldu = 16·st, 3 segments of 48 bytes, is its reference twin
// (TestK3MatchesConvQ). It panics (Go bounds check) rather than let a
// kernel touch memory outside the slices.
func gemmConvK3Q(fns [][]k3KernelFunc, dst []uint8, ldd int, u []uint8, st int, pw *packedWeights, n, rowStride int, rq []int64) {
	if n == 0 {
		return
	}
	if pw.mp != 16 || pw.kp != 144 || (st != 1 && st != 2) || rowStride < 48 || ldd < pw.m || len(rq) < rqLanes {
		panic(fmt.Sprintf("infer: gemmConvK3Q: stride %d, row stride %d, ldd %d for %d×%d weights", st, rowStride, ldd, pw.mp, pw.kp))
	}
	_ = u[2*rowStride+((n-1)*st+3)*16-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	for r := 0; r < n; r += k3MaxR {
		rr := min(k3MaxR, n-r)
		fns[st-1][rr-1](&u[r*st*16], &pw.w[0], &pw.bias[0], &dst[r*ldd], ldd, rowStride, &rq[0])
	}
}
