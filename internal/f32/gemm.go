package f32

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/tinyqat/tinyqat/internal/par"
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
	// fom, if set, is fo on the first w (1 ≤ w ≤ NR) columns of the
	// tile, reading B and C only there (a last partial panel read in
	// place), its products and order fo's; with bias not nil, the
	// epilogue min(max(c + bias[i], lo), hi) is applied before the
	// store (tileOut's operations, one pass over the tile fewer).
	fom func(k int, a, b *float32, off *int, c *float32, ldc int, acc bool, w int, bias *float32, lo, hi float32)
	// fom4, if set, is fom on the first four rows of the panel (a
	// last panel of at most four rows, in a tile): those rows' products
	// and order, half the work of an 8-row fom.
	fom4 func(k int, a, b *float32, off *int, c *float32, ldc int, acc bool, w int, bias *float32, lo, hi float32)
	// fo4, if set, is fo on rows 0–3 of the panel (a last panel of at
	// most four rows in GemmOffsets and OffsetTiles): those rows'
	// products and order; it reads and writes only rows 0–3 of C.
	fo4 func(k int, a, b *float32, off *int, c *float32, ldc int, acc bool)
	// dot is DotRows's kernel on a row of dotMR×dotNR tiles (nil: dotGo).
	dot func(k, p0 int, a *float32, aoff *int, b *float32, boff *int, acc *float32, nt int)
	// narrow is an offset kernel with fewer rows (and fo only), for A
	// whose row count it pads less (16, 32 and 64 output channels on the
	// 8-row form of a 12-row kernel, or on AVX2's 4×24 form of 6×16).
	// Each element's sum is the same.
	narrow *kernel
}

// active is the micro-kernel Gemm uses, chosen at init from the CPU.
var active = pick()

// Kernel names the micro-kernel in use ("avx512 12x32", "avx2 6x16", "go 6x16").
func Kernel() string { return active.name }

// minParallel is the size (m·n·k multiply-adds) from which Gemm uses more
// than one goroutine: the module's one threshold, par.MinWork.
const minParallel = par.MinWork

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

// split runs f(0), …, f(parts−1) on up to parts goroutines (par.Run).
// The parts are fixed by the caller, so results do not depend on which
// goroutine runs which part.
func split(parts int, f func(t int)) { par.Run(parts, parts, f) }

// dispatch runs f(0), …, f(parts−1) on at most threads goroutines, each
// taking the next part not yet taken (par.Run): on a machine whose cores
// are shared, a goroutine that gets less of a core does fewer parts
// instead of holding the others up at the join.
func dispatch(parts, threads int, f func(part int)) { par.Run(parts, threads, f) }

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

// Row kernels of the training-time batch normalization, on
// z[i] = (y[i] − b)·rs computed in float32 (one subtraction and one
// multiplication, rounded each). Sums are kept in 16 lanes, element i in
// lane i mod 16 in increasing i, and the lanes added as reduce16 does: the
// order depends on the length alone. The AVX-512 kernels do each lane's
// operations in the same order with the same roundings (no fused
// multiply-adds) as the Go twins, so both give the same bits.
