package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dwDirectGeoms are convGeoms plus rows of several 16-lane chunks (OW
// 17, 33, 40), wide padding, and the mobilenet shapes (14×14 stride 1,
// 14→7 and 7→4 stride 2).
func dwDirectGeoms() []ConvGeom {
	gs := convGeoms()
	for _, g := range []ConvGeom{
		{C: 3, H: 5, W: 33, K: 3, Stride: 1, Pad: 1},
		{C: 2, H: 4, W: 79, K: 3, Stride: 2, Pad: 1},
		{C: 5, H: 9, W: 40, K: 5, Stride: 1, Pad: 2},
		{C: 3, H: 6, W: 6, K: 3, Stride: 1, Pad: 3},
		{C: 2, H: 8, W: 70, K: 7, Stride: 2, Pad: 3},
		{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1},
		{C: 32, H: 14, W: 14, K: 3, Stride: 2, Pad: 1},
		{C: 64, H: 7, W: 7, K: 3, Stride: 2, Pad: 1},
	} {
		gs = append(gs, sized(g))
	}
	return gs
}

// dwDirectRef is the direct depthwise convolution summed in float64, and
// the sum of the products' magnitudes (for the tolerance).
func dwDirectRef(src, w []float32, g ConvGeom, c, oy, ox int, bias []float32) (v, mag float64) {
	kk := g.K * g.K
	for ky := 0; ky < g.K; ky++ {
		for kx := 0; kx < g.K; kx++ {
			iy, ix := oy*g.Stride+ky-g.Pad, ox*g.Stride+kx-g.Pad
			if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
				continue
			}
			p := float64(w[c*kk+ky*g.K+kx]) * float64(src[(c*g.H+iy)*g.W+ix])
			v += p
			mag += math.Abs(p)
		}
	}
	if bias != nil {
		v += float64(bias[c])
		mag += math.Abs(float64(bias[c]))
	}
	return v, mag
}

// TestDWDirect: the direct depthwise kernel (dwDirect: masked loads of
// the unpadded image, no padded planes) and its Go twin dwDirectGo
// against the definition summed in float64, on ragged shapes (odd sizes,
// strides 1 and 2, padding up to K, rows of one to three 16-lane chunks,
// channel counts not multiples of 16), every epilogue. Tolerance: each
// is a float32 sum of at most K·K products and the bias (fused or
// separately rounded), so it is within (K·K+2)·2⁻²⁴ of the sum of the
// magnitudes, before the clamp (which only narrows the difference).
// The assembly kernel must also equal, bit for bit, the padded-plane
// path (Depthwise: DWSum on zero-bordered planes, then biasClampRows),
// whose fused multiply-adds it performs in the same order, and write
// nothing past its C·OH·OW outputs.
func TestDWDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 2))
	ran := 0
	for gi, g := range dwDirectGeoms() {
		if !dwDirectOK(g) {
			continue
		}
		ep := epilogues(r, g.C)[gi%4]
		lo, hi := ep.bounds()
		src := randMat(r, g.C*g.H*g.W)
		w := randMat(r, g.C*g.K*g.K)
		P := g.OH * g.OW
		recs := dwDirectRecs(nil, g)
		type impl struct {
			name string
			run  func(dst []float32) bool
		}
		impls := []impl{
			{"go", func(dst []float32) bool { dwDirectGo(dst, src, w, g, ep.Bias, lo, hi); return true }},
			{"asm", func(dst []float32) bool { return dwDirect(dst, src, w, g, ep.Bias, lo, hi, recs) }},
		}
		for _, im := range impls {
			got := make([]float32, g.C*P+16)
			for i := range got {
				got[i] = guardVal
			}
			if !im.run(got[:g.C*P]) {
				continue
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
				for i, v := range got[g.C*P:] {
					if v != guardVal {
						t.Fatalf("%+v: wrote %d floats past the outputs", g, i+1)
					}
				}
			}
			for c := 0; c < g.C; c++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						v, mag := dwDirectRef(src, w, g, c, oy, ox, ep.Bias)
						want := min(max(v, float64(lo)), float64(hi))
						tol := float64(g.K*g.K+2)*0x1p-24*mag + 1e-30
						if d := math.Abs(float64(got[(c*g.OH+oy)*g.OW+ox]) - want); d > tol {
							t.Fatalf("%s %+v: (%d,%d,%d) = %v, want %v (tolerance %g)", im.name, g, c, oy, ox, got[(c*g.OH+oy)*g.OW+ox], want, tol)
						}
					}
				}
			}
		}
	}
	if DWKernel() == "avx512" && ran == 0 {
		t.Fatal("the assembly kernel ran on no geometry")
	}
	t.Logf("assembly kernel on %d geometries", ran)
}
