package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBNChannelKernels: the channel kernels in use (AVX-512 where the CPU
// has it) give, bit for bit, the loops over rows of the single-row
// kernels' Go twins they replace: the float64 sums of the rows' float32
// results and every element of ZGradRows' d and of ZAffineRows' three
// forms (plain, ReLU or ReLU6, residual + ReLU); the gaps between rows
// are not written. Row lengths straddle the 16-lane edges (the masked
// tail), values straddle the clamps' kinks (pre = off exactly at y = 3,
// with off = 0 and 6 on the kinks), and one case has a NaN row.
func TestBNChannelKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	b, rs, k := float32(2.5), float32(0.7), float32(0.8)
	const yKink = 3
	mu := (yKink - b) * rs // z − mu = +0 at y = yKink: pre = off
	a, b0, b1 := float32(1.3), float32(-0.2), float32(0.45)
	const guard = float32(-777)
	type result struct {
		s, q, sg, sgz, ds       float64
		d, aff, affReLU, affAdd []float32
	}
	run := func(g, y []float32, ld, rows, hw int, off, hi float32) result {
		var sc Lanes
		res := result{d: make([]float32, len(y))}
		for i := range res.d {
			res.d[i] = guard
		}
		res.s = sc.ZSumRows(y, ld, rows, hw, b, rs)
		res.q = sc.ZSqDevRows(y, ld, rows, hw, b, rs, mu)
		res.sg, res.sgz = sc.ZSumDotRows(g, y, ld, rows, hw, b, rs, mu, k, off, hi)
		res.ds = sc.ZGradRows(res.d, g, y, ld, rows, hw, a, b0, b1, b, rs, mu, k, off, hi)
		for _, o := range []*[]float32{&res.aff, &res.affReLU, &res.affAdd} {
			*o = make([]float32, len(y))
			for i := range *o {
				(*o)[i] = guard
			}
		}
		ZAffineRows(res.aff, y, nil, ld, rows, hw, b, rs, mu, k, off, 0)
		ZAffineRows(res.affReLU, y, nil, ld, rows, hw, b, rs, mu, k, off, max(hi, 6))
		ZAffineRows(res.affAdd, y, g, ld, rows, hw, b, rs, mu, k, off, hi) // g serves as the residual
		return res
	}
	same64 := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) || x != x && y != y }
	same32 := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y }
	for _, hw := range []int{1, 7, 15, 16, 17, 31, 33, 49, 196} {
		for _, rows := range []int{1, 3, 64} {
			for _, hi := range []float32{0, float32(math.Inf(1)), 6} {
				relu := hi > 0
				for _, offv := range []float32{-0.1, 0, 6} {
					ld := 3*hw + 5
					n := (rows-1)*ld + hw
					y, g := randMat(r, n), randMat(r, n)
					for i := range y {
						y[i] = 3 + 2*y[i]
						if i%7 == 3 {
							y[i] = yKink // pre = off
						}
					}
					if hw == 49 && rows == 3 && relu {
						y[ld+5] = float32(math.NaN())
					}
					fast := run(g, y, ld, rows, hw, offv, hi)
					ref := withRowLoops(func() result { return run(g, y, ld, rows, hw, offv, hi) })
					if !same64(fast.s, ref.s) || !same64(fast.q, ref.q) || !same64(fast.sg, ref.sg) || !same64(fast.sgz, ref.sgz) || !same64(fast.ds, ref.ds) {
						t.Fatalf("hw=%d rows=%d hi=%v off=%v: sums %v %v %v %v %v, the row loops' %v %v %v %v %v",
							hw, rows, hi, offv, fast.s, fast.q, fast.sg, fast.sgz, fast.ds, ref.s, ref.q, ref.sg, ref.sgz, ref.ds)
					}
					for _, o := range []struct {
						what      string
						fast, ref []float32
					}{{"ZGradRows' d", fast.d, ref.d}, {"ZAffineRows", fast.aff, ref.aff}, {"ZAffineRows (ReLU)", fast.affReLU, ref.affReLU}, {"ZAffineRows (residual)", fast.affAdd, ref.affAdd}} {
						for i := range o.fast {
							if !same32(o.fast[i], o.ref[i]) {
								t.Fatalf("hw=%d rows=%d hi=%v off=%v: %s[%d] = %v, the row loops' %v", hw, rows, hi, offv, o.what, i, o.fast[i], o.ref[i])
							}
							if (i%ld < hw) == (o.fast[i] == guard) {
								t.Fatalf("hw=%d rows=%d: %s[%d] = %v: a row element not written or a gap written", hw, rows, o.what, i, o.fast[i])
							}
						}
					}
				}
			}
		}
	}
}

// withRowLoops runs f with the channel functions looping over the rows
// and every row kernel the Go twin: the reference of the channel kernels.
func withRowLoops[T any](f func() T) T {
	s, q, sd, g, af := zsumRowsK, zsqdevRowsK, zsumdotRowsK, zgradRowsK, zaffineRowsK
	rs, rq, rsd, rg, raf := zsumK, zsqdevK, zsumdotK, zgradK, zaffineK
	defer func() {
		zsumRowsK, zsqdevRowsK, zsumdotRowsK, zgradRowsK, zaffineRowsK = s, q, sd, g, af
		zsumK, zsqdevK, zsumdotK, zgradK, zaffineK = rs, rq, rsd, rg, raf
	}()
	zsumRowsK, zsqdevRowsK, zsumdotRowsK, zgradRowsK, zaffineRowsK = nil, nil, nil, nil, nil
	zsumK, zsqdevK, zsumdotK, zgradK, zaffineK = zsumGo, zsqdevGo, zsumdotGo, zgradGo, zaffineGo
	return withGoTwins(f)
}
