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

	// shift > 0 translates every image by a random (dy, dx) in
	// [−shift, shift]², drawn from its own seeded generator (see SetShift).
	shift int
	flip  bool
	aug   *rand.Rand

	// norm, when set, normalizes each channel after augmentation.
	norm *Norm
}

// NewBatcher returns a batcher of the given batch size. With shuffle false
// the samples come in file order (for evaluation). It panics if size < 1.
func NewBatcher(s *Set, size int, shuffle bool, seed uint64) *Batcher {
	if size < 1 {
		panic("datasets: batch size must be positive")
	}
	b := &Batcher{set: s, size: size, shuffle: shuffle, rng: rand.New(rand.NewPCG(seed, 0x7161745f62617463)), order: make([]int, s.N),
		aug: rand.New(rand.NewPCG(seed, 0x6175676d656e7421))}
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
		dst := x[k*sz : (k+1)*sz]
		ToFloat(dst, b.set.Image(i))
		if b.shift > 0 {
			dy := b.aug.IntN(2*b.shift+1) - b.shift
			dx := b.aug.IntN(2*b.shift+1) - b.shift
			Translate(dst, b.set.C, b.set.H, b.set.W, dy, dx)
		}
		if b.flip && b.aug.IntN(2) == 1 {
			FlipH(dst, b.set.C, b.set.H, b.set.W)
		}
		if b.norm != nil {
			plane := b.set.H * b.set.W
			for c := 0; c < b.set.C; c++ {
				m, inv := b.norm.Mean[c], 1/b.norm.Std[c]
				p := dst[c*plane : (c+1)*plane]
				for j := range p {
					p[j] = (p[j] - m) * inv
				}
			}
		}
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

// SetShift turns on data augmentation by random translation: each image of
// the batches that follow is shifted by dy, dx drawn uniformly from
// [−max, max], with zeros (black) shifted in. The shifts come from a
// generator seeded like the shuffle, so an epoch is reproducible. max 0
// turns it off; a negative max panics.
//
// This is the random crop of every CIFAR recipe: padding an image with
// max zero pixels on each side and cropping the original size at a
// uniformly drawn offset (torchvision's RandomCrop(size, padding=max))
// gives the same distribution of images. Zeros are black pixels, before
// any normalization (SetNorm), as torchvision pads before Normalize.
func (b *Batcher) SetShift(max int) {
	if max < 0 {
		panic("datasets: negative shift")
	}
	b.shift = max
}

// SetFlip turns on random horizontal flips: each image of the batches
// that follow is mirrored left to right with probability ½, drawn from
// the generator of SetShift (after the shift), so an epoch stays
// reproducible from the batcher's seed.
func (b *Batcher) SetFlip(on bool) { b.flip = on }

// SetNorm normalizes every batch that follows per channel, after
// augmentation: x = (p/255 − Mean[c]) / Std[c] (see Set.Norm). It fails
// when n does not fit the set's channels or a Std is not positive.
func (b *Batcher) SetNorm(n Norm) error {
	if err := n.check(b.set.C); err != nil {
		return err
	}
	b.norm = &Norm{Mean: append([]float32(nil), n.Mean...), Std: append([]float32(nil), n.Std...)}
	return nil
}

// FlipH mirrors each of the c planes of h×w pixels in x left to right, in place.
func FlipH(x []float32, c, h, w int) {
	for r := 0; r < c*h; r++ {
		row := x[r*w : (r+1)*w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			row[i], row[j] = row[j], row[i]
		}
	}
}

// Translate shifts each of the c planes of h×w pixels in x by dy rows and dx
// columns in place (x'[y][x] = x[y−dy][x−dx], 0 outside).
func Translate(x []float32, c, h, w, dy, dx int) {
	if dy == 0 && dx == 0 {
		return
	}
	for ch := 0; ch < c; ch++ {
		p := x[ch*h*w : (ch+1)*h*w]
		// Walk rows in the direction that never reads a row already written.
		for i := 0; i < h; i++ {
			y := i
			if dy > 0 {
				y = h - 1 - i
			}
			row := p[y*w : (y+1)*w]
			sy := y - dy
			if sy < 0 || sy >= h {
				clear(row)
				continue
			}
			src := p[sy*w : (sy+1)*w]
			if dx >= 0 {
				for j := w - 1; j >= 0; j-- {
					if j-dx >= 0 {
						row[j] = src[j-dx]
					} else {
						row[j] = 0
					}
				}
			} else {
				for j := 0; j < w; j++ {
					if j-dx < w {
						row[j] = src[j-dx]
					} else {
						row[j] = 0
					}
				}
			}
		}
	}
}
