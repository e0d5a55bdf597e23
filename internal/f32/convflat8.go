package f32

import (
	"fmt"
	"sync"
)

// The AVX2 flat convolution kernel (flat8): convflat.go's flat
// convolution for CPUs without AVX-512. The input planes are read as
// the flat kernel reads them (stride 1: the image's planes, OW = W;
// stride 2: each channel's four phase planes of ⌈H/2⌉ rows of OW), so
// that output pixel p = oy·OW + ox reads, for depth d = (c, t), the
// float p + off[d] of the image (its planes or phase planes). The phase
// planes (and a projection's subsampled planes) are written by
// flat8Split, rows of at most 32 floats split in vector registers (with
// DWSplit2's per-row scalar tails the split of a 16×14×14 image took
// half as long as its convolution; a phase plane has room past its
// last row for the split's whole-vector stores). Stride-1 planes whose
// channels fall on fewer cache lines modulo 4 KiB than there are
// channels (up to 64: 32×32 planes of 2 channels or more, 16×16 of
// more than 4, 8×8 of more than 16) are copied into planes a cache line
// longer (and phase planes made longer): channels 1 or 4 KiB apart meet
// in the same sets of L1 (flat8Spread; 16,32,3,1,16 ran at 29 G MAC/s in
// place, 33 copied; 16,16,3,2,32 at 34 on phase planes 1 KiB a
// channel, 42 on 1088 bytes).
//
// Chunks. The output plane (P = OH·OW pixels) is cut into chunks of 8
// pixels, q = 8j, … q+7, rows crossing within a chunk; the last starts
// at P − 8, overlapping the one before (whose outputs it computes
// again, equal); a plane of fewer than 8 pixels is one chunk whose first
// P lanes are stored (VMASKMOVPS; AMD's masked stores are slow, so the
// other planes store whole vectors). Lane l of chunk q reads, for depth
// d, the float q + l + off[d] with a lane mask (VMASKMOVPS: lanes whose
// input is padding load zero and touch no memory). The masks depend on
// the chunk and the tap t only: a chunk's mask row holds K·K + 1 masks
// (the last one for a projection's depths: lanes within the plane);
// equal rows are stored once.
//
// The kernel takes three slots (a chunk of an image each) and four
// output channels at a time: per depth one record (the depth's byte
// offset and its mask's offset in a row), per slot a mask load and a
// masked load of 8 inputs, per channel a broadcast weight and three
// fused multiply-adds: 12 sums (registers Y0–Y11) for 2 scalar and 10
// vector loads, or 8 where the three slots' mask rows are one (one mask
// load); two depths a step. A batch runs three images at a time (the
// slots chunk j of the three, for every chunk: one mask row), the one
// or two left (and batch 1) image by image (the slots its chunks 3i,
// 3i+1, 3i+2; a last task that the chunks do not fill repeats the last
// chunk).
//
// Every output is the sum of its depths' products in depth order from
// zero — padding products included, as zeros — with one fused
// multiply-add each, in blocks of kc depths (each block summed from
// zero, then added to the total of the blocks before: the AVX2 GEMM
// kernels' c = block + c), then + bias, max lo, min hi (the epilogue's
// VADDPS, VMAXPS, VADDPS z, VMINPS in biasRowsClampAVX2's operand order:
// Go's max and min, NaN and zero signs included): the same operations on
// the same values as ConvImages (ConvImagesProj) on AVX2, so the results
// equal theirs bit for bit.

// flat8Rec is one depth's record: off, the byte offset of its input from
// a slot's chunk (channel c's plane or phase planes and tap t; a
// projection's depth, of its subsampled plane, the distance to those
// planes added per call), mo the byte offset of its mask in a mask row.
type flat8Rec struct{ off, mo int64 }

// flat8Slot is a slot of a task: its chunk's byte offset q (4·first
// pixel) in the input and output planes, and its mask row's byte offset
// in flat8.masks.
type flat8Slot struct{ q, row int64 }

// flat8 is a convolution prepared for the AVX2 flat kernel.
type flat8 struct {
	g      ConvGeom
	m      int
	lo, hi float32
	ps     int // stride 2: floats of a phase plane
	// cs: the floats of a channel's input as the kernel reads it (its
	// plane, H·W, or skewed, copied; stride 2: four phase planes).
	cs     int
	copyIn bool
	P      int // output pixels of a plane
	body   int // the body's depths (C·K·K); a projection's follow
	pg     ConvGeom
	recs   []flat8Rec
	masks  []int32 // mask rows, (K·K + 1)·8 words each (0 or −1)
	// byImage: per chunk, three slots of it (three images); one: an
	// image's chunks three at a time.
	byImage, one []flat8Slot
	// w4: per group of four output channels, per depth, the four
	// weights; bias: m floats (zeros without a bias).
	w4, bias []float32
	// store: where P < 8, the store mask (the first P lanes).
	store   [8]int32
	partial bool
}

// flat8OK reports whether the kernel takes the convolution g with m
// output channels: m a multiple of 4, the flat layout's geometries
// (flatPlane), byte offsets within int32.
func flat8OK(g ConvGeom, m int) bool {
	if m < 4 || m%4 != 0 {
		return false
	}
	_, ok := flatPlane(g)
	return ok && int64(m)*int64(g.OH*g.OW)*4 < 1<<31
}

// newFlat8 prepares g (m outputs, weights w: m rows of C·K·K + extra,
// extra a projection's channels) or returns nil unless flat8OK.
func newFlat8(g ConvGeom, m int, w []float32, ep *Epilogue, extra int) *flat8 {
	g.check()
	kk := g.K * g.K
	D := g.C*kk + extra
	if len(w) < m*D || ep.Bias != nil && len(ep.Bias) < m {
		panic(fmt.Sprintf("f32: newFlat8 %+v: %d weights, %d biases for %d outputs", g, len(w), len(ep.Bias), m))
	}
	if !flat8OK(g, m) {
		return nil
	}
	f := &flat8{g: g, m: m, body: g.C * kk, P: g.OH * g.OW}
	f.ps, _ = flatPlane(g)
	f.cs = g.H * g.W
	if g.Stride == 2 {
		// Room in a phase plane past its last row for flat8Split's
		// whole vectors (8 floats a row of W ≤ 16, else 16), and
		// channels spread over L1's sets (flat8Spread).
		st := 16
		if g.W <= 16 {
			st = 8
		}
		f.ps += max(0, st-g.OW)
		for !flat8Spread(4*f.ps, g.C) {
			f.ps += 4
		}
		f.cs = 4 * f.ps
	} else {
		for !flat8Spread(f.cs, g.C) {
			f.cs += 16
			f.copyIn = true
		}
	}
	if int64(g.C)*int64(f.cs)*4 >= 1<<31 {
		return nil
	}
	f.lo, f.hi = ep.bounds()
	P := f.P
	// The taps' offsets (floats, in the image's plane or from phase
	// (0, 0) of a channel's phase planes) and the chunks.
	off := make([]int, kk)
	for t := range off {
		dy, dx := t/g.K-g.Pad, t%g.K-g.Pad
		if g.Stride == 1 {
			off[t] = dy*g.W + dx
		} else {
			a, b := dy&1, dx&1
			off[t] = (2*a+b)*f.ps + (dy-a)/2*g.OW + (dx-b)/2
		}
	}
	planeIn := f.cs
	f.recs = make([]flat8Rec, D)
	for d := range f.recs {
		if d >= f.body {
			f.recs[d] = flat8Rec{int64(4 * (d - f.body) * P), int64(32 * kk)}
			continue
		}
		c, t := d/kk, d%kk
		f.recs[d] = flat8Rec{int64(4 * (c*planeIn + off[t])), int64(32 * t)}
	}
	var qs []int
	for q := 0; q < P; q += 8 {
		qs = append(qs, max(0, min(q, P-8)))
	}
	f.partial = P < 8
	for l := 0; l < min(P, 8); l++ {
		f.store[l] = -1
	}
	rows := map[string]int64{}
	slots := make([]flat8Slot, len(qs))
	for j, q := range qs {
		row := make([]int32, (kk+1)*8)
		for l := 0; l < 8 && q+l < P; l++ {
			oy, ox := (q+l)/g.OW, (q+l)%g.OW
			for t := 0; t < kk; t++ {
				iy, ix := oy*g.Stride+t/g.K-g.Pad, ox*g.Stride+t%g.K-g.Pad
				if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
					row[t*8+l] = -1
				}
			}
			row[kk*8+l] = -1
		}
		key := fmt.Sprint(row)
		at, ok := rows[key]
		if !ok {
			at = int64(4 * len(f.masks))
			rows[key] = at
			f.masks = append(f.masks, row...)
		}
		slots[j] = flat8Slot{int64(4 * q), at}
	}
	for _, s := range slots {
		f.byImage = append(f.byImage, s, s, s)
	}
	for j := 0; j < len(slots); j += 3 {
		for i := range 3 {
			f.one = append(f.one, slots[min(j+i, len(slots)-1)])
		}
	}
	f.w4 = make([]float32, m*D)
	for o := 0; o < m; o++ {
		for d := 0; d < D; d++ {
			f.w4[(o/4*D+d)*4+o%4] = w[o*D+d]
		}
	}
	f.bias = make([]float32, m)
	if ep.Bias != nil {
		copy(f.bias, ep.Bias[:m])
	}
	return f
}

// newFlat8Proj is newFlat8 (stride 1) with the stride-2 projection of pc
// channels of ph×pw (NewConvFlatProj's arguments), or nil.
func newFlat8Proj(g ConvGeom, m int, w []float32, ep *Epilogue, pc, ph, pw int) *flat8 {
	g.check()
	if g.Stride != 1 || pc < 1 || (ph-1)/2+1 != g.OH || (pw-1)/2+1 != g.OW {
		panic(fmt.Sprintf("f32: newFlat8Proj %+v with a projection of %d×%d×%d", g, pc, ph, pw))
	}
	if int64(pc)*int64(g.OH*g.OW)*4 >= 1<<31 {
		return nil
	}
	f := newFlat8(g, m, w, ep, pc)
	if f != nil {
		f.pg = ConvGeom{C: pc, H: ph, W: pw, K: 1, Stride: 2, OH: g.OH, OW: g.OW}
	}
	return f
}

// inSize is the floats of one image as the kernel reads it (its planes,
// or at stride 2 its phase planes).
func (f *flat8) inSize() int { return f.g.C * f.cs }

// flat8Spread reports whether c channels cs floats apart fall on
// min(c, 64) different cache lines modulo 4 KiB (L1's set index): where
// fewer, they meet in the same sets of L1 and evict each other. Planes
// (phase planes) that do not are copied (split) into planes a cache line
// (channels of phase planes: four floats a plane) longer.
func flat8Spread(cs, c int) bool {
	g := 4096
	for b := 4 * cs % 4096; b != 0; {
		g, b = b, g%b
	}
	return 4096/max(64, g) >= min(c, 64)
}

// input writes the kernel's input (inSize floats: phase planes at
// stride 2, else planes cs apart) of the image src into dst (at stride
// 2 with flat8Split where it runs).
func (f *flat8) input(dst, src []float32) {
	g := f.g
	if g.Stride == 2 {
		if !flat8Split(dst, src, g, f.ps, 2) {
			flat8Phases(dst, src, g, f.ps)
		}
		return
	}
	for c := 0; c < g.C; c++ {
		copy(dst[c*f.cs:], src[c*g.H*g.W:(c+1)*g.H*g.W])
	}
}

// flat8Phases writes the phase planes of the image src (dwPhasesGo's
// layout) into dst, a DWSplit2 per channel and row parity.
func flat8Phases(dst, src []float32, g ConvGeom, ps int) {
	for c := 0; c < g.C; c++ {
		for a := 0; a < 2 && a < g.H; a++ {
			p := dst[(4*c+2*a)*ps:]
			DWSplit2(p, p[ps:], g.OW, src[(c*g.H+a)*g.W:(c+1)*g.H*g.W], 2*g.W, (g.H-a+1)/2, g.W)
		}
	}
}

// flat8Sub writes the pixels (2oy, 2ox) of the pg.C planes of the
// projection's image src into dst (plane c at c·OH·OW, dwSub2Go's
// layout): flat8Split where dst has its 16 floats of slack, else a
// DWSplit2 per channel (its odd columns into odd).
func flat8Sub(dst, src []float32, pg ConvGeom, odd *[]float32) {
	P := pg.OH * pg.OW
	if flat8Split(dst, src, pg, P, 1) {
		return
	}
	*odd = growF(*odd, (pg.OH-1)*pg.OW+pg.W/2)
	for c := 0; c < pg.C; c++ {
		DWSplit2(dst[c*P:(c+1)*P], *odd, pg.OW, src[c*pg.H*pg.W:(c+1)*pg.H*pg.W], 2*pg.W, pg.OH, pg.W)
	}
}

// flat8Buf holds the per-call buffers (kept in flat8Pool): phase planes
// or skewed planes (a), subsampled planes (sub), DWSplit2's odd
// columns, a projection's patched records.
type flat8Buf struct {
	a, sub, odd []float32
	recs        []flat8Rec
}

var flat8Pool = sync.Pool{New: func() any { return new(flat8Buf) }}

// flat8Images is ConvFlatImages (pr nil) or ConvFlatImagesProj on the
// AVX2 kernel: three images at a time (each chunk j of the three), the
// one or two left image by image.
func flat8Images(dst []float32, dstStride int, src []float32, srcStride, n int, f *flat8, pr *Proj) {
	g := f.g
	size, out, in := g.C*g.H*g.W, f.m*f.P, f.inSize()
	buf := flat8Pool.Get().(*flat8Buf)
	defer flat8Pool.Put(buf)
	// The slots' inputs: the images in place (gap = srcStride apart),
	// or copies (phase planes, skewed planes) in buf.a, in apart.
	gap, copied := srcStride, g.Stride == 2 || f.copyIn
	if copied {
		gap = in
		buf.a = growF(buf.a, 3*in) // cells no input lands in are never read
	}
	sub := 0
	if pr != nil {
		// The subsampled planes of slot i at i·gap in buf.sub (their
		// distance from their images the same for the three slots),
		// else one image at a time.
		sub = f.pg.C * f.P
		if cap(buf.recs) < len(f.recs) {
			buf.recs = make([]flat8Rec, len(f.recs))
		}
		buf.sub = growF(buf.sub, 2*gap+sub+16)
	}
	for s := 0; s < n; {
		k := 1
		if n-s >= 3 && sub <= gap {
			k = 3
		}
		var srcs, dsts, subs [3][]float32
		for i := range 3 {
			j := s + min(i, k-1)
			srcs[i], dsts[i] = src[j*srcStride:j*srcStride+size], dst[j*dstStride:j*dstStride+out]
			if copied && i < k {
				f.input(buf.a[i*in:(i+1)*in], srcs[i])
			}
			if copied {
				srcs[i] = buf.a[min(i, k-1)*in:][:in]
			}
			if pr != nil {
				if i < k {
					flat8Sub(buf.sub[i*gap:i*gap+sub+16], pr.Src[j*pr.SrcStride:][:f.pg.C*f.pg.H*f.pg.W], f.pg, &buf.odd)
				}
				subs[i] = buf.sub[min(i, k-1)*gap:][:sub]
			}
		}
		tasks := f.one
		if k == 3 {
			tasks = f.byImage
		}
		flat8Run(dsts, srcs, subs, tasks, f, buf.recs)
		s += k
	}
}

// flat8Go is the kernel's portable twin: the same tasks, records, masks
// and sums (the depths in blocks of kc), the products rounded
// separately (no fused multiply-add). Slot i of a task reads srcs[i]
// (the image or its phase planes) and, from depth f.body on, subs[i] (a
// projection's subsampled planes), and writes dsts[i] (m planes of P).
func flat8Go(dsts, srcs, subs [3][]float32, tasks []flat8Slot, f *flat8) {
	D := len(f.recs)
	for grp := 0; grp < f.m/4; grp++ {
		for t := 0; t+3 <= len(tasks); t += 3 {
			var acc, tot [12][8]float32 // [3·channel + slot][lane]
			for d, r := range f.recs {
				if d > 0 && d%kc == 0 {
					// A block of kc depths ends: its sums join the total.
					for k := range acc {
						for l := range acc[k] {
							tot[k][l], acc[k][l] = acc[k][l]+tot[k][l], 0
						}
					}
				}
				w := f.w4[(grp*D+d)*4:][:4]
				for i, sl := range tasks[t : t+3] {
					mk := f.masks[(sl.row+r.mo)/4:][:8]
					in := srcs[i]
					if d >= f.body {
						in = subs[i]
					}
					o := int(sl.q+r.off) / 4
					for l, mb := range mk {
						var x float32
						if mb != 0 {
							x = in[o+l]
						}
						for ch, wc := range w {
							acc[3*ch+i][l] += float32(x * wc)
						}
					}
				}
			}
			for i, sl := range tasks[t : t+3] {
				for ch := 0; ch < 4; ch++ {
					oc := 4*grp + ch
					o := dsts[i][oc*f.P+int(sl.q)/4:]
					for l := 0; l < min(8, f.P); l++ {
						v := acc[3*ch+i][l]
						if D > kc {
							v += tot[3*ch+i][l]
						}
						o[l] = min(max(v+f.bias[oc], f.lo), f.hi)
					}
				}
			}
		}
	}
}

// flat8Check panics unless the slots' slices cover what the kernel
// reads and writes.
func flat8Check(dsts, srcs, subs [3][]float32, f *flat8) {
	for i := range 3 {
		_, _ = dsts[i][f.m*f.P-1], srcs[i][f.inSize()-1]
		if f.body < len(f.recs) {
			_ = subs[i][f.pg.C*f.P-1]
		}
	}
}

// flat8Faster reports whether the AVX2 kernel runs g (with or without
// a projection) faster than ConvImages (ConvImagesProj): all but output
// planes of a multiple of 1024 pixels (32×32: planes 4 KiB apart, the
// 12 lines a step stores meet in one set of L1) of 288 depths or more
// (32 channels of 3×3) from more than one channel. Measured (BenchmarkFlat8Ladder, batch 64, one
// quiet Zen 3 core, two runs; G MAC/s flat vs wide (ratio);
// C,H=W,K,stride,m; +p: a fused stride-2 projection of p channels):
//
//	MNIST resnet8    1,28,3,1,16 29 vs 19 (1.53); 16,28,3,2,16 38 vs 26 (1.47);
//	                 16,14,3,1,16+p16 42 vs 31 (1.35); 16,14,3,2,32 36 vs 24 (1.52);
//	                 32,7,3,1,32+p16 39 vs 29 (1.32); 32,7,3,2,64 38 vs 27 (1.41);
//	                 64,4,3,1,64+p32 42 vs 33 (1.27)
//	mobilenet-tiny   1,28,3,2,16 25 vs 9.3 (2.66); 16,14,1,1,32 33 vs 20 (1.66);
//	                 32,7,1,1,64 33 vs 24 (1.39); 64,4,1,1,64 45 vs 24 (1.89)
//	resnet8-mlperf   3,32,3,1,16 26–29 vs 31 (0.84–0.95); 16,32,3,1,16 38–40 vs 39
//	                 (0.98–1.02); 16,32,3,2,32 40 vs 34 (1.19); 32,16,3,1,32 41 vs 38
//	                 (1.08); 32,16,3,1,32+p16 40 vs 37 (1.08); 32,16,3,2,64 39 vs 31
//	                 (1.25); 64,8,3,1,64 37 vs 36 (1.04); 64,8,3,1,64+p32 38 vs 35 (1.09)
//	others           16,14,3,1,16 1.35; 32,7,3,1,32 1.32; 64,4,3,1,64 1.33;
//	                 16,16,3,2,32 1.33; 32,8,3,2,64 1.56; 3,28,3,1,16 1.37;
//	                 16,28,3,1,16 1.16; 3,16,3,1,16 1.69; 32,32,3,1,32 35 vs 41 (0.86)
//
// At batch 1 (and 5, resnet8-mlperf's chunk) the 32×32 layers are 1.05,
// 1.41 and 1.33× (1.00, 0.96, 0.89×); with its two taken, resnet8-mlperf
// runs 1.19× faster at batch 1 (CPU µs an image, 401 → 337) and as fast
// at batch 64 (336 → 333), so they are taken; 32,32,3,1,32 is not.
func flat8Faster(g ConvGeom) bool {
	return g.C == 1 || g.OH*g.OW%1024 != 0 || g.C*g.K*g.K < 288
}
