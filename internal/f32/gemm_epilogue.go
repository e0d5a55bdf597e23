package f32

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"
)

// This file holds the inference kernels' GEMM: weights packed once (a
// model's lifetime) into the micro-kernel's panels, activations packed per
// call, and an epilogue — bias, ReLU, ReLU6 — applied to each output tile
// right after its last k block, while the tile is in cache.
//
//	Linear: Y (m×n) = X (m×k)·Wᵀ + bias[j]    W (n×k) packed into NR-column panels (PackedB)
//	Conv:   C (m×n) = W (m×k)·Bᵀ + bias[i]    W (m×k) packed into MR-row panels (PackedA),
//	                                          B (n×k) an Operand (conv.go's implicit im2col)
//
// Summation order: each element is the sum over k cut into the same KC
// blocks as Gemm; within a block the products are accumulated in
// increasing k from zero (one fused multiply-add each in the assembly, a
// multiplication and an addition in Go); the block sums are added in
// increasing k; the bias is added last, then the clamp. The one-row kernel
// that Linear uses for the rows of a batch that do not fill a panel keeps
// this order, so with the assembly kernels a sample's result does not
// depend on the batch it runs in.

// Epilogue is what the fused kernels apply to each output element v after
// its sum: v + Bias[channel] (nil Bias: no bias); with ReLU max(v, 0), and
// with ReLU and Max > 0 also min(v, Max) (6: ReLU6).
type Epilogue struct {
	Bias []float32
	ReLU bool
	Max  float32
}

// clamp applies the activation to v.
func (e *Epilogue) clamp(v float32) float32 {
	if e.ReLU {
		v = max(v, 0)
		if e.Max > 0 {
			v = min(v, e.Max)
		}
	}
	return v
}

// bounds are the activation as a clamp to [lo, hi] (±Inf: none).
func (e *Epilogue) bounds() (lo, hi float32) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if e.ReLU {
		lo = 0
		if e.Max > 0 {
			hi = e.Max
		}
	}
	return lo, hi
}

// rowOut writes dst[j] = clamp(src[j] + bias[j0+j]) (bias per column);
// vec: the first multiple of 8 with the vector kernel.
func (e *Epilogue) rowOut(dst, src []float32, j0 int, vec bool) {
	src = src[:len(dst)]
	lo, hi := e.bounds()
	if e.Bias == nil {
		// + b, a zero bias, as the vector kernel adds it (−0 + 0 = +0).
		var b float32
		k := 0
		if vec {
			k = biasClampVec(dst, src, b, lo, hi)
		}
		for j := k; j < len(dst); j++ {
			dst[j] = min(max(src[j]+b, lo), hi)
		}
		return
	}
	b := e.Bias[j0 : j0+len(dst)]
	k := 0
	if vec {
		k = biasVecClampVec(dst, src, b, lo, hi)
	}
	for j := k; j < len(dst); j++ {
		dst[j] = min(max(src[j]+b[j], lo), hi)
	}
}

// rowOutScalar writes dst[j] = clamp(src[j] + bias[i]) (one bias for the row).
func (e *Epilogue) rowOutScalar(dst, src []float32, i int, vec bool) {
	src = src[:len(dst)]
	var b float32
	if e.Bias != nil {
		b = e.Bias[i]
	}
	lo, hi := e.bounds()
	k := 0
	if vec {
		k = biasClampVec(dst, src, b, lo, hi)
	}
	for j := k; j < len(dst); j++ {
		dst[j] = min(max(src[j]+b, lo), hi)
	}
}

// tileOut applies the epilogue in place to the rows×cols block at c (row
// stride ldc): the bias of row i0+i (perRow: a convolution's output
// channels) or of column j0+j (a linear layer's), then the clamp. With
// vec, one AVX2 call for the block; the operations are rowOut's.
func (e *Epilogue) tileOut(c []float32, ldc, rows, cols, i0, j0 int, perRow, vec bool) {
	if rows <= 0 || cols <= 0 {
		return
	}
	_ = c[(rows-1)*ldc+cols-1]
	if e.Bias != nil {
		if perRow {
			_ = e.Bias[i0+rows-1]
		} else {
			_ = e.Bias[j0+cols-1]
		}
	}
	lo, hi := e.bounds()
	if vec && tileVec(e, c, ldc, rows, cols, i0, j0, perRow, lo, hi) {
		return
	}
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		if perRow {
			e.rowOutScalar(row, row, i0+i, false)
		} else {
			e.rowOut(row, row, j0, false)
		}
	}
}

// level is a micro-kernel and its one-row twin (same NR and panel
// layout): row computes c[j] = [c[j] +] Σ_p a[p]·b[j/NR][p·NR + j%NR] for
// j < panels·NR, where panel q starts at b + q·k·NR, in increasing p from
// zero (the micro-kernel's order).
type level struct {
	kern kernel
	row  func(k int, a, b *float32, panels int, c *float32, acc bool)
	// vec: the epilogue runs its vector kernel (biasClampVec) too.
	vec bool
	// strided8, if set, is the 8-row micro-kernel of kern's NR reading
	// A in place (row i at a + i·lda): Linear's full 8-row panels of
	// activations then skip packing. Same products, same order.
	strided8 func(k int, a *float32, lda int, b, c *float32, ldc int, acc bool)
	// strided8h is strided8 on the first NR/2 columns of a panel, for
	// a last panel of at most NR/2 columns (set with strided8).
	strided8h func(k int, a *float32, lda int, b, c *float32, ldc int, acc bool)
}

// activeLevel is the level the packing functions choose (the CPU's widest).
var activeLevel = pickLevel()

// Packed is a weight matrix of rows×k packed once for one kernel level:
// for each KC block of k (block start pc, depth kcb), the rows in panels
// of w (MR for PackedA, NR for PackedB) rows, zero-padded to pad rows:
//
//	data[pc·pad + (r/w)·kcb·w + p·w + r%w] = W[r][pc+p]
type Packed struct {
	lv      level
	rows, k int
	w, pad  int
	data    []float32
}

// Rows and K are the packed matrix's size.
func (p *Packed) Rows() int { return p.rows }
func (p *Packed) K() int    { return p.k }

// Bytes is the packed data's size.
func (p *Packed) Bytes() int { return 4 * len(p.data) }

func packWeights(lv level, wts []float32, rows, k, w int) *Packed {
	if rows < 1 || k < 1 || len(wts) < rows*k {
		panic(fmt.Sprintf("f32: packing %d×%d weights from %d values", rows, k, len(wts)))
	}
	pad := (rows + w - 1) / w * w
	p := &Packed{lv: lv, rows: rows, k: k, w: w, pad: pad, data: make([]float32, pad*k)}
	for pc := 0; pc < k; pc += kc {
		kcb := min(kc, k-pc)
		pack(p.data[pc*pad:], wts, k, false, 0, pc, rows, kcb, w)
	}
	return p
}

// PackB packs the n×k weights of a linear layer (row-major: output
// channel j's k weights at w[j·k:]) for Linear, for this CPU's kernel.
func PackB(w []float32, n, k int) *Packed {
	return packWeights(activeLevel, w, n, k, activeLevel.kern.nr)
}

// PackA packs the m×k weights of a convolution (row-major: output channel
// i's k weights at w[i·k:]) for Conv, for this CPU's kernel with the
// panel height that pads m least (a last 8-row panel of at most four
// rows counting four: Conv runs it with the kernel's fom4).
func PackA(w []float32, m, k int) *Packed {
	lv := activeLevel
	lv.kern = lv.forConvRows(m)
	return packWeights(lv, w, m, k, lv.kern.mr)
}

// epBuffers are one goroutine's packing space for the fused kernels.
type epBuffers struct {
	a, b, tile, row []float32
}

var epPool = sync.Pool{New: func() any { return new(epBuffers) }}

func growF(v []float32, n int) []float32 {
	if cap(v) < n {
		return make([]float32, n)
	}
	return v[:n]
}

// Linear computes Y = X·Wᵀ with the epilogue (bias per column j): X is
// m×k with row stride ldx, Y m×n (n = w.Rows()) with row stride ldy, w
// from PackB. Rows of X run in MR-row panels through the micro-kernel,
// except a last panel of a single row, which runs through the one-row
// kernel (the same sums in the same order). It runs on the caller's goroutine and
// panics if a slice is too short.
func Linear(y []float32, ldy int, x []float32, ldx, m int, w *Packed, ep *Epilogue) {
	n, k := w.rows, w.k
	if m <= 0 {
		return
	}
	checkMat("X", x, ldx, m, k, false)
	checkMat("Y", y, ldy, m, n, false)
	if ep.Bias != nil && len(ep.Bias) < n {
		panic(fmt.Sprintf("f32: Linear: %d biases for %d outputs", len(ep.Bias), n))
	}
	kern, vec := w.lv.forRows(m), w.lv.vec
	mr, nr := kern.mr, kern.nr
	if w.w != nr {
		panic("f32: Linear needs weights packed by PackB")
	}
	buf := epPool.Get().(*epBuffers)
	defer epPool.Put(buf)
	// A last panel of two rows or more still runs the micro-kernel
	// (padded): one pass over W instead of one per row.
	mPanel := m
	if m%mr == 1 {
		mPanel = m - 1
	}
	buf.tile = growF(buf.tile, mr*nr)
	strided := mr == 8 && w.lv.strided8 != nil
	for pc := 0; pc < k && mPanel > 0; pc += kc {
		kcb := min(kc, k-pc)
		last, acc := pc+kc >= k, pc > 0
		blk := w.data[pc*w.pad:]
		for ic := 0; ic < mPanel; ic += mc {
			mcb := min(mc, mPanel-ic)
			// With a strided kernel only a last partial panel is packed.
			packed := 0
			if strided {
				packed = mcb / mr * mr
			}
			buf.a = growF(buf.a, (mcb+mr-1)/mr*mr*kcb)
			if packed < mcb {
				pack(buf.a[packed*kcb:], x, ldx, false, ic+packed, pc, mcb-packed, kcb, mr)
			}
			for jr := 0; jr < n; jr += nr {
				bp := blk[jr*kcb:]
				wd := min(nr, n-jr)
				for ir := 0; ir < mcb; ir += mr {
					ap := buf.a[ir*kcb:]
					h := min(mr, mcb-ir)
					ct := y[(ic+ir)*ldy+jr:]
					if h == mr && wd == nr {
						if strided {
							w.lv.strided8(kcb, &x[(ic+ir)*ldx+pc], ldx, &bp[0], &ct[0], ldy, acc)
						} else {
							kern.f(kcb, &ap[0], &bp[0], &ct[0], ldy, acc)
						}
						if last {
							ep.tileOut(ct, ldy, h, wd, 0, jr, false, vec)
						}
						continue
					}
					if strided && h == mr {
						if wd <= nr/2 {
							w.lv.strided8h(kcb, &x[(ic+ir)*ldx+pc], ldx, &bp[0], &buf.tile[0], nr, false)
						} else {
							w.lv.strided8(kcb, &x[(ic+ir)*ldx+pc], ldx, &bp[0], &buf.tile[0], nr, false)
						}
					} else {
						kern.f(kcb, &ap[0], &bp[0], &buf.tile[0], nr, false)
					}
					for i := 0; i < h; i++ {
						row := ct[i*ldy : i*ldy+wd]
						t := buf.tile[i*nr : i*nr+wd]
						if acc {
							for j := range row {
								row[j] += t[j]
							}
						} else {
							copy(row, t)
						}
					}
					if last {
						ep.tileOut(ct, ldy, h, wd, 0, jr, false, vec)
					}
				}
			}
		}
	}
	// The remaining rows, one at a time through the one-row kernel.
	panels := w.pad / nr
	buf.row = growF(buf.row, w.pad)
	for i := mPanel; i < m; i++ {
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			w.lv.row(kcb, &x[i*ldx+pc], &w.data[pc*w.pad], panels, &buf.row[0], pc > 0)
		}
		ep.rowOut(y[i*ldy:i*ldy+n], buf.row, 0, vec)
	}
}

// Conv computes C = W·Bᵀ with the epilogue (bias per row i; nil: the raw
// sums): W is m×k
// (m = w.Rows()) from PackA, B an n×k operand packed here KC×NC at a time
// (an implicit im2col: Patches), C m×n with row stride ldc. It runs on
// the caller's goroutine.
func Conv(c []float32, ldc, n int, w *Packed, b Operand, ep *Epilogue) {
	m, k := w.rows, w.k
	if n <= 0 {
		return
	}
	checkMat("C", c, ldc, m, n, false)
	if ep != nil && ep.Bias != nil && len(ep.Bias) < m {
		panic(fmt.Sprintf("f32: Conv: %d biases for %d outputs", len(ep.Bias), m))
	}
	kern, vec := w.lv.kern, w.lv.vec
	mr, nr := kern.mr, kern.nr
	if w.w != mr {
		panic("f32: Conv needs weights packed by PackA")
	}
	buf := epPool.Get().(*epBuffers)
	defer epPool.Put(buf)
	buf.tile = growF(buf.tile, mr*nr)
	// An operand read in place (rowPatches) needs no packing of its full
	// panels with an assembly kernel that takes row offsets.
	oo, direct := b.(inPlace)
	direct = direct && kern.fastOff && kern.fo != nil
	// With a masked kernel the last partial panel is read in place too,
	// and the last block's tiles of full height take the epilogue in
	// the kernel.
	masked := direct && kern.fom != nil
	var lo, hi float32
	if ep != nil {
		lo, hi = ep.bounds()
	}
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			last, acc := pc+kc >= k && ep != nil, pc > 0
			full := 0 // pixels [jc, jc+full) are read in place
			var base []float32
			var offs []int
			if direct {
				base, offs = oo.inPlace(pc, kcb)
				full = ncb / nr * nr
				if masked {
					full = ncb
				}
				if full > 0 {
					mo := slices.Max(offs[:kcb])
					if slices.Min(offs[:kcb]) < 0 || mo+jc+full > len(base) {
						panic(fmt.Sprintf("f32: Conv: in-place operand reads up to %d of %d", mo+jc+full, len(base)))
					}
				}
			}
			buf.b = growF(buf.b, (ncb-full+nr-1)/nr*nr*kcb)
			if full < ncb {
				b.Pack(buf.b, jc+full, pc, ncb-full, kcb, nr)
			}
			blk := w.data[pc*w.pad:]
			for jr := 0; jr < ncb; jr += nr {
				inPl := jr < full
				var bp []float32
				if !inPl {
					bp = buf.b[(jr-full)*kcb:]
				}
				wd := min(nr, ncb-jr)
				for ir := 0; ir < m; ir += mr {
					ap := blk[ir*kcb:]
					h := min(mr, m-ir)
					ct := c[ir*ldc+jc+jr:]
					if inPl && masked && h == mr && (last || wd < nr) {
						// Straight into C, the epilogue (last block) fused.
						var bias *float32
						if last {
							bias = &zeroBias[0]
							if ep.Bias != nil {
								bias = &ep.Bias[ir]
							}
						}
						kern.fom(kcb, &ap[0], &base[jc+jr], &offs[0], &ct[0], ldc, acc, wd, bias, lo, hi)
						continue
					}
					if h == mr && wd == nr {
						if inPl {
							kern.fo(kcb, &ap[0], &base[jc+jr], &offs[0], &ct[0], ldc, acc)
						} else {
							kern.f(kcb, &ap[0], &bp[0], &ct[0], ldc, acc)
						}
						if last {
							ep.tileOut(ct, ldc, h, wd, ir, 0, true, vec)
						}
						continue
					}
					switch {
					case inPl && h <= 4 && kern.fom4 != nil:
						kern.fom4(kcb, &ap[0], &base[jc+jr], &offs[0], &buf.tile[0], nr, false, wd, nil, 0, 0)
					case inPl && wd < nr:
						kern.fom(kcb, &ap[0], &base[jc+jr], &offs[0], &buf.tile[0], nr, false, wd, nil, 0, 0)
					case inPl:
						kern.fo(kcb, &ap[0], &base[jc+jr], &offs[0], &buf.tile[0], nr, false)
					default:
						kern.f(kcb, &ap[0], &bp[0], &buf.tile[0], nr, false)
					}
					for i := 0; i < h; i++ {
						row := ct[i*ldc : i*ldc+wd]
						t := buf.tile[i*nr : i*nr+wd]
						if acc {
							for j := range row {
								row[j] += t[j]
							}
						} else {
							copy(row, t)
						}
					}
					if last {
						ep.tileOut(ct, ldc, h, wd, ir, 0, true, vec)
					}
				}
			}
		}
	}
}

// zeroBias is the bias of an epilogue without one (a kernel's 8 rows).
var zeroBias [8]float32

// inPlace is an operand whose row r at depth p0+p is base[offs[p] + r]
// (offsets in floats): the B of a kernel that takes row offsets (the
// micro-kernels' fo, the same sums in the same order as f on the packed
// panel). Its Pack reads the same places for a full panel.
type inPlace interface {
	inPlace(p0, depth int) (base []float32, offs []int)
}

// rowGo is the one-row kernel's portable twin (any NR).
func rowGo(nr int) func(k int, a, b *float32, panels int, c *float32, acc bool) {
	return func(k int, a, b *float32, panels int, c *float32, acc bool) {
		as := unsafe.Slice(a, k)
		bs := unsafe.Slice(b, panels*k*nr)
		cs := unsafe.Slice(c, panels*nr)
		var tb [32]float32
		t := tb[:nr]
		for q := 0; q < panels; q++ {
			clear(t)
			bq := bs[q*k*nr : (q+1)*k*nr]
			for p, ap := range as {
				br := bq[p*nr : p*nr+nr]
				for j := range t {
					t[j] += float32(ap * br[j]) // not mul32: this closure would call it
				}
			}
			out := cs[q*nr : q*nr+nr]
			if acc {
				for j := range out {
					out[j] += t[j]
				}
			} else {
				copy(out, t)
			}
		}
	}
}

var goLevel = level{kern: goKernel, row: rowGo(16)}

// levels lists the fused kernels' levels this build runs (for tests).
func levels() []level {
	var ls []level
	for _, k := range available() {
		ls = append(ls, levelOf(k))
	}
	return append(ls, extraLevels()...)
}

// convLevels are levels and the convolution-only ones (PackA's forms
// that Linear never runs): every level a convolution test covers.
func convLevels() []level { return append(levels(), convExtraLevels()...) }
