package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestBNChannelKernels: the channel kernels in use (AVX-512 or AVX2
// where the CPU has it) give, bit for bit, the loops over rows of the single-row
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

// TestZAffineReLURowsExt: ZAffineReLURowsExt stores ZAffineRows' values
// with the clamp hi, bit for bit, leaves the gaps between rows alone, and
// folds into its Extremes16 what its Go twin folds: the same NaN lanes
// and, in the other lanes, the same minima and maxima; Reduce gives the
// stored values' extremes. Row lengths straddle the 16-lane edges, rows
// are strided, values cross both clamps and hit them exactly, and some
// cases hold a NaN or an infinite input.
func TestZAffineReLURowsExt(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 33))
	// The kernels get rs = 1/0.7 (the reciprocal of the standard
	// deviation), and mu = z(3) = (3 − b)·rs in the kernels' float32
	// steps: at y = 3, z − mu = 0 exactly and pre = 0·k + off, on the
	// ReLU's kink for off = ±0 (−0 with k < 0: −0 + −0, stored as +0) and
	// on the clamp for off = 6 = hi.
	b, rs := float32(2.5), float32(1/float32(0.7))
	mu := (3 - b) * rs
	if z := (float32(3) - b) * rs; z-mu != 0 || math.Signbit(float64(z-mu)) {
		t.Fatalf("z(3) − mu = %v, want +0", z-mu)
	}
	negZero := float32(math.Copysign(0, -1))
	const guard = float32(-777)
	for _, hw := range []int{1, 5, 15, 16, 17, 31, 33, 49, 196} {
		for _, rows := range []int{1, 3, 6} {
			for _, hi := range []float32{6, float32(math.Inf(1))} {
				for _, ko := range []struct{ k, off float32 }{{0.8, 0}, {0.8, 6}, {0.8, 1.5}, {-0.8, negZero}, {-0.8, 0}, {-0.8, 6}} {
					k, off := ko.k, ko.off
					for special := range 3 {
						ld := hw + r.IntN(3)
						y := make([]float32, (rows-1)*ld+hw)
						for i := range y {
							y[i] = float32(r.NormFloat64()*6) + 3
							if r.IntN(8) == 0 {
								y[i] = 3
							}
						}
						at := r.IntN(rows)*ld + r.IntN(hw) // inside a row
						switch special {
						case 1:
							y[at] = float32(math.NaN())
						case 2:
							y[at] = float32(math.Inf(1 - 2*r.IntN(2)))
						}
						ref := make([]float32, len(y))
						ZAffineRows(ref, y, nil, ld, rows, hw, b, rs, mu, k, off, hi)
						var got, twin [2][]float32
						var ext [2]Extremes16
						for j, fn := range []func(out []float32, e *Extremes16){
							func(out []float32, e *Extremes16) {
								ZAffineReLURowsExt(out, y, ld, rows, hw, b, rs, mu, k, off, hi, e)
							},
							func(out []float32, e *Extremes16) {
								zaffineReLURowsExtGo(out, y, ld, rows, hw, b, rs, mu, k, off, hi, e)
							},
						} {
							got[j] = make([]float32, len(y))
							for i := range got[j] {
								got[j][i] = guard
							}
							ext[j].Reset()
							fn(got[j], &ext[j])
						}
						twin = got
						what := func() string {
							return fmt.Sprintf("hw=%d rows=%d ld=%d hi=%v k=%v off=%v special %d", hw, rows, ld, hi, k, off, special)
						}
						var mn, mx float32 = float32(math.Inf(1)), float32(math.Inf(-1))
						nan := false
						for i := range y {
							inRow := i%ld < hw
							for j := range 2 {
								if inRow && math.Float32bits(twin[j][i]) != math.Float32bits(ref[i]) || !inRow && twin[j][i] != guard {
									t.Fatalf("%s, kernel %d: out[%d] = %v, ZAffineRows %v", what(), j, i, twin[j][i], ref[i])
								}
							}
							if inRow {
								v := ref[i]
								nan = nan || v != v
								if v < mn {
									mn = v
								}
								if v > mx {
									mx = v
								}
							}
						}
						if ext[0].NaN != ext[1].NaN {
							t.Fatalf("%s: NaN lanes %016b, twin %016b", what(), ext[0].NaN, ext[1].NaN)
						}
						for l := range 16 {
							if ext[0].NaN&(1<<l) == 0 && (math.Float32bits(ext[0].Min[l]) != math.Float32bits(ext[1].Min[l]) || math.Float32bits(ext[0].Max[l]) != math.Float32bits(ext[1].Max[l])) {
								t.Fatalf("%s: lane %d extremes %v, %v, twin %v, %v", what(), l, ext[0].Min[l], ext[0].Max[l], ext[1].Min[l], ext[1].Max[l])
							}
						}
						gmn, gmx, gnan := ext[0].Reduce()
						if gnan != nan || !nan && (gmn != mn || gmx != mx) {
							t.Fatalf("%s: Reduce %v, %v, NaN %v; the output's %v, %v, NaN %v", what(), gmn, gmx, gnan, mn, mx, nan)
						}
						if special == 1 && !nan {
							t.Fatalf("%s: a NaN input stored no NaN", what())
						}
					}
				}
			}
		}
	}
}
