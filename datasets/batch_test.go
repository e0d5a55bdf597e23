package datasets

import (
	"slices"
	"testing"
)

func TestBatcherCoversEpochOnce(t *testing.T) {
	s := Synthetic(10, 3, 2, 2, 3, 5, 1).Train
	b := NewBatcher(s, 4, true, 7)
	x := make([]float32, 4*s.Size())
	lab := make([]int, 4)
	var sizes []int
	seen := map[int]int{}
	for n := b.Next(x, lab); n > 0; n = b.Next(x, lab) {
		sizes = append(sizes, n)
		for k := 0; k < n; k++ {
			seen[lab[k]]++
		}
	}
	// 10 samples in batches of 4: 4, 4 and a last partial batch of 2.
	if !slices.Equal(sizes, []int{4, 4, 2}) || b.Batches() != 3 {
		t.Fatalf("batch sizes %v", sizes)
	}
	// Labels cycle 0,1,2: 4 zeros, 3 ones, 3 twos.
	if seen[0] != 4 || seen[1] != 3 || seen[2] != 3 {
		t.Fatalf("label counts %v", seen)
	}
}

func TestBatcherDeterministic(t *testing.T) {
	s := Synthetic(50, 3, 2, 2, 5, 5, 1).Train
	run := func(seed uint64) []int {
		b := NewBatcher(s, 50, true, seed)
		x := make([]float32, 50*s.Size())
		lab := make([]int, 50)
		b.Next(x, lab)
		b.Reset()
		b.Next(x, lab) // second epoch's order
		return slices.Clone(lab)
	}
	if !slices.Equal(run(3), run(3)) {
		t.Fatal("same seed, different order")
	}
	if slices.Equal(run(3), run(4)) {
		t.Fatal("different seeds, same order")
	}
}

func TestToFloat(t *testing.T) {
	dst := make([]float32, 3)
	ToFloat(dst, []uint8{0, 51, 255})
	// 51/255 = 0.2 exactly in decimal; float32 division rounds it the same way as the literal.
	if dst[0] != 0 || dst[1] != float32(51)/255 || dst[2] != 1 {
		t.Fatal(dst)
	}
}
