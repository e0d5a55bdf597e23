package calibrate

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyqat/tinyqat/quant"
)

func TestMinMax(t *testing.T) {
	o := &MinMax{}
	o.Observe([]float32{1, -2, 3}, []int{3}, -1)
	o.Observe([]float32{0, 5}, []int{2}, -1)
	lo, hi, err := o.Range()
	if err != nil || lo[0] != -2 || hi[0] != 5 {
		t.Fatalf("got %v %v %v", lo, hi, err)
	}
}

func TestMinMaxPerChannel(t *testing.T) {
	// Shape (2, 3): axis 1 (last) and axis 0.
	x := []float32{1, -2, 3, 4, 5, -6}
	o := &MinMax{}
	o.Observe(x, []int{2, 3}, 1)
	lo, hi, _ := o.Range()
	if lo[0] != 1 || hi[0] != 4 || lo[1] != -2 || hi[1] != 5 || lo[2] != -6 || hi[2] != 3 {
		t.Fatalf("axis 1: %v %v", lo, hi)
	}
	o.Reset()
	o.Observe(x, []int{2, 3}, 0)
	lo, hi, _ = o.Range()
	if lo[0] != -2 || hi[0] != 3 || lo[1] != -6 || hi[1] != 5 {
		t.Fatalf("axis 0: %v %v", lo, hi)
	}
}

func TestEMA(t *testing.T) {
	o := &MinMax{Momentum: 0.01}
	o.Observe([]float32{0, 1}, []int{2}, -1)
	o.Observe([]float32{-1, 2}, []int{2}, -1)
	lo, hi, _ := o.Range()
	// lo = 0 + 0.01·(−1 − 0) = −0.01; hi = 1 + 0.01·(2 − 1) = 1.01.
	if math.Abs(float64(lo[0])+0.01) > 1e-7 || math.Abs(float64(hi[0])-1.01) > 1e-7 {
		t.Fatalf("got %v %v", lo, hi)
	}
}

func TestErrors(t *testing.T) {
	for _, kind := range Kinds {
		o, err := New(kind, 8, quant.Symmetric)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.Range(); !errors.Is(err, ErrNoSamples) {
			t.Errorf("%s: range before samples: %v", kind, err)
		}
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			if err := o.Observe([]float32{1, bad, 2}, []int{3}, -1); err == nil {
				t.Errorf("%s: %v accepted", kind, bad)
			}
		}
	}
	if _, err := New("bogus", 8, quant.Symmetric); err == nil {
		t.Error("unknown observer accepted")
	}
}

func TestPercentileIgnoresOutlier(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 100000)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1) // uniform on [−1, 1)
	}
	x[0] = 1000
	o := &Histogram{Percentile: 99.9}
	o.Observe(x[:50000], []int{50000}, -1)
	o.Observe(x[50000:], []int{50000}, -1) // the histogram grows across batches
	lo, hi, _ := o.Range()
	// The 99.9th percentile of U(−1, 1) is 0.998; bins are 2·1024/2048 = 1 wide
	// after growing to hold 1000, so allow a bin's width.
	if hi[0] > 1.5 || hi[0] < 0.5 || lo[0] > -0.5 || lo[0] < -1.5 {
		t.Fatalf("percentile range [%v, %v], want about [−1, 1]", lo[0], hi[0])
	}
	mm := &MinMax{}
	mm.Observe(x, []int{len(x)}, -1)
	_, mhi, _ := mm.Range()
	if mhi[0] != 1000 {
		t.Fatal("minmax should see the outlier")
	}
}

func TestHistogramGrowKeepsCounts(t *testing.T) {
	h := hist{counts: make([]float64, Bins), lo: math.Inf(1), hi: math.Inf(-1)}
	vals := []float64{0.1, -0.3, 0.7, 5, -20, 300}
	for _, v := range vals {
		h.add(v)
	}
	total := 0.0
	for _, c := range h.counts {
		total += c
	}
	if total != float64(len(vals)) || h.a < 300 {
		t.Fatalf("total %v, half-width %v", total, h.a)
	}
}

func TestMSEClipsHeavyTail(t *testing.T) {
	// A Laplace-like tail: at 4 bits the MSE-optimal range is well inside
	// the extremes (Banner et al. 2019, Fig. 1).
	rng := rand.New(rand.NewPCG(2, 2))
	x := make([]float32, 50000)
	for i := range x {
		x[i] = float32(rng.ExpFloat64() * float64(1-2*rng.IntN(2)))
	}
	o, _ := New("mse", 4, quant.Symmetric)
	o.Observe(x, []int{len(x)}, -1)
	lo, hi, _ := o.Range()
	mm := &MinMax{}
	mm.Observe(x, []int{len(x)}, -1)
	mlo, mhi, _ := mm.Range()
	if !(hi[0] < 0.7*mhi[0]) || !(lo[0] > 0.7*mlo[0]) {
		t.Fatalf("mse range [%v, %v] vs min/max [%v, %v]", lo[0], hi[0], mlo[0], mhi[0])
	}
	// And it really has lower error than min/max on the data.
	mse := func(rmin, rmax float32) float64 {
		s, z, _ := quant.ScaleZero(4, quant.Symmetric, rmin, rmax)
		p := &quant.Params{Bits: 4, Scale: []float32{s}, Zero: []int32{z}}
		out := make([]float32, len(x))
		quant.FakeQuantize(out, x, []int{len(x)}, p)
		var e float64
		for i := range x {
			d := float64(x[i] - out[i])
			e += d * d
		}
		return e
	}
	if a, b := mse(lo[0], hi[0]), mse(mlo[0], mhi[0]); !(a < b) {
		t.Fatalf("mse range error %v not below min/max error %v", a, b)
	}
}

// TestBatchMinMaxFused: the one-pass scan gives the two-pass reference's
// extremes bit for bit (±0 included: the first of equal extremes stays)
// and never calls data with a NaN or ±Inf finite, wherever it sits (first
// row, last element, alone in a channel).
func TestBatchMinMaxFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 4))
	negZero := float32(math.Copysign(0, -1))
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, tc := range []struct {
		shape []int
		axis  int
	}{{[]int{13, 300}, 1}, {[]int{300, 13}, 0}, {[]int{4, 3, 5, 5}, 1}, {[]int{64, 100}, -1}, {[]int{1, 7}, 1}} {
		n := 1
		for _, d := range tc.shape {
			n *= d
		}
		ch := numChannels(tc.shape, tc.axis)
		for trial := range 12 {
			x := make([]float32, n)
			for i := range x {
				switch rng.IntN(4) {
				case 0:
					x[i] = 0
				case 1:
					x[i] = negZero
				default:
					x[i] = float32(rng.NormFloat64())
					if trial%2 == 1 {
						x[i] = max(x[i], 0) // ReLU outputs: the minimum is a zero
					}
				}
			}
			wlo, whi, wok := batchMinMaxRef(x, tc.shape, tc.axis, ch)
			gmn, gmx := make([]float32, ch), make([]float32, ch)
			gok := batchMinMax(gmn, gmx, x, tc.shape, tc.axis)
			if !wok || !gok {
				t.Fatalf("%v: finite data called non-finite (ref %v, fused %v)", tc.shape, wok, gok)
			}
			for c := range wlo {
				if math.Float64bits(float64(gmn[c])) != math.Float64bits(wlo[c]) || math.Float64bits(float64(gmx[c])) != math.Float64bits(whi[c]) {
					t.Fatalf("%v channel %d: [%v, %v], reference [%v, %v]", tc.shape, c, gmn[c], gmx[c], wlo[c], whi[c])
				}
			}
			for _, at := range []int{0, n - 1, rng.IntN(n), min(n-1, ch)} {
				y := append([]float32(nil), x...)
				y[at] = bad[trial%len(bad)]
				if ok := batchMinMax(gmn, gmx, y, tc.shape, tc.axis); ok {
					t.Fatalf("%v: %v at %d called finite", tc.shape, y[at], at)
				}
			}
		}
	}
}

// minMaxRef is MinMax.Observe as it was before it reused its buffers:
// fresh batch extremes from batchMinMaxRef, merged into lo and hi.
type minMaxRef struct {
	momentum float64
	lo, hi   []float64
}

func (o *minMaxRef) observe(x []float32, shape []int, axis int) bool {
	ch := numChannels(shape, axis)
	blo, bhi, ok := batchMinMaxRef(x, shape, axis, ch)
	if !ok {
		return false
	}
	if o.lo == nil || len(o.lo) != ch {
		o.lo, o.hi = blo, bhi
		return true
	}
	for c := range blo {
		if o.momentum > 0 {
			// float64(…) as in MinMax.record: the product rounded, not fused.
			o.lo[c] += float64(o.momentum * (blo[c] - o.lo[c]))
			o.hi[c] += float64(o.momentum * (bhi[c] - o.hi[c]))
		} else {
			o.lo[c] = math.Min(o.lo[c], blo[c])
			o.hi[c] = math.Max(o.hi[c], bhi[c])
		}
	}
	return true
}

// TestMinMaxReusesBuffers: Observe, which reuses its buffers, keeps the
// running (and moving-average) range of the reference bit for bit over a
// sequence of batches that changes channel count and holds a NaN batch;
// BatchRange is the last batch's extremes, nil after an empty or
// non-finite batch and after Reset; once warmed up, Observe allocates
// nothing.
func TestMinMaxReusesBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 21))
	type batch struct {
		shape []int
		axis  int
		nan   bool
	}
	seq := []batch{{[]int{7, 300}, 1, false}, {[]int{7, 300}, 1, false}, {[]int{64, 100}, -1, false},
		{[]int{64, 100}, -1, true}, {[]int{64, 100}, -1, false}, {[]int{3, 4, 5}, 0, false}, {[]int{3, 4, 5}, 0, false},
		{[]int{7, 300}, 1, false}}
	for _, m := range []float64{0, 0.01} {
		o, ref := &MinMax{Momentum: m}, &minMaxRef{momentum: m}
		for i, b := range seq {
			n := 1
			for _, d := range b.shape {
				n *= d
			}
			x := make([]float32, n)
			for j := range x {
				x[j] = float32(rng.NormFloat64()) * float32(1+i)
			}
			if b.nan {
				x[n/2] = float32(math.NaN())
			}
			err := o.Observe(x, b.shape, b.axis)
			ok := ref.observe(x, b.shape, b.axis)
			if (err == nil) != ok {
				t.Fatalf("momentum %v batch %d: Observe error %v, reference finite %v", m, i, err, ok)
			}
			blo, bhi := o.BatchRange()
			if !ok {
				if blo != nil || bhi != nil {
					t.Fatalf("momentum %v batch %d: BatchRange %v %v after a failed batch", m, i, blo, bhi)
				}
				continue
			}
			wlo, whi, _ := batchMinMaxRef(x, b.shape, b.axis, numChannels(b.shape, b.axis))
			if len(blo) != len(wlo) {
				t.Fatalf("momentum %v batch %d: BatchRange of %d channels, want %d", m, i, len(blo), len(wlo))
			}
			for c := range wlo {
				if float64(blo[c]) != wlo[c] || float64(bhi[c]) != whi[c] {
					t.Fatalf("momentum %v batch %d channel %d: BatchRange [%v, %v], want [%v, %v]", m, i, c, blo[c], bhi[c], wlo[c], whi[c])
				}
			}
			for c := range ref.lo {
				if math.Float64bits(o.lo[c]) != math.Float64bits(ref.lo[c]) || math.Float64bits(o.hi[c]) != math.Float64bits(ref.hi[c]) {
					t.Fatalf("momentum %v batch %d channel %d: [%v, %v], reference [%v, %v]", m, i, c, o.lo[c], o.hi[c], ref.lo[c], ref.hi[c])
				}
			}
		}
		x, shape := make([]float32, 7*300), []int{7, 300}
		if allocs := testing.AllocsPerRun(5, func() { o.Observe(x, shape, 1) }); allocs != 0 {
			t.Errorf("momentum %v: Observe allocates %v times per batch", m, allocs)
		}
		if err := o.Observe(nil, []int{0}, -1); err != nil {
			t.Fatal(err)
		}
		if blo, _ := o.BatchRange(); blo != nil {
			t.Errorf("momentum %v: BatchRange %v after an empty batch", m, blo)
		}
		o.Observe(x, []int{7, 300}, 1)
		o.Reset()
		if blo, _ := o.BatchRange(); blo != nil {
			t.Errorf("momentum %v: BatchRange %v after Reset", m, blo)
		}
	}
}

// TestMinMaxRangeInto: RangeInto gives Range's values bit for bit, in the
// buffers given when they are large enough (then allocating nothing) and
// in new ones otherwise; Range's slices are the caller's (changing them
// changes nothing in the observer).
func TestMinMaxRangeInto(t *testing.T) {
	o := &MinMax{Momentum: 0.01}
	if _, _, err := o.RangeInto(make([]float32, 4), make([]float32, 4)); !errors.Is(err, ErrNoSamples) {
		t.Fatalf("RangeInto before samples: %v", err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	x, shape := make([]float32, 5*7), []int{5, 7}
	for step := range 3 {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if err := o.Observe(x, shape, 1); err != nil {
			t.Fatal(err)
		}
		wlo, whi, _ := o.Range()
		blo, bhi := make([]float32, 9), make([]float32, 9)
		for _, tc := range []struct {
			lo, hi []float32
			reuse  bool
		}{{blo, bhi, true}, {blo[:0], bhi[:2], true}, {blo[:3:3], bhi, false}, {nil, nil, false}} {
			lo, hi, err := o.RangeInto(tc.lo, tc.hi)
			if err != nil || len(lo) != 7 || len(hi) != 7 {
				t.Fatalf("step %d: RangeInto: %d, %d values, %v", step, len(lo), len(hi), err)
			}
			for c := range wlo {
				if math.Float32bits(lo[c]) != math.Float32bits(wlo[c]) || math.Float32bits(hi[c]) != math.Float32bits(whi[c]) {
					t.Fatalf("step %d channel %d: RangeInto [%v, %v], Range [%v, %v]", step, c, lo[c], hi[c], wlo[c], whi[c])
				}
			}
			if reused := &lo[0] == &blo[0]; reused != tc.reuse {
				t.Fatalf("step %d: buffer of capacity %d reused %v, want %v", step, cap(tc.lo), reused, tc.reuse)
			}
		}
		if n := testing.AllocsPerRun(3, func() { o.RangeInto(blo, bhi) }); n != 0 {
			t.Fatalf("RangeInto into large enough buffers allocates %v times", n)
		}
		wlo[0], whi[0] = 1e9, -1e9
		if lo, _, _ := o.Range(); lo[0] == 1e9 {
			t.Fatal("Range's slice aliases the observer")
		}
	}
}

// TestObserveExtremesIsObserve: MinMax.ObserveExtremes with a batch's
// extremes leaves the observer as Observe of the batch does (range and
// BatchRange, bit for bit), batch after batch, for the running min/max and
// the EMA, after a per-tensor Observe and alone.
func TestObserveExtremesIsObserve(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	for _, mom := range []float64{0, 0.01, 1} {
		a, b := &MinMax{Momentum: mom}, &MinMax{Momentum: mom}
		for step := range 6 {
			x := make([]float32, 1+rng.IntN(300))
			for i := range x {
				x[i] = float32(rng.NormFloat64()*3 + float64(step))
			}
			if err := a.Observe(x, []int{len(x)}, -1); err != nil {
				t.Fatal(err)
			}
			if step == 2 {
				// A batch observed in full by both.
				if err := b.Observe(x, []int{len(x)}, -1); err != nil {
					t.Fatal(err)
				}
			} else {
				b.ObserveExtremes(slices.Min(x), slices.Max(x))
			}
			alo, ahi, err := a.Range()
			if err != nil {
				t.Fatal(err)
			}
			blo, bhi, err := b.Range()
			if err != nil {
				t.Fatal(err)
			}
			balo, bahi := a.BatchRange()
			bblo, bbhi := b.BatchRange()
			if !slices.Equal(alo, blo) || !slices.Equal(ahi, bhi) || !slices.Equal(balo, bblo) || !slices.Equal(bahi, bbhi) {
				t.Fatalf("momentum %v step %d: Observe gives range %v..%v (batch %v..%v), ObserveExtremes %v..%v (batch %v..%v)", mom, step, alo, ahi, balo, bahi, blo, bhi, bblo, bbhi)
			}
		}
	}
}
