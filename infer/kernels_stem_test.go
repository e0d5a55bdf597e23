package infer

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestStemMatchesReference compares stemImage (the kernels where the CPU
// has them) and stemImageGo with quant.Requantize of the exact sums, on
// 1 and 3 channels, kernels 1, 3 and 5, strides 1 and 2, rows of 1 to
// 40 pixels (partial 8-pixel blocks), 1 to 4 rows (an odd last row),
// 1 to 44 output channels (the plan refuses counts that are not a
// multiple of 4 or more than 32, and shapes stemFits refuses), random and extreme bytes, weights, zero points and
// multipliers, in both forms of the requantization (clamped, free);
// every byte around the output keeps its guard.
func TestStemMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 24))
	ran, free := 0, 0
	for _, c := range []int{1, 3} {
		for _, k := range []int{1, 3, 5} {
			for st := 1; st <= 2; st++ {
				for oc := 1; oc <= 44; oc++ {
					ow, oh := 1+rng.IntN(40), 1+rng.IntN(4)
					if oc%7 == 0 {
						ow = 16 * (1 + rng.IntN(2))
					}
					extreme := oc%5 == 0
					w := (ow-1)*st + k + rng.IntN(3)
					h := (oh-1)*st + k
					t_ := k * k * c
					wt := make([]int8, oc*t_)
					for i := range wt {
						wt[i] = int8(rng.IntN(256) - 128)
						if extreme {
							wt[i] = []int8{-128, 127}[oc%2]
						}
					}
					bias := make([]int32, oc)
					for i := range bias {
						bias[i] = rng.Int32N(1<<14) - 1<<13
					}
					img := make([]uint8, h*w*c+st*w*c+32)
					for i := range img {
						img[i] = uint8(rng.IntN(256))
						if extreme {
							img[i] = 255
						}
					}
					bound := int64(0)
					for ch := 0; ch < oc; ch++ {
						s := int64(iabs(bias[ch]))
						for _, v := range wt[ch*t_ : (ch+1)*t_] {
							s += 255 * int64(iabs(int32(v)))
						}
						bound = max(bound, s)
					}
					m0, shift := make([]int32, oc), make([]int32, oc)
					for i := range m0 {
						// Multipliers that spread sums of up to 2^16…2^20
						// over a byte (the clamped form needs the sums that
						// reach [lo, hi] within ±2^19), or the bound's range.
						m0[i] = quant.MinM0 + rng.Int32N(1<<23)
						shift[i] = 31 + rng.Int32N(5)
						if i%3 == 0 {
							shift[i] = min(42, max(13, 23+int32(bits.Len64(uint64(bound)))-8+rng.Int32N(3)-1))
						}
						if extreme {
							m0[i] = []int32{quant.MinM0, quant.MaxM0}[i%2]
						}
					}
					z := rng.Int32N(256)
					if extreme {
						z = []int32{0, 255}[k%2]
					}
					lo, hi := rng.Int32N(z+1), z+rng.Int32N(256-z)
					sp := newStemPlan(c, k, st, w, oh, ow, oc, wt, bias, m0, shift, z, lo, hi, bound)
					where := fmt.Sprintf("c %d k %d stride %d oc %d %d×%d", c, k, st, oc, oh, ow)
					if !stemFits(c, k, st, oc) {
						if sp != nil {
							t.Fatalf("%s: planned a shape stemFits refuses", where)
						}
						continue
					}
					if sp == nil {
						continue // a channel without the clamped form
					}
					ran++
					if sp.free {
						free++
					}
					want := make([]uint8, oh*ow*oc)
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							for ch := 0; ch < oc; ch++ {
								acc := bias[ch]
								for ky := 0; ky < k; ky++ {
									for kx := 0; kx < k; kx++ {
										for ci := 0; ci < c; ci++ {
											u := img[((oy*st+ky)*w+ox*st+kx)*c+ci]
											acc += int32(u) * int32(wt[ch*t_+(ky*k+kx)*c+ci])
										}
									}
								}
								want[(oy*ow+ox)*oc+ch] = uint8(quant.Requantize(acc, m0[ch], shift[ch], z, lo, hi))
							}
						}
					}
					const band = 64
					check := func(name string, run func(dst []uint8)) {
						buf := make([]uint8, band+len(want)+band)
						for i := range buf {
							buf[i] = guard
						}
						run(buf[band : band+len(want)])
						for i, v := range buf {
							if i < band || i >= band+len(want) {
								if v != guard {
									t.Fatalf("%s %s: byte %d outside the output overwritten", name, where, i-band)
								}
							} else if v != want[i-band] {
								p := (i - band) / oc
								t.Fatalf("%s %s: pixel (%d, %d) channel %d = %d, want %d", name, where, p/ow, p%ow, (i-band)%oc, v, want[i-band])
							}
						}
					}
					check("stemImageGo", func(dst []uint8) { stemImageGo(sp, dst, img) })
					check("stemImage", func(dst []uint8) {
						stemImage(sp, dst, img, make([]uint32, stemTileLen(sp)))
					})
				}
			}
		}
	}
	if ran < 30 || free < 5 || ran-free < 5 {
		t.Fatalf("only %d shapes ran, %d of them in the free form", ran, free)
	}
	t.Logf("%d shapes, %d in the free form (kernels: %v)", ran, free, stemKernels)
}

// TestStemModelMatchesUnfused runs one-layer models whose convolution
// has a pixel-lane form (pw.stem) with it and without it (stemOff: the
// path they take on a CPU without the kernels), on 1 and 3 channels,
// kernels 3 and 5, with and without padding, odd and even output sizes,
// 4 to 32 output channels, both activation modes, several samples: the
// logits must be equal.
func TestStemModelMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 25))
	planned := 0
	for _, c := range []int{1, 3} {
		for _, k := range []int{3, 5} {
			for _, oc := range []int{4, 8, 12, 16, 20, 24, 32} {
				mode := []Mode{W8A8, W8A8Asym}[oc/4%2]
				pad := oc / 4 % 3 % 2
				h, w := 9+rng.IntN(12), 9+rng.IntN(20)
				oh, ow := h+2*pad-k+1, w+2*pad-k+1
				in := QParams{Scale: 1.0 / 127, Bits: 8, Signed: true}
				out := QParams{Scale: 0.05, Bits: 8, Signed: true}
				if mode == W8A8Asym {
					in = QParams{Scale: 1.0 / 255, Zero: 0, Bits: 8}
					out = QParams{Scale: 0.05, Zero: int32(rng.IntN(200)), Bits: 8}
				}
				m := &Model{Version: FormatVersion, Arch: "stem", Mode: mode, InC: c, InH: h, InW: w, Input: in,
					Classes: oc * oh * ow, Source: Source{Run: "test", BitsW: 8, BitsA: 8}}
				l := &Layer{Kind: KindConv2D, Name: "stem", InC: c, InH: h, InW: w, OutC: oc, OutH: oh, OutW: ow,
					K: k, Stride: 1, Pad: pad, ReLU: oc%8 == 0, WBits: 8, In: in, Out: out}
				fan := l.fanIn()
				l.W = make([]int8, oc*fan)
				for i := range l.W {
					l.W[i] = int8(rng.IntN(255) - 127)
				}
				for j := 0; j < oc; j++ {
					l.WScale = append(l.WScale, 0.001+rng.Float32()*0.01)
					l.Bias = append(l.Bias, int32(rng.IntN(1<<14)-1<<13))
					m0, shift, err := quant.SplitMultiplier(float32(1 / (float64(fan) * 64) * (0.5 + rng.Float64())))
					if err != nil {
						t.Fatal(err)
					}
					l.M0, l.Shift = append(l.M0, m0), append(l.Shift, shift)
				}
				l.Lo, l.Hi = out.QRange()
				if l.ReLU {
					l.Lo = max(l.Lo, out.Zero)
				}
				m.Layers = []*Layer{l, {Kind: KindFlatten, InC: oc, InH: oh, InW: ow, OutC: oc * oh * ow, OutH: 1, OutW: 1}}
				if err := m.Validate(); err != nil {
					t.Fatal(err)
				}
				where := fmt.Sprintf("c %d k %d oc %d pad %d %s %d×%d", c, k, oc, pad, mode, h, w)
				if m.plan().layers[0].pw.stem != nil {
					planned++
				} else if stemKernels && stemFits(c, k, 1, oc) {
					t.Logf("%s: no clamped form", where)
				}
				x := testInput(m, 3, uint64(oc))
				got, err := m.Logits(x, 3)
				if err != nil {
					t.Fatal(err)
				}
				stemOff = true
				want, err := m.Logits(x, 3)
				stemOff = false
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s: logit %d = %d, want %d", where, i, got[i], want[i])
					}
				}
			}
		}
	}
	if stemKernels && planned < 10 {
		t.Fatalf("only %d models ran the stem kernels", planned)
	}
	t.Logf("%d models with the stem kernels", planned)
}
