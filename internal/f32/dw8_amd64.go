//go:build amd64 && !purego

package f32

// dw8Here reports whether the direct AVX2 depthwise kernel runs g on this
// CPU: AVX2 and FMA without AVX-512 (which has its own direct and flat
// kernels), and dw8OK(g).
func dw8Here(g ConvGeom) bool { return dwLevel == 1 && dw8OK(g) }

// dw8 runs plan p on one image (src: C planes of H×W, dst: C planes of
// OH×OW) with the weights and biases of dw8Weights; buf holds p.buf
// floats (the phase planes at stride 2).
func dw8(dst, src []float32, p *dw8Plan, w4, b4, buf []float32, lo, hi float32) {
	g := p.g
	kk, out := g.K*g.K, g.OH*g.OW
	groups := (g.C + 3) / 4
	_, _, _, _ = dst[g.C*out-1], src[g.C*g.H*g.W-1], w4[groups*kk*4-1], b4[groups*4-1]
	if len(p.recs) != p.pairs*(kk+1) {
		panic("f32: dw8: a plan of another geometry")
	}
	in := dw8Input(buf, src, p)
	// The records address at most the channel's whole input (both
	// phases at stride 2) from its start.
	_ = in[g.Stride*g.C*p.inPlane-1]
	for gi := 0; gi < groups; gi++ {
		c0 := dw8Group(gi, g.C)
		dw8AVX2(&dst[c0*out], &in[c0*p.inPlane], &p.recs[0], &p.masks[0], &w4[gi*kk*4], &b4[gi*4], &p.store[0],
			p.pairs, kk, 4*p.inPlane, 4*out, lo, hi)
	}
}

// dw8AVX2 is dw8Go with fused multiply-adds for the four channels from
// the inputs at src and the planes at dst, the group's weights w4 and
// biases b4; store is the plan's store mask, inPlane and outPlane a
// channel's input and output bytes.
//
//go:noescape
func dw8AVX2(dst, src *float32, recs *dw8Rec, masks *int32, w4, b4 *float32, store *int32, pairs, kk, inPlane, outPlane int, lo, hi float32)
