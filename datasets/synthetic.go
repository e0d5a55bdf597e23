package datasets

import (
	"fmt"
	"math/rand/v2"
)

// Synthetic returns a small, easily learnt set for fast tests: each class
// has a random prototype image, and each sample is its class prototype with
// uniform noise of ±noise (in pixel units, 0..255) added and clipped.
// The same arguments always give the same data.
func Synthetic(nTrain, nTest, h, w, classes int, noise int, seed uint64) *Pair {
	if nTrain < 1 || nTest < 1 || h < 1 || w < 1 || classes < 2 || noise < 0 {
		panic(fmt.Sprintf("datasets: bad synthetic shape n=%d/%d %dx%d classes=%d noise=%d", nTrain, nTest, h, w, classes, noise))
	}
	rng := rand.New(rand.NewPCG(seed, 0x73796e7468))
	protos := make([][]uint8, classes)
	for c := range protos {
		protos[c] = make([]uint8, h*w)
		for i := range protos[c] {
			if rng.IntN(3) == 0 {
				protos[c][i] = uint8(128 + rng.IntN(128))
			}
		}
	}
	gen := func(n int, name string) *Set {
		s := &Set{Name: name, N: n, C: 1, H: h, W: w, Classes: classes, Pix: make([]uint8, n*h*w), Labels: make([]uint8, n)}
		for k := 0; k < n; k++ {
			c := k % classes
			s.Labels[k] = uint8(c)
			img := s.Pix[k*h*w : (k+1)*h*w]
			for i, p := range protos[c] {
				v := int(p)
				if noise > 0 {
					v += rng.IntN(2*noise+1) - noise
				}
				img[i] = uint8(min(255, max(0, v)))
			}
		}
		return s
	}
	return &Pair{Dir: "synthetic", Train: gen(nTrain, "synthetic/train"), Test: gen(nTest, "synthetic/test")}
}
