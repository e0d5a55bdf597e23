package f32

import (
	"sync"
	"unsafe"
)

// This file holds ConvImages' explicit (partial) im2col for small output
// maps. The implicit im2col (rowPatches) multiplies extended pixels:
// every output row of the wide image carries the columns whose windows
// straddle two images, (W+Pad)/W − 1 of the work (25% at 4×4, 14% at
// 7×7). For a small map with many output channels that waste costs more
// than writing the column planes out (convIm2col): the GEMM (Conv, the
// same kernels, the same KC blocks in the same order, reading in place)
// then multiplies exactly the images' output pixels. The sums are the
// same products in the same order as ConvImage's: the results are equal
// bit for bit.

// im2colMat is an explicit im2col: depth p of pixel r at x[p·ld + r]
// (Dense's transposed layout), read in place by the kernels that take
// row offsets.
type im2colMat struct {
	x    []float32
	ld   int
	all  []int // every depth's offset
	offs []int
}

// setOffs sets every depth's offset: (ci, ky, kx) at ((ci·K + kx)·hp + ky)·ld.
func (q *im2colMat) setOffs(g ConvGeom, hp int) {
	q.all = q.all[:0]
	for ci := 0; ci < g.C; ci++ {
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				q.all = append(q.all, ((ci*g.K+kx)*hp+ky)*q.ld)
			}
		}
	}
}

func (q *im2colMat) inPlace(p0, depth int) ([]float32, []int) {
	q.offs = append(q.offs[:0], q.all[p0:p0+depth]...)
	return q.x, q.offs
}

func (q *im2colMat) Pack(dst []float32, r0, p0, rows, depth, w int) {
	for ir := 0; ir < rows; ir += w {
		h := min(w, rows-ir)
		d := dst[ir*depth : ir*depth+depth*w]
		for p, off := range q.all[p0 : p0+depth] {
			row := d[p*w : p*w+w]
			o := off + r0 + ir
			copy(row[:h], q.x[o:o+h])
			clear(row[h:])
		}
	}
}

// im2colCopy is the work of writing one float of the column planes, in
// multiply-adds of the GEMM (runs of a few floats, against ~100 G FMA/s
// of the kernel). Set from BenchmarkConvIm2col (one thread, AVX-512):
// the column planes gain 13% on 64→64 channels at 4×4, 25% on 20→50 at
// 12×12 (5×5, no padding) and 2% on 64→64 at 8×8; they lose 10% on
// 32→64 at 7×7 and 20% or more on 32→32 at 7×7, 16→16 at 14×14, 1→20
// at 28×28.
const im2colCopy = 24

// im2colFloats bounds the column planes one GEMM call reads (1 MiB, as
// infer's chunk budget; 256 KiB measured 5% slower at 4×4).
const im2colFloats = 1 << 18

// useIm2col reports whether ConvImages runs g (m output channels) on
// column planes: stride 1, a K×K kernel (K > 1), at least 15% of the
// wide image's output columns garbage (q − OW of every q = W + Pad), and
// the multiply-adds those columns cost, m·C·K²·(q − OW)·OH per image,
// more than the column planes' C·K·Hp·OW floats at im2colCopy each.
// Work counted, not timed.
func useIm2col(g ConvGeom, m int) bool {
	if g.K == 1 || g.Stride != 1 {
		return false
	}
	hp, _ := g.Padded()
	garbage := g.W + g.Pad - g.OW // q − OW at stride 1
	return 100*garbage >= 15*(g.OW+garbage) && m*g.K*garbage*g.OH > im2colCopy*hp*g.OW
}

// useIm2col1 reports whether ConvImages runs g (stride 1, K > 1) on
// column planes for a single image: when they fill fewer 32-pixel
// panels than the padded image's implicit im2col, whose rows carry the
// padding columns ((OH−1)·(W+2·Pad)+OW pixels against OH·OW). Alone, an
// image's column planes need no copy of the outputs (the GEMM writes
// them in place) and cost little (im2colPlane's masked row copies).
// Timed one thread, batch 1: lenet5's conv1 (1→20, 5×5, 28×28) 3.1
// against 3.8 µs, 64→64 at 8×8 23 against 27, 3→16 at 32×32 4.3 against
// 5.1; at 14×14 and 7×7 (no panel fewer) the wide image stays faster.
func useIm2col1(g ConvGeom) bool {
	if g.K == 1 || g.Stride != 1 {
		return false
	}
	_, wp := g.Padded()
	return (g.OH*g.OW+31)/32 < ((g.OH-1)*wp+g.OW+31)/32
}

// im2colBuffers are convIm2col's column planes and sums.
type im2colBuffers struct {
	x, sums, odd []float32
	mat          im2colMat
}

var im2colPool = sync.Pool{New: func() any { return new(im2colBuffers) }}

// convIm2col is ConvImages (same arguments, stride 1) on a partial
// explicit im2col of k images at a time, with the GEMM's pixels ordered
// (oy, s, ox) — output row oy of every image, then the next row — so
// that N = k·OW pixels make one output row. Only the kx taps are written
// out: column plane (ci, kx) holds, for each padded row y (Hp of them),
// the k·OW input pixels that tap kx of output row y reads,
//
//	x[((ci·K + kx)·Hp + y)·N + s·OW + ox] = padded image s at (ci, y, ox + kx),
//
// and depth (ci, ky, kx) of pixel r = oy·N + s·OW + ox is that plane at
// r + ky·N: an offset, read in place. K·Hp rows per channel instead of
// K·K·OH, no garbage columns.
//
// With a Proj, its subsampled planes follow, one per channel, laid out as
// the outputs (OH rows of N), and read as one depth each after the body's.
func convIm2col(dst []float32, dstStride int, src []float32, srcStride, n int, g ConvGeom, w *Packed, ep *Epilogue, pr *Proj) {
	if g.Stride != 1 {
		panic("f32: convIm2col is for stride 1")
	}
	m, P := w.rows, g.OH*g.OW
	hp, _ := g.Padded()
	per := max(1, min(n, im2colFloats/(g.C*g.K*hp*g.OW)))
	buf := im2colPool.Get().(*im2colBuffers)
	defer im2colPool.Put(buf)
	for s0 := 0; s0 < n; s0 += per {
		k := min(per, n-s0)
		N := k * g.OW
		body := g.C * g.K * hp * N
		size := body
		if pr != nil {
			size += pr.C * g.OH * N
		}
		buf.x = growF(buf.x, size)
		x := buf.x[:size]
		if pr != nil {
			for c := 0; c < pr.C; c++ {
				for s := 0; s < k; s++ {
					pr.subsample(x[body+c*g.OH*N+s*g.OW:], N, s0+s, c, g.OH, g.OW, &buf.odd)
				}
			}
		}
		for ci := 0; ci < g.C; ci++ {
			for kx := 0; kx < g.K; kx++ {
				// Output column ox reads input column ox + kx − Pad:
				// columns [a, b) of the run are inside the image.
				a, b := max(0, g.Pad-kx), min(g.OW, g.W+g.Pad-kx)
				plane := x[(ci*g.K+kx)*hp*N : (ci*g.K+kx+1)*hp*N]
				if !im2colPlane(plane, src[s0*srcStride:], srcStride, k, ci, kx, N, g, a, b) {
					im2colPlaneGo(plane, src[s0*srcStride:], srcStride, k, ci, kx, N, g, a, b)
				}
			}
		}
		buf.mat = im2colMat{x: x, ld: N, all: buf.mat.all, offs: buf.mat.offs}
		buf.mat.setOffs(g, hp)
		if pr != nil {
			for c := 0; c < pr.C; c++ {
				buf.mat.all = append(buf.mat.all, body+c*g.OH*N)
			}
		}
		if k == 1 {
			Conv(dst[s0*dstStride:], P, P, w, &buf.mat, ep)
			continue
		}
		buf.sums = growF(buf.sums, m*g.OH*N)
		Conv(buf.sums, g.OH*N, g.OH*N, w, &buf.mat, ep)
		for s := 0; s < k; s++ {
			DWCopy(dst[(s0+s)*dstStride:], g.OW, buf.sums[s*g.OW:], N, m*g.OH, g.OW)
		}
	}
}

// im2colRow writes one padded row of a column plane: for image s < k,
// d[s·ow + ox] = src[s·ld + ox − a] for a ≤ ox < b, zero elsewhere.
func im2colRow(d, src []float32, ld, k, ow, a, b int) {
	n := b - a
	if len(d) < k*ow || n > 0 && len(src) < (k-1)*ld+n {
		panic("f32: im2colRow out of range")
	}
	dp, sp := unsafe.Pointer(&d[0]), unsafe.Pointer(&src[0])
	at := func(p unsafe.Pointer, i int) unsafe.Pointer { return unsafe.Add(p, 4*i) }
	for s := 0; s < k; s++ {
		// The padding columns (at most Pad each side): stores, not
		// memclr calls.
		for j := 0; j < a; j++ {
			*(*float32)(at(dp, s*ow+j)) = 0
		}
		for j := b; j < ow; j++ {
			*(*float32)(at(dp, s*ow+j)) = 0
		}
		switch {
		case n == 4:
			*(*[4]float32)(at(dp, s*ow+a)) = *(*[4]float32)(at(sp, s*ld))
		case n == 3:
			*(*[3]float32)(at(dp, s*ow+a)) = *(*[3]float32)(at(sp, s*ld))
		case n == 7:
			*(*[7]float32)(at(dp, s*ow+a)) = *(*[7]float32)(at(sp, s*ld))
		case n == 6:
			*(*[6]float32)(at(dp, s*ow+a)) = *(*[6]float32)(at(sp, s*ld))
		case n == 8:
			*(*[8]float32)(at(dp, s*ow+a)) = *(*[8]float32)(at(sp, s*ld))
		case n > 0:
			copy(d[s*ow+a:s*ow+b], src[s*ld:s*ld+n])
		}
	}
}

// im2colPlaneGo writes column plane (ci, kx) of k images (image s at
// src[s·srcStride:]; N = k·OW floats a row, Hp rows): row y holds, for
// each image, the OW floats that tap kx of output row y − Pad reads,
// columns [a, b) from the image, the others (and rows outside the image)
// zero. Row by row with im2colRow.
func im2colPlaneGo(plane, src []float32, srcStride, k, ci, kx, N int, g ConvGeom, a, b int) {
	hp, _ := g.Padded()
	for y := 0; y < hp; y++ {
		row := plane[y*N : (y+1)*N]
		iy := y - g.Pad
		if iy < 0 || iy >= g.H || a >= b {
			clear(row)
			continue
		}
		im2colRow(row, src[(ci*g.H+iy)*g.W+a+kx-g.Pad:], srcStride, k, g.OW, a, b)
	}
}

// im2colPlane is im2colPlaneGo (its twin: the same floats) with one im2colRows call (an
// AVX-512 masked load and store a row, the padding columns zeroed by the
// load's mask) per image for the image's rows and clears for the padding
// rows: the same floats. It reports false, having written nothing, where
// im2colRows does not run (no AVX-512, rows of more than 32 floats, no
// column inside the image).
func im2colPlane(plane, src []float32, srcStride, k, ci, kx, N int, g ConvGeom, a, b int) bool {
	if !im2colRowsHere(g.OW) || a >= b {
		return false
	}
	top := g.Pad * N
	clear(plane[:top])
	clear(plane[top+g.H*N:])
	for s := 0; s < k; s++ {
		im2colRows(plane[top+s*g.OW:], N, src[s*srcStride+ci*g.H*g.W+a+kx-g.Pad:], g.W, g.H, g.OW, a, b)
	}
	return true
}
