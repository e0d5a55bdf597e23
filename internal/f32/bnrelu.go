package f32

import "unsafe"

// Batch normalization fused with the ReLU or ReLU6 after it (the training
// graph's conv → BN → ReLU): the ZAffine, ZSumDot and ZGrad of bnrows.go
// with the clamp applied in the same pass over the row. With z = (y − b)·rs
// and the forward pass's normalized value
//
//	pre = (z − mu)·k + off,
//
// the forward writes min(max(pre, 0), hi) (Go's min and max: NaN passes,
// −0 becomes +0; a ReLU has hi = +Inf, a ReLU6 hi = 6) and the backward
// kernels read the upstream gradient g masked by 0 < pre < hi (the rule of
// ReLUGrad on the output: NaN and the clamps' edges pass nothing),
// recomputing pre from y with the forward's operations in the same order,
// so the mask is the forward clamp's, bit for bit, without reading the
// activation's output or storing a mask. hi must be positive.

// ZAffineReLU sets out[i] = min(max((z[i] − mu)·k + off, 0), hi) for z of
// y[:len(out)].
func ZAffineReLU(out, y []float32, b, rs, mu, k, off, hi float32) {
	y = y[:len(out)]
	n16 := len(out) &^ 15
	if n16 > 0 {
		zaffineReLUK(&out[0], &y[0], n16, b, rs, mu, k, off, hi)
	}
	for i := n16; i < len(out); i++ {
		out[i] = min(max(mul32(mul32(y[i]-b, rs)-mu, k)+off, 0), hi)
	}
}

// ZAffineAddReLU sets out[i] = max((z[i] − mu)·k + off + r[i], 0) for z
// of y[:len(out)]: batch normalization, a residual addition and its ReLU.
func ZAffineAddReLU(out, y, r []float32, b, rs, mu, k, off float32) {
	y, r = y[:len(out)], r[:len(out)]
	n16 := len(out) &^ 15
	if n16 > 0 {
		zaffineAddReLUK(&out[0], &y[0], &r[0], n16, b, rs, mu, k, off)
	}
	for i := n16; i < len(out); i++ {
		out[i] = max(mul32(mul32(y[i]-b, rs)-mu, k)+off+r[i], 0)
	}
}

// ZSumDotReLU is ZSumDot of the masked gradient: it returns Σ g'[i] and
// Σ g'[i]·(z[i] − mu) with g'[i] = g[i] where 0 < (z[i] − mu)·k + off < hi,
// else 0.
func (sc *Lanes) ZSumDotReLU(g, y []float32, b, rs, mu, k, off, hi float32) (sum, dot float32) {
	y = y[:len(g)]
	lanes := sc.lanes32() // Σ g', then Σ g'·(z − mu)
	n16 := len(g) &^ 15
	if n16 > 0 {
		zsumdotReLUK(&g[0], &y[0], n16, b, rs, mu, k, off, hi, &lanes[0])
	}
	for i := n16; i < len(g); i++ {
		zm := mul32(y[i]-b, rs) - mu
		gv := g[i]
		if !passes(mul32(zm, k)+off, hi) {
			gv = 0
		}
		lanes[i&15] += gv
		lanes[16+i&15] += mul32(gv, zm)
	}
	return reduce16((*[16]float32)(lanes[:16])), reduce16((*[16]float32)(lanes[16:]))
}

// ZGradReLU is ZGrad of the masked gradient g' (see ZSumDotReLU): it sets
// d[i] = a·g'[i] + b0 + b1·(z[i] − mu) and returns Σ d[i]·z[i].
func (sc *Lanes) ZGradReLU(d, g, y []float32, a, b0, b1, b, rs, mu, k, off, hi float32) float32 {
	g, y = g[:len(d)], y[:len(d)]
	lanes := sc.lanes16()
	n16 := len(d) &^ 15
	if n16 > 0 {
		zgradReLUK(&d[0], &g[0], &y[0], n16, a, b0, b1, b, rs, mu, k, off, hi, &lanes[0])
	}
	for i := n16; i < len(d); i++ {
		z := mul32(y[i]-b, rs)
		zm := z - mu
		gv := g[i]
		if !passes(mul32(zm, k)+off, hi) {
			gv = 0
		}
		d[i] = mul32(a, gv) + b0 + mul32(b1, zm)
		lanes[i&15] += mul32(d[i], z)
	}
	return reduce16(lanes)
}

// passes reports whether a clamp to [0, hi] passes the gradient at its
// input pre: 0 < pre < hi (false for NaN).
func passes(pre, hi float32) bool { return pre > 0 && pre < hi }

// zaffineReLUGo sets out[i] = min(max((z[i] − mu)·k + off, 0), hi) for i < n.
func zaffineReLUGo(out, y *float32, n int, b, rs, mu, k, off, hi float32) {
	os, ys := unsafe.Slice(out, n), unsafe.Slice(y, n)
	for i, v := range ys {
		os[i] = min(max(mul32(mul32(v-b, rs)-mu, k)+off, 0), hi)
	}
}

// zaffineAddReLUGo sets out[i] = max((z[i] − mu)·k + off + r[i], 0) for i < n.
func zaffineAddReLUGo(out, y, r *float32, n int, b, rs, mu, k, off float32) {
	os, ys, rr := unsafe.Slice(out, n), unsafe.Slice(y, n), unsafe.Slice(r, n)
	for i, v := range ys {
		os[i] = max(mul32(mul32(v-b, rs)-mu, k)+off+rr[i], 0)
	}
}

// zsumdotReLUGo adds g'[i] into lanes[i mod 16] and g'[i]·(z[i] − mu)
// into lanes[16 + i mod 16] for i < n (a multiple of 16).
func zsumdotReLUGo(g, y *float32, n int, b, rs, mu, k, off, hi float32, lanes *float32) {
	gs, ys, l := unsafe.Slice(g, n), unsafe.Slice(y, n), (*[32]float32)(unsafe.Slice(lanes, 32))
	for i := 0; i < n; i += 16 {
		for j := range 16 {
			zm := mul32(ys[i+j]-b, rs) - mu
			gv := gs[i+j]
			if !passes(mul32(zm, k)+off, hi) {
				gv = 0
			}
			l[j] += gv
			l[16+j] += mul32(gv, zm)
		}
	}
}

// zgradReLUGo sets d[i] = a·g'[i] + b0 + b1·(z[i] − mu) and adds
// d[i]·z[i] into lanes[i mod 16] for i < n (a multiple of 16).
func zgradReLUGo(d, g, y *float32, n int, a, b0, b1, b, rs, mu, k, off, hi float32, lanes *float32) {
	ds, gs, ys, l := unsafe.Slice(d, n), unsafe.Slice(g, n), unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j := range 16 {
			z := mul32(ys[i+j]-b, rs)
			zm := z - mu
			gv := gs[i+j]
			if !passes(mul32(zm, k)+off, hi) {
				gv = 0
			}
			ds[i+j] = mul32(a, gv) + b0 + mul32(b1, zm)
			l[j] += mul32(ds[i+j], z)
		}
	}
}

// The fused row kernels in use: the Go twins above, or assembly
// (bnrelu_amd64.go; AVX2 in bn_avx2_amd64.go).
var (
	zaffineReLUK    = zaffineReLUGo
	zaffineAddReLUK = zaffineAddReLUGo
	zsumdotReLUK    = zsumdotReLUGo
	zgradReLUK      = zgradReLUGo
)

// ZSumDotReLU is Lanes.ZSumDotReLU with its own scratch.
func ZSumDotReLU(g, y []float32, b, rs, mu, k, off, hi float32) (sum, dot float32) {
	return new(Lanes).ZSumDotReLU(g, y, b, rs, mu, k, off, hi)
}

// ZGradReLU is Lanes.ZGradReLU with its own scratch.
func ZGradReLU(d, g, y []float32, a, b0, b1, b, rs, mu, k, off, hi float32) float32 {
	return new(Lanes).ZGradReLU(d, g, y, a, b0, b1, b, rs, mu, k, off, hi)
}
