package infer

// The residual add fused into the epilogue of the convolution that
// produces one of its operands. No floating point may appear in this
// file (TestKernelsUseNoFloat).

import "fmt"

// addPanelLanes is the size of an addPanel: 9 vectors of 8 int64 lanes,
//
//	0 A (the shortcut's multiplier)   1 B (the convolution's)
//	2 K' = K + Z·B   3 h = 2^(n−1) − 1   4 2^n (the odd test)   5 z   6 lo   7 hi   8 n
//
// each in every lane: an addVec (kernels_add.go) with the operands in
// the kernel's order (addEpilogue in gemm_gen.go), and K taking in the
// convolution's output zero point Z on the unsigned storage (the kernel
// multiplies ub − Z).
const addPanelLanes = 9 * 8

// fusedAdd is an add layer run in the epilogue of the convolution just
// before it, which produces one of its operands (buildPlan: fuseAdds).
// The convolution's requantized bytes are never stored: each goes into
// the add with the shortcut's byte at the same position, and the add's
// bytes are written to the add's output.
type fusedAdd struct {
	// short is the add's other operand (a value index, −1 the input).
	short int
	// panel is the add's addVec with the shortcut as the first operand.
	panel []int64
	// vec is the same arithmetic for the reference twin (addFusedRef).
	vec *addVec
}

// newFusedAdd returns the fused form of add c whose operand conv (0 or
// 1) the convolution produces, with output zero point zConv on its
// unsigned storage (its requantPanels' Z), or nil if the add has no
// vector form.
func newFusedAdd(c *addConsts, conv, short int, zConv int32) *fusedAdd {
	v := c.vec
	if v == nil {
		return nil
	}
	o := *v
	if conv == 0 { // the convolution is the first operand: swap
		o.a, o.b = v.b, v.a
	}
	p := make([]int64, addPanelLanes)
	for i, x := range []int64{o.a, o.b, o.k + int64(zConv)*o.b, o.h, o.pow, o.z, o.lo, o.hi, o.n} {
		for j := range 8 {
			p[8*i+j] = x
		}
	}
	return &fusedAdd{short: short, panel: p, vec: &o}
}

// gemmConvPackedQA is gemmConvPackedQ with the residual add fused: row
// r's requantized byte of channel j is the second operand of the add
// whose first is sa[r·ldd + j], and the add's byte (fa's arithmetic)
// goes to dst[r·ldd + j]. Its reference twin is gemmConvPacked,
// requantU8 and addFusedRef (TestGemmConvAddFusedMatchesUnfused). It
// panics (Go bounds check) rather than let a kernel touch memory outside
// the slices.
func gemmConvPackedQA(ks *convQAKernelSet, dst []uint8, ldd int, u []uint8, ldu int, pw *packedWeights, n, segs, segStride int, rq []int64, sa []uint8, fa *fusedAdd) {
	if n == 0 {
		return
	}
	if segs < 1 || pw.kp%segs != 0 || (pw.kp/segs)%4 != 0 || segStride < pw.kp/segs || ldd < pw.m || len(rq) < pw.mp/16*rqLanes || len(fa.panel) < addPanelLanes {
		panic(fmt.Sprintf("infer: gemmConvPackedQA: %d segments with stride %d do not tile a row of %d bytes in 4-byte groups (ldd %d, %d channels, %d constants)", segs, segStride, pw.kp, ldd, pw.m, len(rq)))
	}
	seg := pw.kp / segs
	_ = u[(n-1)*ldu+(segs-1)*segStride+seg-1]
	_ = dst[(n-1)*ldd+pw.m-1]
	_ = sa[(n-1)*ldd+pw.m-1]
	panels, ldw := pw.mp/16, pw.kp*16
	for q := 0; q < panels; q += ks.p {
		pp := min(ks.p, panels-q)
		for r := 0; r < n; r += ks.r {
			rr := min(ks.r, n-r)
			ks.fn[rr-1][pp-1](&u[r*ldu], ldu, &pw.w[q*ldw], ldw, &pw.bias[16*q], &dst[r*ldd+16*q], ldd, seg/4, segs, segStride-seg, &rq[q*rqLanes], &sa[r*ldd+16*q], &fa.panel[0])
		}
	}
}

// addFusedRef is the fused add's reference twin on one row of m bytes:
// dst[j] = the add of short[j] and conv[j] (conv: the convolution's
// requantized bytes).
func addFusedRef(dst, short, conv []uint8, fa *fusedAdd) {
	for j := range conv {
		dst[j] = fa.vec.apply(short[j], conv[j])
	}
}
