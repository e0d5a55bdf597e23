package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// epTolerance bounds |computed − exact| for one output of a fused kernel
// whose sum has k products: the k products and additions of the KC
// blocks, ⌈k/KC⌉ block additions and the bias addition are at most
// k + ⌈k/KC⌉ + 2 roundings in sequence, each of relative error at most
// u = 2⁻²⁴ of a partial sum bounded by mag = Σ|a·b| + |bias|, so
// |error| ≤ γ_n·mag with n = k + ⌈k/KC⌉ + 2 whatever the order in which
// the kernel adds (Higham, §3.1: the bound holds for any summation
// order, and a fused multiply-add rounds once where a multiplication and
// an addition round twice, which n already counts). The factor 1.01
// covers γ_n's second-order term. The clamp (ReLU, ReLU6) is monotone and
// 1-Lipschitz: it keeps the bound.
func epTolerance(k int, mag float64) float64 {
	steps := float64(k + (k+kc-1)/kc + 2)
	return 1.01*steps*0x1p-24*mag + 1e-30
}

// refClamp is the epilogue's activation in float64.
func refClamp(v float64, ep *Epilogue) float64 {
	if ep.ReLU {
		v = math.Max(v, 0)
		if ep.Max > 0 {
			v = math.Min(v, float64(ep.Max))
		}
	}
	return v
}

// epilogues are the activations every fused kernel is tested with (Max
// 0.5 makes the upper clamp bite on these data).
func epilogues(r *rand.Rand, n int) []Epilogue {
	return []Epilogue{{Bias: randMat(r, n)}, {Bias: randMat(r, n), ReLU: true}, {Bias: randMat(r, n), ReLU: true, Max: 0.5}, {}}
}

func levelName(lv level) string {
	if lv.strided8 != nil {
		return lv.kern.name + " strided"
	}
	return lv.kern.name
}

// TestLinearMatchesReference compares Linear (micro-kernel panels, the
// one-row kernel and the epilogue) with the definition summed in float64,
// at every kernel level this machine runs, on ragged sizes, with guard
// values around each output row.
func TestLinearMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 1))
	ms := []int{1, 3, 6, 7, 13, 65}
	ks := []int{1, 7, 15, 16, 17, 63, 64, 65, 257, 784}
	ns := []int{1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65}
	for _, lv := range levels() {
		t.Run(levelName(lv), func(t *testing.T) {
			cases := 0
			for _, k := range ks {
				for ni, n := range ns {
					m := ms[(ni+k)%len(ms)]
					ep := epilogues(r, n)[(ni+k)%4]
					checkLinear(t, lv, m, n, k, &ep, r)
					cases++
				}
			}
			// Every m with one shape: panels, half panels, single rows.
			for m := 1; m <= 2*lv.kern.mr+1; m++ {
				ep := epilogues(r, 33)[m%4]
				checkLinear(t, lv, m, 33, 65, &ep, r)
			}
			t.Logf("%d shapes", cases)
		})
	}
}

func checkLinear(t *testing.T, lv level, m, n, k int, ep *Epilogue, r *rand.Rand) {
	t.Helper()
	ldx, ldy := k+3, n+5
	x := randMat(r, m*ldx)
	w := randMat(r, n*k)
	y := make([]float32, m*ldy+guard)
	for i := range y {
		y[i] = guardVal
	}
	pw := packWeights(lv, w, n, k, lv.kern.nr)
	Linear(y, ldy, x, ldx, m, pw, ep)
	for i := 0; i < m; i++ {
		for j := 0; j < ldy; j++ {
			got := y[i*ldy+j]
			if j >= n {
				if got != guardVal {
					t.Fatalf("m=%d n=%d k=%d: wrote past row %d at column %d", m, n, k, i, j)
				}
				continue
			}
			var s, mag float64
			for p := 0; p < k; p++ {
				v := float64(x[i*ldx+p]) * float64(w[j*k+p])
				s += v
				mag += math.Abs(v)
			}
			if ep.Bias != nil {
				s += float64(ep.Bias[j])
				mag += math.Abs(float64(ep.Bias[j]))
			}
			want := refClamp(s, ep)
			if d := math.Abs(float64(got) - want); d > epTolerance(k, mag) || math.IsNaN(float64(got)) {
				t.Fatalf("m=%d n=%d k=%d %+v: y[%d,%d] = %v, want %v (|diff| %g > %g)", m, n, k, *ep, i, j, got, want, d, epTolerance(k, mag))
			}
		}
	}
	if y[m*ldy] != guardVal {
		t.Fatalf("m=%d n=%d k=%d: wrote past the end", m, n, k)
	}
}

// TestLinearRowIsBatchIndependent: a sample's outputs are the same bits
// whether it runs alone (the one-row kernel) or inside a full panel (the
// micro-kernel): both add the products in the same order. The Go level is
// included: its twins are written alike, so the compiler treats them alike.
func TestLinearRowIsBatchIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 1))
	for _, lv := range levels() {
		for _, k := range []int{1, 17, 300, 784} {
			n, m := 70, 3*lv.kern.mr
			x := randMat(r, m*k)
			w := randMat(r, n*k)
			ep := Epilogue{Bias: randMat(r, n), ReLU: true}
			pw := packWeights(lv, w, n, k, lv.kern.nr)
			all := make([]float32, m*n)
			Linear(all, n, x, k, m, pw, &ep)
			for i := 0; i < m; i += 7 {
				one := make([]float32, n)
				Linear(one, n, x[i*k:], k, 1, pw, &ep)
				for j := range one {
					if one[j] != all[i*n+j] {
						t.Fatalf("%s k=%d: sample %d output %d alone %v, in a batch %v", levelName(lv), k, i, j, one[j], all[i*n+j])
					}
				}
			}
		}
	}
}

// refConv is the definition of a convolution of one CHW image (float64,
// direct loops with bounds checks): out[o][oy][ox] and the magnitude
// Σ|w·x| + |bias|.
func refConv(src, w []float32, bias []float32, g ConvGeom, m int) (want, mag []float64) {
	P := g.OH * g.OW
	want, mag = make([]float64, m*P), make([]float64, m*P)
	for o := 0; o < m; o++ {
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				var s, a float64
				for ci := 0; ci < g.C; ci++ {
					for ky := 0; ky < g.K; ky++ {
						for kx := 0; kx < g.K; kx++ {
							iy, ix := oy*g.Stride+ky-g.Pad, ox*g.Stride+kx-g.Pad
							if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
								continue
							}
							v := float64(w[((o*g.C+ci)*g.K+ky)*g.K+kx]) * float64(src[(ci*g.H+iy)*g.W+ix])
							s += v
							a += math.Abs(v)
						}
					}
				}
				if bias != nil {
					s += float64(bias[o])
					a += math.Abs(float64(bias[o]))
				}
				want[o*P+oy*g.OW+ox], mag[o*P+oy*g.OW+ox] = s, a
			}
		}
	}
	return want, mag
}

// convGeoms are ragged convolution shapes: one and several channels,
// planes of 1 to 17, kernels 1, 3, 5, strides 1 and 2, paddings 0 to 2.
func convGeoms() []ConvGeom {
	var gs []ConvGeom
	for _, c := range []int{1, 3, 16, 17} {
		for _, hw := range [][2]int{{1, 1}, {5, 7}, {7, 7}, {16, 16}, {17, 15}} {
			for _, kp := range [][2]int{{1, 0}, {3, 1}, {3, 0}, {5, 2}} {
				for _, s := range []int{1, 2} {
					g := ConvGeom{C: c, H: hw[0], W: hw[1], K: kp[0], Stride: s, Pad: kp[1]}
					if g.H+2*g.Pad < g.K || g.W+2*g.Pad < g.K {
						continue
					}
					g.OH, g.OW = (g.H+2*g.Pad-g.K)/s+1, (g.W+2*g.Pad-g.K)/s+1
					gs = append(gs, g)
				}
			}
		}
	}
	return gs
}

// TestConvMatchesReference compares Conv on Patches (the implicit im2col)
// with the direct definition at every kernel level, on ragged shapes and
// output-channel counts around the panel sizes.
func TestConvMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 1))
	for _, lv := range convLevels() {
		t.Run(levelName(lv), func(t *testing.T) {
			phased := 0
			for gi, g := range convGeoms() {
				m := []int{1, 7, 12, 16, 17, 33}[gi%6]
				ep := epilogues(r, m)[gi%4]
				src := randMat(r, g.C*g.H*g.W)
				w := randMat(r, m*g.C*g.K*g.K)
				hp, wp := g.Padded()
				img := make([]float32, g.C*hp*wp)
				PadImage(img, src, g.C, g.H, g.W, g.Pad)
				P := g.OH * g.OW
				ldc := P + 3
				c := make([]float32, m*ldc)
				for i := range c {
					c[i] = guardVal
				}
				op := Patches{Img: img, G: g}
				if g.Stride == 2 && (g.C+g.H+g.K)%2 == 0 { // about half the stride-2 shapes from phase planes
					phased++
					op.Img, op.Phased = make([]float32, g.PhaseSize()), true
					SplitPhases(op.Img, img, g)
				}
				pw := packWeights(lv, w, m, g.C*g.K*g.K, lv.kern.mr)
				Conv(c, ldc, P, pw, op, &ep)
				want, mag := refConv(src, w, ep.Bias, g, m)
				// ConvImage (extended pixels) gives the same bits.
				img2, phased2 := img, false
				if g.Stride == 2 {
					img2, phased2 = make([]float32, g.PhaseSize()), true
					SplitPhases(img2, img, g)
				}
				c2 := make([]float32, m*P)
				ConvImage(c2, img2, g, phased2, pw, &ep)
				for o := 0; o < m; o++ {
					if !slices.Equal(c2[o*P:(o+1)*P], c[o*ldc:o*ldc+P]) {
						t.Fatalf("%+v: ConvImage differs from Conv on Patches in channel %d", g, o)
					}
				}
				k := g.C * g.K * g.K
				for o := 0; o < m; o++ {
					for p := 0; p < ldc; p++ {
						got := c[o*ldc+p]
						if p >= P {
							if got != guardVal {
								t.Fatalf("%+v: wrote past output row %d", g, o)
							}
							continue
						}
						wv := refClamp(want[o*P+p], &ep)
						if d := math.Abs(float64(got) - wv); !(d <= epTolerance(k, mag[o*P+p])) {
							t.Fatalf("%+v phased %v m=%d %+v: out[%d][%d] = %v, want %v", g, op.Phased, m, ep, o, p, got, wv)
						}
					}
				}
			}
			if phased < 10 {
				t.Fatalf("only %d shapes from phase planes", phased)
			}
		})
	}
}

// TestDepthwiseMatchesReference compares Depthwise with the direct
// definition at every depthwise level (DWSum for stride 1).
func TestDepthwiseMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(24, 1))
	for _, l := range dwLevels() {
		restore := setDWLevel(l)
		for gi, g := range convGeoms() {
			ep := epilogues(r, g.C)[gi%4]
			src := randMat(r, g.C*g.H*g.W)
			w := randMat(r, g.C*g.K*g.K)
			P := g.OH * g.OW
			dst := make([]float32, g.C*P+guard)
			for i := range dst {
				dst[i] = guardVal
			}
			Depthwise(dst, src, w, g, &ep)
			for c := 0; c < g.C; c++ {
				gc := g
				gc.C = 1
				var bias []float32
				if ep.Bias != nil {
					bias = ep.Bias[c : c+1]
				}
				want, mag := refConv(src[c*g.H*g.W:], w[c*g.K*g.K:], bias, gc, 1)
				for p := 0; p < P; p++ {
					wv := refClamp(want[p], &ep)
					if d := math.Abs(float64(dst[c*P+p]) - wv); !(d <= epTolerance(g.K*g.K, mag[p])) {
						t.Fatalf("level %d %+v %+v: channel %d out %d = %v, want %v", l, g, ep, c, p, dst[c*P+p], wv)
					}
				}
			}
			if dst[g.C*P] != guardVal {
				t.Fatalf("level %d %+v: wrote past the end", l, g)
			}
		}
		restore()
	}
}

// TestPoolAddMatchReference: max-pooling and the residual add are exact
// (the add rounds once, as float32(a+b) does); the global average's sum
// of hw values and its division are hw + 1 roundings (γ_{hw+1} of
// Σ|x|/hw).
func TestPoolAddMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 1))
	pools := convGeoms()
	// 2×2 of stride 2 (the vector path: 8 outputs at a time, then the
	// rest) on ragged widths, and 2×2 of stride 1.
	for _, sz := range [][3]int{{1, 2, 2}, {3, 16, 16}, {2, 17, 33}, {1, 34, 66}, {5, 8, 130}, {2, 3, 47}} {
		for _, s := range []int{2, 1} {
			g := ConvGeom{C: sz[0], H: sz[1], W: sz[2], K: 2, Stride: s}
			g.OH, g.OW = (g.H-2)/s+1, (g.W-2)/s+1
			pools = append(pools, g)
		}
	}
	for _, g := range pools {
		if g.Pad != 0 || g.K > g.H || g.K > g.W {
			continue
		}
		src := randMat(r, g.C*g.H*g.W)
		dst := make([]float32, g.C*g.OH*g.OW)
		MaxPool(dst, src, g)
		for c := 0; c < g.C; c++ {
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					best := float32(math.Inf(-1))
					for ky := 0; ky < g.K; ky++ {
						for kx := 0; kx < g.K; kx++ {
							best = max(best, src[(c*g.H+oy*g.Stride+ky)*g.W+ox*g.Stride+kx])
						}
					}
					if got := dst[(c*g.OH+oy)*g.OW+ox]; got != best {
						t.Fatalf("maxpool %+v: (%d,%d,%d) = %v, want %v", g, c, oy, ox, got, best)
					}
				}
			}
		}
	}
	for _, n := range []int{1, 7, 15, 16, 17, 63, 64, 65, 1000} {
		a, b := randMat(r, n), randMat(r, n)
		for _, ep := range epilogues(r, 1) {
			dst := make([]float32, n)
			Add(dst, a, b, &ep)
			for i := range dst {
				want := float32(refClamp(float64(a[i]+b[i]), &ep))
				if dst[i] != want {
					t.Fatalf("add n=%d %+v: %v + %v = %v, want %v", n, ep, a[i], b[i], dst[i], want)
				}
			}
		}
		for _, planes := range []int{1, 3, 16} {
			src := randMat(r, planes*n)
			dst := make([]float32, planes)
			GlobalAvgPool(dst, src, n)
			for p := range dst {
				var s, mag float64
				for _, v := range src[p*n : (p+1)*n] {
					s += float64(v)
					mag += math.Abs(float64(v))
				}
				want, tol := s/float64(n), 1.01*float64(n+1)*0x1p-24*mag/float64(n)+1e-30
				if d := math.Abs(float64(dst[p]) - want); d > tol {
					t.Fatalf("gap hw=%d: %v, want %v", n, dst[p], want)
				}
			}
		}
	}
}

func BenchmarkLinear(b *testing.B) {
	r := rand.New(rand.NewPCG(26, 1))
	for _, sz := range [][3]int{{1, 300, 784}, {64, 300, 784}, {1, 100, 300}, {64, 100, 300}} {
		m, n, k := sz[0], sz[1], sz[2]
		x, w := randMat(r, m*k), randMat(r, n*k)
		ep := Epilogue{Bias: randMat(r, n), ReLU: true}
		for _, lv := range levels() {
			pw := packWeights(lv, w, n, k, lv.kern.nr)
			y := make([]float32, m*n)
			b.Run(fmt.Sprintf("%s/%dx%dx%d", lv.kern.name, m, n, k), func(b *testing.B) {
				for b.Loop() {
					Linear(y, n, x, k, m, pw, &ep)
				}
				b.ReportMetric(float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}
