package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// TestBNReLUFusedMatchesUnfused: a training graph with batch
// normalization fused with the ReLU after it (one BatchNormReLUTrain node),
// or with the residual addition and ReLU after it (BatchNormAddReLUTrain)
// gives, bit for bit, the unfused composition (BatchNormTrain then Act or
// Add):
// logits, every parameter gradient and the running statistics, over two
// steps, with batch statistics and frozen. No tolerance: the fused
// kernels run the unfused ones' operations in the same order, the ReLU's
// mask recomputed from the same bits (f32.TestBNReLUKernels).
func TestBNReLUFusedMatchesUnfused(t *testing.T) {
	layers := func() []Layer {
		return []Layer{
			&Conv2D{Name: "c1", Out: 4, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU{},
			&Residual{Name: "r1", ReLU: true,
				Body: []Layer{
					&Conv2D{Name: "c2", Out: 4, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn2"}, &ReLU{},
					&Conv2D{Name: "c3", Out: 4, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn3"},
				}},
			&Conv2D{Name: "c4", Out: 6, K: 3, Stride: 2, Pad: 1, Groups: 2}, &BatchNorm2D{Name: "bn4"}, &ReLU{},
			// A projection shortcut: the body's BN moves into the addition.
			&Residual{Name: "r2", ReLU: true,
				Body:     []Layer{&Conv2D{Name: "c5", Out: 5, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn5"}},
				Shortcut: []Layer{&Conv2D{Name: "c6", Out: 5, K: 1}, &BatchNorm2D{Name: "bn6"}}},
			&GlobalAvgPool{Name: "gap"},
			&Linear{Name: "fc", Out: 3},
		}
	}
	// 10×10 planes: 6 full 16-lane blocks and a ragged tail of 4; the
	// strided grouped convolution's 5×5 planes are all tail.
	for _, frozen := range []bool{false, true} {
		type result struct {
			loss  []float64
			grads [][]float32
			stats [][]float32
		}
		var res [2]result
		for i, fuse := range []bool{false, true} {
			fuseBNReLU = fuse
			m, err := NewSequential("bnrelu", Shape{3, 10, 10}, 3, layers(), 7)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, rand.New(rand.NewPCG(7, 1)))
			m.SetBNFrozen(frozen)
			r := rand.New(rand.NewPCG(3, 4))
			const batch = 3
			x := randSlice(r, batch*m.In.Size(), 1)
			c := randSlice(r, batch*m.Classes, 1)
			run := newGradRun(t, m, true, nil, x, c, batch)
			fusedNodes, acts, fusedAdds, adds := 0, 0, 0, 0
			for _, n := range run.net.G.AllNodes() {
				if n.Op() == nil {
					continue
				}
				s := n.Op().String()
				if strings.HasPrefix(s, "BatchNormReLUTrain{") {
					fusedNodes++
				}
				if strings.HasPrefix(s, "Act{") {
					acts++
				}
				if strings.HasPrefix(s, "BatchNormAddReLUTrain{") {
					fusedAdds++
				}
				if strings.HasPrefix(s, "Add{") {
					adds++
				}
			}
			if want := 3 * int(b2i(fuse)); fusedNodes != want || acts != 3-want || fusedAdds != 2*want/3 || adds != 2-2*want/3 {
				t.Fatalf("fuse %v: %d+%d fused nodes, %d ReLU and %d Add nodes", fuse, fusedNodes, fusedAdds, acts, adds)
			}
			for range 2 {
				l, g := run.run(t, true)
				res[i].loss = append(res[i].loss, l)
				res[i].grads = append(res[i].grads, g...)
			}
			for _, p := range m.Buffers {
				res[i].stats = append(res[i].stats, append([]float32(nil), p.Data()...))
			}
		}
		fuseBNReLU = true
		for s := range res[0].loss {
			if res[0].loss[s] != res[1].loss[s] {
				t.Fatalf("frozen %v, step %d: loss %v unfused, %v fused", frozen, s, res[0].loss[s], res[1].loss[s])
			}
		}
		for _, pair := range [][2][][]float32{{res[0].grads, res[1].grads}, {res[0].stats, res[1].stats}} {
			for i := range pair[0] {
				for j := range pair[0][i] {
					if math.Float32bits(pair[0][i][j]) != math.Float32bits(pair[1][i][j]) {
						t.Fatalf("frozen %v: tensor %d element %d: %v unfused, %v fused", frozen, i, j, pair[0][i][j], pair[1][i][j])
					}
				}
			}
		}
	}
}

// TestGradWReadsGradXLayout: at stride 1, the weight gradient after the
// input gradient's convolution of the same dy reads dy from that layout
// and gives, bit for bit, the weight gradient that spreads dy itself (the
// same products in the same order); after a new forward pass it must not
// read a layout of the last step's dy, even from the same slice.
func TestGradWReadsGradXLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ran := 0
	for _, g := range convGeoms {
		g := g.done()
		if !g.useGradXConv() || !g.useDirectGradW() {
			continue
		}
		ran++
		x, w := randF32(r, g.n*g.c*g.h*g.w), randF32(r, g.cout*g.ckk())
		dy, dy2 := randF32(r, g.n*g.cout*g.hw()), randF32(r, g.n*g.cout*g.hw())
		y, dx := make([]float32, len(dy)), make([]float32, len(x))
		want := func(dy []float32) []float32 {
			ref := &conv{g: g}
			ref.dirY.keep = true
			ref.forward(y, x, w, nil)
			dw := make([]float32, len(w))
			ref.gradW(dw, x, dy)
			return dw
		}
		cv := &conv{g: g}
		cv.dirY.keep, cv.dirX.keep, cv.dirY.dyFrom = true, true, &cv.dirX
		cv.forward(y, x, w, nil)
		cv.gradX(dx, w, dy)
		if !cv.dirX.fresh {
			t.Fatalf("%v: gradX left no layout of dy", g)
		}
		dw := make([]float32, len(w))
		cv.gradW(dw, x, dy)
		if cv.dirX.fresh {
			t.Fatalf("%v: gradW did not take gradX's layout", g)
		}
		// The next step: forward, then gradW (first) on new values in dy's slice.
		cv.gradX(dx, w, dy)
		cv.forward(y, x, w, nil)
		stale := append([]float32(nil), dy...)
		copy(dy, dy2)
		dwNext := make([]float32, len(w))
		cv.gradW(dwNext, x, dy)
		for i, wv := range [2][]float32{want(stale), want(dy)} {
			got := [2][]float32{dw, dwNext}[i]
			for j := range wv {
				if math.Float32bits(got[j]) != math.Float32bits(wv[j]) {
					t.Fatalf("%v, step %d: dW[%d] = %v, want %v", g, i+1, j, got[j], wv[j])
				}
			}
		}
	}
	if ran == 0 && f32.OffsetsFast() && f32.DotRowsFast() {
		t.Fatal("no geometry ran")
	}
}

// TestBNReLU6FusedMatchesUnfused: a training graph fuses a batch-normalized
// ReLU6 into the normalization and gives, bit for bit, the unfused graph's
// loss, parameter gradients and running statistics (BatchNormTrain, then
// the ReLU6 Act node) over two steps, with batch statistics and frozen.
// In a float graph, or with a quantizer that leaves ReLU6's top to the
// graph, the node is BatchNormReLU6Train; when the quantizer clamps at 6
// itself (MaxQuantizer), the ReLU left of it fuses (BatchNormReLUTrain).
// Planted channels (zero weights, β = 6 or 0, running mean 0) put whole
// planes exactly on the clamps' edges, 6 and 0, both with batch
// statistics (pre = β there) and frozen; 10×10 planes (6 full 16-lane
// blocks and a tail of 4), the strided depthwise convolution's 5×5 (all
// tail), 5 channels in the last.
func TestBNReLU6FusedMatchesUnfused(t *testing.T) {
	layers := func() []Layer {
		return []Layer{
			&Conv2D{Name: "c1", Out: 4, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU6{},
			&Conv2D{Name: "c2", Out: 4, K: 3, Stride: 2, Pad: 1, Groups: 4}, &BatchNorm2D{Name: "bn2"}, &ReLU6{},
			&Conv2D{Name: "c3", Out: 5, K: 1}, &BatchNorm2D{Name: "bn3"}, &ReLU6{},
			&GlobalAvgPool{Name: "gap"},
			&Linear{Name: "fc", Out: 3},
		}
	}
	// plant zeroes conv's weights of channel c and sets its BN's β to beta
	// and running mean to 0: the normalized plane is beta exactly.
	plant := func(m *Model, conv, bn string, c int, beta float32) {
		w := m.Param(conv + ".weight").Data()
		r := len(w) / m.Param(bn + ".beta").Value.Shape()[0]
		clear(w[c*r : (c+1)*r])
		m.Param(bn + ".beta").Data()[c] = beta
		for _, p := range m.Buffers {
			if p.Name == bn+".running_mean" {
				p.Data()[c] = 0
			}
		}
	}
	for _, tc := range []struct {
		q    Quantizer
		node string // the fused node
	}{{nil, "BatchNormReLU6Train{"}, {maxQuant{false}, "BatchNormReLU6Train{"}, {maxQuant{true}, "BatchNormReLUTrain{"}} {
		for _, frozen := range []bool{false, true} {
			var loss [2][]float64
			var vals [2][][]float32
			for i, fuse := range []bool{false, true} {
				fuseBNReLU = fuse
				m, err := NewSequential("bnrelu6", Shape{3, 10, 10}, 3, layers(), 7)
				if err != nil {
					t.Fatal(err)
				}
				perturb(m, rand.New(rand.NewPCG(7, 1)))
				plant(m, "c1", "bn1", 0, 6)
				plant(m, "c1", "bn1", 1, 0)
				plant(m, "c3", "bn3", 2, 6)
				plant(m, "c3", "bn3", 4, 0)
				m.SetBNFrozen(frozen)
				r := rand.New(rand.NewPCG(3, 4))
				const batch = 3
				x := randSlice(r, batch*m.In.Size(), 1)
				c := randSlice(r, batch*m.Classes, 1)
				// Inputs scaled up so that some activations pass 6.
				for j := range x {
					x[j] *= 8
				}
				run := newGradRun(t, m, true, tc.q, x, c, batch)
				fusedNodes, acts := 0, 0
				var bn1 *G.Node
				for _, n := range run.net.G.AllNodes() {
					if n.Op() == nil {
						continue
					}
					s := n.Op().String()
					if strings.HasPrefix(s, tc.node) {
						fusedNodes++
					}
					if strings.HasPrefix(s, tc.node+"bn1}") || strings.HasPrefix(s, "Act{") && bn1 == nil {
						bn1 = n
					}
					acts += int(b2i(strings.HasPrefix(s, "Act{")))
				}
				if want := 3 * int(b2i(fuse)); fusedNodes != want || acts != 3-want {
					t.Fatalf("quantizer %#v, fuse %v: %d %s nodes and %d Act nodes, want %d and %d", tc.q, fuse, fusedNodes, tc.node, acts, want, 3-want)
				}
				for range 2 {
					l, g := run.run(t, true)
					loss[i] = append(loss[i], l)
					vals[i] = append(vals[i], g...)
				}
				if tc.q == nil {
					// bn1's planted planes: exactly 6 and 0 (not vacuous).
					out := bn1.Value().Data().([]float32)
					for j, v := range out {
						if ch := j / 100 % 4; ch < 2 && v != []float32{6, 0}[ch] {
							t.Fatalf("fuse %v frozen %v: bn1 output %d (channel %d) = %v, not planted", fuse, frozen, j, ch, v)
						}
					}
				}
				for _, p := range m.Buffers {
					vals[i] = append(vals[i], append([]float32(nil), p.Data()...))
				}
			}
			fuseBNReLU = true
			for s := range loss[0] {
				if loss[0][s] != loss[1][s] {
					t.Fatalf("quantizer %#v, frozen %v, step %d: loss %v unfused, %v fused", tc.q, frozen, s, loss[0][s], loss[1][s])
				}
			}
			for i := range vals[0] {
				for j := range vals[0][i] {
					if math.Float32bits(vals[0][i][j]) != math.Float32bits(vals[1][i][j]) {
						t.Fatalf("quantizer %#v, frozen %v: tensor %d element %d: %v unfused, %v fused", tc.q, frozen, i, j, vals[0][i][j], vals[1][i][j])
					}
				}
			}
		}
	}
}
