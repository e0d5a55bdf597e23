package cluster

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// Codebook is the non-linear quantization of one weight tensor: every
// element stores a Bits-bit cluster index, and a table maps the index to
// its centroid (Han et al., Deep Compression, 2016, §3):
//
//	K = 2^Bits                   centroids per group
//	g(i) = (i / Inner) mod Groups the element's group (its channel along
//	                             Axis, or 0 for one codebook per tensor)
//	ŵ_i = Centroids[g(i)·K + Index[i]]
//
// Unused entries (a group with fewer distinct weights than K) repeat a
// used centroid, so every index decodes to a real value.
type Codebook struct {
	Bits      int       // index bits, 1..8
	Axis      int       // channel axis of the groups, −1 for one codebook
	Shape     []int     // the weight tensor's shape
	Centroids []float32 // Groups()·K, group g's table at [g·K, (g+1)·K)
	Index     []uint8   // one per weight, < K
}

// K is the number of centroids of each group.
func (c *Codebook) K() int { return 1 << c.Bits }

// Groups is the number of codebooks: 1, or the size of the channel axis.
func (c *Codebook) Groups() int {
	if c.Axis < 0 {
		return 1
	}
	return c.Shape[c.Axis]
}

// Inner is the number of consecutive elements that share a group.
func (c *Codebook) Inner() int {
	if c.Axis < 0 {
		return 1
	}
	n := 1
	for _, d := range c.Shape[c.Axis+1:] {
		n *= d
	}
	return n
}

// Group returns the group of the element at flat index i.
func (c *Codebook) Group(i int) int {
	if c.Axis < 0 {
		return 0
	}
	return (i / c.Inner()) % c.Groups()
}

// Validate reports a codebook whose parts do not fit together.
func (c *Codebook) Validate() error {
	if c.Bits < 1 || c.Bits > 8 {
		return fmt.Errorf("cluster: codebook bits must be in [1, 8], got %d", c.Bits)
	}
	n := 1
	for _, d := range c.Shape {
		if d < 1 {
			return fmt.Errorf("cluster: codebook shape %v", c.Shape)
		}
		n *= d
	}
	if c.Axis < -1 || c.Axis >= len(c.Shape) {
		return fmt.Errorf("cluster: codebook axis %d outside shape %v", c.Axis, c.Shape)
	}
	if len(c.Index) != n {
		return fmt.Errorf("cluster: codebook has %d indices for shape %v (%d weights)", len(c.Index), c.Shape, n)
	}
	if len(c.Centroids) != c.Groups()*c.K() {
		return fmt.Errorf("cluster: codebook has %d centroids, want %d groups × %d", len(c.Centroids), c.Groups(), c.K())
	}
	k := c.K()
	for i, v := range c.Index {
		if int(v) >= k {
			return fmt.Errorf("cluster: codebook index %d is %d, outside [0, %d)", i, v, k)
		}
	}
	for i, v := range c.Centroids {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("cluster: centroid %d is %v", i, v)
		}
	}
	return nil
}

// Decode writes every element's centroid into dst (len(dst) == len(Index)).
func (c *Codebook) Decode(dst []float32) {
	if len(dst) != len(c.Index) {
		panic(fmt.Sprintf("cluster: decoding %d indices into %d values", len(c.Index), len(dst)))
	}
	k, inner, groups := c.K(), c.Inner(), c.Groups()
	for i, v := range c.Index {
		g := 0
		if groups > 1 {
			g = (i / inner) % groups
		}
		dst[i] = c.Centroids[g*k+int(v)]
	}
}

// Reassign sets every index to the nearest centroid of its group (the
// smaller centroid on a tie) for the weights w: the assignment step of Lloyd's
// iteration, with the centroids left where they are.
func (c *Codebook) Reassign(w []float32) {
	if len(w) != len(c.Index) {
		panic(fmt.Sprintf("cluster: reassigning %d weights to %d indices", len(w), len(c.Index)))
	}
	k, inner, groups := c.K(), c.Inner(), c.Groups()
	type entry struct {
		v float32
		i uint8
	}
	tabs := make([][]entry, groups)
	for g := range tabs {
		t := make([]entry, k)
		for j := range t {
			t[j] = entry{c.Centroids[g*k+j], uint8(j)}
		}
		slices.SortStableFunc(t, func(a, b entry) int {
			switch {
			case a.v < b.v:
				return -1
			case a.v > b.v:
				return 1
			}
			return 0
		})
		tabs[g] = t
	}
	for i, v := range w {
		g := 0
		if groups > 1 {
			g = (i / inner) % groups
		}
		t := tabs[g]
		j, _ := slices.BinarySearchFunc(t, v, func(e entry, v float32) int {
			if e.v < v {
				return -1
			}
			return 1
		})
		// t[j] is the first entry ≥ v: the nearest is t[j−1] or t[j].
		if j == len(t) || (j > 0 && v-t[j-1].v <= t[j].v-v) {
			j--
		}
		c.Index[i] = t[j].i
	}
}

// Clone returns a deep copy.
func (c *Codebook) Clone() *Codebook {
	return &Codebook{Bits: c.Bits, Axis: c.Axis, Shape: slices.Clone(c.Shape),
		Centroids: slices.Clone(c.Centroids), Index: slices.Clone(c.Index)}
}

// CodebookEstimator computes the backward pass of a codebook node
// (Centroid implements it).
type CodebookEstimator interface {
	Name() string
	// Backward adds ∂L/∂c for every centroid into dc (len(cb.Centroids))
	// from ∂L/∂ŵ in dy, and writes the gradient passed on to the
	// underlying weights into dx.
	Backward(dx, dy []float32, cb *Codebook, dc []float64)
}

// CodebookState is the codebook of one weight tensor, shared by the
// codebook nodes of every graph built from a model, with the centroid
// gradient accumulated by their backward passes. Its methods are safe for
// concurrent use.
type CodebookState struct {
	Name      string
	Estimator CodebookEstimator

	mu sync.Mutex
	cb *Codebook
	dc []float64
}

// NewCodebookState validates cb and wraps a copy of it.
func NewCodebookState(name string, cb *Codebook, est CodebookEstimator) (*CodebookState, error) {
	if err := cb.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if est == nil {
		return nil, fmt.Errorf("cluster: codebook state %s has no estimator", name)
	}
	return &CodebookState{Name: name, Estimator: est, cb: cb.Clone()}, nil
}

// Codebook returns a copy of the current codebook.
func (s *CodebookState) Codebook() *Codebook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cb.Clone()
}

// SetCodebook replaces the codebook (re-clustering) after validating it;
// its shape must not change. Accumulated gradients are dropped.
func (s *CodebookState) SetCodebook(cb *Codebook) error {
	if err := cb.Validate(); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(cb.Shape, s.cb.Shape) {
		return fmt.Errorf("cluster: %s: codebook shape %v, the weight is %v", s.Name, cb.Shape, s.cb.Shape)
	}
	s.cb, s.dc = cb.Clone(), nil
	return nil
}

// TakeGrad returns and clears the accumulated ∂L/∂c (nil if none).
func (s *CodebookState) TakeGrad() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.dc
	s.dc = nil
	return g
}

// Reassign moves every weight to its nearest centroid (Codebook.Reassign).
func (s *CodebookState) Reassign(w []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cb.Reassign(w)
}

// SetCentroids replaces the centroids (the optimizer's step); the indices
// do not change (assignments are fixed while fine-tuning).
func (s *CodebookState) SetCentroids(c []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(c) != len(s.cb.Centroids) {
		return fmt.Errorf("cluster: %s: %d centroids for a table of %d", s.Name, len(c), len(s.cb.Centroids))
	}
	for i, v := range c {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("cluster: %s: centroid %d would become %v", s.Name, i, v)
		}
	}
	copy(s.cb.Centroids, c)
	return nil
}

// forward writes the decoded weights into dst; x only fixes the size.
func (s *CodebookState) forward(dst, x []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(x) != len(s.cb.Index) {
		return fmt.Errorf("cluster: %s: %d weights, the codebook has %d indices", s.Name, len(x), len(s.cb.Index))
	}
	s.cb.Decode(dst)
	return nil
}

// backward runs the estimator and accumulates the centroid gradient.
func (s *CodebookState) backward(dx, dy []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dc == nil {
		s.dc = make([]float64, len(s.cb.Centroids))
	}
	s.Estimator.Backward(dx, dy, s.cb, s.dc)
}
