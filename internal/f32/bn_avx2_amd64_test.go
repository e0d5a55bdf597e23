//go:build amd64 && !purego

package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// TestBNKernelsAVX2: each AVX2 batch-normalization kernel gives its Go
// twin's bits, a NaN where the twin has a NaN (Go's max on amd64 does not
// keep a NaN's sign, so NaN bits are not compared, as in TestBNReLUKernels)
// on every multiple of 16 from 16 to 400 elements, at
// starts 0–7 floats past a 32-byte boundary, with the lane sums starting
// from nonzero values, inputs planted at NaN, ±Inf, ±0 and tiny values,
// the gradients' masks on their edges (pre exactly −0, +0 and hi, with
// hi = 6 and +Inf) and g at NaN and ±Inf where masked off. The kernels
// run on any AVX2 CPU, so an AVX-512 one tests them too, though it does
// not use them.
func TestBNKernelsAVX2(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(41, 42))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	special := []float32{nan, inf, -inf, 0, negZero, 1e-38, -1e-38, 1e30}
	b, rs := float32(2.5), float32(0.7)
	const yKink = 3
	mu := (yKink - b) * rs // z − mu = +0 at y = yKink: pre = (+0)·k + off
	a, b0, b1 := float32(1.3), float32(-0.2), float32(0.45)
	same := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y }
	// aligned returns n floats starting at float offset s past a 32-byte
	// boundary.
	aligned := func(n, s int) []float32 {
		buf := make([]float32, n+16)
		o := int(uintptr(unsafe.Pointer(&buf[0]))&31) / 4
		return buf[(8-o)%8+s:][:n:n]
	}
	fill := func(dst, src []float32) []float32 { copy(dst, src); return dst }
	check := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if !same(got[i], want[i]) {
				t.Fatalf("%s: [%d] = %v (%#x), the Go twin's %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	params := []struct{ k, off float32 }{
		{0.8, -0.1},
		{0.8, 0},        // pre = +0 at the kink
		{-0.8, negZero}, // pre = −0·… : (+0)·(−0.8) + (−0) = −0
		{0.8, 6},        // pre = hi = 6 at the kink
		{0.8, inf},      // pre = +Inf = hi
	}
	kinks := 0
	for n := 16; n <= 400; n += 16 {
		for s := range 8 {
			y0, g0, r0 := randMat(r, n), randMat(r, n), randMat(r, n)
			for i := range y0 {
				y0[i] = 3 + 4*y0[i]
				switch i % 5 {
				case 1:
					y0[i] = yKink
					if i%10 == 1 {
						r0[i] = negZero // pre = −0 (k < 0, off = −0) plus −0: max(−0, 0) = +0
					}
				case 3:
					y0[i] = special[(i/5+s)%len(special)]
					g0[i] = special[(i/5+s+3)%len(special)]
					r0[i] = -special[(i/5+s+1)%len(special)]
				}
			}
			lanes0 := randMat(r, 32)
			y, g, res := fill(aligned(n, s), y0), fill(aligned(n, s), g0), fill(aligned(n, (s+3)%8), r0)
			lanes := func() []float32 { return fill(make([]float32, 32), lanes0) }
			out := func() []float32 { return aligned(n, (s+5)%8) }
			name := func(k string) string { return fmt.Sprintf("%s n=%d start=%d", k, n, s) }

			gl, wl := lanes(), lanes()
			zsumAVX2(&y[0], n, b, rs, &gl[0])
			zsumGo(&y[0], n, b, rs, &wl[0])
			check(name("zsum lanes"), gl, wl)
			gl, wl = lanes(), lanes()
			zsqdevAVX2(&y[0], n, b, rs, mu, &gl[0])
			zsqdevGo(&y[0], n, b, rs, mu, &wl[0])
			check(name("zsqdev lanes"), gl, wl)
			gl, wl = lanes(), lanes()
			zsumdotAVX2(&g[0], &y[0], n, b, rs, mu, &gl[0])
			zsumdotGo(&g[0], &y[0], n, b, rs, mu, &wl[0])
			check(name("zsumdot lanes"), gl, wl)
			gd, wd := out(), out()
			gl, wl = lanes(), lanes()
			zgradAVX2(&gd[0], &g[0], &y[0], n, a, b0, b1, b, rs, mu, &gl[0])
			zgradGo(&wd[0], &g[0], &y[0], n, a, b0, b1, b, rs, mu, &wl[0])
			check(name("zgrad d"), gd, wd)
			check(name("zgrad lanes"), gl, wl)
			gd, wd = out(), out()
			addReLUAVX2(&gd[0], &y[0], &res[0], n)
			addReLUK0(&wd[0], &y[0], &res[0], n)
			check(name("addReLU"), gd, wd)
			for _, hi := range []float32{6, inf} {
				gd, wd = out(), out()
				reluGradAVX2(&gd[0], &y[0], &g[0], n, hi)
				reluGradGo(wd, y, g, hi)
				check(name(fmt.Sprintf("reluGrad hi=%v", hi)), gd, wd)
			}
			for _, p := range params {
				k, off := p.k, p.off
				gd, wd = out(), out()
				zaffineAVX2(&gd[0], &y[0], n, b, rs, mu, k, off)
				zaffineGo(&wd[0], &y[0], n, b, rs, mu, k, off)
				check(name(fmt.Sprintf("zaffine k=%v off=%v", k, off)), gd, wd)
				gd, wd = out(), out()
				zaffineAddReLUAVX2(&gd[0], &y[0], &res[0], n, b, rs, mu, k, off)
				zaffineAddReLUGo(&wd[0], &y[0], &res[0], n, b, rs, mu, k, off)
				check(name(fmt.Sprintf("zaffineAddReLU k=%v off=%v", k, off)), gd, wd)
				for _, hi := range []float32{6, inf} {
					what := func(k string) string { return name(fmt.Sprintf("%s k=%v off=%v hi=%v", k, p.k, p.off, hi)) }
					for i := range y {
						if pre := ((y[i]-b)*rs-mu)*k + off; pre == 0 || pre == hi {
							kinks++
						}
					}
					gd, wd = out(), out()
					zaffineReLUAVX2(&gd[0], &y[0], n, b, rs, mu, k, off, hi)
					zaffineReLUGo(&wd[0], &y[0], n, b, rs, mu, k, off, hi)
					check(what("zaffineReLU"), gd, wd)
					gl, wl = lanes(), lanes()
					zsumdotReLUAVX2(&g[0], &y[0], n, b, rs, mu, k, off, hi, &gl[0])
					zsumdotReLUGo(&g[0], &y[0], n, b, rs, mu, k, off, hi, &wl[0])
					check(what("zsumdotReLU lanes"), gl, wl)
					gd, wd = out(), out()
					gl, wl = lanes(), lanes()
					zgradReLUAVX2(&gd[0], &g[0], &y[0], n, a, b0, b1, b, rs, mu, k, off, hi, &gl[0])
					zgradReLUGo(&wd[0], &g[0], &y[0], n, a, b0, b1, b, rs, mu, k, off, hi, &wl[0])
					check(what("zgradReLU d"), gd, wd)
					check(what("zgradReLU lanes"), gl, wl)
				}
			}
		}
	}
	if kinks == 0 {
		t.Fatal("no pre planted on a clamp's edge")
	}
}

// addReLUK0 is the Go form of addReLUK (bnrelu_rows.go's literal).
func addReLUK0(y, a, b *float32, n int) {
	ys, as, bs := unsafe.Slice(y, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
	for i := range ys {
		ys[i] = max(as[i]+bs[i], 0)
	}
}

// TestAddBiasRowsAVX2: addBiasRowsAVX2 gives addBiasRowsGo's bits on
// blocks of every width 1–70 (full 8-float steps and the one-at-a-time
// tail), strided rows at unaligned starts, special values, and writes
// nothing outside the block.
func TestAddBiasRowsAVX2(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(43, 44))
	const guard = float32(-12345)
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	for _, rows := range []int{1, 3} {
		for cols := 1; cols <= 70; cols++ {
			for s := range 3 {
				ldSrc, ldDst := cols+s, cols+2*s+1
				src := randMat(r, (rows-1)*ldSrc+cols+s)[s:]
				for i := range src {
					if i%4 == 1 {
						src[i] = special[(i/4)%len(special)]
					}
				}
				for _, b := range []float32{float32(r.NormFloat64()), 0, float32(math.Copysign(0, -1))} {
					got, want := make([]float32, (rows-1)*ldDst+cols+9), make([]float32, (rows-1)*ldDst+cols+9)
					for i := range got {
						got[i], want[i] = guard, guard
					}
					addBiasRowsAVX2(&got[1], ldDst, &src[0], ldSrc, rows, cols, b)
					addBiasRowsGo(want[1:], ldDst, src, ldSrc, rows, cols, b)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%dx%d b=%v: dst[%d] = %v, the Go twin's %v", rows, cols, b, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestBNKernelsAVX2InUse: on an AVX2 CPU without AVX-512 the dispatched
// row and channel kernels are the AVX2 ones, so the tests of the kernels
// in use (TestBNReLUKernels, TestBNChannelKernels, TestZAffineReLURowsExt,
// ...) compare them with the Go twins rather than the twins with
// themselves.
func TestBNKernelsAVX2InUse(t *testing.T) {
	if !hasBNAVX2() {
		t.Skip("not an AVX2 CPU without AVX-512")
	}
	fp := func(f any) uintptr { return reflect.ValueOf(f).Pointer() }
	for _, c := range []struct {
		name     string
		got, avx any
	}{
		{"zsum", zsumK, zsumAVX2}, {"zsqdev", zsqdevK, zsqdevAVX2}, {"zaffine", zaffineK, zaffineAVX2},
		{"zsumdot", zsumdotK, zsumdotAVX2}, {"zgrad", zgradK, zgradAVX2},
		{"zaffineReLU", zaffineReLUK, zaffineReLUAVX2}, {"zaffineAddReLU", zaffineAddReLUK, zaffineAddReLUAVX2},
		{"zsumdotReLU", zsumdotReLUK, zsumdotReLUAVX2}, {"zgradReLU", zgradReLUK, zgradReLUAVX2},
		{"reluGrad", reluGradK, reluGradAVX2}, {"addReLU", addReLUK, addReLUAVX2},
		{"zsumRows", zsumRowsK, zsumRowsAVX2}, {"zsqdevRows", zsqdevRowsK, zsqdevRowsAVX2},
		{"zsumdotRows", zsumdotRowsK, zsumdotRowsAVX2}, {"zgradRows", zgradRowsK, zgradRowsAVX2},
		{"zaffineRows", zaffineRowsK, zaffineRowsAVX2}, {"zaffineReLURowsExt", zaffineReLURowsExtK, zaffineReLURowsExtAVX2},
	} {
		if fp(c.got) != fp(c.avx) {
			t.Errorf("%s: the kernel in use is not the AVX2 one", c.name)
		}
	}
}

// TestBNChannelKernelsAVX2: the AVX2 channel kernels, called directly (so
// an AVX-512 CPU tests them too), give the bits of the loops over rows of
// the row kernels' Go twins (withRowLoops), a NaN where they have one:
// the float64 sums, every element of ZGradRows' d and of ZAffineRows'
// three forms, nothing written between rows. Rows have tails of every
// length 0–15 and hold NaN, ±Inf, ±0 and y on the kink (pre = ±0 and hi)
// anywhere, tails included; rows start unaligned (ld = hw + 0..2).
func TestBNChannelKernelsAVX2(t *testing.T) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(45, 46))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	special := []float32{nan, inf, -inf, 0, negZero, 3, 3, 3}
	b, rs := float32(2.5), float32(0.7)
	mu := (3 - b) * rs // pre = (+0)·k + off at y = 3
	a, b0, b1 := float32(1.3), float32(-0.2), float32(0.45)
	const guard = float32(-777)
	same32 := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y }
	same64 := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) || x != x && y != y }
	type result struct {
		s, q, sg, sgz, ds float64
		outs              [4][]float32 // d, ZAffineRows plain, clamped, residual
	}
	newOuts := func(n int) (o [4][]float32) {
		for j := range o {
			o[j] = make([]float32, n)
			for i := range o[j] {
				o[j][i] = guard
			}
		}
		return o
	}
	for _, hw := range []int{1, 5, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 46, 64, 79} {
		for _, rows := range []int{1, 2, 5} {
			for _, p := range []struct{ k, off, hi float32 }{{0.8, 0, 0}, {0.8, 0, inf}, {-0.8, negZero, 6}, {0.8, 6, 6}, {0.8, -0.1, inf}} {
				ld := hw + r.IntN(3)
				n := (rows-1)*ld + hw
				y, g := randMat(r, n), randMat(r, n)
				for i := range y {
					y[i] = 3 + 4*y[i]
					if r.IntN(5) == 0 {
						y[i] = special[r.IntN(len(special))]
					}
					if r.IntN(9) == 0 {
						g[i] = special[r.IntN(3)]
					}
					if y[i] == 3 && r.IntN(2) == 0 {
						g[i] = negZero // the residual −0 on pre = −0
					}
				}
				k, off, hi := p.k, p.off, p.hi
				var fast result
				fast.outs = newOuts(n)
				fast.s = zsumRowsAVX2(&y[0], ld, rows, hw, b, rs)
				fast.q = zsqdevRowsAVX2(&y[0], ld, rows, hw, b, rs, mu)
				fast.sg, fast.sgz = zsumdotRowsAVX2(&g[0], &y[0], ld, rows, hw, b, rs, mu, k, off, hi, hi > 0)
				fast.ds = zgradRowsAVX2(&fast.outs[0][0], &g[0], &y[0], ld, rows, hw, a, b0, b1, b, rs, mu, k, off, hi, hi > 0)
				zaffineRowsAVX2(&fast.outs[1][0], &y[0], nil, ld, rows, hw, b, rs, mu, k, off, hi, 0)
				zaffineRowsAVX2(&fast.outs[2][0], &y[0], nil, ld, rows, hw, b, rs, mu, k, off, max(hi, 6), 1)
				zaffineRowsAVX2(&fast.outs[3][0], &y[0], &g[0], ld, rows, hw, b, rs, mu, k, off, hi, 2)
				ref := withRowLoops(func() (res result) {
					var sc Lanes
					res.outs = newOuts(n)
					res.s = sc.ZSumRows(y, ld, rows, hw, b, rs)
					res.q = sc.ZSqDevRows(y, ld, rows, hw, b, rs, mu)
					res.sg, res.sgz = sc.ZSumDotRows(g, y, ld, rows, hw, b, rs, mu, k, off, hi)
					res.ds = sc.ZGradRows(res.outs[0], g, y, ld, rows, hw, a, b0, b1, b, rs, mu, k, off, hi)
					ZAffineRows(res.outs[1], y, nil, ld, rows, hw, b, rs, mu, k, off, 0)
					ZAffineRows(res.outs[2], y, nil, ld, rows, hw, b, rs, mu, k, off, max(hi, 6))
					ZAffineRows(res.outs[3], y, g, ld, rows, hw, b, rs, mu, k, off, hi)
					return res
				})
				what := fmt.Sprintf("hw=%d rows=%d ld=%d k=%v off=%v hi=%v", hw, rows, ld, k, off, hi)
				if !same64(fast.s, ref.s) || !same64(fast.q, ref.q) || !same64(fast.sg, ref.sg) || !same64(fast.sgz, ref.sgz) || !same64(fast.ds, ref.ds) {
					t.Fatalf("%s: sums %v %v %v %v %v, the row loops' %v %v %v %v %v", what,
						fast.s, fast.q, fast.sg, fast.sgz, fast.ds, ref.s, ref.q, ref.sg, ref.sgz, ref.ds)
				}
				for j, name := range []string{"ZGradRows' d", "ZAffineRows", "ZAffineRows (clamp)", "ZAffineRows (residual)"} {
					for i := range y {
						if !same32(fast.outs[j][i], ref.outs[j][i]) {
							t.Fatalf("%s: %s[%d] = %v (y %v), the row loops' %v", what, name, i, fast.outs[j][i], y[i], ref.outs[j][i])
						}
						if (i%ld < hw) == (fast.outs[j][i] == guard) {
							t.Fatalf("%s: %s[%d] = %v: a row element not written or a gap written", what, name, i, fast.outs[j][i])
						}
					}
				}
			}
		}
	}
}

// BenchmarkBNKernelsAVX2 times the row kernels on one 32×32 plane (1024
// elements), the Go twin against AVX2, and ZGradRows with the ReLU on
// 128 rows of 8×8 (a CIFAR ResNet's last stage at batch 128): the Go row
// loop over the Go twins, over the AVX2 row kernels, and the AVX2
// channel kernel. ns/op per call.
func BenchmarkBNKernelsAVX2(b *testing.B) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		b.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 1024
	y, g, d := randMat(r, n), randMat(r, n), make([]float32, n)
	var l [32]float32
	for _, k := range []struct {
		name     string
		goK, asm func()
	}{
		{"zgradReLU", func() { zgradReLUGo(&d[0], &g[0], &y[0], n, 1, 2, 3, 0.1, 1.1, 0.2, 0.9, 0.1, 6, &l[0]) },
			func() { zgradReLUAVX2(&d[0], &g[0], &y[0], n, 1, 2, 3, 0.1, 1.1, 0.2, 0.9, 0.1, 6, &l[0]) }},
		{"zsumdotReLU", func() { zsumdotReLUGo(&g[0], &y[0], n, 0.1, 1.1, 0.2, 0.9, 0.1, 6, &l[0]) },
			func() { zsumdotReLUAVX2(&g[0], &y[0], n, 0.1, 1.1, 0.2, 0.9, 0.1, 6, &l[0]) }},
		{"zaffineReLU", func() { zaffineReLUGo(&d[0], &y[0], n, 0.1, 1.1, 0.2, 0.9, 0.1, 6) },
			func() { zaffineReLUAVX2(&d[0], &y[0], n, 0.1, 1.1, 0.2, 0.9, 0.1, 6) }},
		{"zsqdev", func() { zsqdevGo(&y[0], n, 0.1, 1.1, 0.2, &l[0]) }, func() { zsqdevAVX2(&y[0], n, 0.1, 1.1, 0.2, &l[0]) }},
		{"reluGrad", func() { reluGradGo(d, y, g, 6) }, func() { reluGradAVX2(&d[0], &y[0], &g[0], n, 6) }},
	} {
		b.Run(k.name+"/go", func(b *testing.B) {
			for b.Loop() {
				k.goK()
			}
		})
		b.Run(k.name+"/avx2", func(b *testing.B) {
			for b.Loop() {
				k.asm()
			}
		})
	}
	const rows, hw = 128, 64
	ry, rg, rd := randMat(r, rows*hw), randMat(r, rows*hw), make([]float32, rows*hw)
	var sc Lanes
	rowsCall := func() { sc.ZGradRows(rd, rg, ry, hw, rows, hw, 1, 2, 3, 0.1, 1.1, 0.2, 0.9, 0.1, 6) }
	b.Run("zgradReLURows/go", func(b *testing.B) {
		withRowLoops(func() int {
			for b.Loop() {
				rowsCall()
			}
			return 0
		})
	})
	b.Run("zgradReLURows/loop-avx2", func(b *testing.B) {
		saved := zgradRowsK
		defer func() { zgradRowsK = saved }()
		zgradRowsK = nil
		sg := zgradReLUK
		defer func() { zgradReLUK = sg }()
		zgradReLUK = zgradReLUAVX2
		for b.Loop() {
			rowsCall()
		}
	})
	b.Run("zgradReLURows/avx2", func(b *testing.B) {
		for b.Loop() {
			zgradRowsAVX2(&rd[0], &rg[0], &ry[0], hw, rows, hw, 1, 2, 3, 0.1, 1.1, 0.2, 0.9, 0.1, 6, true)
		}
	})
}
