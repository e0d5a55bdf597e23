package f32

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Blocking: a KC-deep slice of k at a time, MC rows of A packed per block,
// NC columns of B packed per block. KC·NR·4 bytes of B (16 KiB at NR=16)
// stay in L1 while a micro-panel of A streams; MC·KC·4 = 120 KiB of packed
// A stays in L2; KC·NC·4 = 768 KiB of packed B sits in L2/L3.
const (
	kc = 256
	mc = 120 // a multiple of every MR (6, 12)
	nc = 768 // a multiple of every NR (16, 32)
)

// kernel multiplies a packed MR×kc panel of A by a packed kc×NR panel of B
// into the MR×NR tile at c (row stride ldc): c = acc·c + A·B. The panels
// are laid out k-major: a[p·MR+i], b[p·NR+j].
type kernel struct {
	name   string
	mr, nr int
	f      func(k int, a, b, c *float32, ldc int, acc bool)
	// fo is f with row p of B read at b + off[p] (GemmOffsets), and
	// fastOff says it is an assembly kernel (worth using over packing).
	fo      func(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)
	fastOff bool
	// dot is DotRows's 4×4 kernel (nil: dotGo).
	dot func(k int, a *float32, aoff *int, b *float32, boff *int, acc *float32)
	// narrow is an offset kernel with fewer rows (and fo only), for A
	// whose row count it pads less (16, 32 and 64 output channels on the
	// 8-row form of a 12-row kernel). Each element's sum is the same.
	narrow *kernel
}

// active is the micro-kernel Gemm uses, chosen at init from the CPU.
var active = pick()

// Kernel names the micro-kernel in use ("avx512 12x32", "avx2 6x16", "go 6x16").
func Kernel() string { return active.name }

// minParallel is the size (m·n·k multiply-adds) from which Gemm uses more
// than one goroutine: below it the goroutine start-up (a few µs) costs more
// than the halved work.
const minParallel = 1 << 18

// Gemm computes C = op(A)·op(B), or C += op(A)·op(B) when accumulate is
// true, where op(A) is m×k and op(B) is k×n. With transA false A is stored
// m×k (element (i,p) at a[i·lda+p]), with transA true it is stored k×m
// (element (i,p) at a[p·lda+i]); likewise B. C is m×n at c[i·ldc+j].
// It uses up to GOMAXPROCS goroutines for large products; the result is
// the same for any number of them. It panics if a slice is too short for
// its shape or a leading dimension is too small.
func Gemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	GemmThreads(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, runtime.GOMAXPROCS(0))
}

// GemmThreads is Gemm with at most threads goroutines.
func GemmThreads(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool, threads int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("f32: negative size %dx%dx%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat("A", a, lda, m, k, transA)
	checkMat("B", b, ldb, k, n, transB)
	// op(B) is k×n; as an Operand it is its n×k transpose. GemmOperands
	// checks C and handles k = 0.
	GemmOperands(m, n, k, Dense(a, lda, transA), Dense(b, ldb, !transB), c, ldc, accumulate, threads)
}

// Operand is a GEMM operand that packs itself: A as the m×k matrix op(A),
// B as the n×k matrix op(B)ᵀ, so that both are "rows × depth". Pack writes
// rows [r0, r0+rows) over depth [p0, p0+depth) into panels of w rows,
// panel-major and depth-major within a panel:
//
//	dst[(r/w)·depth·w + p·w + r%w] = X[r0+r][p0+p]   (0 ≤ r < rows, 0 ≤ p < depth)
//
// and zeros for the rows that pad the last panel up to w. An operand can
// compute its elements as it packs them (an implicit im2col), so the
// matrix need never be stored.
type Operand interface {
	Pack(dst []float32, r0, p0, rows, depth, w int)
}

// Dense is the rows×depth matrix X stored row-major with stride ld
// (X[r][p] = x[r·ld+p]), or, if trans, its transpose is stored
// (X[r][p] = x[p·ld+r]). It does not check bounds beyond Go's own.
func Dense(x []float32, ld int, trans bool) Operand { return dense{x, ld, trans} }

type dense struct {
	x     []float32
	ld    int
	trans bool
}

func (d dense) Pack(dst []float32, r0, p0, rows, depth, w int) {
	pack(dst, d.x, d.ld, d.trans, r0, p0, rows, depth, w)
}

// GemmOperands is Gemm on operands that pack themselves: C (m×n, stride
// ldc) = [C +] A·Bᵀ where A is m×k and B is n×k, with at most threads
// goroutines. It checks only C; the operands must cover their sizes.
func GemmOperands(m, n, k int, a, b Operand, c []float32, ldc int, accumulate bool, threads int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("f32: negative size %dx%dx%d", m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat("C", c, ldc, m, n, false)
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	kern := active
	if threads < 1 || m*n*k < minParallel {
		threads = 1
	}
	// Split the output into column ranges (whole NR panels) when there are
	// enough of them, else into row ranges (whole MR panels).
	colPanels := (n + kern.nr - 1) / kern.nr
	rowPanels := (m + kern.mr - 1) / kern.mr
	if threads > 1 && colPanels < 2*threads && rowPanels > colPanels {
		parts := min(threads, rowPanels)
		split(parts, func(t int) {
			i0 := rowPanels * t / parts * kern.mr
			i1 := min(m, rowPanels*(t+1)/parts*kern.mr)
			serial(kern, a, b, i0, i1, 0, n, k, c, ldc, accumulate)
		})
		return
	}
	parts := min(threads, colPanels)
	if parts <= 1 {
		serial(kern, a, b, 0, m, 0, n, k, c, ldc, accumulate)
		return
	}
	split(parts, func(t int) {
		j0 := colPanels * t / parts * kern.nr
		j1 := min(n, colPanels*(t+1)/parts*kern.nr)
		serial(kern, a, b, 0, m, j0, j1, k, c, ldc, accumulate)
	})
}

// split runs f(0), …, f(parts−1) at once and returns when all are done:
// parts−1 on new goroutines and f(0) on the caller's, which would
// otherwise sit idle in Wait (one goroutine hand-off fewer per call).
// The parts are fixed by the caller, so results do not depend on which
// goroutine runs which part.
func split(parts int, f func(t int)) {
	var wg sync.WaitGroup
	for t := 1; t < parts; t++ {
		wg.Go(func() { f(t) })
	}
	f(0)
	wg.Wait()
}

// dispatch runs f(0), …, f(parts−1) on at most threads goroutines (the
// caller's among them), each taking the next part not yet taken: on a
// machine whose cores are shared, a goroutine that gets less of a core
// does fewer parts instead of holding the others up at the join. The
// parts are fixed by the caller, so results do not depend on which
// goroutine runs which part.
func dispatch(parts, threads int, f func(part int)) {
	threads = min(threads, parts)
	if threads <= 1 {
		for p := 0; p < parts; p++ {
			f(p)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			p := int(next.Add(1)) - 1
			if p >= parts {
				return
			}
			f(p)
		}
	}
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// partsPerThread is how many parts dispatch's callers cut per goroutine.
const partsPerThread = 4

func checkMat(name string, x []float32, ld, rows, cols int, trans bool) {
	if trans {
		rows, cols = cols, rows
	}
	if ld < max(1, cols) {
		panic(fmt.Sprintf("f32: leading dimension of %s is %d, less than its %d columns", name, ld, cols))
	}
	if rows > 0 && cols > 0 && len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("f32: %s has %d elements, %dx%d with stride %d needs %d", name, len(x), rows, cols, ld, (rows-1)*ld+cols))
	}
}

// buffers are one goroutine's packing space.
type buffers struct {
	a, b, tile []float32
}

var pool sync.Pool

func getBuffers(kern kernel) *buffers {
	if v, ok := pool.Get().(*buffers); ok && len(v.tile) == kern.mr*kern.nr {
		return v
	}
	return &buffers{
		a:    make([]float32, mc*kc),
		b:    make([]float32, kc*nc),
		tile: make([]float32, kern.mr*kern.nr),
	}
}

// serial is the blocked algorithm on one goroutine, for the block
// [i0, i1) × [j0, j1) of C.
func serial(kern kernel, a, b Operand, i0, i1, j0, j1, k int, c []float32, ldc int, accumulate bool) {
	buf := getBuffers(kern)
	defer pool.Put(buf)
	mr, nr := kern.mr, kern.nr
	for jc := j0; jc < j1; jc += nc {
		ncb := min(nc, j1-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			b.Pack(buf.b, jc, pc, ncb, kcb, nr)
			acc := accumulate || pc > 0
			for ic := i0; ic < i1; ic += mc {
				mcb := min(mc, i1-ic)
				a.Pack(buf.a, ic, pc, mcb, kcb, mr)
				for jr := 0; jr < ncb; jr += nr {
					bp := buf.b[jr*kcb:]
					w := min(nr, ncb-jr)
					for ir := 0; ir < mcb; ir += mr {
						ap := buf.a[ir*kcb:]
						h := min(mr, mcb-ir)
						ct := c[(ic+ir)*ldc+jc+jr:]
						if h == mr && w == nr {
							kern.f(kcb, &ap[0], &bp[0], &ct[0], ldc, acc)
							continue
						}
						// Edge tile: compute the whole padded tile aside,
						// then add (or copy) its valid part.
						kern.f(kcb, &ap[0], &bp[0], &buf.tile[0], nr, false)
						for i := 0; i < h; i++ {
							row := ct[i*ldc : i*ldc+w]
							t := buf.tile[i*nr : i*nr+w]
							if acc {
								for j := range row {
									row[j] += t[j]
								}
							} else {
								copy(row, t)
							}
						}
					}
				}
			}
		}
	}
}

// pack implements Dense's Pack.
func pack(dst, x []float32, ld int, trans bool, r0, p0, rows, depth, w int) {
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		if trans {
			for p := 0; p < depth; p++ {
				src := x[(p0+p)*ld+r0+ir:]
				copy(d[p*w:p*w+h], src[:h])
				clear(d[p*w+h : p*w+w])
			}
			continue
		}
		i := 0
		// Four rows at a time: each p writes four adjacent floats.
		for ; i+4 <= h; i += 4 {
			s0 := x[(r0+ir+i)*ld+p0:][:depth]
			s1 := x[(r0+ir+i+1)*ld+p0:][:depth]
			s2 := x[(r0+ir+i+2)*ld+p0:][:depth]
			s3 := x[(r0+ir+i+3)*ld+p0:][:depth]
			for p := range s0 {
				q := d[p*w+i:][:4]
				q[0], q[1], q[2], q[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; i < h; i++ {
			src := x[(r0+ir+i)*ld+p0 : (r0+ir+i)*ld+p0+depth]
			for p, v := range src {
				d[p*w+i] = v
			}
		}
		for i := h; i < w; i++ {
			for p := 0; p < depth; p++ {
				d[p*w+i] = 0
			}
		}
	}
}

// OffsetSlack is how many elements GemmOffsets may read past x[n−1+max(off)].
const OffsetSlack = 64

// OffsetsFast reports whether GemmOffsets runs an assembly micro-kernel
// on this CPU (AVX2 or AVX-512); without one it runs the portable kernel,
// correct but slower than packing B for Gemm.
func OffsetsFast() bool { return active.fastOff }

// DotRowsFast reports whether DotRows runs an assembly kernel on this CPU
// (AVX-512 today); without one it runs the portable kernel.
func DotRowsFast() bool { return active.dot != nil }

// GemmOffsets computes C (m×n, stride ldc) = [C +] A·B where A is m×k,
// row-major with stride lda, and B is k×n with B[p][j] = x[j + off[p]]:
// B is never packed, each of its rows is read in place at a fixed offset.
// That is a stride-1 convolution over a zero-padded input, whose taps are
// fixed offsets from the output position (j), so the im2col matrix is
// never formed. x must hold at least n + max(off) + OffsetSlack elements
// (the last tile's reads run past column n−1); off must not be negative.
//
// Each element is summed as Gemm sums it (KC-long blocks, each from zero
// in increasing p, added to C in increasing block order), and work is
// shared between at most threads goroutines by ranges of whole NR-column
// tiles, so the result does not depend on threads.
func GemmOffsets(m, n, k int, a []float32, lda int, x []float32, off []int, c []float32, ldc int, accumulate bool, threads int) {
	if m < 0 || n < 0 || k < 0 || len(off) < k {
		panic(fmt.Sprintf("f32: GemmOffsets: sizes %dx%dx%d with %d offsets", m, n, k, len(off)))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat("A", a, lda, m, k, false)
	checkMat("C", c, ldc, m, n, false)
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	maxOff := 0
	for _, o := range off[:k] {
		if o < 0 {
			panic(fmt.Sprintf("f32: GemmOffsets: negative offset %d", o))
		}
		maxOff = max(maxOff, o)
	}
	if len(x) < n+maxOff+OffsetSlack {
		panic(fmt.Sprintf("f32: GemmOffsets: x has %d elements, %d columns at offsets up to %d need %d", len(x), n, maxOff, n+maxOff+OffsetSlack))
	}
	kern := active
	if kern.fo == nil {
		kern = goKernel
	}
	if nk := kern.narrow; nk != nil && roundUp(m, nk.mr) < roundUp(m, kern.mr) {
		kern = *nk
	}
	mr, nr := kern.mr, kern.nr
	// A is packed once, KC block by KC block (block pc at pc·mpad), and
	// shared by the goroutines.
	mpad := roundUp(m, mr)
	ap := make([]float32, mpad*k)
	for pc := 0; pc < k; pc += kc {
		kcb := min(kc, k-pc)
		pack(ap[pc*mpad:], a, lda, false, 0, pc, m, kcb, mr)
	}
	tiles := (n + nr - 1) / nr
	if threads < 1 || m*n*k < minParallel {
		threads = 1
	}
	parts := min(partsPerThread*threads, tiles)
	dispatch(parts, threads, func(t int) {
		var tile [12 * 32]float32 // the largest MR×NR
		for jt := tiles * t / parts; jt < tiles*(t+1)/parts; jt++ {
			j0 := jt * nr
			w := min(nr, n-j0)
			for pc := 0; pc < k; pc += kc {
				kcb := min(kc, k-pc)
				acc := accumulate || pc > 0
				for ir := 0; ir < m; ir += mr {
					h := min(mr, m-ir)
					a := &ap[pc*mpad+ir*kcb]
					if h == mr && w == nr {
						kern.fo(kcb, a, &x[j0], &off[pc], &c[ir*ldc+j0], ldc, acc)
						continue
					}
					kern.fo(kcb, a, &x[j0], &off[pc], &tile[0], nr, false)
					for i := 0; i < h; i++ {
						row := c[(ir+i)*ldc+j0:][:w]
						src := tile[i*nr:][:w]
						if acc {
							for j := range row {
								row[j] += src[j]
							}
						} else {
							copy(row, src)
						}
					}
				}
			}
		}
	})
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// dotChunk is how much of k DotRows takes at a time (a multiple of 16):
// the chunk of A's rows and of B's (overlapping) rows stays in L2 while
// every tile runs over it.
const dotChunk = 2048

// DotRows computes C (m×n, stride ldc) = [C +] A·Bᵀ where A is m×k,
// row-major with stride lda, and row j of B is b[boff[j] : boff[j]+k]:
// both operands are read in place, nothing is packed. It is the weight
// gradient of a convolution on a padded layout, where row j of B is the
// input at tap j's offset and the sum runs over output positions.
//
// Each element is summed in 16 lanes, lane r holding the products of the
// p ≡ r (mod 16) in increasing p, and the lanes are added pairwise,
// ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then the two halves, then to C.
// The order depends on k alone; work is shared between at most threads
// goroutines by whole 4×4 tiles, so the result does not depend on threads.
func DotRows(m, n, k int, a []float32, lda int, b []float32, boff []int, c []float32, ldc int, accumulate bool, threads int) {
	if m < 0 || n < 0 || k < 0 || len(boff) < n {
		panic(fmt.Sprintf("f32: DotRows: sizes %dx%dx%d with %d row offsets", m, n, k, len(boff)))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat("A", a, lda, m, k, false)
	checkMat("C", c, ldc, m, n, false)
	for _, o := range boff[:n] {
		if o < 0 || o+k > len(b) {
			panic(fmt.Sprintf("f32: DotRows: B row at %d, %d long, outside its %d elements", o, k, len(b)))
		}
	}
	dot := active.dot
	if dot == nil {
		dot = dotGo
	}
	mb, nb := (m+3)/4, (n+3)/4
	tiles := mb * nb
	if threads < 1 || m*n*k < minParallel {
		threads = 1
	}
	parts := min(partsPerThread*threads, tiles)
	k16 := k &^ 15
	dispatch(parts, threads, func(t int) {
		t0, t1 := tiles*t/parts, tiles*(t+1)/parts
		acc := make([]float32, (t1-t0)*256)
		// A tile's rows past m and columns past n repeat row 0 / column
		// 0 (valid addresses); their sums are dropped.
		var aoff, off [4]int
		for p0 := 0; p0 < k16; p0 += dotChunk {
			kk := min(dotChunk, k16-p0)
			for tt := t0; tt < t1; tt++ {
				i0, j0 := tt/nb*4, tt%nb*4
				for q := range off {
					aoff[q] = below(i0+q, m)*lda + p0
					off[q] = boff[below(j0+q, n)] + p0
				}
				dot(kk, &a[0], &aoff[0], &b[0], &off[0], &acc[(tt-t0)*256])
			}
		}
		for tt := t0; tt < t1; tt++ {
			i0, j0 := tt/nb*4, tt%nb*4
			ac := acc[(tt-t0)*256:][:256]
			for i := i0; i < min(i0+4, m); i++ {
				for j := j0; j < min(j0+4, n); j++ {
					lanes := (*[16]float32)(ac[((i-i0)*4+j-j0)*16:])
					ar, br := a[i*lda:][:k], b[boff[j]:][:k]
					for p := k16; p < k; p++ {
						lanes[p&15] += ar[p] * br[p]
					}
					sum := reduce16(lanes)
					if accumulate {
						c[i*ldc+j] += sum
					} else {
						c[i*ldc+j] = sum
					}
				}
			}
		}
	})
}

// below is i if i < n, else 0.
func below(i, n int) int {
	if i < n {
		return i
	}
	return 0
}

// reduce16 adds 16 lanes pairwise: ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), and so on.
func reduce16(l *[16]float32) float32 {
	var h [2]float32
	for q := range h {
		x := l[q*8:][:8]
		h[q] = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]))
	}
	return h[0] + h[1]
}

// dotGo is the portable DotRows kernel, the reference twin of the
// assembly ones: acc[(4i+j)·16 + p mod 16] += a[aoff[i]+p]·b[boff[j]+p]
// for p < k (a multiple of 16), in increasing p.
func dotGo(k int, a *float32, aoff *int, b *float32, boff *int, acc *float32) {
	ac := unsafe.Slice(acc, 256)
	aoffs, boffs := unsafe.Slice(aoff, 4), unsafe.Slice(boff, 4)
	for i := 0; i < 4; i++ {
		ar := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(a), 4*aoffs[i])), k)
		for j := 0; j < 4; j++ {
			br := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(b), 4*boffs[j])), k)
			lanes := (*[16]float32)(ac[(4*i+j)*16:])
			for p := 0; p < k; p += 16 {
				x, y := ar[p:p+16:p+16], br[p:p+16:p+16]
				for r := range lanes {
					lanes[r] += x[r] * y[r]
				}
			}
		}
	}
}

// Row kernels of the training-time batch normalization, on
// z[i] = (y[i] − b)·rs computed in float32 (one subtraction and one
// multiplication, rounded each). Sums are kept in 16 lanes, element i in
// lane i mod 16 in increasing i, and the lanes added as reduce16 does: the
// order depends on the length alone. The AVX-512 kernels do each lane's
// operations in the same order with the same roundings (no fused
// multiply-adds) as the Go twins, so both give the same bits.

// ZSum returns Σ z[i].
func ZSum(y []float32, b, rs float32) float32 {
	var lanes [16]float32
	n16 := len(y) &^ 15
	if n16 > 0 {
		zsumK(&y[0], n16, b, rs, &lanes[0])
	}
	for i := n16; i < len(y); i++ {
		lanes[i&15] += (y[i] - b) * rs
	}
	return reduce16(&lanes)
}

// ZSqDev returns Σ (z[i] − mu)².
func ZSqDev(y []float32, b, rs, mu float32) float32 {
	var lanes [16]float32
	n16 := len(y) &^ 15
	if n16 > 0 {
		zsqdevK(&y[0], n16, b, rs, mu, &lanes[0])
	}
	for i := n16; i < len(y); i++ {
		d := (y[i]-b)*rs - mu
		lanes[i&15] += d * d
	}
	return reduce16(&lanes)
}

// ZAffine sets out[i] = (z[i] − mu)·k + off for z of y[:len(out)].
func ZAffine(out, y []float32, b, rs, mu, k, off float32) {
	y = y[:len(out)]
	n16 := len(out) &^ 15
	if n16 > 0 {
		zaffineK(&out[0], &y[0], n16, b, rs, mu, k, off)
	}
	for i := n16; i < len(out); i++ {
		out[i] = ((y[i]-b)*rs-mu)*k + off
	}
}

// ZSumDot returns Σ g[i] and Σ g[i]·(z[i] − mu) for z of y[:len(g)].
func ZSumDot(g, y []float32, b, rs, mu float32) (sum, dot float32) {
	y = y[:len(g)]
	var lanes [32]float32 // Σ g, then Σ g·(z − mu)
	n16 := len(g) &^ 15
	if n16 > 0 {
		zsumdotK(&g[0], &y[0], n16, b, rs, mu, &lanes[0])
	}
	for i := n16; i < len(g); i++ {
		lanes[i&15] += g[i]
		lanes[16+i&15] += g[i] * ((y[i]-b)*rs - mu)
	}
	return reduce16((*[16]float32)(lanes[:16])), reduce16((*[16]float32)(lanes[16:]))
}

// ZGrad sets d[i] = a·g[i] + b0 + b1·(z[i] − mu) for z of y[:len(d)] and
// returns Σ d[i]·z[i].
func ZGrad(d, g, y []float32, a, b0, b1, b, rs, mu float32) float32 {
	g, y = g[:len(d)], y[:len(d)]
	var lanes [16]float32
	n16 := len(d) &^ 15
	if n16 > 0 {
		zgradK(&d[0], &g[0], &y[0], n16, a, b0, b1, b, rs, mu, &lanes[0])
	}
	for i := n16; i < len(d); i++ {
		z := (y[i] - b) * rs
		d[i] = a*g[i] + b0 + b1*(z-mu)
		lanes[i&15] += d[i] * z
	}
	return reduce16(&lanes)
}

// The row kernels in use: the Go twins below, or assembly (kernel_amd64.go).
var (
	zsumK    = zsumGo
	zsqdevK  = zsqdevGo
	zaffineK = zaffineGo
	zsumdotK = zsumdotGo
	zgradK   = zgradGo
)

// zsumGo adds z[i] into lanes[i mod 16] for i < n (a multiple of 16).
func zsumGo(y *float32, n int, b, rs float32, lanes *float32) {
	ys, l := unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j, v := range ys[i : i+16 : i+16] {
			l[j] += (v - b) * rs
		}
	}
}

// zsqdevGo adds (z[i] − mu)² into lanes[i mod 16] for i < n.
func zsqdevGo(y *float32, n int, b, rs, mu float32, lanes *float32) {
	ys, l := unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j, v := range ys[i : i+16 : i+16] {
			d := (v-b)*rs - mu
			l[j] += d * d
		}
	}
}

// zaffineGo sets out[i] = (z[i] − mu)·k + off for i < n.
func zaffineGo(out, y *float32, n int, b, rs, mu, k, off float32) {
	os, ys := unsafe.Slice(out, n), unsafe.Slice(y, n)
	for i, v := range ys {
		os[i] = ((v-b)*rs-mu)*k + off
	}
}

// zsumdotGo adds g[i] into lanes[i mod 16] and g[i]·(z[i] − mu) into
// lanes[16 + i mod 16] for i < n.
func zsumdotGo(g, y *float32, n int, b, rs, mu float32, lanes *float32) {
	gs, ys, l := unsafe.Slice(g, n), unsafe.Slice(y, n), (*[32]float32)(unsafe.Slice(lanes, 32))
	for i := 0; i < n; i += 16 {
		for j := range 16 {
			l[j] += gs[i+j]
			l[16+j] += gs[i+j] * ((ys[i+j]-b)*rs - mu)
		}
	}
}

// zgradGo sets d[i] = a·g[i] + b0 + b1·(z[i] − mu) and adds d[i]·z[i]
// into lanes[i mod 16] for i < n.
func zgradGo(d, g, y *float32, n int, a, b0, b1, b, rs, mu float32, lanes *float32) {
	ds, gs, ys, l := unsafe.Slice(d, n), unsafe.Slice(g, n), unsafe.Slice(y, n), (*[16]float32)(unsafe.Slice(lanes, 16))
	for i := 0; i < n; i += 16 {
		for j := range 16 {
			z := (ys[i+j] - b) * rs
			ds[i+j] = a*gs[i+j] + b0 + b1*(z-mu)
			l[j] += ds[i+j] * z
		}
	}
}
