package f32

import (
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/tinyqat/tinyqat/internal/par"
)

// splitPackParts counts the parts of A's packing that GemmOffsets ran
// split over goroutines (TestGemmOffsets checks that it does).
var splitPackParts atomic.Int64

// OffsetSlack is how many elements GemmOffsets may read past x[n−1+max(off)].
const OffsetSlack = 64

// OffsetsFast reports whether GemmOffsets runs an assembly micro-kernel
// on this CPU (AVX2 or AVX-512); without one it runs the portable kernel,
// correct but slower than packing B for Gemm.
func OffsetsFast() bool { return active.fastOff }

// DotRowsFast reports whether DotRows runs an assembly kernel on this CPU
// (AVX2 with FMA, or AVX-512); without one it runs the portable kernel.
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
	new(OffsetScratch).GemmOffsets(m, n, k, a, lda, x, off, c, ldc, accumulate, threads)
}

// OffsetScratch is the working space of GemmOffsets and DotRows (packed
// A, edge tiles, lane sums), kept by a caller that makes many calls: its
// methods are those functions, with the same results, reusing it instead
// of allocating it on every call (DotRows' sums alone were ~11 MB per
// CIFAR ResNet-8 training step). The zero value is ready; one call at a
// time.
type OffsetScratch struct {
	ap, tiles, acc []float32
	cols           []int // DotRows' B row offsets, tile by tile
}

// take returns (*buf)[:n], growing *buf if it is shorter.
func take(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// GemmOffsets is f32.GemmOffsets on s's scratch.
func (s *OffsetScratch) GemmOffsets(m, n, k int, a []float32, lda int, x []float32, off []int, c []float32, ldc int, accumulate bool, threads int) {
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
	tiles := (n + nr - 1) / nr
	if threads < 1 || m*n*k < minParallel {
		threads = 1
	}
	// A is packed once, KC block by KC block (block pc at pc·mpad), and
	// shared by the goroutines. With more than one thread its MR-row
	// panels are packed split over the cores too (par.For: each panel is
	// the same copy on any core): on one, packing a convolution's weights
	// was the largest serial piece of a two-thread training step.
	mpad := roundUp(m, mr)
	ap := take(&s.ap, mpad*k) // pack sets every element
	panels, blocks := mpad/mr, (k+kc-1)/kc
	packPanels := func(i0, i1 int) {
		if i1-i0 < blocks*panels {
			splitPackParts.Add(1)
		}
		for i := i0; i < i1; i++ {
			pc, ir := i/panels*kc, i%panels*mr
			kcb := min(kc, k-pc)
			pack(ap[pc*mpad+ir*kcb:], a, lda, false, ir, pc, min(mr, m-ir), kcb, mr)
		}
	}
	if threads > 1 {
		par.For(blocks*panels, par.Pass(mr*kc, 1), packPanels)
	} else {
		packPanels(0, blocks*panels)
	}
	parts := min(partsPerThread*threads, tiles)
	edge := take(&s.tiles, parts*mr*nr) // each part's edge tile, set by the kernel
	dispatch(parts, threads, func(t int) {
		tile := edge[t*mr*nr:][:mr*nr]
		for jt := tiles * t / parts; jt < tiles*(t+1)/parts; jt++ {
			j0 := jt * nr
			w := min(nr, n-j0)
			for pc := 0; pc < k; pc += kc {
				kcb := min(kc, k-pc)
				acc := accumulate || pc > 0
				for ir := 0; ir < m; ir += mr {
					h := min(mr, m-ir)
					a := &ap[pc*mpad+ir*kcb]
					if w == nr && (h == mr || h == 4 && kern.fo4 != nil) {
						fo := kern.fo
						if h < mr {
							fo = kern.fo4
						}
						fo(kcb, a, &x[j0], &off[pc], &c[ir*ldc+j0], ldc, acc)
						continue
					}
					fo := kern.fo
					if h <= 4 && kern.fo4 != nil {
						fo = kern.fo4
					}
					fo(kcb, a, &x[j0], &off[pc], &tile[0], nr, false)
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

// Aligned returns n zeroed float32s of which element at (0 ≤ at < n) is
// 64-byte aligned, and with it every element at + 16·i. DotRows' kernel
// reads A's rows whole vectors at a time from the row's start: at 64-byte
// aligned rows (row stride a multiple of 16) no load splits over two cache
// lines, which took a third of its time where the rows fell anywhere.
func Aligned(n, at int) []float32 {
	if at < 0 || at >= n {
		panic(fmt.Sprintf("f32: Aligned: element %d of %d", at, n))
	}
	buf := make([]float32, n+15)
	addr := uintptr(unsafe.Pointer(&buf[at]))
	s := int((64-addr%64)%64) / 4
	return buf[s : s+n : s+n]
}

// dotChunk is how much of k DotRows takes at a time (a multiple of 16):
// the chunk of A's rows and of B's (overlapping) rows stays in L2 while
// every tile runs over it.
const dotChunk = 2048

// DotRows' tile: dotMR rows of A by dotNR rows of B, 16 lanes per pair.
// A weight gradient's A has 16, 32 or 64 rows (output channels) and B
// C·K² (a multiple of 9, so of 6 for an even C): 4×6 tiles cover them
// exactly, and hold A's four rows in registers while B's stream, 10 loads
// per 24 fused multiply-adds (AVX-512; AVX2's 16 registers take a tile in
// four passes of 4 rows × 3 columns × 8 lanes, 7 loads per 12).
const dotMR, dotNR = 4, 6

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
// goroutines by whole dotMR×dotNR tiles, so the result does not depend on threads.
func DotRows(m, n, k int, a []float32, lda int, b []float32, boff []int, c []float32, ldc int, accumulate bool, threads int) {
	new(OffsetScratch).DotRows(m, n, k, a, lda, b, boff, c, ldc, accumulate, threads)
}

// DotRows is f32.DotRows on s's scratch.
func (s *OffsetScratch) DotRows(m, n, k int, a []float32, lda int, b []float32, boff []int, c []float32, ldc int, accumulate bool, threads int) {
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
	mb, nb := (m+dotMR-1)/dotMR, (n+dotNR-1)/dotNR
	tiles := mb * nb
	if threads < 1 || m*n*k < minParallel {
		threads = 1
	}
	// Parts are ranges of tiles in row-block-major order. With enough
	// row blocks they are ranges of whole row blocks (every tile of a
	// block of dotMR rows of A in one part), so each row of A is read by
	// one part: A's rows are the long ones (a weight gradient's A is dy
	// over the output columns, 3.4 MB for the MNIST resnet8's first
	// convolution at batch 64), and a row block cut between two parts is
	// read twice.
	parts, unit := min(partsPerThread*threads, tiles), 1
	if threads > 1 && mb >= 2*threads {
		parts, unit = min(partsPerThread*threads, mb), nb
	}
	units := tiles / unit
	k16 := k &^ 15
	const tileLen = dotMR * dotNR * 16
	accAll := take(&s.acc, tiles*tileLen)
	// Tile columns past n repeat column 0 (a valid address); their sums
	// are dropped.
	if cap(s.cols) < nb*dotNR {
		s.cols = make([]int, nb*dotNR)
	}
	cols := s.cols[:nb*dotNR]
	for q := range cols {
		cols[q] = boff[below(q, n)]
	}
	dispatch(parts, threads, func(t int) {
		t0, t1 := units*t/parts*unit, units*(t+1)/parts*unit
		acc := accAll[t0*tileLen : t1*tileLen]
		clear(acc)
		// A tile's rows past m repeat row 0, as columns do. One kernel
		// call runs the part's tiles of a row block, chunk by chunk.
		var aoff [dotMR]int
		for p0 := 0; p0 < k16; p0 += dotChunk {
			kk := min(dotChunk, k16-p0)
			for tt := t0; tt < t1; {
				i0, c0 := tt/nb*dotMR, tt%nb
				nt := min(nb-c0, t1-tt)
				for q := range aoff {
					aoff[q] = below(i0+q, m) * lda
				}
				dot(kk, p0, &a[0], &aoff[0], &b[0], &cols[c0*dotNR], &acc[(tt-t0)*tileLen], nt)
				tt += nt
			}
		}
		for tt := t0; tt < t1; tt++ {
			i0, j0 := tt/nb*dotMR, tt%nb*dotNR
			ac := acc[(tt-t0)*tileLen:][:tileLen]
			for i := i0; i < min(i0+dotMR, m); i++ {
				for j := j0; j < min(j0+dotNR, n); j++ {
					lanes := (*[16]float32)(ac[((i-i0)*dotNR+j-j0)*16:])
					ar, br := a[i*lda:][:k], b[boff[j]:][:k]
					for p := k16; p < k; p++ {
						lanes[p&15] += mul32(ar[p], br[p])
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
// assembly ones: for the nt tiles t, i < dotMR, j < dotNR and p < k (a
// multiple of 16), in increasing p,
// acc[t·dotMR·dotNR·16 + (dotNR·i+j)·16 + p mod 16] += a[aoff[i]+p0+p]·b[boff[dotNR·t+j]+p0+p],
// each a fused multiply-add (fma32) as the assembly kernels do, so they
// give its bits.
func dotGo(k, p0 int, a *float32, aoff *int, b *float32, boff *int, acc *float32, nt int) {
	const tileLen = dotMR * dotNR * 16
	ac := unsafe.Slice(acc, nt*tileLen)
	aoffs, boffs := unsafe.Slice(aoff, dotMR), unsafe.Slice(boff, nt*dotNR)
	for t := 0; t < nt; t++ {
		for i := 0; i < dotMR; i++ {
			ar := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(a), 4*(aoffs[i]+p0))), k)
			for j := 0; j < dotNR; j++ {
				br := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(b), 4*(boffs[t*dotNR+j]+p0))), k)
				lanes := (*[16]float32)(ac[t*tileLen+(dotNR*i+j)*16:])
				for p := 0; p < k; p += 16 {
					x, y := ar[p:p+16:p+16], br[p:p+16:p+16]
					for r := range lanes {
						lanes[r] = fma32(x[r], y[r], lanes[r])
					}
				}
			}
		}
	}
}

// fma32 is x·y + z rounded once to float32 (to nearest, ties to even),
// the result of a float32 fused multiply-add. x·y is exact in float64 and
// TwoSum gives s + e = x·y + z exactly with s = fl64(x·y + z); rounding s
// to float32 is then the correct rounding of s + e unless s is a tie
// between two float32 values and e ≠ 0 (s + e lies off the tie, on e's
// side), the one case fixed below. (float32(math.FMA(…)) rounds twice,
// which differs in that case.)
func fma32(x, y, z float32) float32 {
	p, zf := float64(x)*float64(y), float64(z)
	s := p + zf
	bb := s - p
	e := (p - (s - bb)) + (zf - bb)
	r := float32(s)
	if e == 0 || float64(r) == s {
		return r
	}
	if math.IsInf(float64(r), 0) {
		// s is at or past the midpoint 2^128 − 2^103 between MaxFloat32
		// and 2^128, so r overflowed. Only on the midpoint itself, with
		// x·y + z back on MaxFloat32's side (e ≠ 0 here), is the correctly
		// rounded result finite.
		if m := math.Copysign(0x1p128-0x1p103, s); s == m && (e < 0) == (s > 0) {
			return float32(math.Copysign(math.MaxFloat32, s))
		}
		return r
	}
	d := s - float64(r) // exact; s lies between r and its neighbour o
	o := math.Nextafter32(r, float32(math.Copysign(math.Inf(1), d)))
	if s-float64(o) == -d && (e > 0) == (d > 0) {
		return o // a tie, and x·y + z is on o's side
	}
	return r
}

// OffsetTiles is GemmOffsets on whole NR-column tiles scattered into C,
// in two steps: PackA packs A (m×k, row stride lda) once and returns NR,
// the width of a tile; Tiles then computes, for each t, the tile of
// A·B at columns j0[t] … j0[t]+NR−1 of B (B[p][j] = x[j + off[p]], as for
// GemmOffsets) into c[dst[t] + i·ldc + j] for i < m, j < NR, replacing C.
// A convolution whose output rows are NR wide writes its output in place
// that way, with no scratch to copy out and no dropped columns computed.
//
// Each element is summed as GemmOffsets sums it (the same kernels, the
// same KC blocks in the same order), so a tile holds GemmOffsets' bits.
// Tiles may run on several goroutines at once (it only reads the
// packing); PackA must not run meanwhile.
type OffsetTiles struct {
	kern kernel
	m, k int
	mpad int
	ap   []float32
}

// tilesKernel is the kernel OffsetTiles uses for an A of m rows: the
// narrow form only where its tiles are as wide (AVX-512's 8×32, not
// AVX2's 4×24: a 32- or 16-column output row is whole 16-column tiles,
// written in place, where 24-column tiles would need a copy out).
func tilesKernel(m int) kernel {
	kern := active
	if kern.fo == nil {
		kern = goKernel
	}
	if nk := kern.narrow; nk != nil && nk.nr == kern.nr && roundUp(m, nk.mr) < roundUp(m, kern.mr) {
		kern = *nk
	}
	return kern
}

// TileWidth is the tile width NR that PackA returns for an A of m rows,
// without packing anything.
func TileWidth(m int) int { return tilesKernel(m).nr }

// PackA packs A for Tiles and returns the tile width NR.
func (s *OffsetTiles) PackA(m, k int, a []float32, lda int) int {
	if m <= 0 || k <= 0 {
		panic(fmt.Sprintf("f32: OffsetTiles: A is %dx%d", m, k))
	}
	checkMat("A", a, lda, m, k, false)
	kern := tilesKernel(m)
	mr := kern.mr
	mpad := roundUp(m, mr)
	ap := take(&s.ap, mpad*k)
	for pc := 0; pc < k; pc += kc {
		kcb := min(kc, k-pc)
		for ir := 0; ir < mpad; ir += mr {
			pack(ap[pc*mpad+ir*kcb:], a, lda, false, ir, pc, min(mr, m-ir), kcb, mr)
		}
	}
	s.kern, s.m, s.k, s.mpad = kern, m, k, mpad
	return kern.nr
}

// Tiles computes the tiles (see OffsetTiles) with the packing of the last
// PackA. It panics if a tile reads past x (x must hold j0[t] + NR +
// max(off) + OffsetSlack elements) or writes past c.
func (s *OffsetTiles) Tiles(x []float32, off []int, j0, dst []int, c []float32, ldc int) {
	kern, m, k, mpad := s.kern, s.m, s.k, s.mpad
	if kern.fo == nil {
		panic("f32: OffsetTiles.Tiles before PackA")
	}
	mr, nr := kern.mr, kern.nr
	if len(off) < k || len(dst) != len(j0) || ldc < nr {
		panic(fmt.Sprintf("f32: OffsetTiles: %d offsets for k = %d, %d tiles and %d destinations, row stride %d for %d columns", len(off), k, len(j0), len(dst), ldc, nr))
	}
	maxOff := 0
	for _, o := range off[:k] {
		if o < 0 {
			panic(fmt.Sprintf("f32: OffsetTiles: negative offset %d", o))
		}
		maxOff = max(maxOff, o)
	}
	for t, j := range j0 {
		if j < 0 || j+nr+maxOff+OffsetSlack > len(x) {
			panic(fmt.Sprintf("f32: OffsetTiles: tile %d at column %d with offsets up to %d reads past x's %d elements", t, j, maxOff, len(x)))
		}
		if d := dst[t]; d < 0 || d+(m-1)*ldc+nr > len(c) {
			panic(fmt.Sprintf("f32: OffsetTiles: tile %d at %d, %d rows of stride %d, writes past c's %d elements", t, d, m, ldc, len(c)))
		}
	}
	var edge [12 * 32]float32 // an edge panel's tile (MR·NR ≤ 12·32)
	tile := edge[:mr*nr]
	for t, j := range j0 {
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			acc := pc > 0
			for ir := 0; ir < m; ir += mr {
				h := min(mr, m-ir)
				a := &s.ap[pc*mpad+ir*kcb]
				cd := dst[t] + ir*ldc
				if h == mr || h == 4 && kern.fo4 != nil {
					fo := kern.fo
					if h < mr {
						fo = kern.fo4
					}
					fo(kcb, a, &x[j], &off[pc], &c[cd], ldc, acc)
					continue
				}
				fo := kern.fo
				if h <= 4 && kern.fo4 != nil {
					fo = kern.fo4
				}
				fo(kcb, a, &x[j], &off[pc], &tile[0], nr, false)
				for i := 0; i < h; i++ {
					row := c[cd+i*ldc:][:nr]
					src := tile[i*nr:][:nr]
					if acc {
						for q := range row {
							row[q] += src[q]
						}
					} else {
						copy(row, src)
					}
				}
			}
		}
	}
}
