package datasets_test

import (
	"fmt"

	"github.com/tinyqat/tinyqat/datasets"
)

// Batches come in a seeded order; the last one of an epoch is short when
// the batch size does not divide the set.
func ExampleBatcher() {
	set := datasets.Synthetic(10, 2, 4, 4, 3, 20, 1).Train
	b := datasets.NewBatcher(set, 4, true, 7)
	x := make([]float32, 4*set.Size())
	labels := make([]int, 4)
	for n := b.Next(x, labels); n > 0; n = b.Next(x, labels) {
		fmt.Println(n, "samples")
	}
	// Output:
	// 4 samples
	// 4 samples
	// 2 samples
}
