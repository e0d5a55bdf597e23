package infer

// The 3×3 convolution on 16 channels with input reuse across kernel
// columns. No floating point may appear in this file
// (TestKernelsUseNoFloat).

import (
	"fmt"
	"unsafe"
)

// k3Channels are the input channel counts of the VNNIK3 kernels
// (level.k3's first index), k3MaxR[p−1] the most output pixels of one
// call with p panels (gemm_gen.go).
var (
	k3Channels = []int{16, 32, 64}
	k3MaxR     = []int{14, 8}
)

// k3Index is the index of c in k3Channels, or −1.
func k3Index(c int) int {
	for i, v := range k3Channels {
		if v == c {
			return i
		}
	}
	return -1
}

// tileRows is how many of the n pixels left the next call of a kernel
// of at most maxR pixels takes: the calls of a row as even as they can
// be (32 pixels by 14 as 11, 11, 10, not 14, 14, 4), since a short call
// has too few accumulators to hide VPDPBUSD's latency.
func tileRows(n, maxR int) int {
	t := (n + maxR - 1) / maxR
	return (n + t - 1) / t
}

// useK3 says whether gemmConvK3Q runs pw: a 3×3 convolution of stride 1
// or 2 on 16, 32 or 64 input channels (rows of 9·C bytes, whole groups)
// with its requantization, at a level with the kernels.
func useK3(lv *level, l *Layer, pw *packedWeights, inC int) bool {
	return lv.k3 != nil && l.K == 3 && k3Index(inC) >= 0 && (l.Stride == 1 || l.Stride == 2) &&
		pw.kp == 9*inC && pw.pairs <= 1 && pw.rq != nil
}

// gemmConvK3Q is gemmConvPackedQ for a 3×3 convolution of stride st on
// c channels (useK3): n output pixels of one row, pixel j's receptive
// field at u[j·st·c:] with image rows rowStride bytes apart, requantized
// into dst[j·ldd:]. The kernels broadcast each input group once for
// every output it meets (vnniK3); gemmConvPackedQ with ldu = c·st, 3
// segments of 3c bytes, is its reference twin (TestK3MatchesConvQ). It
// panics (Go bounds check) rather than let a kernel touch memory outside
// the slices.
func gemmConvK3Q(fns [][][][]k3KernelFunc, dst []uint8, ldd int, u []uint8, st, c int, pw *packedWeights, n, rowStride int, rq []int64) {
	if n == 0 {
		return
	}
	ci := k3Index(c)
	if ci < 0 || pw.kp != 9*c || (st != 1 && st != 2) || rowStride < 3*c || ldd < pw.m || len(rq) < pw.mp/16*rqLanes {
		panic(fmt.Sprintf("infer: gemmConvK3Q: %d channels, stride %d, row stride %d, ldd %d for %d×%d weights", c, st, rowStride, ldd, pw.mp, pw.kp))
	}
	_ = u[2*rowStride+((n-1)*st+3)*c-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += 2 {
		pp := min(2, panels-q)
		for r, rr := 0, 0; r < n; r += rr {
			rr = tileRows(n-r, k3MaxR[pp-1])
			fns[ci][st-1][pp-1][rr-1](&u[r*st*c], &pw.w[q*ldw], &pw.bias[16*q], &dst[r*ldd+16*q], ldd, rowStride, &rq[q*rqLanes])
		}
	}
}

// gemmConvK3QA is gemmConvK3Q with the residual add fused, as
// gemmConvPackedQA: pixel j's requantized byte of channel ch is the
// add's second operand, its first sa[j·ldd + ch], and the add's byte
// (fa's arithmetic) goes to dst[j·ldd + ch]. gemmConvK3Q, requantU8's
// arithmetic and addFusedRef are its reference twin
// (TestK3AddFusedMatchesUnfused). It panics (Go bounds check) rather
// than let a kernel touch memory outside the slices.
func gemmConvK3QA(fns [][][][]k3AKernelFunc, dst []uint8, ldd int, u []uint8, st, c int, pw *packedWeights, n, rowStride int, rq []int64, sa []uint8, fa *fusedAdd) {
	if n == 0 {
		return
	}
	ci := k3Index(c)
	if ci < 0 || pw.kp != 9*c || (st != 1 && st != 2) || rowStride < 3*c || ldd < pw.m || len(rq) < pw.mp/16*rqLanes || len(fa.panel) < addPanelLanes {
		panic(fmt.Sprintf("infer: gemmConvK3QA: %d channels, stride %d, row stride %d, ldd %d for %d×%d weights", c, st, rowStride, ldd, pw.mp, pw.kp))
	}
	_ = u[2*rowStride+((n-1)*st+3)*c-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	_ = sa[(n-1)*ldd+pw.m-1]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += 2 {
		pp := min(2, panels-q)
		for r, rr := 0, 0; r < n; r += rr {
			rr = tileRows(n-r, k3MaxR[pp-1])
			fns[ci][st-1][pp-1][rr-1](&u[r*st*c], &pw.w[q*ldw], &pw.bias[16*q], &dst[r*ldd+16*q], ldd, rowStride, &rq[q*rqLanes], &sa[r*ldd+16*q], &fa.panel[0])
		}
	}
}

// k3Tile is one kernel call of an output row in gemmConvK3Image: panels
// q, q+1 (or q alone), pixels r…r+rr−1.
type k3Tile struct {
	q, r int
	fn   k3KernelFunc
	fa   k3AKernelFunc
}

// gemmConvK3Image is gemmConvK3Q (gemmConvK3QA with fa) on the oh output
// rows of an image at once: output row y's n pixels read the image from
// u[y·st·rowStride:] and are written at dst[y·n·ldd:] (the shortcut's
// at sa[y·n·ldd:]), the rows of a channels-last output one after
// another. The bounds are checked and the calls of a row (tileRows)
// worked out once, not once a row. gemmConvK3Q (QA), a call a row, is
// its reference twin (TestK3ImageMatchesRows). It panics (Go bounds
// check) rather than let a kernel touch memory outside the slices.
func gemmConvK3Image(lv *level, dst []uint8, ldd int, u []uint8, st, c int, pw *packedWeights, oh, n, rowStride int, rq []int64, sa []uint8, fa *fusedAdd) {
	if oh <= 0 || n <= 0 {
		return
	}
	ci := k3Index(c)
	if ci < 0 || pw.kp != 9*c || (st != 1 && st != 2) || rowStride < 3*c || ldd < pw.m || len(rq) < pw.mp/16*rqLanes || (fa != nil && (len(fa.panel) < addPanelLanes || lv.k3a == nil)) {
		panic(fmt.Sprintf("infer: gemmConvK3Image: %d channels, stride %d, row stride %d, ldd %d for %d×%d weights", c, st, rowStride, ldd, pw.mp, pw.kp))
	}
	_ = u[(oh-1)*st*rowStride+2*rowStride+((n-1)*st+3)*c-1]
	_ = dst[(oh*n-1)*ldd+pw.m-1]
	if fa != nil {
		_ = sa[(oh*n-1)*ldd+pw.m-1]
	}
	var buf [24]k3Tile
	tiles := buf[:0]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += 2 {
		pp := min(2, panels-q)
		for r, rr := 0, 0; r < n; r += rr {
			rr = tileRows(n-r, k3MaxR[pp-1])
			t := k3Tile{q: q, r: r}
			if fa != nil {
				t.fa = lv.k3a[ci][st-1][pp-1][rr-1]
			} else {
				t.fn = lv.k3[ci][st-1][pp-1][rr-1]
			}
			tiles = append(tiles, t)
		}
	}
	up, dp := unsafe.Pointer(&u[0]), unsafe.Pointer(&dst[0])
	var sp, av unsafe.Pointer
	if fa != nil {
		sp, av = unsafe.Pointer(&sa[0]), unsafe.Pointer(&fa.panel[0])
	}
	for y := 0; y < oh; y++ {
		row, out := unsafe.Add(up, y*st*rowStride), y*n*ldd
		for _, t := range tiles {
			in := (*uint8)(unsafe.Add(row, t.r*st*c))
			w, b, d, k := &pw.w[t.q*ldw], &pw.bias[16*t.q], (*uint8)(unsafe.Add(dp, out+t.r*ldd+16*t.q)), &rq[t.q*rqLanes]
			if fa != nil {
				t.fa(in, w, b, d, ldd, rowStride, k, (*uint8)(unsafe.Add(sp, out+t.r*ldd+16*t.q)), (*int64)(av))
				continue
			}
			t.fn(in, w, b, d, ldd, rowStride, k)
		}
	}
}
