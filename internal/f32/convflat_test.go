package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvFlatImages: the flat convolution kernel (ConvFlatImages) on
// three images at strides larger than an image, 16 and 32 output
// channels,
// against
//   - ConvImages (the implicit GEMM on the padded image or its phase
//     planes) bit for bit where the assembly kernel runs: it performs
//     the same fused multiply-adds in the same order on the same values
//     (padding as zeros), then the same bias and clamp;
//   - and, with its Go twin (dwPhasesGo, convFlatGo, on any CPU), the
//     definition summed in float64: a float32 sum of C·K·K products and
//     the bias is within (C·K·K+2)·2⁻²⁴ of the sum of the magnitudes.
//
// It writes nothing between or past the images' outputs. Geometries:
// the MNIST stems (28×28, 3×3, strides 1 and 2), resnet8's and
// mobilenet-tiny's layers (288 and 576 depths: two and three blocks of
// kc), and ragged ones (odd sizes, 1 to 3 channels,
// 5×5 kernels, padding 0 to 2, rows of 32 floats at stride 2).
func TestConvFlatImages(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 4))
	ran, goRan := 0, 0
	for gi, g := range []ConvGeom{
		{C: 1, H: 28, W: 28, K: 3, Stride: 1, Pad: 1},
		{C: 1, H: 28, W: 28, K: 3, Stride: 2, Pad: 1},
		{C: 1, H: 5, W: 7, K: 3, Stride: 1, Pad: 1},
		{C: 1, H: 17, W: 15, K: 5, Stride: 1, Pad: 2},
		{C: 1, H: 9, W: 9, K: 5, Stride: 2, Pad: 2},
		{C: 1, H: 13, W: 13, K: 3, Stride: 2, Pad: 1},
		{C: 1, H: 7, W: 32, K: 3, Stride: 2, Pad: 1},
		{C: 1, H: 6, W: 6, K: 1, Stride: 1, Pad: 0},
		{C: 1, H: 8, W: 9, K: 1, Stride: 2, Pad: 0},
		{C: 3, H: 9, W: 11, K: 3, Stride: 1, Pad: 1},
		{C: 2, H: 11, W: 9, K: 5, Stride: 2, Pad: 2},
		{C: 16, H: 28, W: 28, K: 3, Stride: 2, Pad: 1},
		{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 14, W: 14, K: 3, Stride: 2, Pad: 1},
		{C: 32, H: 7, W: 7, K: 3, Stride: 2, Pad: 1},
		{C: 16, H: 14, W: 14, K: 1, Stride: 1, Pad: 0},
		{C: 64, H: 4, W: 4, K: 3, Stride: 1, Pad: 1},
	} {
		g.OH, g.OW = (g.H+2*g.Pad-g.K)/g.Stride+1, (g.W+2*g.Pad-g.K)/g.Stride+1
		for _, m := range []int{16, 32} {
			ep := epilogues(r, m)[(gi+m/16)%4]
			lo, hi := ep.bounds()
			kk, size, P := g.K*g.K, g.C*g.H*g.W, g.OH*g.OW
			D := g.C * kk
			w := randMat(r, m*D)
			f := newConvFlat(g, m, w, &ep)
			if f == nil {
				t.Fatalf("%+v, %d outputs: no kernel", g, m)
			}
			const n = 3
			ss, ds := size+5, m*P+7
			src := randMat(r, (n-1)*ss+size)
			goRan++
			for s := 0; s < n; s++ {
				x := src[s*ss : s*ss+size]
				in := x
				if g.Stride == 2 {
					in = make([]float32, g.C*4*f.ps)
					dwPhasesGo(in, x, g, f.ps)
				}
				got := make([]float32, m*P)
				convFlatGo(got, in, f)
				for o := 0; o < m; o++ {
					for p := 0; p < P; p++ {
						v, mag := 0.0, 0.0
						for c := 0; c < g.C; c++ {
							for ky := 0; ky < g.K; ky++ {
								for kx := 0; kx < g.K; kx++ {
									iy, ix := p/g.OW*g.Stride+ky-g.Pad, p%g.OW*g.Stride+kx-g.Pad
									if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
										q := float64(w[o*D+c*kk+ky*g.K+kx]) * float64(x[(c*g.H+iy)*g.W+ix])
										v, mag = v+q, mag+math.Abs(q)
									}
								}
							}
						}
						if ep.Bias != nil {
							v, mag = v+float64(ep.Bias[o]), mag+math.Abs(float64(ep.Bias[o]))
						}
						want := min(max(v, float64(lo)), float64(hi))
						tol := float64(D+2)*0x1p-24*mag + 1e-30
						if d := math.Abs(float64(got[o*P+p]) - want); d > tol {
							t.Fatalf("go %+v: output %d pixel %d = %v, want %v (tolerance %g)", g, o, p, got[o*P+p], want, tol)
						}
					}
				}
			}
			if !dwFlatHere() {
				continue
			}
			if NewConvFlat(g, m, w, &ep) == nil {
				t.Fatalf("%+v: no kernel on an AVX-512 CPU", g)
			}
			ran++
			gotA := make([]float32, n*ds+16)
			for i := range gotA {
				gotA[i] = guardVal
			}
			ConvFlatImages(gotA, ds, src, ss, n, f)
			want := make([]float32, len(gotA))
			copy(want, gotA)
			ConvImages(want, ds, src, ss, n, g, PackA(w, m, D), &ep)
			for i := range want {
				if math.Float32bits(gotA[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v %+v: float %d (image %d) = %v, ConvImages gives %v", g, ep, i, i/ds, gotA[i], want[i])
				}
				if i%ds >= m*P && gotA[i] != guardVal {
					t.Fatalf("%+v: wrote float %d outside the outputs", g, i)
				}
			}
		}
	}
	if dwFlatHere() && ran != goRan {
		t.Fatalf("the assembly kernel ran on %d of %d geometries", ran, goRan)
	}
	for _, bad := range []struct {
		g ConvGeom
		m int
	}{
		{ConvGeom{C: 1, H: 6, W: 6, K: 3, Stride: 1, Pad: 1, OH: 6, OW: 6}, 12},
		{ConvGeom{C: 1, H: 6, W: 6, K: 3, Stride: 1, Pad: 0, OH: 4, OW: 4}, 16},
	} {
		if newConvFlat(bad.g, bad.m, make([]float32, bad.m*bad.g.C*bad.g.K*bad.g.K), &Epilogue{}) != nil {
			t.Errorf("%+v, %d outputs: a kernel for a geometry it does not take", bad.g, bad.m)
		}
	}
}
