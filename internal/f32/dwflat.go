package f32

import (
	"fmt"
	"math"
)

// The flat depthwise kernel (inference only): a depthwise convolution
// whose input, read in place (stride 1) or split once into its four
// phase planes (stride 2), has the output's row length OW, so that
// output p = oy·OW + ox reads, for tap t, the input float at p + off[t]
// of a flat plane. The output plane is then cut into 16-lane chunks
// (p = 16j … 16j+15, rows crossing within a chunk), each tap a masked
// load at p + off[t] — lanes whose input is padding (or past the plane)
// load zero — and a fused multiply-add; the chunks of all channels are
// taken four at a time (four independent sums), with the bias, the
// clamp and a masked store into the output planes. Where DepthwiseImages
// copies every channel into a zero-bordered plane (and splits it into
// phase planes), sums it with DWSum and clamps it into the output in a
// third pass, this reads each input float once per tap straight from
// the image (stride 1) and writes each output once.
//
// A batch runs four images at a time (dwFlat4: chunk j of one channel of
// the four, one weight and one mask a tap for all four), the rest image
// by image; one image (batch 1) with C ≥ 4 and two chunks or more a plane
// runs four channels and two chunks at a time (dwFlatC4: eight sums, two
// masks and four weights a tap for eight loads, where the table kernel
// loads four masks, four weights and an offset for four), about 1.2× to
// 1.5× faster on mobilenet-tiny's layers at batch 1.
//
// Every output is the sum of all K·K products in (ky, kx) order from
// zero — padding products included, as zeros — with one fused
// multiply-add each, then + bias, max lo, min hi: DWSum's and
// biasClampRows' operations on the same values, so the results equal
// DepthwiseImages' (and Depthwise's) bit for bit.

// DWFlat is a depthwise layer (geometry, weights, bias and clamp)
// prepared for DepthwiseFlat.
type DWFlat struct {
	g      ConvGeom
	lo, hi float32
	// tab: groups of four chunks (slots), each 16 + 8·K·K words: a
	// header — the slots' input byte offsets (words 0–3, from the
	// image's or its phase planes' start), output byte offsets (4–7),
	// biases (8–11), store masks (12–13, two 16-bit masks a word) — then
	// a record per tap t: its input byte offset (word 0), the slots'
	// load masks (1–2) and weights (3–6). The last group's unused slots
	// have zero masks.
	groups int
	tab    []uint32
	// Stride 2: the phase planes' floats per plane (rows·OW) and the
	// split kernel's lane masks (dwPhases).
	ps int
	// The four-image kernel (dwFlat4: chunk j of one channel of four
	// images at a time, one weight and one mask a tap for the four):
	// the taps' byte offsets, and per chunk its taps' load masks then its
	// store mask; w and bias as given.
	off4   []int64
	masks4 []uint16
	w      []float32
	bias   []float32
	// The one-image kernel of four channels and two chunks at a time
	// (dwFlatC4; C ≥ 4 and at least two chunks a plane): c4tab per pair
	// of chunks, per tap its byte offset and the two chunks' load masks
	// (low and high half), then the two store masks and a zero word (a
	// last odd chunk pairs with one whose masks are zero); c4w per group
	// of four channels (the last group the last four channels,
	// overlapping the one before when 4 does not divide C) per tap the
	// four weights; c4b the groups' four biases.
	c4tab    []int32
	c4w, c4b []float32
	c4pairs  int
	// d8: on AVX2 without AVX-512, the direct kernel's preparation
	// (dw8.go; the fields above unused): its plan, and the weights and
	// biases dw8Weights lays out, once instead of on every call of
	// DepthwiseImages.
	d8 *dw8Layer
}

// dw8Layer is a depthwise layer prepared for the dw8 kernel.
type dw8Layer struct {
	p      *dw8Plan
	w4, b4 []float32
}

// NewDWFlat prepares the depthwise convolution of geometry g with
// weights w (C·K·K) and epilogue ep for DepthwiseFlat, or returns nil
// when neither kernel runs g on this CPU (callers then use
// DepthwiseImages): on AVX-512 the flat kernel (stride 1 with OW = W, or
// stride 2 with rows of at most 32 floats and ⌈W/2⌉ ≤ OW), on AVX2
// without it the direct kernel dw8 where DepthwiseImages would run it
// (dw8OK), its weights laid out once here.
func NewDWFlat(g ConvGeom, w []float32, ep *Epilogue) *DWFlat {
	if !dwFlatHere() {
		if dw8Here(g) {
			return newDW8Flat(g, w, ep)
		}
		return nil
	}
	return newDWFlat(g, w, ep)
}

// newDW8Flat prepares g for the direct AVX2 kernel (dw8OK): DepthwiseFlat
// then runs what DepthwiseImages would, with the weights laid out here.
func newDW8Flat(g ConvGeom, w []float32, ep *Epilogue) *DWFlat {
	g.check()
	kk, groups := g.K*g.K, (g.C+3)/4
	if len(w) < g.C*kk || ep.Bias != nil && len(ep.Bias) < g.C {
		panic(fmt.Sprintf("f32: NewDWFlat %+v: %d weights, %d biases", g, len(w), len(ep.Bias)))
	}
	d := &dw8Layer{p: dw8PlanOf(g), w4: make([]float32, groups*4*kk), b4: make([]float32, groups*4)}
	dw8Weights(d.w4, d.b4, w, ep.Bias, g)
	f := &DWFlat{g: g, d8: d}
	f.lo, f.hi = ep.bounds()
	return f
}

func newDWFlat(g ConvGeom, w []float32, ep *Epilogue) *DWFlat {
	g.check()
	if len(w) < g.C*g.K*g.K || ep.Bias != nil && len(ep.Bias) < g.C {
		panic(fmt.Sprintf("f32: NewDWFlat %+v: %d weights, %d biases", g, len(w), len(ep.Bias)))
	}
	f := &DWFlat{g: g}
	f.lo, f.hi = ep.bounds()
	var ok bool
	if f.ps, ok = flatPlane(g); !ok {
		return nil
	}
	kk, P, chunks := g.K*g.K, g.OH*g.OW, (g.OH*g.OW+15)/16
	off, masks := flatTaps(g, f.ps)
	f.off4 = make([]int64, kk)
	for t, o := range off {
		f.off4[t] = int64(4 * o)
	}
	f.masks4 = make([]uint16, chunks*(kk+1))
	for j := 0; j < chunks; j++ {
		copy(f.masks4[j*(kk+1):], masks[j*kk:(j+1)*kk])
		for l := 0; l < 16 && 16*j+l < P; l++ {
			f.masks4[j*(kk+1)+kk] |= 1 << l
		}
	}
	f.w = append([]float32(nil), w[:g.C*kk]...)
	f.bias = make([]float32, g.C)
	if ep.Bias != nil {
		copy(f.bias, ep.Bias[:g.C])
	}
	planeIn := g.H * g.W
	if g.Stride == 2 {
		planeIn = 4 * f.ps
	}
	total := g.C * chunks
	f.groups = (total + 3) / 4
	words := 16 + 8*kk
	f.tab = make([]uint32, f.groups*words)
	for q := 0; q < total; q++ {
		c, j := q/chunks, q%chunks
		h := f.tab[q/4*words:]
		i := q % 4
		h[i] = uint32(int32(4 * (c*planeIn + 16*j)))
		h[4+i] = uint32(int32(4 * (c*P + 16*j)))
		if ep.Bias != nil {
			h[8+i] = math.Float32bits(ep.Bias[c])
		}
		var st uint32
		for l := 0; l < 16 && 16*j+l < P; l++ {
			st |= 1 << l
		}
		h[12+i/2] |= st << (16 * (i % 2))
		for t := 0; t < kk; t++ {
			r := h[16+8*t:]
			r[0] = uint32(int32(4 * off[t]))
			r[1+i/2] |= uint32(masks[j*kk+t]) << (16 * (i % 2))
			r[3+i] = math.Float32bits(w[c*kk+t])
		}
	}
	if g.C >= 4 && chunks >= 2 {
		// (A plane of one chunk would pair it with an empty one.)
		f.buildC4(off, masks, w)
	}
	// Dummy slots of the last group: masks and store masks zero (no
	// loads, no stores), but tap offsets for every record.
	for q := total; q < f.groups*4; q++ {
		h := f.tab[q/4*words:]
		for t := 0; t < kk; t++ {
			h[16+8*t] = uint32(int32(4 * off[t]))
		}
	}
	return f
}

// flatPlane reports whether the flat kernels take g (stride 1 with OW =
// W, or stride 2 with rows of 2 to 32 floats and ⌈W/2⌉ ≤ OW, byte
// offsets of all C planes within int32) and returns, at stride 2, the
// floats of one phase plane (⌈H/2⌉ rows of OW).
func flatPlane(g ConvGeom) (ps int, ok bool) {
	switch {
	case g.Stride == 1 && g.OW == g.W:
	case g.Stride == 2 && g.W >= 2 && g.W <= 32 && (g.W+1)/2 <= g.OW:
		ps = (g.H + 1) / 2 * g.OW
	default:
		return 0, false
	}
	if int64(g.C)*int64(max(g.H*g.W, 4*ps, g.OH*g.OW))*4 >= math.MaxInt32 {
		return 0, false
	}
	return ps, true
}

// flatTaps returns tap t's offset (floats) in the flat plane (stride 1:
// the image's plane; stride 2: from phase (0, 0) of a channel's four
// phase planes of ps floats) and, for each 16-lane chunk j of the
// output plane, the lanes whose input is in the image
// (masks[j·K·K + t]).
func flatTaps(g ConvGeom, ps int) (off []int, masks []uint16) {
	kk, P := g.K*g.K, g.OH*g.OW
	off = make([]int, kk)
	masks = make([]uint16, (P+15)/16*kk)
	for ky := 0; ky < g.K; ky++ {
		for kx := 0; kx < g.K; kx++ {
			t := ky*g.K + kx
			dy, dx := ky-g.Pad, kx-g.Pad
			if g.Stride == 1 {
				off[t] = dy*g.W + dx
			} else {
				a, b := dy&1, dx&1
				off[t] = (2*a+b)*ps + (dy-a)/2*g.OW + (dx-b)/2
			}
			for p := 0; p < P; p++ {
				oy, ox := p/g.OW, p%g.OW
				iy, ix := oy*g.Stride+dy, ox*g.Stride+dx
				if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
					continue
				}
				masks[(p/16)*kk+t] |= 1 << (p % 16)
			}
		}
	}
	return off, masks
}

// DepthwiseFlat is DepthwiseImages with the flat kernel: n CHW images,
// image s at src[s·srcStride:] (C planes of H×W), its output at
// dst[s·dstStride:] (C planes of OH×OW). The results equal
// DepthwiseImages' with the same geometry, weights and epilogue bit for
// bit.
func DepthwiseFlat(dst []float32, dstStride int, src []float32, srcStride, n int, f *DWFlat) {
	g := f.g
	size, out := g.C*g.H*g.W, g.C*g.OH*g.OW
	if n <= 0 {
		return
	}
	checkImages("DepthwiseFlat", g, n, size, out, src, srcStride, dst, dstStride)
	if d := f.d8; d != nil {
		// AVX2: image by image, as DepthwiseImages runs dw8.
		buf := epPool.Get().(*epBuffers)
		defer epPool.Put(buf)
		buf.b = growF(buf.b, d.p.buf)
		for s := 0; s < n; s++ {
			dw8(dst[s*dstStride:s*dstStride+out], src[s*srcStride:s*srcStride+size], d.p, d.w4, d.b4, buf.b, f.lo, f.hi)
		}
		return
	}
	// Four images at a time (dwFlat4), then one at a time; stride 2:
	// their phase planes side by side.
	var ph []float32
	psz := g.C * 4 * f.ps
	if g.Stride == 2 {
		buf := epPool.Get().(*epBuffers)
		defer epPool.Put(buf)
		// Cells of the phase planes that no input float lands in are
		// never read (their lanes are masked), so the buffer needs no
		// clearing.
		buf.a = growF(buf.a, 4*psz)
		ph = buf.a
	}
	for s := 0; s < n; {
		k := 1
		if n-s >= 4 && dwFlat4Here() {
			k = 4
		}
		in, inStride := src[s*srcStride:], srcStride
		if ph != nil {
			for i := range k {
				dwPhases(ph[i*psz:(i+1)*psz], src[(s+i)*srcStride:][:size], g, f.ps)
			}
			in, inStride = ph, psz
		}
		d := dst[s*dstStride:]
		if k == 4 {
			dwFlat4(d, dstStride, in, inStride, f)
		} else {
			dwFlat(d[:out], in[:f.inSize()], f)
		}
		s += k
	}
}

// inSize is the floats of one image as the kernels read it: its planes,
// or at stride 2 its phase planes.
func (f *DWFlat) inSize() int {
	if f.g.Stride == 2 {
		return f.g.C * 4 * f.ps
	}
	return f.g.C * f.g.H * f.g.W
}

// dwPhasesGo splits the C planes of H×W in src into four phase planes
// each, channel c's phase (a, b) at dst[(4c + 2a + b)·ps:], row r of it
// holding the floats of input row 2r+a at even (b = 0) or odd (b = 1)
// columns, ow floats a row (cells past the input are not written).
func dwPhasesGo(dst, src []float32, g ConvGeom, ps int) {
	for c := 0; c < g.C; c++ {
		for iy := 0; iy < g.H; iy++ {
			row := src[(c*g.H+iy)*g.W:][:g.W]
			for ix, v := range row {
				dst[(4*c+2*(iy&1)+(ix&1))*ps+iy/2*g.OW+ix/2] = v
			}
		}
	}
}

// dwFlatGo is the flat kernel's portable twin, record by record: the
// same loads and sums, the products rounded separately (no fused
// multiply-add). src is the image (stride 1) or its phase planes.
func dwFlatGo(dst, src []float32, f *DWFlat) {
	kk := f.g.K * f.g.K
	words := 16 + 8*kk
	for gi := 0; gi < f.groups; gi++ {
		h := f.tab[gi*words:]
		for i := 0; i < 4; i++ {
			base := int(int32(h[i])) / 4
			var acc [16]float32
			for t := 0; t < kk; t++ {
				r := h[16+8*t:]
				m := uint16(r[1+i/2] >> (16 * (i % 2)))
				wt := math.Float32frombits(r[3+i])
				o := base + int(int32(r[0]))/4
				for l := 0; l < 16; l++ {
					var x float32
					if m&(1<<l) != 0 {
						x = src[o+l]
					}
					acc[l] += float32(wt * x)
				}
			}
			st := uint16(h[12+i/2] >> (16 * (i % 2)))
			b := math.Float32frombits(h[8+i])
			d := int(int32(h[4+i])) / 4
			for l := 0; l < 16; l++ {
				if st&(1<<l) != 0 {
					dst[d+l] = min(max(acc[l]+b, f.lo), f.hi)
				}
			}
		}
	}
}

// buildC4 fills the four-channel kernel's tables (DWFlat's c4 fields)
// from the taps' offsets and masks (flatTaps) and the weights.
func (f *DWFlat) buildC4(off []int, masks []uint16, w []float32) {
	g := f.g
	kk, P, chunks := g.K*g.K, g.OH*g.OW, (g.OH*g.OW+15)/16
	f.c4pairs = (chunks + 1) / 2
	f.c4tab = make([]int32, f.c4pairs*(2*kk+2))
	mask := func(j, t int) uint32 {
		if j >= chunks {
			return 0
		}
		return uint32(masks[j*kk+t])
	}
	store := func(j int) uint32 {
		var st uint32
		for l := 0; l < 16 && 16*j+l < P; l++ {
			st |= 1 << l
		}
		return st
	}
	for p := 0; p < f.c4pairs; p++ {
		rec := f.c4tab[p*(2*kk+2):]
		for t := 0; t < kk; t++ {
			rec[2*t] = int32(4 * off[t])
			rec[2*t+1] = int32(mask(2*p, t) | mask(2*p+1, t)<<16)
		}
		rec[2*kk] = int32(store(2*p) | store(2*p+1)<<16)
	}
	groups := (g.C + 3) / 4
	f.c4w = make([]float32, groups*kk*4)
	f.c4b = make([]float32, groups*4)
	for gi := 0; gi < groups; gi++ {
		cb := min(4*gi, g.C-4)
		for i := 0; i < 4; i++ {
			for t := 0; t < kk; t++ {
				f.c4w[(gi*kk+t)*4+i] = w[(cb+i)*kk+t]
			}
			f.c4b[gi*4+i] = f.bias[cb+i]
		}
	}
}
