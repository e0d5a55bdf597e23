package datasets

import (
	"math/rand/v2"
	"testing"
)

// translateRef is Translate written from its definition, out of place.
func translateRef(x []float32, c, h, w, dy, dx int) []float32 {
	out := make([]float32, len(x))
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			for j := 0; j < w; j++ {
				sy, sx := y-dy, j-dx
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					out[(ch*h+y)*w+j] = x[(ch*h+sy)*w+sx]
				}
			}
		}
	}
	return out
}

func TestTranslate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 5, 7}, {2, 4, 4}, {3, 1, 6}, {1, 28, 28}} {
		c, h, w := sz[0], sz[1], sz[2]
		for dy := -h - 1; dy <= h+1; dy++ {
			for dx := -w - 1; dx <= w+1; dx++ {
				x := make([]float32, c*h*w)
				for i := range x {
					x[i] = rng.Float32() + 1
				}
				want := translateRef(x, c, h, w, dy, dx)
				Translate(x, c, h, w, dy, dx)
				for i := range x {
					if x[i] != want[i] {
						t.Fatalf("%dx%dx%d shift (%d,%d): element %d is %v, want %v", c, h, w, dy, dx, i, x[i], want[i])
					}
				}
			}
		}
	}
}

// A batcher with shifting keeps the shuffle order of one without, and is
// reproducible from its seed.
func TestBatcherShift(t *testing.T) {
	s := Synthetic(50, 10, 8, 8, 3, 20, 4).Train
	run := func(shift int) ([]float32, []int) {
		b := NewBatcher(s, 16, true, 9)
		b.SetShift(shift)
		x, l := make([]float32, 16*64), make([]int, 16)
		var xs []float32
		var ls []int
		for n := b.Next(x, l); n > 0; n = b.Next(x, l) {
			xs = append(xs, x[:n*64]...)
			ls = append(ls, l[:n]...)
		}
		return xs, ls
	}
	x0, l0 := run(0)
	x1, l1 := run(2)
	x2, _ := run(2)
	same, moved := true, 0
	for i := range l0 {
		if l0[i] != l1[i] {
			t.Fatalf("label order changed with shifting at %d", i)
		}
	}
	for i := range x1 {
		same = same && x1[i] == x2[i]
		if x1[i] != x0[i] {
			moved++
		}
	}
	if !same {
		t.Fatal("two shifted runs with the same seed differ")
	}
	if moved == 0 {
		t.Fatal("shift 2 moved no pixel")
	}
}
