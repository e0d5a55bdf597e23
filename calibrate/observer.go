package calibrate

import (
	"errors"
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/quant"
)

// Kind names an observer of activation ranges.
type Kind string

const (
	KindMinMax     Kind = "minmax"     // running min/max
	KindEMA        Kind = "ema"        // moving-average min/max (momentum 0.01)
	KindPercentile Kind = "percentile" // 99.99th percentile of a histogram
	KindMSE        Kind = "mse"        // the range of least quantization error
)

// Kinds lists the observers that New knows.
var Kinds = []Kind{KindMinMax, KindEMA, KindPercentile, KindMSE}

// ErrNoSamples is returned by Range before anything was observed.
var ErrNoSamples = errors.New("calibrate: no samples observed")

// New returns an observer of the given kind. bits and scheme are used by
// the mse search (it minimises the error of that exact grid).
func New(kind Kind, bits int, scheme quant.Scheme) (fakequant.Observer, error) {
	switch kind {
	case KindMinMax, "":
		return &MinMax{}, nil
	case KindEMA:
		return &MinMax{Momentum: 0.01}, nil
	case KindPercentile:
		return &Histogram{Percentile: 99.99}, nil
	case KindMSE:
		quant.CheckBits(bits)
		return &Histogram{MSE: true, Bits: bits, Scheme: scheme}, nil
	}
	return nil, fmt.Errorf("calibrate: unknown observer %q (known: %v)", kind, Kinds)
}

// channels splits a tensor into per-channel runs: f(lo, hi, c) for each.
func channels(n int, shape []int, axis int, f func(lo, hi, c int)) int {
	if axis < 0 {
		f(0, n, 0)
		return 1
	}
	if axis >= len(shape) {
		panic(fmt.Sprintf("calibrate: axis %d out of range for shape %v", axis, shape))
	}
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	ch := shape[axis]
	for lo := 0; lo < n; lo += inner {
		f(lo, lo+inner, (lo/inner)%ch)
	}
	return ch
}

func numChannels(shape []int, axis int) int {
	if axis < 0 {
		return 1
	}
	return shape[axis]
}

func checkFinite(x []float32) error {
	if i := quant.FirstNonFinite(x); i >= 0 {
		return fmt.Errorf("calibrate: value %v at index %d: NaN or Inf in the data", x[i], i)
	}
	return nil
}

// MinMax records the minimum and maximum, over everything seen or as an
// exponential moving average of batch extremes when Momentum > 0.
//
// bmn and bmx hold the extremes of the last batch observed (reused from
// batch to batch: observing allocates nothing once the channel count is
// known); batch reports whether they are those of the last Observe.
type MinMax struct {
	Momentum float64 // 0: running min/max; c in (0,1]: EMA
	lo, hi   []float64
	seen     bool

	bmn, bmx []float32
	batch    bool
}

func (o *MinMax) Observe(x []float32, shape []int, axis int) error {
	o.batch = false
	if len(x) == 0 {
		return nil
	}
	ch := numChannels(shape, axis)
	if cap(o.bmn) < ch {
		o.bmn, o.bmx = make([]float32, ch), make([]float32, ch)
	}
	bmn, bmx := o.bmn[:ch], o.bmx[:ch]
	o.bmn, o.bmx = bmn, bmx
	if !batchMinMax(bmn, bmx, x, shape, axis) {
		if err := checkFinite(x); err != nil {
			return err
		}
	}
	o.record(bmn, bmx)
	return nil
}

// ObserveExtremes is Observe of a per-tensor batch (axis −1) known by its
// extremes lo and hi, both finite, as Observe finds them: a producer that
// measured them while writing the tensor saves the observer's pass
// (fakequant.ExtremesObserver).
func (o *MinMax) ObserveExtremes(lo, hi float32) {
	if cap(o.bmn) < 1 {
		o.bmn, o.bmx = make([]float32, 1), make([]float32, 1)
	}
	o.bmn, o.bmx = o.bmn[:1], o.bmx[:1]
	o.bmn[0], o.bmx[0] = lo, hi
	o.record(o.bmn, o.bmx)
}

var _ fakequant.ExtremesObserver = (*MinMax)(nil)

// record makes bmn and bmx the last batch's extremes and updates the
// range with them.
func (o *MinMax) record(bmn, bmx []float32) {
	ch := len(bmn)
	o.batch = true
	if !o.seen || len(o.lo) != ch {
		if cap(o.lo) < ch {
			o.lo, o.hi = make([]float64, ch), make([]float64, ch)
		}
		o.lo, o.hi, o.seen = o.lo[:ch], o.hi[:ch], true
		for c := range bmn {
			o.lo[c], o.hi[c] = float64(bmn[c]), float64(bmx[c])
		}
		return
	}
	for c := range bmn {
		blo, bhi := float64(bmn[c]), float64(bmx[c])
		if o.Momentum > 0 {
			o.lo[c] += float64(o.Momentum * (blo - o.lo[c]))
			o.hi[c] += float64(o.Momentum * (bhi - o.hi[c]))
		} else {
			o.lo[c] = math.Min(o.lo[c], blo)
			o.hi[c] = math.Max(o.hi[c], bhi)
		}
	}
}

var _ fakequant.BatchRanger = (*MinMax)(nil)

// BatchRange returns the minimum and maximum of each channel of the batch
// the last Observe recorded, or nil, nil if the last Observe recorded
// nothing (an empty or non-finite batch) or none was made since Reset.
// The slices are the observer's: they are valid until the next Observe
// and must not be modified. fakequant uses them to tell that nothing of
// the tensor it just observed is clipped (fakequant.BatchRanger).
func (o *MinMax) BatchRange() (lo, hi []float32) {
	if !o.batch {
		return nil, nil
	}
	return o.bmn, o.bmx
}

// batchMinMax writes the minimum and maximum of each channel of x into mn
// and mx (len: the channel count) and reports whether x is free of NaN
// and ±Inf, in one pass on fakequant's vector kernels (MinMaxLanes,
// MinMaxRun): the scan that finds the extremes also reports NaNs, and an
// Inf becomes an extreme. The extremes are those of batchMinMaxRef bit
// for bit whenever x is finite; otherwise the caller reports the error.
// It allocates nothing.
func batchMinMax(mn, mx, x []float32, shape []int, axis int) (finite bool) {
	ch := len(mn)
	nan := false
	if axis >= 0 && axis == len(shape)-1 {
		// Channels on the last axis (a Linear weight): walk rows.
		if quant.FirstNonFinite(x[:ch]) >= 0 {
			return false
		}
		copy(mn, x[:ch])
		copy(mx, x[:ch])
		nan = fakequant.MinMaxLanes(mn, mx, x[ch:])
	} else {
		inf := float32(math.Inf(1))
		for c := range mn {
			mn[c], mx[c] = inf, -inf
		}
		channels(len(x), shape, axis, func(lo, hi, c int) {
			var bad bool
			mn[c], mx[c], bad = fakequant.MinMaxRun(x[lo:hi], mn[c], mx[c])
			nan = nan || bad
		})
	}
	if nan {
		return false
	}
	for c := range mn {
		if math.IsInf(float64(mn[c]), 0) || math.IsInf(float64(mx[c]), 0) {
			return false
		}
	}
	return true
}

// batchMinMaxRef is batchMinMax's reference: the finiteness check and the
// extremes in separate passes (the observer's loops before the fused scan).
func batchMinMaxRef(x []float32, shape []int, axis, ch int) (blo, bhi []float64, finite bool) {
	if quant.FirstNonFinite(x) >= 0 {
		return nil, nil, false
	}
	blo, bhi = make([]float64, ch), make([]float64, ch)
	for c := range blo {
		blo[c], bhi[c] = math.Inf(1), math.Inf(-1)
	}
	if axis >= 0 && axis == len(shape)-1 {
		mn, mx := make([]float32, ch), make([]float32, ch)
		copy(mn, x[:ch])
		copy(mx, x[:ch])
		for start := ch; start < len(x); start += ch {
			for c, v := range x[start : start+ch] {
				if v < mn[c] {
					mn[c] = v
				}
				if v > mx[c] {
					mx[c] = v
				}
			}
		}
		for c := range blo {
			blo[c], bhi[c] = float64(mn[c]), float64(mx[c])
		}
	} else {
		channels(len(x), shape, axis, func(lo, hi, c int) {
			mn, mx := float32(blo[c]), float32(bhi[c])
			for _, v := range x[lo:hi] {
				if v < mn {
					mn = v
				}
				if v > mx {
					mx = v
				}
			}
			blo[c], bhi[c] = float64(mn), float64(mx)
		})
	}
	return blo, bhi, true
}

func (o *MinMax) Range() ([]float32, []float32, error) { return o.RangeInto(nil, nil) }

var _ fakequant.RangeReuser = (*MinMax)(nil)

// RangeInto is Range written into lo and hi when their capacity suffices
// (new slices otherwise): fakequant's states reuse their buffers from
// step to step.
func (o *MinMax) RangeInto(lo, hi []float32) ([]float32, []float32, error) {
	if !o.seen {
		return nil, nil, ErrNoSamples
	}
	return toF32Into(lo, o.lo), toF32Into(hi, o.hi), nil
}

func (o *MinMax) Reset() { o.lo, o.hi, o.seen, o.batch = nil, nil, false, false }

func toF32(v []float64) []float32 { return toF32Into(nil, v) }

// toF32Into converts v into dst[:len(v)], or a new slice if dst is short.
func toF32Into(dst []float32, v []float64) []float32 {
	if cap(dst) < len(v) {
		dst = make([]float32, len(v))
	}
	dst = dst[:len(v)]
	for i, x := range v {
		dst[i] = float32(x)
	}
	return dst
}
