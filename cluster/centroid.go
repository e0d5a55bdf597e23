package cluster

// Centroid is the codebook estimator of Deep Compression (Han et al. 2016,
// §3, eq. 3): the gradient of a centroid is the sum of the gradients of
// the weights that share it,
//
//	∂L/∂c_{g,k} = Σ_{i : g(i) = g, idx_i = k} ∂L/∂ŵ_i
//
// With PassThrough the weights also receive ∂L/∂ŵ unchanged (straight
// through), so that they keep training as float shadow weights that can
// be re-clustered between epochs; without it they receive 0 and only the
// centroids move.
type Centroid struct{ PassThrough bool }

func (c Centroid) Name() string {
	if c.PassThrough {
		return "centroid+ste"
	}
	return "centroid"
}

func (c Centroid) Backward(dx, dy []float32, cb *Codebook, dc []float64) {
	if len(dy) != len(cb.Index) || len(dx) != len(dy) || len(dc) != len(cb.Centroids) {
		panic("cluster: centroid gradient sizes do not match the codebook")
	}
	k, inner, groups := cb.K(), cb.Inner(), cb.Groups()
	for i, v := range cb.Index {
		g := 0
		if groups > 1 {
			g = (i / inner) % groups
		}
		dc[g*k+int(v)] += float64(dy[i])
	}
	if c.PassThrough {
		copy(dx, dy)
	} else {
		clear(dx)
	}
}
