package calibrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func f32s(v ...float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func TestKMeansHandWorked(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float32
		k    int
		want []float32 // worked by hand (see each case)
		sse  float64
	}{
		// Two obvious groups: means 2 and 11, SSE 1+0+1 twice = 4.
		{"two groups", f32s(1, 2, 3, 10, 11, 12), 2, f32s(2, 11), 4},
		// Linear init 0, 5, 10 leaves 5 empty; the re-seed splits {0, .1, .2}
		// at its mean .1 into {0, .1} (mean .05) and {.2}: SSE 2·.05² = .005,
		// which is also the optimum (splitting {.1, .2} instead ties).
		{"empty cluster", f32s(0, 0.1, 0.2, 10), 3, f32s(0.05, 0.2, 10), 0.005},
		// Two distinct values, four clusters: the values themselves, the
		// unused entries repeat the largest, SSE 0.
		{"fewer distinct", f32s(5, 5, 7), 4, f32s(5, 7, 7, 7), 0},
		// One cluster: the mean 2, SSE 1+1 = 2.
		{"one cluster", f32s(1, 2, 3), 1, f32s(2), 2},
	} {
		for _, exact := range []bool{false, true} {
			c, err := KMeans{Exact: exact}.Centroids(tc.x, tc.k)
			if err != nil {
				t.Fatalf("%s exact=%v: %v", tc.name, exact, err)
			}
			if got := SSE(tc.x, c); math.Abs(got-tc.sse) > 1e-6 {
				t.Errorf("%s exact=%v: SSE %v, want %v (centroids %v)", tc.name, exact, got, tc.sse, c)
			}
			if !exact || tc.name != "empty cluster" { // the exact method may take the tied split
				for i := range c {
					if math.Abs(float64(c[i]-tc.want[i])) > 1e-6 {
						t.Errorf("%s exact=%v: centroids %v, want %v", tc.name, exact, c, tc.want)
						break
					}
				}
			}
		}
	}
}

func TestKMeansInits(t *testing.T) {
	x := make([]float32, 100)
	for i := range x {
		x[i] = float32(i)
	}
	d := distinct(x)
	// density: the first value whose count reaches (m+½)/4·100 = 12.5,
	// 37.5, 62.5, 87.5, i.e. 12, 37, 62, 87 (value i has cumulative count i+1).
	if got := d.init(4, "density", 0); !slices.Equal(got, []float64{12, 37, 62, 87}) {
		t.Errorf("density init %v", got)
	}
	// linear: 0 + 99·m/3.
	if got := d.init(4, "linear", 0); !slices.Equal(got, []float64{0, 33, 66, 99}) {
		t.Errorf("linear init %v", got)
	}
	a, b := d.init(8, "kmeans++", 7), d.init(8, "kmeans++", 7)
	if !slices.Equal(a, b) {
		t.Errorf("kmeans++ is not deterministic for a seed: %v vs %v", a, b)
	}
	for _, v := range a {
		if !slices.Contains(d.v, v) {
			t.Errorf("kmeans++ picked %v, not a data value", v)
		}
	}
}

// bruteSSE is the optimal SSE of k contiguous runs of the sorted x, by
// trying every split (the definition of 1-D k-means).
func bruteSSE(x []float64, k int) float64 {
	if k == 1 || len(x) <= 1 {
		var m, s float64
		for _, v := range x {
			m += v
		}
		m /= float64(len(x))
		for _, v := range x {
			s += (v - m) * (v - m)
		}
		return s
	}
	best := math.Inf(1)
	for i := 1; i <= len(x)-k+1; i++ {
		best = min(best, bruteSSE(x[:i], 1)+bruteSSE(x[i:], k-1))
	}
	return best
}

func TestKMeansExactIsOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 2 + rng.IntN(9)
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		s := slices.Clone(x)
		slices.Sort(s)
		sx := make([]float64, n)
		for i, v := range s {
			sx[i] = float64(v)
		}
		for k := 1; k < n; k++ {
			c, err := KMeans{Exact: true}.Centroids(x, k)
			if err != nil {
				t.Fatal(err)
			}
			// float32 centroids: the tolerance is their rounding, ~1e-7 relative.
			if got, want := SSE(x, c), bruteSSE(sx, k); math.Abs(got-want) > 1e-5*(1+want) {
				t.Fatalf("n=%d k=%d: DP SSE %v, brute force %v", n, k, got, want)
			}
		}
	}
}

func TestKMeansExactBeatsLloyd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 2000)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.05) // weight-like
		if i%50 == 0 {
			x[i] *= 8 // a few large weights, as in trained layers
		}
	}
	strict := 0
	for _, k := range []int{2, 4, 8, 16, 64} {
		dp, err := KMeans{Exact: true}.Centroids(x, k)
		if err != nil {
			t.Fatal(err)
		}
		best := SSE(x, dp)
		for _, init := range Inits {
			c, err := KMeans{Init: init, Seed: 1}.Centroids(x, k)
			if err != nil {
				t.Fatal(err)
			}
			l := SSE(x, c)
			if best > l*(1+1e-6) {
				t.Errorf("k=%d %s: DP SSE %v > Lloyd %v", k, init, best, l)
			}
			if best < l*(1-1e-6) {
				strict++
			}
		}
	}
	t.Logf("DP strictly better than Lloyd in %d of 15 cases", strict)
}

func TestKMeansBadInput(t *testing.T) {
	w := f32s(1, 2, 3, 4)
	for _, tc := range []struct {
		name string
		km   KMeans
		w    []float32
	}{
		{"bits 0", KMeans{Bits: 0}, w},
		{"bits 9", KMeans{Bits: 9}, w},
		{"NaN", KMeans{Bits: 2}, f32s(1, math.NaN(), 3, 4)},
		{"Inf", KMeans{Bits: 2}, f32s(1, math.Inf(1), 3, 4)},
		{"init", KMeans{Bits: 2, Init: "random"}, w},
	} {
		err := tc.km.Validate()
		if err == nil {
			_, err = tc.km.Centroids(tc.w, 1<<tc.km.Bits)
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// BenchmarkKMeans clusters lenet300's fc1 size (235,200 weight-like
// values) per tensor: Lloyd against the exact programme.
func BenchmarkKMeans(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	w := make([]float32, 784*300)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	for _, bits := range []int{2, 4, 6} {
		for _, exact := range []bool{false, true} {
			name := map[bool]string{false: "Lloyd", true: "Exact"}[exact]
			b.Run(fmt.Sprintf("%s%dbit", name, bits), func(b *testing.B) {
				for b.Loop() {
					if _, err := (KMeans{Bits: bits, Exact: exact}).Centroids(w, 1<<bits); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// cancelAfter is a context whose Err turns to Canceled after n calls: a
// deterministic stand-in for a cancellation that arrives mid-clustering.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestKMeansCancel: clustering stops with the context's error inside its
// iterations (Lloyd's, the exact method's rows), not only between
// tensors: k-means of a large tensor used to ignore a cancelled run for
// seconds.
func TestKMeansCancel(t *testing.T) {
	w := make([]float32, 4096)
	for i := range w {
		w[i] = float32(math.Sin(float64(i) * 0.37)) // 4096 distinct values
	}
	for _, km := range []KMeans{{Bits: 4}, {Bits: 4, Exact: true}, {Bits: 3, Init: "kmeans++"}} {
		// 2 checks pass (entry, first iteration or row), the third cancels.
		ctx := &cancelAfter{Context: context.Background(), n: 2}
		if _, err := km.CentroidsContext(ctx, w, 1<<km.Bits); !errors.Is(err, context.Canceled) {
			t.Errorf("%+v: got %v, want context.Canceled", km, err)
		}
		if _, err := km.CentroidsContext(context.Background(), w, 1<<km.Bits); err != nil {
			t.Errorf("%+v uncancelled: %v", km, err)
		}
	}
}
