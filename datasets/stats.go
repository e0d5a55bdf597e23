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

// MinStd is the smallest standard deviation a normalization takes: a
// pixel p/255 in [0, 1] then lies within (1 + |Mean|)/MinStd of zero,
// 10^4 or so, where a smaller std (a nearly constant channel, or a
// mistyped --std) scales inputs until training overflows to NaN. Real
// channels are far above it: pixels one grey level apart in equal shares
// have std 0.5/255 ≈ 0.002; a channel reaches 10^-4 only when fewer than
// one pixel in 1,500 differs from the rest by a level.
const MinStd = 1e-4

// MaxMean bounds |Mean| (pixels are in [0, 1]; a mean outside [−1, 2] is
// already a mistake, beyond MaxMean it overflows float32 sums).
const MaxMean = 1e4

// check reports whether n fits c channels and every Std is within
// [MinStd, +Inf) and every |Mean| at most MaxMean.
func (n Norm) check(c int) error {
	if len(n.Mean) != c || len(n.Std) != c {
		return fmt.Errorf("datasets: normalization of %d means and %d stds, the set has %d %s", len(n.Mean), len(n.Std), c, plural(c, "channel", "channels"))
	}
	for i := range n.Mean {
		m, s := float64(n.Mean[i]), float64(n.Std[i])
		if math.IsNaN(m) || math.Abs(m) > MaxMean || !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("datasets: channel %d: mean %v, std %v: the std must be positive, both finite and |mean| at most %g (a constant channel has std 0)", i, n.Mean[i], n.Std[i], MaxMean)
		}
		if n.Std[i] < float32(MinStd) {
			return fmt.Errorf("datasets: channel %d: std %v is below %g: the channel is nearly constant or the std mistyped (normalized pixels would reach %.3g and training overflow); a std of at least %g is needed (--std, or --mean and --std of your own for a nearly constant channel)", i, n.Std[i], MinStd, (1+math.Abs(m))/s, MinStd)
		}
	}
	return nil
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
