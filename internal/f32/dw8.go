package f32

import "sync"

// The AVX2 direct depthwise kernel (dw8): a K×K depthwise convolution
// (strides 1 and 2) read straight from the unpadded CHW image (at stride
// 2, from its two column-parity planes) and written straight into the output
// planes with the epilogue, for CPUs without AVX-512, where the
// padded-plane path (DepthwiseImages) copies every channel into a
// zero-bordered plane (at stride 2 also splits it into phase planes),
// sums it with DWSum and clamps it into the output in a third pass.
//
// Input planes. At stride 1 the kernel reads the image's planes; at
// stride 2 the image is first split by column parity (DWSplit2, all
// channels at once) into two phase planes of H×⌈W/2⌉ per channel, phase
// b = ix mod 2 holding x(iy, ix) at (iy, ⌊ix/2⌋), phase-major (the phase
// planes of all channels of phase 0, then of phase 1). Either way, for a
// tap (ky, kx), the inputs of the outputs ox, ox+1, … of one row are
// consecutive floats of one plane.
//
// Slots. The output plane is cut into slots of 8 outputs. Where the
// input rows are as long as the output rows (stride 1 with W = OW, "same"
// padding), the slots are 8 consecutive outputs of the flat plane, rows
// crossing within a slot, the last at
// OH·OW − 8 (overlapping the one before, whose outputs it computes
// again, equal): output p = oy·OW + ox then reads, for a tap, the input
// float p + a constant of its plane. Otherwise a slot is 8 outputs of one
// row, columns [ox0, ox0+8), ox0 = 8j, a row that 8 does not divide
// ending with the slot at OW − 8, and a row of fewer than 8 outputs is
// one slot whose 8 lanes are stored, the ones past the row into the next
// rows' first outputs, which the next slots then store (slots are stored
// in order); a pair with a slot whose 8 lanes would pass the plane's end
// stores the first OW lanes only (a masked store: VMASKMOVPS stores are
// slow on AMD's cores).
//
// The kernel. The slots are taken two at a time (a pair; an odd last
// slot pairs with itself) for four channels at a time (the last four
// channels when 4 does not divide C, overlapping the group before): eight
// independent sums. For tap (ky, kx), lane l of a slot reads the input
// x(iy, ix) of its output (oy, ox), iy = oy·s + ky − Pad, ix = ox·s + kx −
// Pad, as one load of 8 floats with a lane mask that is zero where the
// input is padding (VMASKMOVPS loads zero there and touches no memory).
// So every output is the sum of all K·K products in (ky, kx) order from
// zero — padding products included, as zeros — with one fused
// multiply-add each, then + bias, max lo, min hi: DWSum's and
// biasClampRows' operations on the same values, the same bits as
// DepthwiseImages.
//
// The tap records depend on the geometry only and are built once per
// geometry (dw8Plans); the weights are laid out per group of four
// channels, tap by tap (dw8Weights).

// dw8Rec is one record of a pair of slots: for a tap, the slots' input
// byte offsets from the channel's input (its plane, or its phase-0 plane
// at stride 2; 0 where no lane is in the image) and the byte offsets in
// dw8Plan.masks of their lane masks; for the record after a pair's K·K
// tap records, off holds the slots' output byte offsets from the output
// plane's start, and mask[0] is 1 where the pair stores only the first n
// lanes of each slot.
type dw8Rec struct {
	off  [2]int32
	mask [2]int32
}

// dw8Plan is the tap records of one geometry.
type dw8Plan struct {
	g     ConvGeom
	pairs int
	n     int      // a row slot's outputs: 8, or OW for rows of OW < 8
	recs  []dw8Rec // pairs·(K·K + 1)
	masks []int32  // lane masks, 8 words (0 or −1) each
	store [8]int32 // the store mask where n < 8: its first n lanes
	// Stride 2: the phase planes' columns (⌈W/2⌉); the floats of a
	// channel's input (H·W, or a phase plane's H·wh) and of the split
	// image (C·2·H·wh; 0 at stride 1).
	wh           int
	inPlane, buf int
}

// dw8MaxRecs bounds a plan's records (4 MiB): larger maps take the
// padded planes.
const dw8MaxRecs = 1 << 18

// dw8OK reports whether the direct AVX2 kernel takes geometry g: strides 1
// and 2, at least four channels, at most 64 taps, and a plan of at most
// dw8MaxRecs records.
func dw8OK(g ConvGeom) bool {
	if g.C < 4 || g.Stride != 1 && g.Stride != 2 || g.K*g.K > 64 || g.C*g.H*g.W >= 1<<28 {
		return false
	}
	slots := g.OH * ((g.OW + 7) / 8)
	return (slots+1)/2*(g.K*g.K+1) <= dw8MaxRecs
}

var dw8Plans sync.Map // ConvGeom → *dw8Plan

// dw8PlanOf returns the plan of geometry g (dw8OK), built once.
func dw8PlanOf(g ConvGeom) *dw8Plan {
	if p, ok := dw8Plans.Load(g); ok {
		return p.(*dw8Plan)
	}
	p, _ := dw8Plans.LoadOrStore(g, newDW8Plan(g))
	return p.(*dw8Plan)
}

// newDW8Plan lays out the slots, pairs and tap records of g.
func newDW8Plan(g ConvGeom) *dw8Plan {
	P, s := g.OH*g.OW, g.Stride
	p := &dw8Plan{g: g, n: 8, inPlane: g.H * g.W}
	if s == 2 {
		p.wh = (g.W + 1) / 2
		p.inPlane, p.buf = g.H*p.wh, g.C*2*g.H*p.wh
	}
	// index is the float of input (iy, ix) from the channel's input;
	// floor division keeps it linear in ix outside the image too.
	index := func(iy, ix int) int {
		if s == 1 {
			return iy*g.W + ix
		}
		return ix&1*g.C*p.inPlane + iy*p.wh + ix>>1
	}
	// The slots' first outputs (flat indices in the output plane).
	var slots []int
	flat := s == 1 && g.W == g.OW && P >= 8
	if flat {
		for q := 0; q < P; q += 8 {
			slots = append(slots, min(q, P-8))
		}
	} else {
		p.n = min(g.OW, 8)
		for oy := 0; oy < g.OH; oy++ {
			for ox0 := 0; ox0 < g.OW; ox0 += 8 {
				slots = append(slots, oy*g.OW+min(ox0, max(g.OW-8, 0)))
			}
		}
	}
	for l := 0; l < p.n; l++ {
		p.store[l] = -1
	}
	if len(slots)%2 == 1 {
		slots = append(slots, slots[len(slots)-1])
	}
	p.pairs = len(slots) / 2
	at := map[[8]int32]int32{}
	addMask := func(m [8]int32) int32 {
		a, ok := at[m]
		if !ok {
			a = int32(4 * len(p.masks))
			at[m] = a
			p.masks = append(p.masks, m[:]...)
		}
		return a
	}
	for i := 0; i < len(slots); i += 2 {
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				var r dw8Rec
				for j, q := range slots[i : i+2] {
					// Lane l is output q + l (of row q/OW, or of the rows
					// that follow in the flat layout): its input is float
					// l from base, in the image or not.
					oy, ox := q/g.OW, q%g.OW
					base := index(oy*s+ky-g.Pad, ox*s+kx-g.Pad)
					var m [8]int32
					in := false
					for l := 0; l < p.n; l++ {
						oy, ox := (q+l)/g.OW, (q+l)%g.OW
						iy, ix := oy*s+ky-g.Pad, ox*s+kx-g.Pad
						if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
							continue
						}
						if index(iy, ix) != base+l {
							panic("f32: dw8 plan: a slot's inputs are not consecutive")
						}
						m[l] = -1
						in = true
					}
					if in {
						r.off[j] = int32(4 * base)
					}
					r.mask[j] = addMask(m)
				}
				p.recs = append(p.recs, r)
			}
		}
		var st dw8Rec
		for j, q := range slots[i : i+2] {
			st.off[j] = int32(4 * q)
		}
		if slots[i]+8 > P || slots[i+1]+8 > P {
			st.mask[0] = 1 // 8 lanes would pass the plane's end: the store mask
		}
		p.recs = append(p.recs, st)
	}
	return p
}

// dw8Input returns the kernel's input for the image src: src itself at
// stride 1, at stride 2 its phase planes, split into buf (p.buf floats).
func dw8Input(buf, src []float32, p *dw8Plan) []float32 {
	g := p.g
	if g.Stride == 1 {
		return src
	}
	buf = buf[:p.buf]
	ph := g.C * p.inPlane // the floats of one phase
	if g.W%2 == 0 {
		// Every row starts at an even float: the image's even floats
		// are the even columns of every row, in order.
		n := g.C * g.H * g.W
		DWSplit2(buf, buf[ph:], n/2, src, n, 1, n)
		return buf
	}
	DWSplit2(buf, buf[ph:], p.wh, src, g.W, g.C*g.H, g.W)
	return buf
}

// dw8Weights lays out w (C·K·K) for the kernel: per group of four
// channels (dw8Group), tap by tap, the four channels' weights; and the
// groups' four biases (zeros without bias) in b4.
func dw8Weights(w4, b4, w, bias []float32, g ConvGeom) {
	kk := g.K * g.K
	for gi := 0; gi < (g.C+3)/4; gi++ {
		c0 := dw8Group(gi, g.C)
		for t := 0; t < kk; t++ {
			for ch := 0; ch < 4; ch++ {
				w4[(gi*kk+t)*4+ch] = w[(c0+ch)*kk+t]
			}
		}
		for ch := 0; ch < 4; ch++ {
			b4[gi*4+ch] = 0
			if bias != nil {
				b4[gi*4+ch] = bias[c0+ch]
			}
		}
	}
}

// dw8Group is the first channel of group gi of four: 4·gi, the last
// group C − 4 (C ≥ 4).
func dw8Group(gi, c int) int { return min(4*gi, c-4) }

// dw8Go is the kernel's portable twin: it runs the plan p for the four
// channels from c0 of one image (in: the image's dw8Input, dst: planes
// of OH×OW) with the group's weights w4 (K·K taps × 4) and biases b4,
// from the same records and masks, the products rounded separately (no
// fused multiply-add).
func dw8Go(dst, in []float32, p *dw8Plan, w4, b4 []float32, c0 int, lo, hi float32) {
	g := p.g
	kk, out := g.K*g.K, g.OH*g.OW
	for pr := 0; pr < p.pairs; pr++ {
		recs := p.recs[pr*(kk+1) : (pr+1)*(kk+1)]
		for ch := 0; ch < 4; ch++ {
			x0 := in[(c0+ch)*p.inPlane:]
			for j := 0; j < 2; j++ {
				var acc [8]float32
				for t, r := range recs[:kk] {
					for l := range acc {
						var x float32
						if p.masks[int(r.mask[j])/4+l] != 0 {
							x = x0[int(r.off[j])/4+l]
						}
						acc[l] += w4[t*4+ch] * x
					}
				}
				o := dst[(c0+ch)*out+int(recs[kk].off[j])/4:]
				for l := 0; l < p.n; l++ {
					o[l] = min(max(acc[l]+b4[ch], lo), hi)
				}
			}
		}
	}
}
