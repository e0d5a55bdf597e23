package fakequant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// boundedClipped is countingClipped that also reports its mask as one
// interval of x (boundsEstimator, as ste.Clipped): PassBounds of the
// grid's open bounds of quotients, which admits exactly the x that
// countingClipped's division passes (TestPassBounds).
type boundedClipped struct{ countingClipped }

func (boundedClipped) PassBounds(p *quant.Params, c int) (float32, float32) {
	qmin, qmax := p.QRange()
	ulo, uhi := gridBounds(qmin-p.Zero[c], qmax-p.Zero[c])
	return PassBounds(p.Scale[c], ulo, uhi)
}

// emptyClipped passes nothing: its interval is empty (NaN bounds).
type emptyClipped struct{ countingClipped }

func (e emptyClipped) Backward(dx, _, _ []float32, _ quant.Layout, _ *quant.Params, _ []float64) {
	*e.calls++
	clear(dx)
}
func (emptyClipped) PassBounds(*quant.Params, int) (float32, float32) {
	nan := float32(math.NaN())
	return nan, nan
}

// TestMergedMasksMatchTwoPasses: a ReLU6 node's backward pass and a
// residual addition's (ReLU, ReLU6's top, both) apply an interval
// estimator's mask and their own in one PassGrad on the intersection
// (the estimator's Backward is not called) and give, bit for bit, the
// estimator's pass followed by the mask (the same estimator without
// PassBounds, whose Backward divides), at every kernel level: on ragged
// lengths, grid edges and their ties, values at and next to Max, 0 and
// the specials; grids whose top is below Max and above it; an empty
// interval (NaN bounds).
func TestMergedMasksMatchTwoPasses(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 7))
	for _, sc := range []float32{0.02, 6.0 / 127, 0.1} {
		p := &quant.Params{Bits: 8, Scheme: quant.Symmetric, Scale: []float32{sc}, Zero: []int32{0}}
		var edges []float32
		for _, k := range []int32{-128, -127, 127, 128} {
			for _, f := range []float32{(float32(k) - 0.5) * sc, (float32(k) + 0.5) * sc} {
				edges = append(edges, f, math.Nextafter32(f, posInf), math.Nextafter32(f, negInf))
			}
		}
		edges = append(edges, 6, math.Nextafter32(6, 0), math.Nextafter32(6, 7), math.SmallestNonzeroFloat32)
		edges = append(edges, specials...)
		for trial := range 30 {
			n := []int{1, 7, 8, 9, 15, 16, 17, 63, 64, 65}[trial%10] + rng.IntN(3)*8
			a, b, dy := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range n {
				a[i], b[i], dy[i] = float32(rng.NormFloat64()*4), float32(rng.NormFloat64()*2), float32(rng.NormFloat64())
				if rng.IntN(3) == 0 {
					a[i], b[i] = edges[rng.IntN(len(edges))], 0
				}
			}
			shape := []int{1, n}
			for _, c := range []struct {
				relu bool
				mx   float32
			}{{false, 6}, {true, 0}, {true, 6}} {
				for _, empty := range []bool{false, true} {
					var ref, merged Estimator
					refCalls, calls := 0, 0
					ref, merged = countingClipped{&refCalls}, boundedClipped{countingClipped{&calls}}
					if empty {
						ref, merged = emptyClipped{countingClipped{&refCalls}}, emptyClipped{countingClipped{&calls}}
						ref = struct{ Estimator }{ref} // hides PassBounds
					}
					state := func(e Estimator) *State {
						s := &State{Name: "o", Bits: 8, Axis: -1, ReLU: c.relu, Max: c.mx, Estimator: e}
						if err := s.SetParams(p); err != nil {
							t.Fatal(err)
						}
						s.SetEnabled(true)
						return s
					}
					sr, sm := state(ref), state(merged)
					for _, lv := range availableLevels() {
						want, got := make([]float32, n), make([]float32, n)
						var wantA, gotA []float32
						withLevel(lv, func() {
							if !c.relu { // a ReLU6 node: its input is a
								sr.backward(want, dy, a, shape)
								sm.backward(got, dy, a, shape)
							}
							wantA, gotA = make([]float32, n), make([]float32, n)
							sr.AddBackward(wantA, dy, a, b, shape)
							sm.AddBackward(gotA, dy, a, b, shape)
						})
						for i := range n {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("S %v level %d max %v empty %v: node gradient at %v is %v, want %v", sc, lv, c.mx, empty, a[i], got[i], want[i])
							}
							if math.Float32bits(gotA[i]) != math.Float32bits(wantA[i]) {
								t.Fatalf("S %v level %d relu %v max %v empty %v: addition's gradient at %v + %v is %v, want %v", sc, lv, c.relu, c.mx, empty, a[i], b[i], gotA[i], wantA[i])
							}
						}
					}
					if calls != 0 || refCalls == 0 {
						t.Fatalf("S %v relu %v max %v empty %v: %d Backward calls merged, %d unmerged; want 0 and some", sc, c.relu, c.mx, empty, calls, refCalls)
					}
				}
			}
		}
	}
}
