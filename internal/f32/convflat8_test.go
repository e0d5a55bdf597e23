package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// flatAsmHere reports whether a flat convolution kernel in assembly runs
// on this CPU (AVX-512's, or AVX2's flat8).
func flatAsmHere() bool { return dwFlatHere() || flat8Here() }

// atAVX2 makes the float kernels run at AVX2's level (flat8, dw8) where
// the CPU has AVX2 and FMA, AVX-512 beside them or not, so that an
// AVX-512 machine tests the AVX2 kernels too; it returns the function
// that restores the level.
func atAVX2() (restore func()) {
	if slices.Contains(dwLevels(), 1) {
		return setDWLevel(1)
	}
	return func() {}
}

// flatForTest prepares g for ConvFlatImages (pc > 0: ConvFlatImagesProj
// with a projection of pc×ph×pw) with this CPU's kernel, whatever the
// AVX2 kernel's rule (flat8Faster) says, or returns nil.
func flatForTest(g ConvGeom, m int, w []float32, ep *Epilogue, pc, ph, pw int) *ConvFlat {
	switch {
	case dwFlatHere() && pc > 0:
		return newConvFlatProj(g, m, w, ep, pc, ph, pw)
	case dwFlatHere():
		return newConvFlat(g, m, w, ep)
	case flat8Here():
		a := newFlat8(g, m, w, ep, 0)
		if pc > 0 {
			a = newFlat8Proj(g, m, w, ep, pc, ph, pw)
		}
		if a == nil {
			return nil
		}
		return a.conv()
	}
	return nil
}

// flat8Geoms are the AVX2 kernel's test geometries: the models' layers
// (MNIST resnet8, resnet8-mlperf on 32×32, mobilenet's stem), strides 1
// and 2, kernels 1, 3 and 5 ("same" padding; at stride 2 also a 1×1
// without padding), 1 to 64 channels (1 to 7 kc blocks), planes of 1×1
// to 32×32 (fewer than 8 pixels: the partial store; sizes 8 does not
// divide: the last chunk overlapping), odd and non-square ones.
func flat8Geoms() []ConvGeom {
	gs := []ConvGeom{
		{C: 1, H: 28, W: 28, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 28, W: 28, K: 3, Stride: 2, Pad: 1},
		{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 14, W: 14, K: 3, Stride: 2, Pad: 1},
		{C: 32, H: 7, W: 7, K: 3, Stride: 1, Pad: 1},
		{C: 32, H: 7, W: 7, K: 3, Stride: 2, Pad: 1},
		{C: 64, H: 4, W: 4, K: 3, Stride: 1, Pad: 1},
		{C: 3, H: 32, W: 32, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 32, W: 32, K: 3, Stride: 1, Pad: 1},
		{C: 16, H: 32, W: 32, K: 3, Stride: 2, Pad: 1},
		{C: 32, H: 16, W: 16, K: 3, Stride: 1, Pad: 1},
		{C: 32, H: 8, W: 8, K: 3, Stride: 2, Pad: 1},
		{C: 64, H: 8, W: 8, K: 3, Stride: 1, Pad: 1},
		{C: 1, H: 1, W: 1, K: 3, Stride: 1, Pad: 1},
		{C: 2, H: 1, W: 1, K: 1, Stride: 1, Pad: 0},
		{C: 3, H: 2, W: 3, K: 3, Stride: 1, Pad: 1},
		{C: 5, H: 2, W: 2, K: 5, Stride: 1, Pad: 2},
		{C: 1, H: 3, W: 3, K: 3, Stride: 1, Pad: 1},
		{C: 2, H: 5, W: 7, K: 3, Stride: 1, Pad: 1},
		{C: 7, H: 9, W: 9, K: 5, Stride: 1, Pad: 2},
		{C: 64, H: 5, W: 3, K: 5, Stride: 1, Pad: 2},
		{C: 256, H: 3, W: 5, K: 1, Stride: 1, Pad: 0},
		{C: 257, H: 4, W: 2, K: 1, Stride: 1, Pad: 0},
		{C: 29, H: 6, W: 6, K: 3, Stride: 1, Pad: 1},
		{C: 1, H: 13, W: 17, K: 3, Stride: 1, Pad: 1},
		{C: 1, H: 2, W: 2, K: 3, Stride: 2, Pad: 1},
		{C: 3, H: 3, W: 2, K: 1, Stride: 2, Pad: 0},
		{C: 2, H: 5, W: 5, K: 3, Stride: 2, Pad: 1},
		{C: 1, H: 28, W: 28, K: 3, Stride: 2, Pad: 1},
		{C: 4, H: 9, W: 11, K: 5, Stride: 2, Pad: 2},
		{C: 8, H: 7, W: 32, K: 3, Stride: 2, Pad: 1},
		{C: 16, H: 16, W: 16, K: 1, Stride: 2, Pad: 0},
		{C: 64, H: 15, W: 15, K: 3, Stride: 2, Pad: 1},
		{C: 33, H: 4, W: 4, K: 3, Stride: 2, Pad: 1},
		{C: 16, H: 17, W: 31, K: 3, Stride: 2, Pad: 1},
	}
	for i := range gs {
		gs[i] = sized(gs[i])
	}
	return gs
}

// flat8Inputs returns n images of size floats, stride apart, random;
// with specials, some inputs are NaN, +Inf or −Inf.
func flat8Inputs(r *rand.Rand, n, size, stride int, specials bool) []float32 {
	x := randMat(r, (n-1)*stride+size)
	if specials {
		for i := range x {
			switch r.IntN(40) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = float32(math.Inf(1))
			case 2:
				x[i] = float32(math.Inf(-1))
			}
		}
	}
	return x
}

// TestFlat8: the AVX2 flat kernel (ConvFlatImages on flat8) against
// ConvImages, bit for bit, on every flat8Geoms geometry with 4 to 64
// output channels (m a multiple of 4: 4, 12, 16, 20, 32, 64), every
// epilogue, on 1 to 5 images (three at a time, then image by image) at
// strides of an image or more: the kernel performs ConvImages' fused
// multiply-adds in the same order on the same values (padding as zeros,
// the depths in the AVX2 GEMM's kc blocks), then the same bias and
// clamp. Also with NaN and ±Inf among the inputs (the sums' NaNs then
// meet the clamp as in the epilogue of ConvImages). It writes nothing
// between or past the outputs. And its Go twin (flat8Go, DWSplit2 in
// Go) against the definition summed in float64: a float32 sum of D
// products and the bias is within (D+2)·2⁻²⁴ of the sum of the
// magnitudes.
func TestFlat8(t *testing.T) {
	defer atAVX2()()
	r := rand.New(rand.NewPCG(8, 81))
	ran := 0
	ms := []int{4, 12, 16, 20, 32, 64}
	for gi, g := range flat8Geoms() {
		for mi, m := range []int{ms[gi%len(ms)], ms[(gi+3)%len(ms)]} {
			ep := epilogues(r, m)[(gi+mi)%4]
			n := 1 + (gi+2*mi)%5
			kk, size, P := g.K*g.K, g.C*g.H*g.W, g.OH*g.OW
			D := g.C * kk
			w := randMat(r, m*D)
			a := newFlat8(g, m, w, &ep, 0)
			if a == nil {
				t.Fatalf("%+v, %d outputs: not taken", g, m)
			}
			ss, ds := size+5*(gi%2), m*P+7 // images in place, or apart
			src := flat8Inputs(r, n, size, ss, false)
			t.Run(fmt.Sprintf("%d/m=%d/go", gi, m), func(t *testing.T) {
				defer setDWLevel(0)()
				got := make([]float32, (n-1)*ds+m*P)
				flat8Images(got, ds, src, ss, n, a, nil)
				checkFlatDef(t, got, ds, src, ss, n, g, m, w, &ep, nil)
			})
			if !flat8Here() {
				continue
			}
			ran++
			f := flatForTest(g, m, w, &ep, 0, 0, 0)
			for _, specials := range []bool{false, true} {
				x := flat8Inputs(r, n, size, ss, specials)
				got, want := guarded(n*ds+16), guarded(n*ds+16)
				ConvFlatImages(got, ds, x, ss, n, f)
				ConvImages(want, ds, x, ss, n, g, PackA(w, m, D), &ep)
				sameFlat(t, fmt.Sprintf("%+v m=%d %+v specials=%v", g, m, ep, specials), got, want, ds, m*P)
			}
		}
	}
	if flat8Here() && ran != 2*len(flat8Geoms()) {
		t.Fatalf("the AVX2 kernel ran on %d of %d cases", ran, 2*len(flat8Geoms()))
	}
}

// guarded returns n floats of guardVal.
func guarded(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = guardVal
	}
	return x
}

// sameFlat fails unless got equals want bit for bit and got holds
// guardVal outside the outputs (the first out of every ds floats).
func sameFlat(t *testing.T, what string, got, want []float32, ds, out int) {
	t.Helper()
	for i := range want {
		if !sameFloat(got[i], want[i]) {
			t.Fatalf("%s: float %d (image %d, output %d) = %v, ConvImages gives %v", what, i, i/ds, i%ds, got[i], want[i])
		}
		if i%ds >= out && got[i] != guardVal {
			t.Fatalf("%s: wrote float %d outside the outputs", what, i)
		}
	}
}

// checkFlatDef compares n outputs (ds apart) of a convolution of g (m
// outputs, weights w: rows of C·K·K and pr's C) of the images src (ss
// apart) and pr's with the definition summed in float64.
func checkFlatDef(t *testing.T, got []float32, ds int, src []float32, ss, n int, g ConvGeom, m int, w []float32, ep *Epilogue, pr *Proj) {
	t.Helper()
	lo, hi := ep.bounds()
	kk := g.K * g.K
	fan := g.C * kk
	if pr != nil {
		fan += pr.C
	}
	for s := 0; s < n; s++ {
		x := src[s*ss:]
		for o := 0; o < m; o++ {
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					v, mag := 0.0, 0.0
					add := func(q float64) { v, mag = v+q, mag+math.Abs(q) }
					for c := 0; c < g.C; c++ {
						for t := 0; t < kk; t++ {
							iy, ix := oy*g.Stride+t/g.K-g.Pad, ox*g.Stride+t%g.K-g.Pad
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								add(float64(w[o*fan+c*kk+t]) * float64(x[(c*g.H+iy)*g.W+ix]))
							}
						}
					}
					if pr != nil {
						px := pr.Src[s*pr.SrcStride:]
						for c := 0; c < pr.C; c++ {
							add(float64(w[o*fan+g.C*kk+c]) * float64(px[(c*pr.H+2*oy)*pr.W+2*ox]))
						}
					}
					if ep.Bias != nil {
						add(float64(ep.Bias[o]))
					}
					want := min(max(v, float64(lo)), float64(hi))
					tol := float64(fan+2)*0x1p-24*mag + 1e-30
					at := s*ds + (o*g.OH+oy)*g.OW + ox
					if d := math.Abs(float64(got[at]) - want); d > tol {
						t.Fatalf("%+v image %d: output %d (%d,%d) = %v, want %v (tolerance %g)", g, s, o, oy, ox, got[at], want, tol)
					}
				}
			}
		}
	}
}

// TestFlat8Proj: the AVX2 flat kernel with a stride-2 projection folded
// in (ConvFlatImagesProj on flat8) against ConvImagesProj bit for bit
// (the body's depths, then the projection's, in the same kc blocks, the
// same epilogue), with and without NaN and ±Inf inputs, on 1 to 5 images
// at strides of an image or more (three at a time where the
// subsampled planes fit between the images, else one at a time); and
// its Go twin against the definition summed in float64. Geometries:
// resnet8's and resnet8-mlperf's fused blocks (one to three kc blocks)
// and ragged ones (odd projection sizes, planes of fewer than 8 pixels,
// more projection channels than an image's floats).
func TestFlat8Proj(t *testing.T) {
	defer atAVX2()()
	r := rand.New(rand.NewPCG(8, 91))
	ran := 0
	cases := []struct {
		g          ConvGeom
		pc, ph, pw int
	}{
		{ConvGeom{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1}, 16, 28, 28},
		{ConvGeom{C: 32, H: 7, W: 7, K: 3, Stride: 1, Pad: 1}, 16, 14, 14},
		{ConvGeom{C: 64, H: 4, W: 4, K: 3, Stride: 1, Pad: 1}, 32, 7, 7},
		{ConvGeom{C: 32, H: 16, W: 16, K: 3, Stride: 1, Pad: 1}, 16, 32, 32},
		{ConvGeom{C: 64, H: 8, W: 8, K: 3, Stride: 1, Pad: 1}, 32, 16, 16},
		{ConvGeom{C: 3, H: 5, W: 5, K: 3, Stride: 1, Pad: 1}, 2, 9, 10},
		{ConvGeom{C: 2, H: 6, W: 7, K: 5, Stride: 1, Pad: 2}, 3, 12, 13},
		{ConvGeom{C: 1, H: 2, W: 2, K: 3, Stride: 1, Pad: 1}, 9, 3, 4},
		{ConvGeom{C: 5, H: 1, W: 3, K: 3, Stride: 1, Pad: 1}, 4, 2, 6},
	}
	for gi, tc := range cases {
		g := tc.g
		g.OH, g.OW = g.H+2*g.Pad-g.K+1, g.W+2*g.Pad-g.K+1
		for mi, m := range []int{16, 4 * (1 + gi%5)} {
			ep := epilogues(r, m)[(gi+mi)%4]
			n := 1 + (gi+mi)%5
			kk, size, P := g.K*g.K, g.C*g.H*g.W, g.OH*g.OW
			psize := tc.pc * tc.ph * tc.pw
			fan := g.C*kk + tc.pc
			w := randMat(r, m*fan)
			a := newFlat8Proj(g, m, w, &ep, tc.pc, tc.ph, tc.pw)
			if a == nil {
				t.Fatalf("%+v with %+v: not taken", g, tc)
			}
			ss, ps, ds := size+5*(gi%2), psize+3, m*P+7
			src, xs := flat8Inputs(r, n, size, ss, false), flat8Inputs(r, n, psize, ps, false)
			pr := &Proj{Src: xs, SrcStride: ps, C: tc.pc, H: tc.ph, W: tc.pw, Stride: 2}
			t.Run(fmt.Sprintf("%d/m=%d/go", gi, m), func(t *testing.T) {
				defer setDWLevel(0)()
				got := make([]float32, (n-1)*ds+m*P)
				flat8Images(got, ds, src, ss, n, a, pr)
				checkFlatDef(t, got, ds, src, ss, n, g, m, w, &ep, pr)
			})
			if !flat8Here() {
				continue
			}
			ran++
			f := flatForTest(g, m, w, &ep, tc.pc, tc.ph, tc.pw)
			for _, specials := range []bool{false, true} {
				x, px := flat8Inputs(r, n, size, ss, specials), flat8Inputs(r, n, psize, ps, specials)
				pr := &Proj{Src: px, SrcStride: ps, C: tc.pc, H: tc.ph, W: tc.pw, Stride: 2}
				got, want := guarded(n*ds+16), guarded(n*ds+16)
				ConvFlatImagesProj(got, ds, x, ss, n, f, pr)
				ConvImagesProj(want, ds, x, ss, n, g, PackA(w, m, fan), &ep, pr)
				sameFlat(t, fmt.Sprintf("%+v with %+v m=%d %+v specials=%v", g, tc, m, ep, specials), got, want, ds, m*P)
			}
		}
	}
	if flat8Here() && ran != 2*len(cases) {
		t.Fatalf("the AVX2 kernel ran on %d of %d cases", ran, 2*len(cases))
	}
}

// TestFlat8Taken: on a CPU with AVX2 and FMA but not AVX-512, the flat
// kernel is AVX2's: NewConvFlat and NewConvFlatProj prepare it for
// MNIST resnet8's layers (where flat8Faster measured it faster).
func TestFlat8Taken(t *testing.T) {
	if DWKernel() != "avx2" {
		t.Skip("not an AVX2 CPU without AVX-512")
	}
	if !flat8Here() {
		t.Fatal("AVX2 CPU, but the AVX2 flat kernel does not run")
	}
	g := ConvGeom{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1, OH: 14, OW: 14}
	if f := NewConvFlat(g, 16, make([]float32, 16*144), &Epilogue{}); f == nil || f.a2 == nil {
		t.Errorf("%+v: NewConvFlat does not take the AVX2 kernel", g)
	}
	if f := NewConvFlatProj(g, 16, make([]float32, 16*160), &Epilogue{}, 16, 28, 28); f == nil || f.a2 == nil {
		t.Errorf("%+v with a projection: NewConvFlatProj does not take the AVX2 kernel", g)
	}
}
