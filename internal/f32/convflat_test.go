package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvFlatImages: the flat convolution kernel (ConvFlatImages), with
// 16 output channels a chunk (rows=16), with 8 channels on two chunks at
// a time (rows=8: chunk j of two images, and chunks 2i and 2i+1 of the
// third) and as it chooses (rows=0), on three images at strides larger than an image, 16 and 32 output
// channels,
// against
//   - ConvImages (the implicit GEMM on the padded image or its phase
//     planes) bit for bit where an assembly kernel runs (AVX-512's, or
//     on AVX2 flat8, whose blocking is its own: rows does not apply): it performs
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
	for _, rows := range []int{16, 8, 0} {
		t.Run(fmt.Sprintf("rows=%d", rows), func(t *testing.T) {
			defer func(old int) { flatRows = old }(flatRows)
			flatRows = rows
			testConvFlatImages(t)
		})
	}
}

func testConvFlatImages(t *testing.T) {
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
		g = sized(g)
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
				convFlatGo(got, in, nil, f)
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
			if !flatAsmHere() {
				continue
			}
			if dwFlatHere() && NewConvFlat(g, m, w, &ep) == nil {
				t.Fatalf("%+v: no kernel on an AVX-512 CPU", g)
			}
			if f = flatForTest(g, m, w, &ep, 0, 0, 0); f == nil {
				t.Fatalf("%+v, %d outputs: no assembly kernel", g, m)
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
	if flatAsmHere() && ran != goRan {
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

// TestConvFlatImagesProj: the flat kernel with a stride-2 projection
// folded in (ConvFlatImagesProj), both kernel shapes, on three images at strides larger than
// an image, against ConvImagesProj bit for bit where the assembly kernel
// runs (the same depths, body then projection, in the same kc blocks,
// the same epilogue), and, with its Go twin on any CPU, against the
// definition summed in float64 within (fan+2)·2⁻²⁴ of the sum of the
// magnitudes (fan = C·K·K + projection channels; at most three kc
// blocks, whose sums add one rounding each, inside that bound).
// Geometries: resnet8's three fused blocks (one, two and three kc
// blocks) and ragged ones (odd projection sizes, 3 and 2 channels).
func TestConvFlatImagesProj(t *testing.T) {
	for _, rows := range []int{16, 8, 0} {
		t.Run(fmt.Sprintf("rows=%d", rows), func(t *testing.T) {
			defer func(old int) { flatRows = old }(flatRows)
			flatRows = rows
			testConvFlatImagesProj(t)
		})
	}
}

func testConvFlatImagesProj(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 6))
	ran := 0
	for gi, tc := range []struct {
		g          ConvGeom
		pc, ph, pw int
	}{
		{ConvGeom{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1}, 16, 28, 28},
		{ConvGeom{C: 32, H: 7, W: 7, K: 3, Stride: 1, Pad: 1}, 16, 14, 14},
		{ConvGeom{C: 64, H: 4, W: 4, K: 3, Stride: 1, Pad: 1}, 32, 7, 7},
		{ConvGeom{C: 3, H: 5, W: 5, K: 3, Stride: 1, Pad: 1}, 2, 9, 10},
		{ConvGeom{C: 2, H: 6, W: 7, K: 5, Stride: 1, Pad: 2}, 3, 12, 13},
	} {
		g := tc.g
		g.OH, g.OW = g.H+2*g.Pad-g.K+1, g.W+2*g.Pad-g.K+1
		for _, m := range []int{16, 32} {
			ep := epilogues(r, m)[(gi+m/16)%4]
			lo, hi := ep.bounds()
			kk, size, P := g.K*g.K, g.C*g.H*g.W, g.OH*g.OW
			psize := tc.pc * tc.ph * tc.pw
			fan := g.C*kk + tc.pc
			w := randMat(r, m*fan)
			f := newConvFlatProj(g, m, w, &ep, tc.pc, tc.ph, tc.pw)
			if f == nil {
				t.Fatalf("%+v with %+v: no kernel", g, tc)
			}
			const n = 3
			ss, ps, ds := size+5, psize+3, m*P+7
			src, xs := randMat(r, (n-1)*ss+size), randMat(r, (n-1)*ps+psize)
			pr := &Proj{Src: xs, SrcStride: ps, C: tc.pc, H: tc.ph, W: tc.pw, Stride: 2}
			for s := 0; s < n; s++ {
				x, px := src[s*ss:s*ss+size], xs[s*ps:s*ps+psize]
				ph := make([]float32, tc.pc*P)
				dwSub2Go(ph, px, f.pg)
				got := make([]float32, m*P)
				convFlatGo(got, x, ph, f)
				for o := 0; o < m; o++ {
					for p := 0; p < P; p++ {
						oy, ox := p/g.OW, p%g.OW
						v, mag := 0.0, 0.0
						add := func(q float64) { v, mag = v+q, mag+math.Abs(q) }
						for c := 0; c < g.C; c++ {
							for ky := 0; ky < g.K; ky++ {
								for kx := 0; kx < g.K; kx++ {
									iy, ix := oy+ky-g.Pad, ox+kx-g.Pad
									if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
										add(float64(w[o*fan+c*kk+ky*g.K+kx]) * float64(x[(c*g.H+iy)*g.W+ix]))
									}
								}
							}
						}
						for c := 0; c < tc.pc; c++ {
							add(float64(w[o*fan+g.C*kk+c]) * float64(px[(c*tc.ph+2*oy)*tc.pw+2*ox]))
						}
						if ep.Bias != nil {
							add(float64(ep.Bias[o]))
						}
						want := min(max(v, float64(lo)), float64(hi))
						tol := float64(fan+2)*0x1p-24*mag + 1e-30
						if d := math.Abs(float64(got[o*P+p]) - want); d > tol {
							t.Fatalf("go %+v with %+v: output %d pixel %d = %v, want %v (tolerance %g)", g, tc, o, p, got[o*P+p], want, tol)
						}
					}
				}
			}
			if !flatAsmHere() {
				continue
			}
			if dwFlatHere() && NewConvFlatProj(g, m, w, &ep, tc.pc, tc.ph, tc.pw) == nil {
				t.Fatalf("%+v: no kernel on an AVX-512 CPU", g)
			}
			if f = flatForTest(g, m, w, &ep, tc.pc, tc.ph, tc.pw); f == nil {
				t.Fatalf("%+v with %+v: no assembly kernel", g, tc)
			}
			ran++
			got := make([]float32, n*ds+16)
			for i := range got {
				got[i] = guardVal
			}
			ConvFlatImagesProj(got, ds, src, ss, n, f, pr)
			want := make([]float32, len(got))
			copy(want, got)
			ConvImagesProj(want, ds, src, ss, n, g, PackA(w, m, fan), &ep, pr)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v with %+v %+v: float %d (image %d) = %v, ConvImagesProj gives %v", g, tc, ep, i, i/ds, got[i], want[i])
				}
				if i%ds >= m*P && got[i] != guardVal {
					t.Fatalf("%+v: wrote float %d outside the outputs", g, i)
				}
			}
		}
	}
	if flatAsmHere() && ran != 10 {
		t.Fatalf("the assembly kernel ran on %d of 10 cases", ran)
	}
}
