package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwiseFlat: the flat depthwise kernel (DepthwiseFlat: masked
// loads of the image or of its phase planes; four images at a time,
// then one at a time, four chunks together) on six images at strides
// larger than an image, against
//   - DepthwiseImages (padded planes, DWSum, biasClampRows) bit for bit
//     where the assembly kernel runs: it performs their fused
//     multiply-adds in the same order on the same values (padding as
//     zeros), then the same bias and clamp;
//   - and, with its Go twin (dwPhasesGo, dwFlatGo, on any CPU), the
//     definition summed in float64: a float32 sum of at most K·K products
//     and the bias is within (K·K+2)·2⁻²⁴ of the sum of the magnitudes.
//
// It writes nothing between or past the images' outputs. Geometries:
// dwDirectGeoms (ragged sizes, rows of one to several chunks, strides 1
// and 2, padding up to K, the mobilenet shapes), those the flat kernel
// takes.
func TestDepthwiseFlat(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 3))
	ran, goRan := 0, 0
	for gi, g := range dwDirectGeoms() {
		ep := epilogues(r, g.C)[gi%4]
		lo, hi := ep.bounds()
		kk, size, P := g.K*g.K, g.C*g.H*g.W, g.OH*g.OW
		w := randMat(r, g.C*kk)
		f := newDWFlat(g, w, &ep)
		if f == nil {
			continue
		}
		if NewDWFlat(g, w, &ep) == nil && DWKernel() == "avx512" {
			t.Fatalf("%+v: no flat kernel on an AVX-512 CPU", g)
		}
		const n = 6 // four through the four-image kernel, two alone
		ss, ds := size+5, g.C*P+7
		src := randMat(r, (n-1)*ss+size)
		// Go twin against the definition.
		goRan++
		for s := 0; s < n; s++ {
			x := src[s*ss : s*ss+size]
			in := x
			if g.Stride == 2 {
				in = make([]float32, g.C*4*f.ps)
				dwPhasesGo(in, x, g, f.ps)
			}
			got := make([]float32, g.C*P)
			dwFlatGo(got, in, f)
			for c := 0; c < g.C; c++ {
				for oy := 0; oy < g.OH; oy++ {
					for ox := 0; ox < g.OW; ox++ {
						v, mag := dwDirectRef(x, w, g, c, oy, ox, ep.Bias)
						want := min(max(v, float64(lo)), float64(hi))
						tol := float64(kk+2)*0x1p-24*mag + 1e-30
						if d := math.Abs(float64(got[(c*g.OH+oy)*g.OW+ox]) - want); d > tol {
							t.Fatalf("go %+v: (%d,%d,%d) = %v, want %v (tolerance %g)", g, c, oy, ox, got[(c*g.OH+oy)*g.OW+ox], want, tol)
						}
					}
				}
			}
		}
		if !dwFlatHere() {
			continue
		}
		ran++
		got := make([]float32, n*ds+16)
		for i := range got {
			got[i] = guardVal
		}
		DepthwiseFlat(got, ds, src, ss, n, f)
		want := make([]float32, len(got))
		copy(want, got)
		DepthwiseImages(want, ds, src, ss, n, w, g, &ep)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v %+v: float %d (image %d) = %v, DepthwiseImages gives %v", g, ep, i, i/ds, got[i], want[i])
			}
			if i%ds >= g.C*P && got[i] != guardVal {
				t.Fatalf("%+v: wrote float %d outside the outputs", g, i)
			}
		}
	}
	if goRan < 10 || DWKernel() == "avx512" && ran != goRan {
		t.Fatalf("the flat kernel ran on %d geometries (assembly %d)", goRan, ran)
	}
	t.Logf("flat kernel on %d geometries (assembly %d)", goRan, ran)
}

// BenchmarkDepthwiseFlat runs mobilenet-tiny's depthwise layers on one
// and on 27 images (its float chunk) through DepthwiseImages and DepthwiseFlat;
// compare the two lines of one run (ns per image).
func BenchmarkDepthwiseFlat(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, g := range []ConvGeom{
		{C: 16, H: 14, W: 14, K: 3, Stride: 1, Pad: 1, OH: 14, OW: 14},
		{C: 32, H: 14, W: 14, K: 3, Stride: 2, Pad: 1, OH: 7, OW: 7},
		{C: 64, H: 7, W: 7, K: 3, Stride: 2, Pad: 1, OH: 4, OW: 4},
	} {
		for _, n := range []int{1, 27} {
			ep := Epilogue{Bias: randMat(r, g.C), ReLU: true, Max: 6}
			w := randMat(r, g.C*g.K*g.K)
			src := randMat(r, n*g.C*g.H*g.W)
			dst := make([]float32, n*g.C*g.OH*g.OW)
			f := NewDWFlat(g, w, &ep)
			name := func(s string) string { return fmt.Sprintf("%s/%dx%dx%d/s%d/n=%d", s, g.C, g.H, g.W, g.Stride, n) }
			b.Run(name("images"), func(b *testing.B) {
				for b.Loop() {
					DepthwiseImages(dst, g.C*g.OH*g.OW, src, g.C*g.H*g.W, n, w, g, &ep)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/img")
			})
			if f == nil {
				continue
			}
			b.Run(name("flat"), func(b *testing.B) {
				for b.Loop() {
					DepthwiseFlat(dst, g.C*g.OH*g.OW, src, g.C*g.H*g.W, n, f)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/img")
			})
		}
	}
}

// TestDepthwiseFlatC4: the one-image kernel of four channels and two
// chunks at a time (dwFlatC4: C ≥ 4, two chunks or more a plane; with an
// overlapping last group when 4 does not divide C, an empty partner for
// an odd last chunk) gives the table kernel's outputs (flatRows 16
// forces it) bit for bit, at batches 1, 2, 3 and 5 (images alone, and
// after a four-image pass), and writes nothing between or past the
// outputs.
func TestDepthwiseFlatC4(t *testing.T) {
	if !dwFlatHere() {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(73, 5))
	ran, overlap, odd := 0, 0, 0
	for gi, g := range dwDirectGeoms() {
		ep := epilogues(r, g.C)[gi%4]
		w := randMat(r, g.C*g.K*g.K)
		f := newDWFlat(g, w, &ep)
		if f == nil || f.c4tab == nil {
			continue
		}
		ran++
		if g.C%4 != 0 {
			overlap++
		}
		if (g.OH*g.OW+15)/16%2 == 1 {
			odd++
		}
		size, out := g.C*g.H*g.W, g.C*g.OH*g.OW
		for _, n := range []int{1, 2, 3, 5} {
			ss, ds := size+3, out+5
			src := randMat(r, (n-1)*ss+size)
			got := make([]float32, n*ds)
			for i := range got {
				got[i] = guardVal
			}
			want := append([]float32(nil), got...)
			DepthwiseFlat(got, ds, src, ss, n, f)
			func() {
				defer func(old int) { flatRows = old }(flatRows)
				flatRows = 16
				DepthwiseFlat(want, ds, src, ss, n, f)
			}()
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%+v n=%d: float %d = %v, the table kernel gives %v", g, n, i, got[i], want[i])
				}
			}
		}
	}
	if ran < 10 || overlap == 0 || odd == 0 {
		t.Fatalf("four-channel kernel on %d geometries (%d with an overlap, %d with an odd chunk count)", ran, overlap, odd)
	}
}
