package cluster

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/tinyqat/tinyqat/calibrate"
)

// KMeansCodebook builds the codebook of a weight tensor of the given
// shape by k-means (km): one per tensor (axis −1) or one per channel
// along axis. NaN or Inf weights are an error. It stops with ctx.Err()
// when ctx is cancelled: it checks between channels, between Lloyd's
// iterations and between the exact method's rows, so a large tensor
// (lenet300's fc1 takes seconds) does not hold up a cancelled run.
func KMeansCodebook(ctx context.Context, km calibrate.KMeans, w []float32, shape []int, axis int) (*Codebook, error) {
	if err := km.Validate(); err != nil {
		return nil, err
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(w) || n == 0 {
		return nil, fmt.Errorf("cluster: %d weights for shape %v", len(w), shape)
	}
	if axis < -1 || axis >= len(shape) {
		return nil, fmt.Errorf("cluster: axis %d outside shape %v", axis, shape)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("cluster: weight %d is %v", i, v)
		}
	}
	cb := &Codebook{Bits: km.Bits, Axis: axis, Shape: slices.Clone(shape), Index: make([]uint8, n)}
	groups, inner, k := cb.Groups(), cb.Inner(), cb.K()
	cb.Centroids = make([]float32, groups*k)
	members := make([][]int, groups)
	for i := range w {
		g := 0
		if groups > 1 {
			g = (i / inner) % groups
		}
		members[g] = append(members[g], i)
	}
	vals := make([]float32, 0, len(members[0]))
	for g, idx := range members {
		vals = vals[:0]
		for _, i := range idx {
			vals = append(vals, w[i])
		}
		c, err := km.CentroidsContext(ctx, vals, k)
		if err != nil {
			return nil, err
		}
		copy(cb.Centroids[g*k:], c)
		for _, i := range idx {
			cb.Index[i] = uint8(calibrate.Nearest(c, w[i]))
		}
	}
	return cb, nil
}
