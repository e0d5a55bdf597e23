package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// dw8Geoms are the direct kernel's geometries: dwDirectGeoms with at
// least four channels, plus channel counts that 4 does not divide (the
// last group overlaps), rows of 1 to 17 outputs (one partial slot, whole
// slots, a last slot overlapping the one before), odd slot counts (a
// pair of one slot), kernels 1 to 8 (even ones too) with padding up to
// K and beyond (slots all padding), and a plane that ends in a partial
// slot at stride 2.
func dw8Geoms() []ConvGeom {
	var gs []ConvGeom
	for _, g := range dwDirectGeoms() {
		if g.C >= 4 {
			gs = append(gs, g)
		}
	}
	for _, g := range []ConvGeom{
		{C: 4, H: 1, W: 1, K: 1, Stride: 1, Pad: 0},
		{C: 5, H: 3, W: 7, K: 3, Stride: 1, Pad: 1},
		{C: 6, H: 7, W: 7, K: 3, Stride: 1, Pad: 1},
		{C: 7, H: 5, W: 8, K: 3, Stride: 1, Pad: 1},
		{C: 4, H: 9, W: 9, K: 3, Stride: 1, Pad: 1},
		{C: 9, H: 4, W: 17, K: 5, Stride: 1, Pad: 2},
		{C: 4, H: 6, W: 16, K: 3, Stride: 1, Pad: 0},
		{C: 4, H: 5, W: 11, K: 7, Stride: 1, Pad: 3},
		{C: 4, H: 3, W: 4, K: 3, Stride: 1, Pad: 3},
		{C: 5, H: 7, W: 7, K: 3, Stride: 2, Pad: 1},
		{C: 4, H: 15, W: 15, K: 3, Stride: 2, Pad: 1},
		{C: 8, H: 13, W: 33, K: 5, Stride: 2, Pad: 2},
		{C: 4, H: 2, W: 3, K: 1, Stride: 2, Pad: 0},
		{C: 6, H: 9, W: 20, K: 7, Stride: 2, Pad: 3},
		{C: 4, H: 28, W: 28, K: 3, Stride: 1, Pad: 1},
		{C: 4, H: 28, W: 28, K: 3, Stride: 2, Pad: 1},
		{C: 5, H: 6, W: 5, K: 2, Stride: 2, Pad: 0},
		{C: 4, H: 5, W: 6, K: 4, Stride: 1, Pad: 1},
		{C: 6, H: 9, W: 11, K: 8, Stride: 2, Pad: 4},
		{C: 4, H: 3, W: 9, K: 8, Stride: 1, Pad: 7},
		{C: 7, H: 2, W: 2, K: 2, Stride: 1, Pad: 5},
		{C: 4, H: 3, W: 3, K: 5, Stride: 2, Pad: 6},
	} {
		gs = append(gs, sized(g))
	}
	return gs
}

// TestDW8: the direct AVX2 depthwise kernel (dw8: masked loads of the
// unpadded image, four channels and two 8-output slots at a time) and
// its Go twin dw8Go (the same records and masks) against the definition
// summed in float64 (dwDirectRef), every epilogue; tolerance as in
// TestDWDirect: a float32 sum of at most K·K products and the bias is
// within (K·K+2)·2⁻²⁴ of the sum of the magnitudes. The assembly must
// also equal, bit for bit, the padded-plane path (Depthwise: DWSum on
// zero-bordered planes, then biasClampRows), whose fused multiply-adds
// it performs in the same order, and write nothing past its C·OH·OW
// outputs; and DepthwiseImages (which takes it) must equal Depthwise on
// three images at once.
func TestDW8(t *testing.T) {
	defer atAVX2()()
	r := rand.New(rand.NewPCG(8, 61))
	ran := 0
	for gi, g := range dw8Geoms() {
		if !dw8OK(g) {
			t.Fatalf("%+v: not taken", g)
		}
		ep := epilogues(r, g.C)[gi%4]
		lo, hi := ep.bounds()
		src := randMat(r, g.C*g.H*g.W)
		w := randMat(r, g.C*g.K*g.K)
		P, kk := g.OH*g.OW, g.K*g.K
		p := newDW8Plan(g)
		groups := (g.C + 3) / 4
		w4, b4 := make([]float32, groups*4*kk), make([]float32, groups*4)
		dw8Weights(w4, b4, w, ep.Bias, g)
		buf := make([]float32, p.buf)
		impls := []struct {
			name string
			run  func(dst []float32)
		}{
			{"go", func(dst []float32) {
				in := dw8Input(make([]float32, p.buf), src, p)
				for gi := 0; gi < groups; gi++ {
					dw8Go(dst, in, p, w4[gi*4*kk:], b4[gi*4:], dw8Group(gi, g.C), lo, hi)
				}
			}},
		}
		if dw8Here(g) {
			impls = append(impls, struct {
				name string
				run  func(dst []float32)
			}{"asm", func(dst []float32) { dw8(dst, src, p, w4, b4, buf, lo, hi) }})
		}
		for _, im := range impls {
			got := make([]float32, g.C*P+16)
			for i := range got {
				got[i] = guardVal
			}
			im.run(got[:g.C*P])
			for i, v := range got[g.C*P:] {
				if v != guardVal {
					t.Fatalf("%s %+v: wrote %d floats past the outputs", im.name, g, i+1)
				}
			}
			if im.name == "asm" {
				ran++
				want := make([]float32, g.C*P)
				Depthwise(want, src, w, g, &ep)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v %+v: output %d = %v, the padded path gives %v", g, ep, i, got[i], want[i])
					}
				}
			}
			for c := 0; c < g.C; c++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						v, mag := dwDirectRef(src, w, g, c, oy, ox, ep.Bias)
						want := min(max(v, float64(lo)), float64(hi))
						tol := float64(kk+2)*0x1p-24*mag + 1e-30
						if d := math.Abs(float64(got[(c*g.OH+oy)*g.OW+ox]) - want); d > tol {
							t.Fatalf("%s %+v: (%d,%d,%d) = %v, want %v (tolerance %g)", im.name, g, c, oy, ox, got[(c*g.OH+oy)*g.OW+ox], want, tol)
						}
					}
				}
			}
		}
		// Three images through DepthwiseImages (strided), against Depthwise.
		const n = 3
		size := g.C * g.H * g.W
		srcs := randMat(r, n*(size+5))
		dsts := make([]float32, n*(g.C*P+3))
		DepthwiseImages(dsts, g.C*P+3, srcs, size+5, n, w, g, &ep)
		for s := 0; s < n; s++ {
			want := make([]float32, g.C*P)
			Depthwise(want, srcs[s*(size+5):s*(size+5)+size], w, g, &ep)
			for i := range want {
				if math.Float32bits(dsts[s*(g.C*P+3)+i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v: DepthwiseImages image %d output %d = %v, Depthwise gives %v", g, s, i, dsts[s*(g.C*P+3)+i], want[i])
				}
			}
		}
	}
	if DWKernel() == "avx2" && ran == 0 {
		t.Fatal("the assembly kernel ran on no geometry")
	}
	t.Logf("assembly kernel on %d geometries", ran)
}

// BenchmarkDW8 times the direct AVX2 depthwise kernel (one image) on
// mobilenet-tiny's three depthwise layers.
func BenchmarkDW8(b *testing.B) {
	if DWKernel() != "avx2" {
		b.Skip("the AVX2 depthwise kernels do not run here")
	}
	r := rand.New(rand.NewPCG(8, 63))
	for _, g := range []ConvGeom{
		{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1, OH: 14, OW: 14},
		{C: 32, H: 14, W: 14, K: 3, Stride: 2, Pad: 1, OH: 7, OW: 7},
		{C: 64, H: 7, W: 7, K: 3, Stride: 1, Pad: 1, OH: 7, OW: 7},
	} {
		src, w := randMat(r, g.C*g.H*g.W), randMat(r, g.C*g.K*g.K)
		dst := make([]float32, g.C*g.OH*g.OW)
		p := newDW8Plan(g)
		groups := (g.C + 3) / 4
		w4, b4 := make([]float32, groups*4*g.K*g.K), make([]float32, groups*4)
		dw8Weights(w4, b4, w, nil, g)
		buf := make([]float32, p.buf)
		b.Run(fmt.Sprintf("%dx%dx%d_s%d", g.C, g.H, g.W, g.Stride), func(b *testing.B) {
			for b.Loop() {
				dw8(dst, src, p, w4, b4, buf, 0, float32(math.Inf(1)))
			}
			b.ReportMetric(float64(g.C*g.OH*g.OW*g.K*g.K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// TestDW8NonFinite: with NaNs and infinities in the image, the assembly
// still equals the padded-plane path (Depthwise) bit for bit, every
// epilogue: the same products and sums, and the same epilogue on a NaN
// sum (max(lo, ·), then min(hi, ·), a NaN passing through both as in
// biasClampRows' vector kernel and Go; TestNaNPassesEveryKernel).
func TestDW8NonFinite(t *testing.T) {
	defer atAVX2()()
	if DWKernel() != "avx2" {
		t.Skip("the AVX2 depthwise kernels do not run here")
	}
	r := rand.New(rand.NewPCG(8, 64))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for gi, g := range dw8Geoms() {
		ep := epilogues(r, g.C)[gi%4]
		lo, hi := ep.bounds()
		src, w := randMat(r, g.C*g.H*g.W), randMat(r, g.C*g.K*g.K)
		for i := range src {
			if r.IntN(7) == 0 {
				src[i] = specials[r.IntN(3)]
			}
		}
		p := newDW8Plan(g)
		groups := (g.C + 3) / 4
		w4, b4 := make([]float32, groups*4*g.K*g.K), make([]float32, groups*4)
		dw8Weights(w4, b4, w, ep.Bias, g)
		got, want := make([]float32, g.C*g.OH*g.OW), make([]float32, g.C*g.OH*g.OW)
		dw8(got, src, p, w4, b4, make([]float32, p.buf), lo, hi)
		Depthwise(want, src, w, g, &ep)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v %+v: output %d = %v, the padded path gives %v", g, ep, i, got[i], want[i])
			}
		}
	}
}

// TestDW8PlanRecords checks the plans' records against the definition
// computed in int (64-bit): for every slot, tap and lane, the mask is set
// exactly where the lane is an output whose input is in the image, and
// there the record's int32 byte offset reads that input (at stride 2 in
// the phase planes) — also for channel counts near the 2^28-float bound
// of dw8OK, where an offset into the odd phase is near 2^31 bytes; a
// geometry beyond the bound (offsets past int32) must be refused.
func TestDW8PlanRecords(t *testing.T) {
	checked := 0
	for _, b := range []ConvGeom{
		{H: 16, W: 16, K: 3, Stride: 2, Pad: 1},
		{H: 15, W: 3, K: 5, Stride: 2, Pad: 2},
		{H: 3, W: 3, K: 3, Stride: 2, Pad: 1},
		{H: 16, W: 16, K: 3, Stride: 1, Pad: 1},
		{H: 5, W: 6, K: 4, Stride: 1, Pad: 2},
	} {
		hw := b.H * b.W
		for _, c := range []int{4, 5, (1<<28 - 1) / hw, (1 << 30) / hw, (1 << 31) / hw} {
			g := b
			g.C = c
			g = sized(g)
			if !dw8OK(g) {
				if c*hw < 1<<28 {
					t.Fatalf("%+v: not taken", g)
				}
				continue
			}
			checked++
			p, s, P, kk := newDW8Plan(g), g.Stride, g.OH*g.OW, g.K*g.K
			for pr := 0; pr < p.pairs; pr++ {
				recs := p.recs[pr*(kk+1) : (pr+1)*(kk+1)]
				for j := 0; j < 2; j++ {
					q := int(recs[kk].off[j]) / 4
					if q < 0 || q >= P {
						t.Fatalf("%+v: pair %d slot %d stores at output %d", g, pr, j, q)
					}
					for tp, r := range recs[:kk] {
						ky, kx := tp/g.K, tp%g.K
						for l := 0; l < 8; l++ {
							in, want := false, 0
							if l < p.n {
								oy, ox := (q+l)/g.OW, (q+l)%g.OW
								iy, ix := oy*s+ky-g.Pad, ox*s+kx-g.Pad
								if in = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W; in {
									want = iy*g.W + ix
									if s == 2 {
										want = ix%2*g.C*g.H*p.wh + iy*p.wh + ix/2
									}
								}
							}
							if got := p.masks[int(r.mask[j])/4+l] != 0; got != in {
								t.Fatalf("%+v: pair %d slot %d tap %d lane %d: mask %v, want %v", g, pr, j, tp, l, got, in)
							}
							if in && int(r.off[j])/4+l != want {
								t.Fatalf("%+v: pair %d slot %d tap %d lane %d reads float %d, want %d", g, pr, j, tp, l, int(r.off[j])/4+l, want)
							}
						}
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("%d plans checked", checked)
	}
}

// TestDW8Prepared: on AVX2 without AVX-512, NewDWFlat prepares every
// geometry dw8 takes (dw8Layer: its weights laid out once), and
// DepthwiseFlat gives DepthwiseImages' outputs bit for bit at batches 1,
// 2 and 5, images and outputs at strides larger than their sizes, and
// writes nothing between or past the outputs; elsewhere NewDWFlat
// prepares nothing for dw8.
func TestDW8Prepared(t *testing.T) {
	defer atAVX2()()
	r := rand.New(rand.NewPCG(8, 62))
	ran := 0
	for gi, g := range dw8Geoms() {
		ep := epilogues(r, g.C)[gi%4]
		w := randMat(r, g.C*g.K*g.K)
		f := NewDWFlat(g, w, &ep)
		if !dw8Here(g) {
			if f != nil && f.d8 != nil {
				t.Fatalf("%+v: a dw8 preparation where dw8 does not run", g)
			}
			continue
		}
		if f == nil || f.d8 == nil {
			t.Fatalf("%+v: no dw8 preparation on this CPU", g)
		}
		size, out := g.C*g.H*g.W, g.C*g.OH*g.OW
		for _, n := range []int{1, 2, 5} {
			ss, ds := size+3, out+5
			src := randMat(r, (n-1)*ss+size)
			got := make([]float32, (n-1)*ds+out+8)
			for i := range got {
				got[i] = guardVal
			}
			want := slices.Clone(got)
			DepthwiseFlat(got, ds, src, ss, n, f)
			DepthwiseImages(want, ds, src, ss, n, w, g, &ep)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v n %d: float %d = %v, DepthwiseImages gives %v", g, n, i, got[i], want[i])
				}
				if i%ds >= out && got[i] != guardVal {
					t.Fatalf("%+v n %d: wrote float %d outside the outputs", g, n, i)
				}
			}
		}
		ran++
	}
	if DWKernel() == "avx2" && ran < 20 {
		t.Fatalf("only %d geometries prepared for dw8 on an AVX2 CPU", ran)
	}
	t.Logf("%d geometries prepared for dw8", ran)
}
