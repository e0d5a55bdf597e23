package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestConv1ModelMatchesRows runs one-channel 3×3 stems (16, 32 and 48
// output channels; stride 1, 2 and 3; padding 0 to 2; ragged image
// sizes from rows of one pixel, all edge, up; both modes, ReLU or not, a
// zero point anywhere) whole, with conv1Image (no padded copy) and
// without it (conv1Off: padImage, then gemmConvPackedQ row by row), at
// batch 3 (the padding row is written by the first sample only), and
// compares the logits: every output byte. It fails if
// conv1Image ran on too few of them where the CPU has the kernel.
func TestConv1ModelMatchesRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 81))
	ran := 0
	for _, oc := range []int{16, 32, 48} {
		for _, stride := range []int{1, 2, 3} {
			for _, pad := range []int{0, 1, 1, 2} {
				mode := []Mode{W8A8, W8A8Asym}[(oc/16+stride+pad+rng.IntN(2))%2]
				h, w := 3+rng.IntN(16), 1+rng.IntN(18)
				if w+2*pad < 3 {
					w = 3
				}
				oh, ow := (h+2*pad-3)/stride+1, (w+2*pad-3)/stride+1
				in := QParams{Scale: 1.0 / 127, Bits: 8, Signed: true}
				out := QParams{Scale: 0.05, Bits: 8, Signed: true}
				if mode == W8A8Asym {
					in = QParams{Scale: 1.0 / 255, Zero: 0, Bits: 8}
					out = QParams{Scale: 0.05, Zero: int32(rng.IntN(256)), Bits: 8}
				}
				m := &Model{Version: FormatVersion, Arch: "stem1", Mode: mode, InC: 1, InH: h, InW: w, Input: in,
					Classes: oc * oh * ow, Source: Source{Run: "test", BitsW: 8, BitsA: 8}}
				l := &Layer{Kind: KindConv2D, Name: "stem", InC: 1, InH: h, InW: w, OutC: oc, OutH: oh, OutW: ow,
					K: 3, Stride: stride, Pad: pad, ReLU: stride != 2, WBits: 8, In: in, Out: out}
				l.W = make([]int8, oc*9)
				for i := range l.W {
					l.W[i] = int8(rng.IntN(255) - 127)
				}
				for j := 0; j < oc; j++ {
					l.WScale = append(l.WScale, 0.001+rng.Float32()*0.01)
					l.Bias = append(l.Bias, int32(rng.IntN(1<<14)-1<<13))
					m0, shift, err := quant.SplitMultiplier(float32(1 / (9.0 * 64) * (0.5 + rng.Float64())))
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
				where := fmt.Sprintf("oc %d stride %d pad %d %s %d×%d", oc, stride, pad, mode, h, w)
				p := m.plan().layers[0]
				if p.seg != nil && p.pw.stem == nil && conv1Layer(p.seg.level, l, p.seg, 1) {
					ran++
				}
				x := testInput(m, 3, uint64(oc+stride))
				got, err := m.Logits(x, 3)
				if err != nil {
					t.Fatal(err)
				}
				conv1Off = true
				want, err := m.Logits(x, 3)
				conv1Off = false
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
	if conv1Kernel(activeLevel) && ran < 8 {
		t.Fatalf("only %d models ran conv1Image", ran)
	}
	t.Logf("%d models on conv1Image", ran)
}
