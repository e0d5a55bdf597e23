package datasets

import (
	"fmt"
	"math"
)

// Norm is a per-channel input normalization, in the units of pixels
// scaled to [0, 1] (p/255):
//
//	x = (p/255 − Mean[c]) / Std[c]
type Norm struct {
	Mean, Std []float32
}

// Norm computes the per-channel mean and (population) standard deviation
// of the set's pixels, scaled to [0, 1], in one pass over the bytes with
// exact integer sums (Σp and Σp² per channel):
//
//	Mean[c] = Σp / (M·255)
//	Std[c]  = √(Σp²/M − (Σp/M)²) / 255        M = N·H·W
//
// Compute it on the training set and use it for both sets.
func (s *Set) Norm() Norm {
	n := Norm{Mean: make([]float32, s.C), Std: make([]float32, s.C)}
	plane := s.H * s.W
	sums1, sums2 := make([]uint64, s.C), make([]uint64, s.C)
	for i := 0; i < s.N; i++ {
		img := s.Image(i)
		for c := 0; c < s.C; c++ {
			var a, b uint64
			for _, p := range img[c*plane : (c+1)*plane] {
				a += uint64(p)
				b += uint64(p) * uint64(p)
			}
			sums1[c] += a
			sums2[c] += b
		}
	}
	m := float64(s.N) * float64(plane)
	for c := 0; c < s.C; c++ {
		mean := float64(sums1[c]) / m
		v := max(0, float64(sums2[c])/m-mean*mean)
		n.Mean[c] = float32(mean / 255)
		n.Std[c] = float32(math.Sqrt(v) / 255)
	}
	return n
}

// check reports whether n fits c channels and every Std is positive and finite.
func (n Norm) check(c int) error {
	if len(n.Mean) != c || len(n.Std) != c {
		return fmt.Errorf("datasets: normalization for %d/%d channels, the set has %d", len(n.Mean), len(n.Std), c)
	}
	for i := range n.Mean {
		m, s := float64(n.Mean[i]), float64(n.Std[i])
		if math.IsNaN(m) || math.IsInf(m, 0) || !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("datasets: channel %d: mean %v, std %v: the std must be positive and both finite (a constant channel has std 0)", i, m, s)
		}
	}
	return nil
}
