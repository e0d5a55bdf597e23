package calibrate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Weight clustering: 1-D k-means of a tensor's weights into K = 2^bits
// centroids, the codebook of non-linear quantization (Han et al., Deep
// Compression, 2016, §3.1). It minimises the within-cluster sum of squares
//
//	SSE = Σ_i (w_i − c_{a(i)})²
//
// In one dimension an optimal clustering is a partition of the sorted
// weights into contiguous runs, which makes two methods practical:
//
//	exact   dynamic programming over the sorted distinct values (Wang and
//	        Song 2011, Ckmeans.1d.dp), D[m][i] = min_j D[m−1][j−1] + SSE(j..i),
//	        with the divide-and-conquer speed-up that the cost's monotone
//	        arg-min allows (Grønlund et al. 2017, "Fast exact k-means,
//	        k-medians and Bregman divergence clustering in 1D"):
//	        O(K·n log n) time and O(K·n) memory for n distinct values
//	lloyd   Lloyd's iteration on the sorted values: with sorted centroids
//	        the clusters are the runs between consecutive midpoints, found
//	        by binary search, and their means come from prefix sums, so an
//	        iteration costs O(K log n) after an O(n log n) sort
//
// Lloyd starts from one of three initialisations (Deep Compression §3.1
// found linear best for accuracy: it keeps the rare large weights):
//
//	linear    c_k = min + (max − min)·k/(K−1)
//	density   c_k = the ((k + ½)/K)-quantile of the weights (equal mass per
//	          centroid: dense near zero, few in the tails)
//	kmeans++  Arthur and Vassilvitskii 2007: the first centroid a weight
//	          chosen uniformly, each next one a weight chosen with
//	          probability ∝ its squared distance to the nearest centroid
//	          (seeded)
//
// An empty cluster is re-seeded at the midpoint split of the cluster with
// the largest SSE. With d < K distinct weights the centroids are the d
// values themselves (SSE 0), and the unused K − d table entries repeat the
// largest of them.

// Inits lists the initialisations of Lloyd's iteration.
var Inits = []string{"linear", "density", "kmeans++"}

// KMeans configures weight clustering. Apart from Bits, the zero value
// means Lloyd's iteration from a linear initialisation.
type KMeans struct {
	Bits int    // index bits, 1..8 (2..256 centroids)
	Init string // "linear" (default), "density" or "kmeans++"
	// Exact uses the optimal dynamic programme instead of Lloyd.
	Exact bool
	// Seed drives kmeans++.
	Seed uint64
	// MaxIter bounds Lloyd's iterations; 0 means 300.
	MaxIter int
}

// maxDPCells bounds the exact method's back-pointer table (4 bytes a cell,
// 128 MiB): lenet300's fc1 (235,200 weights) fits per tensor up to 7 bits.
const maxDPCells = 1 << 25

// Validate reports settings that cannot work: Bits outside [1, 8], an
// unknown initialisation, negative iterations.
func (km KMeans) Validate() error {
	if km.Bits < 1 || km.Bits > 8 {
		return fmt.Errorf("calibrate: codebook bits must be in [1, 8], got %d", km.Bits)
	}
	return km.checkOpts()
}

func (km KMeans) checkOpts() error {
	if km.Init != "" && !slices.Contains(Inits, km.Init) {
		return fmt.Errorf("calibrate: unknown k-means initialisation %q (known: %v)", km.Init, Inits)
	}
	if km.MaxIter < 0 {
		return fmt.Errorf("calibrate: k-means iterations must be ≥ 0, got %d", km.MaxIter)
	}
	return nil
}

// Centroids clusters x (finite values) into k centroids, returned in
// ascending order; Bits is not used.
func (km KMeans) Centroids(x []float32, k int) ([]float32, error) {
	return km.CentroidsContext(context.Background(), x, k)
}

// CentroidsContext is Centroids stopping with ctx.Err() when ctx is
// cancelled: it checks between Lloyd's iterations and between the exact
// method's rows.
func (km KMeans) CentroidsContext(ctx context.Context, x []float32, k int) ([]float32, error) {
	if k < 1 || k > 256 {
		return nil, fmt.Errorf("calibrate: k-means with %d clusters, want 1..256", k)
	}
	if err := km.checkOpts(); err != nil {
		return nil, err
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("calibrate: weight %d is %v", i, v)
		}
	}
	if len(x) == 0 {
		return nil, fmt.Errorf("calibrate: k-means of no values")
	}
	return km.centroids(ctx, x, k)
}

func (km KMeans) centroids(ctx context.Context, x []float32, k int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := distinct(x)
	out := make([]float32, k)
	if len(d.v) <= k {
		for i := range out {
			out[i] = float32(d.v[min(i, len(d.v)-1)])
		}
		return out, nil
	}
	var c []float64
	var err error
	if km.Exact {
		if len(d.v)*k > maxDPCells {
			return nil, fmt.Errorf("calibrate: exact k-means of %d distinct values into %d clusters needs %d MiB; use Lloyd or per-channel clustering",
				len(d.v), k, len(d.v)*k*4>>20)
		}
		c, err = d.exact(ctx, k)
	} else {
		c, err = d.lloyd(ctx, d.init(k, km.Init, km.Seed), max(1, cmpOr(km.MaxIter, 300)))
	}
	if err != nil {
		return nil, err
	}
	for i, v := range c {
		out[i] = float32(v)
	}
	slices.Sort(out)
	return out, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Nearest returns the index of the centroid closest to v (the lower one on
// a tie); c must be ascending.
func Nearest(c []float32, v float32) int {
	j := sort.Search(len(c), func(i int) bool { return c[i] >= v })
	switch {
	case j == 0:
		return 0
	case j == len(c):
		return len(c) - 1
	case v-c[j-1] <= c[j]-v:
		return j - 1
	}
	return j
}

// SSE is Σ (x_i − nearest centroid)², with c ascending.
func SSE(x, c []float32) float64 {
	var s float64
	for _, v := range x {
		d := float64(v) - float64(c[Nearest(c, v)])
		s += float64(d * d)
	}
	return s
}

// weighted holds the sorted distinct values with their counts and the
// prefix sums s0 (counts), s1 (Σ v), s2 (Σ v²), each of length n+1.
type weighted struct {
	v          []float64
	s0, s1, s2 []float64
}

func distinct(x []float32) *weighted {
	s := slices.Clone(x)
	slices.Sort(s)
	d := &weighted{s0: []float64{0}, s1: []float64{0}, s2: []float64{0}}
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		v, c := float64(s[i]), float64(j-i)
		d.v = append(d.v, v)
		n := len(d.s0) - 1
		d.s0 = append(d.s0, d.s0[n]+c)
		d.s1 = append(d.s1, d.s1[n]+float64(c*v))
		d.s2 = append(d.s2, d.s2[n]+float64(c*v*v))
		i = j
	}
	return d
}

// cost is the SSE of the run of distinct values [j, i] around their mean.
func (d *weighted) cost(j, i int) float64 {
	n := d.s0[i+1] - d.s0[j]
	s := d.s1[i+1] - d.s1[j]
	return max(0, d.s2[i+1]-d.s2[j]-s*s/n)
}

func (d *weighted) mean(j, i int) float64 {
	return (d.s1[i+1] - d.s1[j]) / (d.s0[i+1] - d.s0[j])
}

// exact returns the centroids of an optimal k-clustering (k < len(d.v)).
func (d *weighted) exact(ctx context.Context, k int) ([]float64, error) {
	n := len(d.v)
	prev, cur := make([]float64, n), make([]float64, n)
	for i := range prev {
		prev[i] = d.cost(0, i)
	}
	// from[m][i]: the first value of the last run of the best m+1 runs over [0, i].
	from := make([][]int32, k)
	from[0] = make([]int32, n)
	for m := 1; m < k; m++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		from[m] = make([]int32, n)
		var solve func(lo, hi, optLo, optHi int)
		solve = func(lo, hi, optLo, optHi int) {
			if lo > hi {
				return
			}
			mid := (lo + hi) / 2
			best, bj := math.Inf(1), max(optLo, m)
			for j := max(optLo, m); j <= min(mid, optHi); j++ {
				if v := prev[j-1] + d.cost(j, mid); v < best {
					best, bj = v, j
				}
			}
			cur[mid], from[m][mid] = best, int32(bj)
			solve(lo, mid-1, optLo, bj)
			solve(mid+1, hi, bj, optHi)
		}
		for i := 0; i < m; i++ {
			cur[i] = math.Inf(1)
		}
		solve(m, n-1, m, n-1)
		prev, cur = cur, prev
	}
	c := make([]float64, k)
	i := n - 1
	for m := k - 1; m >= 0; m-- {
		j := int(from[m][i])
		c[m] = d.mean(j, i)
		i = j - 1
	}
	return c, nil
}

// init returns k ascending starting centroids.
func (d *weighted) init(k int, how string, seed uint64) []float64 {
	n := len(d.v)
	c := make([]float64, k)
	switch how {
	case "density":
		total := d.s0[n]
		for m := range c {
			q := (float64(m) + 0.5) / float64(k) * total
			j := sort.SearchFloat64s(d.s0[1:], q) // first value whose CDF reaches q
			c[m] = d.v[min(j, n-1)]
		}
	case "kmeans++":
		rng := rand.New(rand.NewPCG(seed, 0x6b6d65616e73))
		// pick returns the value at which the cumulative Σ count·wt passes r.
		pick := func(wt func(i int) float64, r float64) float64 {
			for j := 0; j < n-1; j++ {
				if r -= (d.s0[j+1] - d.s0[j]) * wt(j); r < 0 {
					return d.v[j]
				}
			}
			return d.v[n-1]
		}
		c[0] = pick(func(int) float64 { return 1 }, rng.Float64()*d.s0[n])
		dist := make([]float64, n)
		for i := range dist {
			dist[i] = math.Inf(1)
		}
		for m := 1; m < k; m++ {
			var tot float64
			for i, v := range d.v {
				e := v - c[m-1]
				dist[i] = min(dist[i], e*e)
				tot += float64((d.s0[i+1] - d.s0[i]) * dist[i])
			}
			if tot == 0 {
				c[m] = c[m-1] // every value is a centroid already
				continue
			}
			c[m] = pick(func(i int) float64 { return dist[i] }, rng.Float64()*tot)
		}
	default: // linear
		lo, hi := d.v[0], d.v[n-1]
		for m := range c {
			c[m] = lo + (hi-lo)*float64(m)/float64(max(1, k-1))
		}
	}
	slices.Sort(c)
	return c
}

// lloyd iterates from the ascending centroids c until the runs stop
// changing or maxIter iterations.
func (d *weighted) lloyd(ctx context.Context, c []float64, maxIter int) ([]float64, error) {
	n, k := len(d.v), len(c)
	start := make([]int, k+1) // run m is [start[m], start[m+1])
	prevStart := make([]int, k+1)
	for it := 0; it < maxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start[0], start[k] = 0, n
		for m := 1; m < k; m++ {
			mid := (c[m-1] + c[m]) / 2
			// values ≤ mid go to the lower centroid (ties to the lower one)
			start[m] = sort.Search(n, func(i int) bool { return d.v[i] > mid })
		}
		empty := false
		for m := 0; m < k; m++ {
			if start[m+1] > start[m] {
				c[m] = d.mean(start[m], start[m+1]-1)
			} else {
				empty = true
			}
		}
		if empty {
			d.reseed(c, start)
		} else if slices.Equal(start, prevStart) {
			break
		}
		copy(prevStart, start)
	}
	return c, nil
}

// reseed moves each empty cluster's centroid into the cluster of largest
// SSE, splitting that run at its mean: the two centroids go to the means of
// its two halves. start gives the runs of the last assignment.
func (d *weighted) reseed(c []float64, start []int) {
	type run struct {
		lo, hi, owner int // values [lo, hi], centroid index
		cost          float64
	}
	var runs []run
	for m := range c {
		if start[m+1]-start[m] >= 2 {
			runs = append(runs, run{start[m], start[m+1] - 1, m, d.cost(start[m], start[m+1]-1)})
		}
	}
	for m := range c {
		if start[m+1] > start[m] {
			continue
		}
		w := -1
		for r := range runs {
			if runs[r].hi > runs[r].lo && runs[r].cost > 0 && (w < 0 || runs[r].cost > runs[w].cost) {
				w = r
			}
		}
		if w < 0 {
			break // every run is one value: nothing to split
		}
		r := runs[w]
		mu := d.mean(r.lo, r.hi)
		s := sort.Search(r.hi-r.lo+1, func(i int) bool { return d.v[r.lo+i] > mu }) + r.lo
		s = min(max(s, r.lo+1), r.hi)
		c[r.owner], c[m] = d.mean(r.lo, s-1), d.mean(s, r.hi)
		runs[w] = run{r.lo, s - 1, r.owner, d.cost(r.lo, s-1)}
		runs = append(runs, run{s, r.hi, m, d.cost(s, r.hi)})
	}
	slices.Sort(c)
}
