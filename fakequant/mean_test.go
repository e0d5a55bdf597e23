package fakequant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

// TestQRunTwin: qRun gives qRunGo's integers at every length 0…40, on
// specials, ties and both clamp boundaries, at every vector level.
func TestQRunTwin(t *testing.T) {
	for _, lv := range vectorLevels(t) {
		withLevel(lv, func() {
			rng := rand.New(rand.NewPCG(31, 4))
			for n := 0; n <= 40; n++ {
				for _, g := range [][2]int32{{-127, 127}, {-17, 238}, {0, 255}, {-1, 1}} {
					s := float32(math.Pow(10, -4+4*rng.Float64()))
					x := kernelInput(rng, n+len(specials)+48, s, g[0], g[1])[:n]
					got, want := make([]int32, n), make([]int32, n)
					qRun(got, x, s, g[0], g[1])
					qRunGo(want, x, s, g[0], g[1])
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("level %d n=%d grid %v: element %d (x=%v): %d, scalar twin %d", lv, n, g, i, x[i], got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// TestQSumRowsTwin: qSumRows gives qSumRowsGo's row sums for rows of 1
// to 40, 49 and 196 elements (the kernel's masked last block), 1 to 5
// rows, on specials, ties and both clamp boundaries, at every vector
// level (without AVX-512 qSumRows reports false and MeanForward sums
// qRun's integers).
func TestQSumRowsTwin(t *testing.T) {
	for _, lv := range vectorLevels(t) {
		withLevel(lv, func() {
			rng := rand.New(rand.NewPCG(31, 6))
			for hw := 1; hw <= 196; hw++ {
				if hw > 40 && hw != 49 && hw != 196 {
					continue
				}
				for _, g := range [][2]int32{{-127, 127}, {-17, 238}, {0, 255}, {-32768, 32767}} {
					rows := 1 + rng.IntN(5)
					s := float32(math.Pow(10, -4+4*rng.Float64()))
					x := kernelInput(rng, rows*hw+len(specials)+48, s, g[0], g[1])[:rows*hw]
					got, want := make([]int64, rows), make([]int64, rows)
					if !qSumRows(got, x, hw, s, g[0], g[1]) {
						if lv >= levelAVX512 {
							t.Fatalf("level %d: qSumRows did nothing", lv)
						}
						continue
					}
					qSumRowsGo(want, x, hw, s, g[0], g[1])
					for r := range want {
						if got[r] != want[r] {
							t.Fatalf("level %d hw=%d grid %v: row %d sums to %d, scalar twin %d", lv, hw, g, r, got[r], want[r])
						}
					}
				}
			}
		})
	}
}

// meanRef is MeanForward's enabled pass as defined: per (n, c), the
// exactly rounded mean of the integers clip(round(x/S), q_min − Z,
// q_max − Z), times S.
func meanRef(x []float32, nc, hw int, p *quant.Params) []float32 {
	sc, z := p.Scale[0], p.Zero[0]
	qmin, qmax := p.QRange()
	out := make([]float32, nc)
	for i := range nc {
		var sum int64
		for _, v := range x[i*hw : (i+1)*hw] {
			sum += int64(quant.RoundClamp(v/sc, qmin-z, qmax-z))
		}
		out[i] = sc * float32(quant.RoundDiv(sum, int64(hw)))
	}
	return out
}

// TestMeanForwardTwin: MeanForward gives the definition's bits at every
// level, for pools of 1, 7, 16, 49 and more than a block (4097) of
// positions, over channel counts that split across blocks, symmetric and
// affine, 8 and 16 bits, on inputs with specials, ties and clipped values.
func TestMeanForwardTwin(t *testing.T) {
	for _, lv := range availableLevels() {
		withLevel(lv, func() {
			rng := rand.New(rand.NewPCG(31, 5))
			for _, sh := range [][4]int{{2, 3, 1, 1}, {1, 5, 7, 1}, {3, 300, 4, 4}, {2, 97, 7, 7}, {1, 2, 4097, 1}} {
				nc, hw := sh[0]*sh[1], sh[2]*sh[3]
				for _, bits := range []int{8, 16} {
					for _, sch := range []quant.Scheme{quant.Symmetric, quant.Affine} {
						qmin, qmax := quant.QRange(bits, sch)
						p := &quant.Params{Bits: bits, Scheme: sch, Scale: []float32{float32(math.Pow(10, -3+2*rng.Float64()))}, Zero: []int32{0}}
						if sch == quant.Affine {
							p.Zero[0] = qmin + int32(rng.IntN(int(qmax-qmin)+1))
						}
						s := &State{Name: "pool", Bits: bits, Scheme: sch, Axis: -1}
						if err := s.SetParams(p); err != nil {
							t.Fatal(err)
						}
						s.SetEnabled(true)
						x := kernelInput(rng, nc*hw+len(specials)+48, p.Scale[0], qmin-p.Zero[0], qmax-p.Zero[0])[:nc*hw]
						got := make([]float32, nc)
						if err := s.MeanForward(got, x, sh[:]); err != nil {
							t.Fatal(err)
						}
						sameBits(t, fmt.Sprintf("level %d MeanForward %v %d bits %v", lv, sh, bits, sch), got, meanRef(x, nc, hw, p), got)
					}
				}
			}
		})
	}
}
