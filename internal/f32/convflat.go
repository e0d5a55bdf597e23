package f32

import "fmt"

// The flat convolution kernel (inference only): a convolution whose
// input planes, read in place (stride 1) or split once into their phase
// planes (stride 2), have the output's row length OW (dwflat.go's flat
// layout), as an implicit GEMM straight from the image: per 16-lane
// chunk of the output plane and per depth d = (c, ky, kx), one masked
// load of the chunk's inputs (lanes whose input is padding load zero)
// times 16 output channels' weights into 16 sums — or, with fewer loads
// per multiply-add, two chunks (chunk j of two images, or two chunks of
// one image) times 8 channels' weights. Where ConvImages
// copies the images into a wide zero-padded image (or its phase planes)
// and computes the padding columns of every row, this reads the image
// as it is and computes only the chunks' pixels; a one-channel stem
// (nine depths) fills no GEMM panel well, and here it costs a load a
// tap for 16 output channels.
//
// Every output is the sum of the C·K·K products in depth order from
// zero — padding products included, as zeros — with one fused
// multiply-add each (in blocks of kc depths, each block's sum added to
// the earlier blocks' total), then + bias, max lo, min hi: the GEMM
// kernels' and the epilogue's operations in the same order on the same
// values, so the results equal ConvImages' bit for bit.

// ConvFlat is a convolution (one group) into a multiple of 16 output
// channels (AVX2: of 4) (geometry, weights, bias, clamp) prepared for
// ConvFlatImages.
type ConvFlat struct {
	g      ConvGeom
	m      int
	lo, hi float32
	ps     int // stride 2: floats of a phase plane
	// off: the depths' byte offsets (channel c's plane, tap t, from the
	// chunk; a projection's depths from the chunk of its subsampled
	// planes); masks[j·depths + d]: chunk j's load mask for depth d;
	// st[j] its store mask; w: per group of 16 output channels, depths
	// of 16 weights; bias: m floats.
	off   []int64
	masks []uint16
	st    []uint16
	w     []float32
	bias  []float32
	// The two-chunk kernel (8 output channels, two 16-pixel chunks at a
	// time: fewer loads for the same multiply-adds) reads w8, the
	// weights by groups of 8 channels, and per pair of chunks its
	// depths' two load masks and then its two store masks: kmSame pairs
	// chunks 2i and 2i+1 of one image (an odd last chunk with a chunk of
	// zero masks), kmImg chunk j of two images.
	w8            []float32
	kmSame, kmImg []uint16
	// A projection (NewConvFlatProj): its depths follow the body's
	// (depths ≥ body), one per channel, read from its image's subsampled
	// planes (pg: its geometry; plane c at c·OH·OW, dwSub2).
	body int
	pg   ConvGeom
	// a2: the AVX2 kernel's preparation (convflat8.go; the fields
	// above unused), on CPUs without AVX-512.
	a2 *flat8
}

// NewConvFlat prepares the convolution of geometry g with m output
// channels, weights w (m·C·K·K, PackA's row-major input) and
// epilogue ep for ConvFlatImages, or returns nil when the kernel does not
// run it on this CPU (it needs the flat layout's geometries: stride 1
// with OW = W, or stride 2 with rows of at most 32 floats and ⌈W/2⌉ ≤
// OW; and AVX-512 with m a multiple of 16, or AVX2 and FMA (convflat8.go)
// with m a multiple of 4 where flat8Faster; callers then use ConvImages).
func NewConvFlat(g ConvGeom, m int, w []float32, ep *Epilogue) *ConvFlat {
	if flat8Here() {
		return flat8Conv(g, newFlat8(g, m, w, ep, 0))
	}
	if !dwFlatHere() {
		return nil
	}
	return newConvFlat(g, m, w, ep)
}

// NewConvFlatProj is NewConvFlat (stride 1) with the projection of pc
// channels of ph×pw, stride 2 (a Proj's geometry), summed into each
// output as ConvImagesProj does: w holds, for output channel o, the
// C·K·K weights of the convolution followed by the pc weights of the
// projection. It returns nil where NewConvFlat would, or with AVX-512
// for a projection of rows wider than 32 floats or narrower than 2
// (AVX2's kernel takes them: DWSplit2 subsamples rows wider than 32).
func NewConvFlatProj(g ConvGeom, m int, w []float32, ep *Epilogue, pc, ph, pw int) *ConvFlat {
	if flat8Here() {
		return flat8Conv(g, newFlat8Proj(g, m, w, ep, pc, ph, pw))
	}
	if !dwFlatHere() {
		return nil
	}
	return newConvFlatProj(g, m, w, ep, pc, ph, pw)
}

func newConvFlatProj(g ConvGeom, m int, w []float32, ep *Epilogue, pc, ph, pw int) *ConvFlat {
	g.check()
	if g.Stride != 1 || pc < 1 || (ph-1)/2+1 != g.OH || (pw-1)/2+1 != g.OW {
		panic(fmt.Sprintf("f32: NewConvFlatProj %+v with a projection of %d×%d×%d", g, pc, ph, pw))
	}
	if pw < 2 || pw > 32 {
		return nil
	}
	f := newConvFlatDepths(g, m, w, ep, pc)
	if f == nil {
		return nil
	}
	f.pg = ConvGeom{C: pc, H: ph, W: pw, K: 1, Stride: 2, OH: g.OH, OW: g.OW}
	P := g.OH * g.OW
	if int64(pc)*int64(P)*4 >= 1<<31 {
		return nil
	}
	for c := 0; c < pc; c++ {
		d := f.body + c
		f.off[d] = int64(4 * c * P) // subsampled plane c
		for j, st := range f.st {
			f.masks[j*len(f.off)+d] = st
		}
	}
	f.pairMasks()
	return f
}

func newConvFlat(g ConvGeom, m int, w []float32, ep *Epilogue) *ConvFlat {
	f := newConvFlatDepths(g, m, w, ep, 0)
	if f != nil {
		f.pairMasks()
	}
	return f
}

// flatRows forces a kernel (tests): 16 the one-chunk kernel only, 8 the
// two-chunk kernel only; 0 the two-chunk kernel on pairs of images, and
// on one image with two chunks or more, else the one-chunk kernel.
var flatRows = 0

// pairMasks lays out kmSame and kmImg from masks and st.
func (f *ConvFlat) pairMasks() {
	D, chunks := len(f.off), len(f.st)
	rec := 2 * (D + 1) // a pair's masks
	f.kmSame = make([]uint16, (chunks+1)/2*rec)
	f.kmImg = make([]uint16, chunks*rec)
	for j := 0; j < chunks; j++ {
		same, img := f.kmSame[j/2*rec+j%2:], f.kmImg[j*rec:]
		for d := 0; d <= D; d++ {
			m := f.st[j]
			if d < D {
				m = f.masks[j*D+d]
			}
			same[2*d] = m
			img[2*d], img[2*d+1] = m, m
		}
	}
}

// newConvFlatDepths is newConvFlat with extra depths (their weights
// after the body's in each row of w, their offsets and masks zero).
func newConvFlatDepths(g ConvGeom, m int, w []float32, ep *Epilogue, extra int) *ConvFlat {
	g.check()
	kk := g.K * g.K
	D := g.C*kk + extra // depths
	if len(w) < m*D || ep.Bias != nil && len(ep.Bias) < m {
		panic(fmt.Sprintf("f32: NewConvFlat %+v: %d weights, %d biases for %d outputs", g, len(w), len(ep.Bias), m))
	}
	if m <= 0 || m%16 != 0 {
		return nil
	}
	f := &ConvFlat{g: g, m: m, body: g.C * kk}
	var ok bool
	if f.ps, ok = flatPlane(g); !ok || int64(m)*int64(g.OH*g.OW)*4 >= 1<<31 {
		return nil
	}
	f.lo, f.hi = ep.bounds()
	off, masks := flatTaps(g, f.ps)
	planeIn := g.H * g.W
	if g.Stride == 2 {
		planeIn = 4 * f.ps
	}
	// Depth d = c·K·K + t (PackA's order): channel c's plane, tap t.
	P := g.OH * g.OW
	chunks := (P + 15) / 16
	f.off = make([]int64, D)
	f.masks = make([]uint16, chunks*D)
	for c := 0; c < g.C; c++ {
		for t, o := range off {
			f.off[c*kk+t] = int64(4 * (c*planeIn + o))
			for j := 0; j < chunks; j++ {
				f.masks[j*D+c*kk+t] = masks[j*kk+t]
			}
		}
	}
	f.st = make([]uint16, chunks)
	for p := 0; p < P; p++ {
		f.st[p/16] |= 1 << (p % 16)
	}
	f.w = make([]float32, m*D)
	f.w8 = make([]float32, m*D)
	for o := 0; o < m; o++ {
		for d := 0; d < D; d++ {
			f.w[(o/16*D+d)*16+o%16] = w[o*D+d]
			f.w8[(o/8*D+d)*8+o%8] = w[o*D+d]
		}
	}
	f.bias = make([]float32, m)
	if ep.Bias != nil {
		copy(f.bias, ep.Bias[:m])
	}
	return f
}

// ConvFlatImages is ConvImages with the flat kernel: n CHW images (C
// planes of H×W), image s at src[s·srcStride:], its output (m planes of
// OH×OW) at dst[s·dstStride:]. The results equal ConvImages' with the
// same geometry, weights and epilogue bit for bit.
func ConvFlatImages(dst []float32, dstStride int, src []float32, srcStride, n int, f *ConvFlat) {
	g := f.g
	size, out := g.C*g.H*g.W, f.m*g.OH*g.OW
	if n <= 0 {
		return
	}
	checkImages("ConvFlatImages", g, n, size, out, src, srcStride, dst, dstStride)
	if f.a2 != nil {
		if f.hasProj() {
			panic("f32: ConvFlatImages with a projection's preparation")
		}
		flat8Images(dst, dstStride, src, srcStride, n, f.a2, nil)
		return
	}
	// Two images at a time (convFlat2); stride 2: their phase planes
	// side by side.
	var ph []float32
	psz := g.C * 4 * f.ps
	if g.Stride == 2 {
		buf := epPool.Get().(*epBuffers)
		defer epPool.Put(buf)
		buf.a = growF(buf.a, 2*psz) // cells no input lands in are never read
		ph = buf.a
	}
	for s := 0; s < n; s += 2 {
		k := min(2, n-s)
		var x [2][]float32
		for i := range k {
			x[i] = src[(s+i)*srcStride : (s+i)*srcStride+size]
			if ph != nil {
				dwPhases(ph[i*psz:(i+1)*psz], x[i], g, f.ps)
				x[i] = ph[i*psz : (i+1)*psz]
			}
		}
		d0 := dst[s*dstStride : s*dstStride+out]
		if k == 1 {
			convFlat(d0, x[0], nil, f)
			continue
		}
		convFlat2(d0, dst[(s+1)*dstStride:(s+1)*dstStride+out], x[0], x[1], nil, nil, f)
	}
}

// ConvFlatImagesProj is ConvImagesProj with the flat kernel, f from
// NewConvFlatProj with pr's geometry: each image's projection is
// subsampled (one pass, dwSub2) into planes of the flat layout, read as
// the last depths. The results equal ConvImagesProj's bit for bit.
func ConvFlatImagesProj(dst []float32, dstStride int, src []float32, srcStride, n int, f *ConvFlat, pr *Proj) {
	g, pg := f.g, f.pg
	size, out, psize := g.C*g.H*g.W, f.m*g.OH*g.OW, pg.C*pg.H*pg.W
	if n <= 0 {
		return
	}
	if !f.hasProj() || pr.C != pg.C || pr.H != pg.H || pr.W != pg.W || pr.Stride != 2 ||
		srcStride < size || dstStride < out || len(src) < (n-1)*srcStride+size || len(dst) < (n-1)*dstStride+out ||
		pr.SrcStride < psize || len(pr.Src) < (n-1)*pr.SrcStride+psize {
		panic(fmt.Sprintf("f32: ConvFlatImagesProj %+v with %+v: %d images in %d floats (stride %d), %d (stride %d), out %d (stride %d)",
			g, pg, n, len(src), srcStride, len(pr.Src), pr.SrcStride, len(dst), dstStride))
	}
	if f.a2 != nil {
		flat8Images(dst, dstStride, src, srcStride, n, f.a2, pr)
		return
	}
	// Two images at a time (convFlat2), their subsampled planes as far
	// apart as their images (srcStride) where they fit in between (else
	// one image at a time).
	buf := epPool.Get().(*epBuffers)
	defer epPool.Put(buf)
	sub := pg.C * g.OH * g.OW
	gap, per := srcStride, 2
	if sub > srcStride {
		gap, per = sub, 1
	}
	buf.a = growF(buf.a, gap+sub)
	ph := buf.a
	for s := 0; s < n; s += per {
		k := min(per, n-s)
		for i := range k {
			dwSub2(ph[i*gap:i*gap+sub], pr.Src[(s+i)*pr.SrcStride:][:psize], pg)
		}
		d0, x0 := dst[s*dstStride:s*dstStride+out], src[s*srcStride:s*srcStride+size]
		if k == 1 {
			convFlat(d0, x0, ph[:sub], f)
			continue
		}
		convFlat2(d0, dst[(s+1)*dstStride:(s+1)*dstStride+out], x0, src[(s+1)*srcStride:(s+1)*srcStride+size], ph[:sub], ph[gap:gap+sub], f)
	}
}

// hasProj reports whether f was prepared with a projection
// (NewConvFlatProj).
func (f *ConvFlat) hasProj() bool {
	if f.a2 != nil {
		return f.a2.body < len(f.a2.recs)
	}
	return f.body < len(f.off)
}

// flat8Conv wraps the AVX2 kernel's preparation a (nil: none) of g as
// a ConvFlat, or returns nil where the kernel is not faster than
// ConvImages (flat8Faster).
func flat8Conv(g ConvGeom, a *flat8) *ConvFlat {
	if a == nil || !flat8Faster(g) {
		return nil
	}
	return a.conv()
}

// conv wraps f as a ConvFlat.
func (f *flat8) conv() *ConvFlat {
	return &ConvFlat{g: f.g, m: f.m, lo: f.lo, hi: f.hi, ps: f.ps, body: f.body, pg: f.pg, a2: f}
}

// dwSub2Go writes the pixels (2oy, 2ox) of the g.C planes of H×W in src
// into dst, plane c at c·OH·OW, OW a row.
func dwSub2Go(dst, src []float32, g ConvGeom) {
	for c := 0; c < g.C; c++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				dst[(c*g.OH+oy)*g.OW+ox] = src[(c*g.H+2*oy)*g.W+2*ox]
			}
		}
	}
}

// convFlatGo is the kernel's portable twin, chunk by chunk: the same loads
// and sums (the depths in blocks of kc, as the GEMM kernels sum them),
// the products rounded separately (no fused multiply-add). Depths from
// f.body on read src2 (a projection's subsampled planes).
// src is the image (stride 1) or its phase planes.
func convFlatGo(dst, src, src2 []float32, f *ConvFlat) {
	kk, P := len(f.off), f.g.OH*f.g.OW // kk: the depths
	const R = 16
	for og := 0; og < f.m/R; og++ {
		for j, st := range f.st {
			var acc, tot [16][16]float32 // [output channel][lane]
			for t := 0; t < kk; t++ {
				if t > 0 && t%kc == 0 {
					// A block of kc depths ends: its sums join the total.
					for c := range acc {
						for l := range acc[c] {
							tot[c][l], acc[c][l] = acc[c][l]+tot[c][l], 0
						}
					}
				}
				m := f.masks[j*kk+t]
				o := 16*j + int(f.off[t])/4
				in := src
				if t >= f.body {
					in = src2
				}
				for l := 0; l < 16; l++ {
					var x float32
					if m&(1<<l) != 0 {
						x = in[o+l]
					}
					for c := 0; c < R; c++ {
						acc[c][l] += float32(x * f.w[(og*kk+t)*R+c])
					}
				}
			}
			for c := 0; c < R; c++ {
				oc := og*R + c
				for l := 0; l < 16; l++ {
					if kk > kc {
						acc[c][l] += tot[c][l]
					}
					if st&(1<<l) != 0 {
						dst[oc*P+16*j+l] = min(max(acc[c][l]+f.bias[oc], f.lo), f.hi)
					}
				}
			}
		}
	}
}
