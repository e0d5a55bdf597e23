package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestStemSafe16OwnPairs: the padded segments (segmentRows) and pixel
// groups (pairRows) pair the weights differently from the layer's own
// K order, so their safe16 must be their own. One-channel 3×3 stems on
// inputs of the whole byte range whose weights make the layer's pairs
// small (|w_a| + |w_b| ≤ 127: safe16) but a segment's or a pixel group's
// pair 127 + 127 (not safe16: 255·254 saturates int16): stride 2 runs on
// seg (pair w3, w4), stride 1 on pixel pairs (pair w1, w2 of the second
// pixel). Saturating inputs and the interpreter bit for bit at every
// level: a plan that gave seg the layer's safe16 would run the fast u·w
// kernels there.
func TestStemSafe16OwnPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 91))
	for _, c := range []struct {
		stride int
		hot    [2]int // the two kernel taps set to ±127
	}{{2, [2]int{3, 4}}, {1, [2]int{1, 2}}} {
		for _, mode := range []Mode{W8A8, W8A8Asym} {
			g := newGraph(t, rng, mode, "safe16stem", 1, 12, 12, 10)
			g.weighted(-2, 16, 3, c.stride, 1, 0, false, false)
			g.gap()
			g.flatten()
			g.weighted(-2, 10, 0, 0, 0, 0, false, false)
			l := g.m.Layers[0]
			for o := 0; o < l.OutC; o++ {
				w := l.W[o*9 : o*9+9]
				for i := range w {
					w[i] = 0
				}
				s := int8(1 - 2*(o%2))
				w[c.hot[0]], w[c.hot[1]] = 127*s, 127*s
				l.Bias[o] = 0
			}
			m := g.done()
			where := fmt.Sprintf("stride %d %s", c.stride, mode)
			p := m.plan().layers[0]
			if !p.pw.safe16 {
				t.Fatalf("%s: the layer's own pairs are not safe16", where)
			}
			if activeLevel.sconv != nil {
				if p.seg == nil || p.seg.safe16 {
					t.Fatalf("%s: segmented weights %v, want them not safe16", where, p.seg != nil)
				}
				if cs, _ := activeLevel.convSets(p.seg); cs == nil || cs.pre == nil {
					t.Fatalf("%s: segmented weights (pairs %d) without the pre-signed kernels", where, p.seg.pairs)
				}
			}
			for _, n := range []int{1, 3} {
				x := randInput(rng, m, n)
				for i := range x {
					if rng.IntN(2) == 0 {
						x[i] = 1000 // the top of the input range
					}
				}
				checkLevels(t, fmt.Sprintf("%s n=%d", where, n), m, x, n, interpretMode(m, x, n))
			}
		}
	}
}
