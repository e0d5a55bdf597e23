package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// refGemm is the definition, summed in float64: c = acc·c + Σ_p op(A)[i,p]·op(B)[p,j].
// It also returns, per element, Σ_p |op(A)[i,p]|·|op(B)[p,j]| + acc·|c| for the error bound.
func refGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, t float64
			if acc {
				s, t = float64(c[i*ldc+j]), math.Abs(float64(c[i*ldc+j]))
			}
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				t += math.Abs(float64(av) * float64(bv))
			}
			want[i*n+j], mag[i*n+j] = s, t
		}
	}
	return want, mag
}

// tolerance bounds |computed − exact| for one element. The kernels add the
// k products in float32 with one rounding each (or per fused multiply-add),
// in KC-long blocks, then add each block sum to C: at most
// k + ⌈k/KC⌉ + 1 roundings in sequence, each with relative error at most
// u = 2⁻²⁴, so |error| ≤ (k + ⌈k/KC⌉ + 1)·u·Σ|a||b| to first order
// (Higham, Accuracy and Stability of Numerical Algorithms, §3.1, γ_n).
// The factor 1.01 covers the second-order term for these k.
func tolerance(k int, mag float64) float64 {
	steps := float64(k + (k+kc-1)/kc + 1)
	return 1.01*steps*0x1p-24*mag + 1e-30
}

var sizes = []int{1, 2, 7, 15, 16, 17, 31, 33, 63, 64, 65}

func randMat(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// negZero is −0.
var negZero = float32(math.Copysign(0, -1))

// sized is g with its output size: OH, OW of a convolution of stride
// g.Stride with padding g.Pad.
func sized(g ConvGeom) ConvGeom {
	g.OH, g.OW = (g.H+2*g.Pad-g.K)/g.Stride+1, (g.W+2*g.Pad-g.K)/g.Stride+1
	return g
}

// sameFloat reports whether a and b have the same bits or are both NaN.
// Which NaN a kernel returns is not part of its contract: IEEE 754 leaves
// the payload open, and when a sum meets two NaNs (or makes one, +Inf +
// −Inf, 0·Inf) the one an FMA or Go's max passes on depends on operand
// order; that a NaN passes on is (Go's min and max: NaN in, NaN out).
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// guard is written around C to catch out-of-bounds writes.
const guard = 37
const guardVal = float32(-12345.678)

func checkOne(t *testing.T, kern kernel, threads int, transA, transB bool, m, n, k int, acc bool, r *rand.Rand) {
	t.Helper()
	// Leading dimensions larger than needed, so a kernel that ignores them fails.
	lda, ldb, ldc := k+3, n+5, n+2
	arows := m
	if transA {
		lda, arows = m+3, k
	}
	brows := k
	if transB {
		ldb, brows = k+5, n
	}
	a := randMat(r, arows*lda)
	b := randMat(r, brows*ldb)
	raw := make([]float32, m*ldc+2*guard)
	for i := range raw {
		raw[i] = guardVal
	}
	c := raw[guard : guard+m*ldc]
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			c[i*ldc+j] = float32(r.NormFloat64())
		}
	}
	want, mag := refGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc)
	gemmWith(kern, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc, threads)
	for i := range raw {
		inC := i >= guard && i < guard+m*ldc && (i-guard)%ldc < n
		if !inC && raw[i] != guardVal {
			t.Fatalf("%s %dx%dx%d tA=%v tB=%v: wrote outside C at %d", kern.name, m, n, k, transA, transB, i-guard)
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			got := float64(c[i*ldc+j])
			if d := math.Abs(got - want[i*n+j]); d > tolerance(k, mag[i*n+j]) {
				t.Fatalf("%s threads=%d %dx%dx%d tA=%v tB=%v acc=%v: c[%d,%d] = %v, want %v (error %g > bound %g)",
					kern.name, threads, m, n, k, transA, transB, acc, i, j, got, want[i*n+j], d, tolerance(k, mag[i*n+j]))
			}
		}
	}
}

// gemmWith runs GemmThreads with a chosen micro-kernel.
func gemmWith(kern kernel, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, acc bool, threads int) {
	saved := active
	active = kern
	defer func() { active = saved }()
	GemmThreads(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc, threads)
}

func TestGemmRagged(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, kern := range available() {
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range []int{1, 7, 16, 33, 65} {
					tA, tB := r.IntN(2) == 1, r.IntN(2) == 1
					checkOne(t, kern, 1, tA, tB, m, n, k, r.IntN(2) == 1, r)
				}
			}
		}
	}
}

// TestGemmBlocks crosses the KC, MC and NC block edges and the thread split.
func TestGemmBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	shapes := [][3]int{
		{mc + 7, nc + 17, kc + 1},
		{64, 300, 784}, // lenet300 fc1 forward
		{784, 300, 64}, // its weight gradient
		{50, 500, 2*kc + 3},
		{13, 2 * nc, 5},
		{3*mc + 1, 20, 40},
	}
	for _, kern := range available() {
		for i, s := range shapes {
			// Two of the four transpose combinations per shape, rotating,
			// so each kernel sees all four and the test stays fast.
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}}[i%2*2:][:2] {
				checkOne(t, kern, 3, tr[0], tr[1], s[0], s[1], s[2], r.IntN(2) == 1, r)
			}
		}
	}
}

// TestGemmThreadsIdentical: the split over goroutines changes no bit.
func TestGemmThreadsIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{64, 300, 784}, {700, 24, 300}, {50, 4096, 500}} {
		m, n, k := s[0], s[1], s[2]
		a, b := randMat(r, m*k), randMat(r, k*n)
		var ref []float32
		for _, th := range []int{1, 2, 3, 7} {
			c := make([]float32, m*n)
			GemmThreads(false, false, m, n, k, a, k, b, n, c, n, false, th)
			if ref == nil {
				ref = c
				continue
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("%dx%dx%d: %d threads differ from 1 at %d: %v vs %v", m, n, k, th, i, c[i], ref[i])
				}
			}
		}
	}
}

func TestGemmZeroK(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Gemm(false, false, 2, 2, 0, nil, 1, nil, 2, c, 2, true)
	if c[0] != 1 || c[3] != 4 {
		t.Fatalf("accumulate with k=0 changed C: %v", c)
	}
	Gemm(false, false, 2, 2, 0, nil, 1, nil, 2, c, 2, false)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("k=0 without accumulate must zero C, got %v", c)
		}
	}
}

func TestGemmShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short A")
		}
	}()
	Gemm(false, false, 4, 4, 4, make([]float32, 15), 4, make([]float32, 16), 4, make([]float32, 16), 4, false)
}

func benchGemm(b *testing.B, kern kernel, tA, tB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 1))
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	x, y, c := randMat(r, m*k), randMat(r, k*n), make([]float32, m*n)
	saved := active
	active = kern
	defer func() { active = saved }()
	b.SetBytes(int64(2 * m * n * k)) // reported MB/s reads as MFLOP/s
	for b.Loop() {
		GemmThreads(tA, tB, m, n, k, x, lda, y, ldb, c, n, false, 1)
	}
}

func BenchmarkGemm(b *testing.B) {
	for _, s := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"fc1fwd", false, false, 64, 300, 784},
		{"fc1dW", true, false, 784, 300, 64},
		{"fc1dX", false, true, 64, 784, 300},
		{"conv2fwd", false, false, 50, 4096, 500},
		{"conv2dW", false, true, 50, 500, 4096},
		{"conv2dcol", true, false, 500, 4096, 50},
		{"square256", false, false, 256, 256, 256},
	} {
		for _, kern := range available() {
			b.Run(fmt.Sprintf("%s/%s", s.name, kern.name[:4]), func(b *testing.B) { benchGemm(b, kern, s.tA, s.tB, s.m, s.n, s.k) })
		}
	}
}

// TestGemmOffsets: C = A·B with B[p][j] = x[j + off[p]], every micro-kernel
// (and its narrow form, which m = 1, 7, 13, 16, 25 and 64 select)
// against the definition summed in float64 within Gemm's bound, no write
// outside C, for ragged m and n, k across the KC edge and repeated and
// unordered offsets; and the same bits for any number of threads, with
// A's panels packed split over goroutines (GOMAXPROCS is 3 here, so
// par.For splits them under `go test -cpu 1` too; at least one shape per
// kernel must split them).
func TestGemmOffsets(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	r := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{{1, 1, 1}, {7, 17, 9}, {12, 32, 3}, {13, 33, 27}, {16, 1156, 144}, {25, 70, kc + 5}, {64, 95, 2*kc + 1}}
	for _, kern := range available() {
		splitPacks := 0
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			acc := r.IntN(2) == 1
			lda, ldc := k+3, n+2
			a := randMat(r, m*lda)
			off := make([]int, k)
			for p := range off {
				off[p] = r.IntN(3 * n)
			}
			off[k/2] = 0
			x := randMat(r, n+3*n+OffsetSlack)
			raw := make([]float32, m*ldc+2*guard)
			for i := range raw {
				raw[i] = guardVal
			}
			c := raw[guard : guard+m*ldc]
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					c[i*ldc+j] = float32(r.NormFloat64())
				}
			}
			c0 := append([]float32(nil), c...)
			saved := active
			active = kern
			GemmOffsets(m, n, k, a, lda, x, off, c, ldc, acc, 1)
			active = saved
			for i := range raw {
				inC := i >= guard && i < guard+m*ldc && (i-guard)%ldc < n
				if !inC && raw[i] != guardVal {
					t.Fatalf("%s %dx%dx%d: wrote outside C at %d", kern.name, m, n, k, i-guard)
				}
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var want, mag float64
					if acc {
						want, mag = float64(c0[i*ldc+j]), math.Abs(float64(c0[i*ldc+j]))
					}
					for p := 0; p < k; p++ {
						pr := float64(a[i*lda+p]) * float64(x[j+off[p]])
						want, mag = want+pr, mag+math.Abs(pr)
					}
					if d := math.Abs(float64(c[i*ldc+j]) - want); d > tolerance(k, mag) {
						t.Fatalf("%s %dx%dx%d acc=%v: c[%d,%d] = %v, want %v (error %g > bound %g)", kern.name, m, n, k, acc, i, j, c[i*ldc+j], want, d, tolerance(k, mag))
					}
				}
			}
			// Threads: whole tiles per goroutine, the same bits. Did
			// GemmOffsets pack A's panels split (splitPackParts grew)?
			before := splitPackParts.Load()
			var ref []float32
			for _, th := range []int{1, 2, 3} {
				c := append([]float32(nil), c0...)
				active = kern
				GemmOffsets(m, n, k, a, lda, x, off, c, ldc, acc, th)
				active = saved
				if ref == nil {
					ref = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("%s %dx%dx%d: %d threads differ from 1 at %d", kern.name, m, n, k, th, i)
					}
				}
			}
			if splitPackParts.Load() > before {
				splitPacks++
			}
		}
		if splitPacks == 0 {
			t.Errorf("%s: no shape packs A split over goroutines", kern.name)
		}
	}
}

func TestGemmOffsetsShortXPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short x")
		}
	}()
	GemmOffsets(2, 8, 2, make([]float32, 4), 2, make([]float32, 8+5+OffsetSlack-1), []int{0, 5}, make([]float32, 16), 8, false, 1)
}

// BenchmarkGemmOffsets is resnet8-mlperf's first 3×3 stack convolution on
// one core as f32 sees it (16 output channels, 144 taps, 64 images of
// 33×34 padded columns), beside DotRows on its weight gradient's shape.
// MB/s reads as MFLOP/s.
func BenchmarkGemmOffsets(b *testing.B) {
	const m, k, wq, rows = 16, 144, 34, 64*33 + 1
	n := (rows - 1) * wq
	plane := rows * wq
	r := rand.New(rand.NewPCG(1, 1))
	a := randMat(r, m*k)
	x := randMat(r, 16*plane+4*wq+OffsetSlack)
	off := make([]int, k)
	for p := range off {
		c, i, j := p/9, p/3%3, p%3
		off[p] = c*plane + i*wq + j
	}
	c := make([]float32, m*n)
	b.Run("GemmOffsets", func(b *testing.B) {
		b.SetBytes(int64(2 * m * n * k))
		for b.Loop() {
			GemmOffsets(m, n, k, a, k, x, off, c, n, false, 1)
		}
	})
	b.Run("DotRows", func(b *testing.B) {
		dw := make([]float32, m*k)
		b.SetBytes(int64(2 * m * n * k))
		for b.Loop() {
			DotRows(m, k, n, c, n, x, off, dw, k, false, 1)
		}
	})
	b.Run("Gemm-packed", func(b *testing.B) {
		bt := randMat(r, k*n)
		b.SetBytes(int64(2 * m * n * k))
		for b.Loop() {
			GemmThreads(false, false, m, n, k, a, k, bt, n, c, n, false, 1)
		}
	})
}

// TestBNRowKernels: the batch-normalization row kernels in use (AVX-512
// where the CPU has it) give the Go twins' bits, for lengths around the
// 16-lane edges, and their sums are within (n+4)·u·Σ|terms| of the
// definitions summed in float64 (n−1 additions in some order plus at most
// three roundings inside a term, u = 2⁻²⁴).
func TestBNRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	b, rs, mu, k, off := float32(2.5), float32(0.7), float32(0.3), float32(0.8), float32(-0.1)
	a, b0, b1 := float32(1.3), float32(-0.2), float32(0.45)
	type result struct {
		sum, sq, s, dot, gz float32
		out, d              []float32
	}
	run := func(y, g []float32) result {
		var res result
		res.sum, res.sq = ZSum(y, b, rs), ZSqDev(y, b, rs, mu)
		res.out = make([]float32, len(y))
		ZAffine(res.out, y, b, rs, mu, k, off)
		res.s, res.dot = ZSumDot(g, y, b, rs, mu)
		res.d = make([]float32, len(y))
		res.gz = ZGrad(res.d, g, y, a, b0, b1, b, rs, mu)
		return res
	}
	bits := func(x float32) uint32 { return math.Float32bits(x) }
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1024, 1031} {
		y, g := randMat(r, n), randMat(r, n)
		for i := range y {
			y[i] = 3 + 2*y[i]
		}
		fast := run(y, g)
		saved := [5]any{zsumK, zsqdevK, zaffineK, zsumdotK, zgradK}
		zsumK, zsqdevK, zaffineK, zsumdotK, zgradK = zsumGo, zsqdevGo, zaffineGo, zsumdotGo, zgradGo
		ref := run(y, g)
		zsumK, zsqdevK, zaffineK, zsumdotK = saved[0].(func(*float32, int, float32, float32, *float32)), saved[1].(func(*float32, int, float32, float32, float32, *float32)), saved[2].(func(*float32, *float32, int, float32, float32, float32, float32, float32)), saved[3].(func(*float32, *float32, int, float32, float32, float32, *float32))
		zgradK = saved[4].(func(*float32, *float32, *float32, int, float32, float32, float32, float32, float32, float32, *float32))
		if bits(fast.sum) != bits(ref.sum) || bits(fast.sq) != bits(ref.sq) || bits(fast.s) != bits(ref.s) || bits(fast.dot) != bits(ref.dot) || bits(fast.gz) != bits(ref.gz) {
			t.Fatalf("n=%d: sums differ from the Go twins: %v vs %v", n, fast, ref)
		}
		for i := range y {
			if bits(fast.out[i]) != bits(ref.out[i]) || bits(fast.d[i]) != bits(ref.d[i]) {
				t.Fatalf("n=%d: element %d differs from the Go twins", n, i)
			}
		}
		check := func(what string, got float32, terms func(i int) float64) {
			var want, mag float64
			for i := 0; i < n; i++ {
				want, mag = want+terms(i), mag+math.Abs(terms(i))
			}
			if d := math.Abs(float64(got) - want); d > float64(n+4)*0x1p-24*mag+1e-30 {
				t.Fatalf("n=%d %s = %v, want %v", n, what, got, want)
			}
		}
		z := func(i int) float64 { return float64((y[i] - b) * rs) }
		check("ZSum", fast.sum, z)
		check("ZSqDev", fast.sq, func(i int) float64 { return (z(i) - float64(mu)) * (z(i) - float64(mu)) })
		check("ZSumDot sum", fast.s, func(i int) float64 { return float64(g[i]) })
		check("ZSumDot dot", fast.dot, func(i int) float64 { return float64(g[i]) * (z(i) - float64(mu)) })
		check("ZGrad", fast.gz, func(i int) float64 { return float64(fast.d[i]) * z(i) })
	}
}

// BenchmarkGemmOffsetsStacks is GemmOffsets on the 3×3 convolutions of
// a CIFAR ResNet's three stacks on one core (16, 32 and 64 channels on
// 32×32, 16×16 and 8×8 images, 64 images padded by one), by each
// micro-kernel of this CPU alone (its narrow form switched off) and as
// GemmOffsets picks ("pick"). MB/s reads as MFLOP/s.
func BenchmarkGemmOffsetsStacks(b *testing.B) {
	for _, st := range []struct{ c, hw int }{{16, 32}, {32, 16}, {64, 8}} {
		m, k, wq := st.c, 9*st.c, st.hw+2
		rows := 64*(st.hw+1) + 1
		n, plane := (rows-1)*wq, rows*wq
		r := rand.New(rand.NewPCG(1, 1))
		a := randMat(r, m*k)
		x := randMat(r, st.c*plane+4*wq+OffsetSlack)
		off := make([]int, k)
		for p := range off {
			c, i, j := p/9, p/3%3, p%3
			off[p] = c*plane + i*wq + j
		}
		c := make([]float32, m*n)
		kerns := []kernel{}
		for _, kern := range available() {
			if kern.fastOff {
				kerns = append(kerns, kern)
				if kern.narrow != nil {
					kerns = append(kerns, *kern.narrow)
				}
			}
		}
		for _, kern := range kerns {
			kern.narrow = nil
			b.Run(fmt.Sprintf("c%d/%s", st.c, kern.name), func(b *testing.B) {
				saved := active
				active = kern
				defer func() { active = saved }()
				b.SetBytes(int64(2 * m * n * k))
				for b.Loop() {
					GemmOffsets(m, n, k, a, k, x, off, c, n, false, 1)
				}
			})
		}
		b.Run(fmt.Sprintf("c%d/pick", st.c), func(b *testing.B) {
			b.SetBytes(int64(2 * m * n * k))
			for b.Loop() {
				GemmOffsets(m, n, k, a, k, x, off, c, n, false, 1)
			}
		})
	}
}

// BenchmarkOffsetTiles is OffsetTiles as a CIFAR ResNet's direct
// convolution runs it in place (nn's direct.run) on one core: 16 and 32
// channels on 32×32 and 16×16 images (64 of them, rows of w+1 with the
// padding shared), each output row's tiles written into the image's
// channel planes (row stride H·W). MB/s reads as MFLOP/s.
func BenchmarkOffsetTiles(b *testing.B) {
	for _, st := range []struct{ c, hw int }{{16, 32}, {32, 16}} {
		const images = 64
		m, k, wq := st.c, 9*st.c, st.hw+1
		rows := images*(st.hw+1) + 1
		plane := (rows*wq + 15) &^ 15
		r := rand.New(rand.NewPCG(1, 1))
		a := randMat(r, m*k)
		x := randMat(r, st.c*plane+4*wq+OffsetSlack)
		off := make([]int, k)
		for p := range off {
			c, i, j := p/9, p/3%3, p%3
			off[p] = c*plane + i*wq + j
		}
		hw := st.hw * st.hw
		y := make([]float32, images*m*hw)
		b.Run(fmt.Sprintf("c%d", st.c), func(b *testing.B) {
			var ot OffsetTiles
			nr := ot.PackA(m, k, a, k)
			per := hw / nr
			j0, dst := make([]int, per), make([]int, per)
			b.SetBytes(int64(2 * m * hw * k * images))
			for b.Loop() {
				for n := 0; n < images; n++ {
					for t := range j0 {
						oh, q := t/(st.hw/nr), t%(st.hw/nr)
						j0[t] = (n*(st.hw+1)+oh)*wq + q*nr
						dst[t] = n*m*hw + oh*st.hw + q*nr
					}
					ot.Tiles(x, off, j0, dst, y, hw)
				}
			}
		})
	}
}
