//go:build amd64 && !purego

package f32

// dw8Here reports whether the direct AVX2 depthwise kernel runs g on this
// CPU: AVX2 and FMA without AVX-512 (which has its own direct and flat
// kernels), and dw8OK(g).
func dw8Here(g ConvGeom) bool { return dwLevel == 1 && dw8OK(g) }

// dw8 runs plan p on one image (src: C planes of H×W, dst: C planes of
// OH×OW) with the weights and biases of dw8Weights.
func dw8(dst, src []float32, p *dw8Plan, w4, b4 []float32, lo, hi float32) {
	g := p.g
	kk, in, out := g.K*g.K, g.H*g.W, g.OH*g.OW
	groups := (g.C + 3) / 4
	_, _, _, _ = dst[g.C*out-1], src[g.C*in-1], w4[groups*kk*4-1], b4[groups*4-1]
	if len(p.recs) != p.pairs*(kk+1) {
		panic("f32: dw8: a plan of another geometry")
	}
	for gi := 0; gi < groups; gi++ {
		c0 := dw8Group(gi, g.C)
		dw8AVX2(&dst[c0*out], &src[c0*in], &p.recs[0], &p.masks[0], &w4[gi*kk*4], &b4[gi*4], &p.store[0],
			p.pairs, kk, p.n, 4*in, 4*out, g.Stride, lo, hi)
	}
}

// dw8AVX2 is dw8Go with fused multiply-adds for the four channels from
// the planes at src and dst, the group's weights w4 and biases b4; store
// is the plan's store mask, n its lanes, inPlane and outPlane the
// planes' bytes.
//
//go:noescape
func dw8AVX2(dst, src *float32, recs *dw8Rec, masks *int32, w4, b4 *float32, store *int32, pairs, kk, n, inPlane, outPlane, s int, lo, hi float32)
