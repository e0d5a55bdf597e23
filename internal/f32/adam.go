package f32

import (
	"math"

	"github.com/tinyqat/tinyqat/internal/par"
)

// AdamCoef holds the per-step constants of one Adam update (Kingma & Ba
// 2015, Algorithm 1, with decoupled weight decay), as float32:
// Beta1, Beta2 the moment decays, Step = lr/(1−β1^t), Scale2 = 1/(1−β2^t),
// Eps, and Decay = 1 − lr·λ.
type AdamCoef struct {
	Beta1, Beta2, Step, Scale2, Eps, Decay float32
}

// Adam updates w, m and v in place from the gradient g, element by element,
// with g taken as 0 + g (−0 read as +0: the value a gradient accumulated
// into a cleared buffer has, so a caller that passes the raw gradient gets
// the bits it would get from such a buffer):
//
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + ((1−β2)·g)·g
//	w ← w·Decay − (Step·m) / (√(v·Scale2) + Eps)
//
// each operation rounded to float32 in this order (no fused multiply-add),
// so the vector kernel and adamGo give the same bits as the scalar loop
// train used before. It panics if the slices differ in length.
func Adam(w, g, m, v []float32, c AdamCoef) {
	if len(g) != len(w) || len(m) != len(w) || len(v) != len(w) {
		panic("f32: Adam slices differ in length")
	}
	// Elementwise: any split gives the same bits. Ranges of whole
	// 8-element vectors (the last takes the tail).
	blocks := (len(w) + 7) / 8
	par.For(blocks, adamCost*8, func(b0, b1 int) {
		i0, i1 := b0*8, min(len(w), b1*8)
		adam(w[i0:i1], g[i0:i1], m[i0:i1], v[i0:i1], c)
	})
}

// adamCost is Adam's work per parameter in par.MinWork's units (some
// eight float operations), so that Adam uses more cores from
// par.MinWork/adamCost = 2^14 parameters on.
const adamCost = 8

func adam(w, g, m, v []float32, c AdamCoef) {
	n := adamVec(w, g, m, v, c)
	adamGo(w[n:], g[n:], m[n:], v[n:], c)
}

// adamGo is the reference loop (and the tail of the vector kernel).
func adamGo(w, g, m, v []float32, c AdamCoef) {
	b1, b2 := c.Beta1, c.Beta2
	ob1, ob2 := 1-b1, 1-b2
	z := zero
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	for j := range w {
		gj := z + g[j]
		m[j] = mul32(b1, m[j]) + mul32(ob1, gj)
		v[j] = mul32(b2, v[j]) + mul32(ob2*gj, gj)
		w[j] = mul32(w[j], c.Decay) - c.Step*m[j]/(float32(math.Sqrt(float64(v[j]*c.Scale2)))+c.Eps)
	}
}

// zero is +0 in a variable, so that z + g is computed (turning −0 into
// +0) and not simplified to g.
var zero float32
