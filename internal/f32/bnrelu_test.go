package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBNReLUKernels: the fused batch-normalization + ReLU/ReLU6 kernels in
// use (AVX-512 or AVX2 where the CPU has it) give the Go twins' bits,
// and both give, bit for bit, the unfused composition they replace:
// min(max(ZAffine(y), 0), hi) and AddReLU(ZAffine(y), r) forward, and
// ZSumDot and ZGrad of the gradient masked as the separate activation
// masks it (ReLUGrad on its output: 0 < out < hi), the same operations in
// the same lanes, so no tolerance. hi is +Inf (a ReLU) and 6 (a ReLU6).
// Lengths straddle the 16-lane edges; values straddle both kinks, with
// pre planted exactly at 0 and 6, at ±Inf and NaN.
func TestBNReLUKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	b, rs, k, off := float32(2.5), float32(0.7), float32(0.8), float32(-0.1)
	// mu is z of y = 3 (float32 operations): there z − mu = +0 exactly,
	// so pre = off, planted on the kinks by off = 0 and off = 6.
	const yKink = 3
	mu := (yKink - b) * rs
	a, b0, b1 := float32(1.3), float32(-0.2), float32(0.45)
	inf := float32(math.Inf(1))
	type result struct {
		s, dot, gz  float32
		out, d, add []float32
	}
	fused := func(y, g []float32, hi float32) result {
		res := result{out: make([]float32, len(y)), d: make([]float32, len(y)), add: make([]float32, len(y))}
		ZAffineReLU(res.out, y, b, rs, mu, k, off, hi)
		ZAffineAddReLU(res.add, y, g, b, rs, mu, k, off)
		res.s, res.dot = ZSumDotReLU(g, y, b, rs, mu, k, off, hi)
		res.gz = ZGradReLU(res.d, g, y, a, b0, b1, b, rs, mu, k, off, hi)
		return res
	}
	unfused := func(y, g []float32, hi float32) result {
		res := result{out: make([]float32, len(y)), d: make([]float32, len(y)), add: make([]float32, len(y))}
		ZAffine(res.out, y, b, rs, mu, k, off)
		AddReLU(res.add, res.out, g) // g serves as the residual
		for i, v := range res.out {
			res.out[i] = min(max(v, 0), hi)
		}
		gm := make([]float32, len(g))
		reluGradGo(gm, res.out, g, hi)
		res.s, res.dot = ZSumDot(gm, y, b, rs, mu)
		res.gz = ZGrad(res.d, gm, y, a, b0, b1, b, rs, mu)
		return res
	}
	bits := math.Float32bits
	same := func(x, y float32) bool { return bits(x) == bits(y) || x != x && y != y }
	pre := func(y float32) float32 { return ((y-b)*rs-mu)*k + off }
	// pre = off exactly at y = yKink: off = 0 and off = 6 put it on the
	// kinks.
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1024, 1031} {
		for _, offv := range []float32{-0.1, 0, 6} {
			off = offv
			y, g := randMat(r, n), randMat(r, n)
			for i := range y {
				y[i] = 3 + 4*y[i]
				switch i % 7 {
				case 3, 4:
					y[i] = yKink // pre = off
				case 5:
					if i%3 == 0 {
						y[i] = []float32{float32(math.NaN()), inf, -inf}[i%9/3]
					}
				}
			}
			for _, hi := range []float32{inf, 6} {
				fast := fused(y, g, hi)
				ref := withGoTwins(func() result { return fused(y, g, hi) })
				comp := unfused(y, g, hi)
				for _, c := range []struct {
					what string
					res  result
				}{{"Go twins", ref}, {"unfused composition", comp}} {
					if !same(fast.s, c.res.s) || !same(fast.dot, c.res.dot) || !same(fast.gz, c.res.gz) {
						t.Fatalf("n=%d off=%v hi=%v: sums %v, %v, %v differ from the %s' %v, %v, %v", n, off, hi, fast.s, fast.dot, fast.gz, c.what, c.res.s, c.res.dot, c.res.gz)
					}
					for i := range y {
						if !same(fast.out[i], c.res.out[i]) || !same(fast.d[i], c.res.d[i]) || !same(fast.add[i], c.res.add[i]) {
							t.Fatalf("n=%d off=%v hi=%v: element %d (y %v): out %v d %v, the %s' %v, %v", n, off, hi, i, y[i], fast.out[i], fast.d[i], c.what, c.res.out[i], c.res.d[i])
						}
					}
				}
				kinks := 0
				for i := range y {
					if p := pre(y[i]); p == 0 || p == 6 {
						kinks++
					}
				}
				if n > 3 && offv != -0.1 && kinks == 0 {
					t.Fatalf("n=%d off=%v: no pre planted on a kink", n, off)
				}
				for i, v := range fast.out {
					if v < 0 || v > hi || bits(v) == bits(float32(math.Copysign(0, -1))) || (v != v) != (pre(y[i]) != pre(y[i])) {
						t.Fatalf("n=%d hi=%v: out[%d] = %v for y %v: not min(max(pre, 0), hi) with NaN passing", n, hi, i, v, y[i])
					}
				}
			}
		}
	}
}

// TestAddBiasRows: the kernel in use gives src + b exactly (one rounding,
// the Go twin's bits) on blocks whose widths straddle the 16-lane edges,
// and writes nothing outside the block: guard values around every row and
// after the last one survive.
func TestAddBiasRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const guard = float32(-12345)
	for _, rows := range []int{1, 2, 7} {
		for _, cols := range []int{1, 7, 15, 16, 17, 31, 32, 33, 64, 65} {
			ldSrc, ldDst := cols+3, cols+5
			src := randMat(r, (rows-1)*ldSrc+cols)
			dst := make([]float32, (rows-1)*ldDst+cols+16)
			for i := range dst {
				dst[i] = guard
			}
			b := float32(r.NormFloat64())
			AddBiasRows(dst, ldDst, src, ldSrc, rows, cols, b)
			for i, v := range dst {
				rr, c := i/ldDst, i%ldDst
				want := guard
				if rr < rows && c < cols {
					want = src[rr*ldSrc+c] + b
				}
				if math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("%dx%d: dst[%d] = %v, want %v", rows, cols, i, v, want)
				}
			}
		}
	}
}

// TestReLUGradAddReLU: the elementwise kernels in use give their
// definitions' bits (no arithmetic but one addition): ReLUGrad passes g
// exactly where 0 < y < hi (hi = 6 and +Inf; y planted at ±0, hi, ±Inf,
// NaN), else +0; AddReLU is Go's max(a+b, 0) (−0 to +0, NaN passes).
// Lengths straddle the 16-lane edges.
func TestReLUGradAddReLU(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	special := []float32{0, negZero, 6, inf, -inf, nan, 1e-30, -1e-30}
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1031} {
		y, g, a := randMat(r, n), randMat(r, n), randMat(r, n)
		for i := range y {
			y[i] *= 8
			if i%5 == 2 {
				y[i] = special[(i/5)%len(special)]
				a[i] = -y[i] // a + y = +0 or NaN
				if i%3 == 0 {
					a[i] = negZero // −0 + −0 = −0
				}
			}
		}
		for _, hi := range []float32{6, inf} {
			d := make([]float32, n)
			ReLUGrad(d, y, g, hi)
			for i, v := range y {
				want := float32(0)
				if v > 0 && v < hi {
					want = g[i]
				}
				if math.Float32bits(d[i]) != math.Float32bits(want) {
					t.Fatalf("n=%d hi=%v: ReLUGrad d[%d] = %v for y %v, g %v; want %v", n, hi, i, d[i], v, g[i], want)
				}
			}
		}
		out := make([]float32, n)
		AddReLU(out, a, y)
		for i := range out {
			want := max(a[i]+y[i], 0)
			if math.Float32bits(out[i]) != math.Float32bits(want) && !(want != want && out[i] != out[i]) {
				t.Fatalf("n=%d: AddReLU out[%d] = %v for %v + %v; want %v", n, i, out[i], a[i], y[i], want)
			}
		}
	}
}

// TestLanesNoAllocs: the summing row kernels on a caller's Lanes allocate
// nothing (their lane arrays on the stack moved to the heap once per row,
// 120 thousand allocations per CIFAR ResNet-8 training step).
func TestLanesNoAllocs(t *testing.T) {
	y, g, d := make([]float32, 40), make([]float32, 40), make([]float32, 40)
	sc := new(Lanes)
	if n := testing.AllocsPerRun(10, func() {
		sc.ZSum(y, 1, 2)
		sc.ZSqDev(y, 1, 2, 3)
		sc.ZSumDot(g, y, 1, 2, 3)
		sc.ZGrad(d, g, y, 1, 2, 3, 4, 5, 6)
		sc.ZSumDotReLU(g, y, 1, 2, 3, 4, 5, 6)
		sc.ZGradReLU(d, g, y, 1, 2, 3, 4, 5, 6, 7, 8, 6)
	}); n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

// withGoTwins runs f with the fused kernels' Go twins in place of the
// dispatched ones and restores them afterwards, even when f panics.
func withGoTwins[T any](f func() T) T {
	a, sd, g, ad := zaffineReLUK, zsumdotReLUK, zgradReLUK, zaffineAddReLUK
	defer func() { zaffineReLUK, zsumdotReLUK, zgradReLUK, zaffineAddReLUK = a, sd, g, ad }()
	zaffineReLUK, zsumdotReLUK, zgradReLUK, zaffineAddReLUK = zaffineReLUGo, zsumdotReLUGo, zgradReLUGo, zaffineAddReLUGo
	return f()
}
