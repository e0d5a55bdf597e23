package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGlobalAvgPoolVecEqualsGo: the AVX2 global average pooling gives
// globalAvgPoolGo's means bit for bit (the same additions in the same
// order), on planes of 1 to 70 values (below, at and around multiples of
// 8), 1 to 65 planes, with values of mixed signs and magnitudes and
// signed zeros, and writes nothing past dst.
func TestGlobalAvgPoolVecEqualsGo(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 4))
	ran := false
	for hw := 1; hw <= 70; hw++ {
		for _, planes := range []int{1, 3, 16, 65} {
			src := make([]float32, planes*hw)
			for i := range src {
				switch r.IntN(8) {
				case 0:
					src[i] = float32(math.Copysign(0, -1))
				case 1:
					src[i] = float32(r.NormFloat64() * 1e6)
				default:
					src[i] = float32(r.NormFloat64())
				}
			}
			want := make([]float32, planes+1)
			got := make([]float32, planes+1)
			want[planes], got[planes] = guardVal, guardVal
			globalAvgPoolGo(want[:planes], src, hw)
			if !globalAvgPoolVec(got[:planes], src, hw) {
				continue
			}
			ran = true
			for p := range want {
				if math.Float32bits(got[p]) != math.Float32bits(want[p]) {
					t.Fatalf("hw=%d planes=%d: plane %d mean %v, want %v", hw, planes, p, got[p], want[p])
				}
			}
		}
	}
	if !ran && activeLevel.vec {
		t.Fatal("the AVX2 loop never ran")
	}
}
