package datasets

import "math/rand/v2"

// Batcher yields the samples of a set in minibatches, in an order shuffled
// afresh each epoch from a seeded generator (PCG), so a run is reproducible.
// The last batch of an epoch is smaller when the batch size does not divide N.
type Batcher struct {
	set     *Set
	size    int
	shuffle bool
	rng     *rand.Rand
	order   []int
	pos     int
}

// NewBatcher returns a batcher of the given batch size. With shuffle false
// the samples come in file order (for evaluation). It panics if size < 1.
func NewBatcher(s *Set, size int, shuffle bool, seed uint64) *Batcher {
	if size < 1 {
		panic("datasets: batch size must be positive")
	}
	b := &Batcher{set: s, size: size, shuffle: shuffle, rng: rand.New(rand.NewPCG(seed, 0x7161745f62617463)), order: make([]int, s.N)}
	b.Reset()
	return b
}

// Reset starts a new epoch (reshuffling when shuffling).
func (b *Batcher) Reset() {
	for i := range b.order {
		b.order[i] = i
	}
	if b.shuffle {
		b.rng.Shuffle(len(b.order), func(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] })
	}
	b.pos = 0
}

// Batches is the number of batches in one epoch.
func (b *Batcher) Batches() int { return (b.set.N + b.size - 1) / b.size }

// Next fills x (at least size·C·H·W floats, pixels scaled to [0,1]) and
// labels (at least size entries) with the next batch and returns its length,
// or 0 at the end of the epoch.
func (b *Batcher) Next(x []float32, labels []int) int {
	n := min(b.size, b.set.N-b.pos)
	if n <= 0 {
		return 0
	}
	sz := b.set.Size()
	for k := 0; k < n; k++ {
		i := b.order[b.pos+k]
		ToFloat(x[k*sz:(k+1)*sz], b.set.Image(i))
		labels[k] = int(b.set.Labels[i])
	}
	b.pos += n
	return n
}

// ToFloat scales bytes to [0, 1] as p/255 into dst.
func ToFloat(dst []float32, src []uint8) {
	_ = dst[len(src)-1]
	for i, p := range src {
		dst[i] = float32(p) / 255
	}
}
