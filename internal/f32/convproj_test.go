package f32

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestConvImagesProj: a stride-1 convolution with a 1×1 projection of
// stride 1, 2 or 3 folded in (ConvImagesProj) against the definition
// summed in float64: body products, projection products and the bias,
// then the clamp, within γ_(2·fan+3)·Σ|terms| (fan = C·K·K + projection
// channels: the products, one rounding per KC block sum and the bias,
// Higham §3.1, whatever the order). The wide image and the column planes
// give the same bits, and so does each image run alone (the sums do not
// depend on the batch). Ragged shapes: 1, 3, 16 and 17 channels, odd
// sizes, padding 0 and 1, 1 to 11 images, strided inputs and outputs,
// every kernel level (the in-place ones also packing) and every level
// of the copies; nothing is written between the images' outputs.
func TestConvImagesProj(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 5))
	lvs := convLevels()
	for _, lv := range convLevels() {
		if lv.kern.fastOff && lv.kern.fo != nil {
			packed := lv
			packed.kern.fastOff = false
			lvs = append(lvs, packed)
		}
	}
	tested := 0
	defer setDWLevel(dwLevels()[len(dwLevels())-1])()
	for li, lv := range lvs {
		// The copies (DWCopy, DWSplit2) at each of their levels in turn.
		dws := dwLevels()
		setDWLevel(dws[li%len(dws)])
		for gi, g := range convGeoms() {
			if g.K == 1 || g.Stride != 1 || (gi+li)%3 != 0 {
				continue
			}
			m := []int{1, 7, 12, 16, 17, 33}[gi%6]
			n := []int{1, 2, 5, 11}[gi%4]
			ep := epilogues(r, m)[gi%4]
			ps := []int{2, 1, 3}[gi%3]
			pc := []int{1, 3, 16, 17}[(gi/3)%4]
			// The projection's input: the largest size whose stride-ps
			// pixels are the outputs, or the smallest.
			ph, pw := (g.OH-1)*ps+1, (g.OW-1)*ps+1
			if gi%2 == 0 {
				ph, pw = ph+ps-1, pw+ps-1
			}
			size, psize, P := g.C*g.H*g.W, pc*ph*pw, g.OH*g.OW
			srcStride, projStride, dstStride := size+3, psize+1, m*P+5
			src, xs := randMat(r, n*srcStride), randMat(r, n*projStride)
			bodyFan := g.C * g.K * g.K
			fan := bodyFan + pc
			wts := randMat(r, m*fan)
			pk := packWeights(lv, wts, m, fan, lv.kern.mr)
			pr := &Proj{Src: xs, SrcStride: projStride, C: pc, H: ph, W: pw, Stride: ps}
			run := func(f func(dst []float32)) []float32 {
				got := make([]float32, n*dstStride)
				for i := range got {
					got[i] = guardVal
				}
				f(got)
				return got
			}
			got := run(func(d []float32) { ConvImagesProj(d, dstStride, src, srcStride, n, g, pk, &ep, pr) })
			wide := run(func(d []float32) { convWide(d, dstStride, src, srcStride, n, g, pk, &ep, pr) })
			cols := run(func(d []float32) { convIm2col(d, dstStride, src, srcStride, n, g, pk, &ep, pr) })
			if !slices.Equal(wide, cols) || !slices.Equal(got, wide) {
				t.Fatalf("%s %+v m=%d n=%d proj %d×%d×%d/%d: the wide image and the column planes differ", levelName(lv), g, m, n, pc, ph, pw, ps)
			}
			for s := 0; s < n; s++ {
				out := got[s*dstStride : (s+1)*dstStride]
				alone := make([]float32, m*P)
				one := &Proj{Src: xs[s*projStride:], SrcStride: projStride, C: pc, H: ph, W: pw, Stride: ps}
				ConvImagesProj(alone, m*P, src[s*srcStride:], srcStride, 1, g, pk, &ep, one)
				if !slices.Equal(alone, out[:m*P]) {
					t.Fatalf("%s %+v m=%d n=%d: image %d alone differs from in the batch", levelName(lv), g, m, n, s)
				}
				for _, v := range out[m*P:] {
					if v != guardVal {
						t.Fatalf("%s %+v m=%d n=%d: wrote between the outputs of images %d and %d", levelName(lv), g, m, n, s, s+1)
					}
				}
				img, x := src[s*srcStride:], xs[s*projStride:]
				for o := 0; o < m; o++ {
					for oy := 0; oy < g.OH; oy++ {
						for ox := 0; ox < g.OW; ox++ {
							var b float64
							if ep.Bias != nil {
								b = float64(ep.Bias[o])
							}
							v, mag := b, math.Abs(b)
							for ci := 0; ci < g.C; ci++ {
								for ky := 0; ky < g.K; ky++ {
									for kx := 0; kx < g.K; kx++ {
										iy, ix := oy+ky-g.Pad, ox+kx-g.Pad
										if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
											continue
										}
										p := float64(img[(ci*g.H+iy)*g.W+ix]) * float64(wts[o*fan+(ci*g.K+ky)*g.K+kx])
										v, mag = v+p, mag+math.Abs(p)
									}
								}
							}
							for c := 0; c < pc; c++ {
								p := float64(x[(c*ph+oy*ps)*pw+ox*ps]) * float64(wts[o*fan+bodyFan+c])
								v, mag = v+p, mag+math.Abs(p)
							}
							want := refClamp(v, &ep)
							g32 := out[(o*g.OH+oy)*g.OW+ox]
							if d := math.Abs(float64(g32) - want); !(d <= 1.01*float64(2*fan+3)*0x1p-24*mag+1e-30) {
								t.Fatalf("%s %+v m=%d proj %d×%d×%d/%d: image %d output (%d,%d,%d) = %v, want %v", levelName(lv), g, m, pc, ph, pw, ps, s, o, oy, ox, g32, want)
							}
						}
					}
				}
			}
			tested++
		}
	}
	if tested < 10*len(lvs) {
		t.Fatalf("only %d shapes tested at %d levels", tested, len(lvs))
	}
}
