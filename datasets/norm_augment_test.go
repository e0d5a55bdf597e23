package datasets

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// rgbSet is a random C=3 set of n h×w images with labels i%3.
func rgbSet(n, h, w int, seed uint64) *Set {
	rng := rand.New(rand.NewPCG(seed, 3))
	s := &Set{N: n, C: 3, H: h, W: w, Classes: 3, Pix: make([]uint8, n*3*h*w), Labels: make([]uint8, n)}
	for i := range s.Pix {
		s.Pix[i] = uint8(rng.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(i % 3)
	}
	return s
}

func TestNorm(t *testing.T) {
	// Worked by hand: pixels 0, 255, 255, 255: mean 3/4; variance
	// 3/4 − (3/4)² = 3/16 in [0,1] units, so std √3/4.
	s := &Set{N: 2, C: 1, H: 1, W: 2, Pix: []uint8{0, 255, 255, 255}, Labels: []uint8{0, 1}}
	n := s.Norm()
	if n.Mean[0] != 0.75 || n.Std[0] != float32(math.Sqrt(3)/4) {
		t.Fatalf("got %v, want mean 0.75, std %v", n, math.Sqrt(3)/4)
	}
	// Against a two-pass float64 reference on random RGB data.
	r := rgbSet(7, 5, 6, 1)
	n = r.Norm()
	for c := 0; c < 3; c++ {
		var vals []float64
		for i := 0; i < r.N; i++ {
			for _, p := range r.Image(i)[c*30 : (c+1)*30] {
				vals = append(vals, float64(p)/255)
			}
		}
		var mean, v float64
		for _, x := range vals {
			mean += x
		}
		mean /= float64(len(vals))
		for _, x := range vals {
			v += (x - mean) * (x - mean)
		}
		std := math.Sqrt(v / float64(len(vals)))
		if math.Abs(float64(n.Mean[c])-mean) > 1e-6 || math.Abs(float64(n.Std[c])-std) > 1e-6 {
			t.Fatalf("channel %d: got %v/%v, want %v/%v", c, n.Mean[c], n.Std[c], mean, std)
		}
	}
	b := NewBatcher(r, 4, false, 1)
	if err := b.SetNorm(Norm{Mean: []float32{0, 0, 0}, Std: []float32{1, 0, 1}}); err == nil {
		t.Fatal("std 0 accepted")
	}
	if err := b.SetNorm(Norm{Mean: []float32{0}, Std: []float32{1}}); err == nil {
		t.Fatal("1-channel normalization accepted for 3 channels")
	}
	// Bounds (MinStd, MaxMean): a std of 1e-30 scaled inputs to 1e30 and
	// trained to NaN; MinStd itself and a mean of ±MaxMean are taken.
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		mean, std float32
		ok        bool
	}{
		{0.5, 1e-30, false}, {0.5, 0.99e-4, false}, {0.5, MinStd, true}, {0.5, 0.002, true},
		{MaxMean, 1, true}, {-MaxMean, 1, true}, {1.01e4, 1, false}, {-inf, 1, false}, {nan, 1, false},
		{0.5, inf, false}, {0.5, nan, false}, {0.5, -1, false},
	} {
		err := b.SetNorm(Norm{Mean: []float32{0, c.mean, 0}, Std: []float32{1, c.std, 1}})
		if (err == nil) != c.ok {
			t.Errorf("mean %v std %v: error %v, want accepted %v", c.mean, c.std, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "channel 1") {
			t.Errorf("mean %v std %v: %v does not name channel 1", c.mean, c.std, err)
		}
	}
	if err := b.SetNorm(n); err != nil {
		t.Fatal(err)
	}
	x, l := make([]float32, 4*r.Size()), make([]int, 4)
	b.Next(x, l)
	for i, p := range r.Pix[:4*r.Size()] {
		c := i / 30 % 3
		if want := (float32(p)/255 - n.Mean[c]) * (1 / n.Std[c]); x[i] != want {
			t.Fatalf("element %d: %v, want %v", i, x[i], want)
		}
	}
}

func TestFlipH(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // 2 channels of 2x3
	FlipH(x, 2, 2, 3)
	if want := []float32{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10}; !slices.Equal(x, want) {
		t.Fatalf("got %v, want %v", x, want)
	}
}

// TestBatcherCropFlip: the CIFAR augmentation on an RGB set. Every image
// of a batch is its source shifted by some (dy, dx) in [−4, 4]² with
// zeros shifted in, then maybe mirrored; the shuffle is that of the
// plain batcher; the same seed (a trainer derives it from its seed and
// the epoch) gives the same bytes, another seed other bytes.
func TestBatcherCropFlip(t *testing.T) {
	s := rgbSet(40, 8, 8, 2)
	const pad, B = 4, 16
	run := func(seed uint64, aug bool) ([]float32, []int) {
		b := NewBatcher(s, B, true, seed)
		if aug {
			b.SetShift(pad)
			b.SetFlip(true)
		}
		x, l := make([]float32, B*s.Size()), make([]int, B)
		var xs []float32
		var ls []int
		for n := b.Next(x, l); n > 0; n = b.Next(x, l) {
			xs = append(xs, x[:n*s.Size()]...)
			ls = append(ls, l[:n]...)
		}
		return xs, ls
	}
	plain, order := run(5, false)
	x1, l1 := run(5, true)
	x2, _ := run(5, true)
	x3, _ := run(6, true)
	if !slices.Equal(l1, order) {
		t.Fatal("augmentation changed the shuffle")
	}
	if !slices.Equal(x1, x2) {
		t.Fatal("same seed, different batch bytes")
	}
	if slices.Equal(x1, x3) {
		t.Fatal("different seeds, same batch bytes")
	}
	sz := s.Size()
	flips := 0
	for k := 0; k < s.N; k++ {
		got, src := x1[k*sz:(k+1)*sz], plain[k*sz:(k+1)*sz]
		found := false
		for dy := -pad; dy <= pad && !found; dy++ {
			for dx := -pad; dx <= pad && !found; dx++ {
				for _, flip := range []bool{false, true} {
					want := translateRef(src, 3, 8, 8, dy, dx)
					if flip {
						FlipH(want, 3, 8, 8)
					}
					if slices.Equal(got, want) {
						found = true
						if flip && !(dy == 0 && dx == 0) {
							flips++
						}
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("image %d is no crop (pad %d) or flip of its source", k, pad)
		}
	}
	if flips == 0 {
		t.Fatal("no image was flipped")
	}
}
