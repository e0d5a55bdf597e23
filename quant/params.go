package quant

import (
	"errors"
	"fmt"
	"math"
)

// Scheme is the kind of integer grid.
type Scheme int

const (
	// Symmetric is signed storage with Z = 0 and the restricted range
	// [−(2^(b−1)−1), 2^(b−1)−1].
	Symmetric Scheme = iota
	// Affine is unsigned storage [0, 2^b−1] with a zero point.
	Affine
)

func (s Scheme) String() string {
	if s == Affine {
		return "affine"
	}
	return "symmetric"
}

// MinScale is the scale given to a degenerate range: float32's machine
// epsilon, as PyTorch's observers use.
const MinScale = 1.1920929e-07

// MinBits and MaxBits bound the supported bit-widths; 32 is also accepted
// for int32 biases.
const (
	MinBits = 2
	MaxBits = 16
)

// Params are the quantization parameters of one tensor, per tensor
// (len(Scale) == 1) or per channel along Axis.
type Params struct {
	Bits   int
	Scheme Scheme
	Axis   int // channel axis; ignored when per tensor
	Scale  []float32
	Zero   []int32
}

// Clone returns a deep copy of p (nil for nil).
func (p *Params) Clone() *Params {
	if p == nil {
		return nil
	}
	q := *p
	q.Scale = append([]float32(nil), p.Scale...)
	q.Zero = append([]int32(nil), p.Zero...)
	return &q
}

// QRange returns the integer range of the scheme and bit-width.
func QRange(bits int, s Scheme) (qmin, qmax int32) {
	if s == Affine {
		return 0, int32(int64(1)<<bits - 1)
	}
	m := int32(int64(1)<<(bits-1) - 1)
	return -m, m
}

// QRange is the integer range of p.
func (p *Params) QRange() (qmin, qmax int32) { return QRange(p.Bits, p.Scheme) }

// PerChannel reports whether p has one scale per channel.
func (p *Params) PerChannel() bool { return len(p.Scale) > 1 }

// Validate checks p: supported bits, positive finite scales, zero points in range.
func (p *Params) Validate() error {
	if (p.Bits < MinBits || p.Bits > MaxBits) && p.Bits != 32 {
		return fmt.Errorf("quant: bits must be in [%d, %d] (or 32 for biases), got %d", MinBits, MaxBits, p.Bits)
	}
	if p.Bits == 32 && p.Scheme != Symmetric {
		return errors.New("quant: 32-bit quantization must be symmetric")
	}
	if len(p.Scale) == 0 || len(p.Scale) != len(p.Zero) {
		return fmt.Errorf("quant: %d scales and %d zero points", len(p.Scale), len(p.Zero))
	}
	qmin, qmax := p.QRange()
	for c, s := range p.Scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("quant: scale %d is %v, want positive and finite", c, s)
		}
		if z := p.Zero[c]; z < qmin || z > qmax || (p.Scheme == Symmetric && z != 0) {
			return fmt.Errorf("quant: zero point %d is %d, outside [%d, %d] for %v", c, z, qmin, qmax, p.Scheme)
		}
	}
	return nil
}

// CheckBits panics unless bits is supported; bit-widths come from code or
// from validated flags, so a bad one is a programmer error.
func CheckBits(bits int) {
	if bits < MinBits || bits > MaxBits {
		panic(fmt.Sprintf("quant: bits must be in [%d, %d], got %d", MinBits, MaxBits, bits))
	}
}

// ScaleZero computes S and Z for the range [rmin, rmax] (widened to include
// 0). It returns an error for NaN or infinite bounds or rmin > rmax.
func ScaleZero(bits int, s Scheme, rmin, rmax float32) (float32, int32, error) {
	CheckBits(bits)
	if !IsFinite(rmin) || !IsFinite(rmax) {
		return 0, 0, fmt.Errorf("quant: range [%v, %v] is not finite", rmin, rmax)
	}
	if rmin > rmax {
		return 0, 0, fmt.Errorf("quant: range [%v, %v] is reversed", rmin, rmax)
	}
	lo, hi := float64(min(rmin, 0)), float64(max(rmax, 0))
	qmin, qmax := QRange(bits, s)
	var scale float64
	var zero int32
	if s == Symmetric {
		scale = math.Max(-lo, hi) / float64(qmax)
	} else {
		scale = (hi - lo) / float64(qmax-qmin)
	}
	sc := float32(scale)
	if !(sc >= MinScale) {
		sc = MinScale
	}
	if s == Affine {
		z := math.RoundToEven(-lo / float64(sc))
		zero = int32(math.Max(float64(qmin), math.Min(float64(qmax), z)))
	}
	return sc, zero, nil
}

// FromRanges builds Params from per-channel (or a single) range.
func FromRanges(bits int, s Scheme, axis int, rmin, rmax []float32) (*Params, error) {
	if len(rmin) != len(rmax) || len(rmin) == 0 {
		panic(fmt.Sprintf("quant: %d minima and %d maxima", len(rmin), len(rmax)))
	}
	p := &Params{Bits: bits, Scheme: s, Axis: axis, Scale: make([]float32, len(rmin)), Zero: make([]int32, len(rmin))}
	for c := range rmin {
		var err error
		if p.Scale[c], p.Zero[c], err = ScaleZero(bits, s, rmin[c], rmax[c]); err != nil {
			return nil, fmt.Errorf("channel %d: %w", c, err)
		}
	}
	return p, nil
}

// QuantizeValue maps one real value to its integer with scale s and zero z.
func QuantizeValue(r, s float32, z, qmin, qmax int32) int32 {
	if int64(qmax)-int64(qmin) <= 1<<24 {
		return RoundClamp(r/s, qmin-z, qmax-z) + z
	}
	v := math.RoundToEven(float64(r/s)) + float64(z)
	// Compare as float64 (exact for every int32) before converting: an
	// out-of-range or NaN float to int conversion is implementation-defined.
	if !(v >= float64(qmin)) {
		return qmin
	}
	if v > float64(qmax) {
		return qmax
	}
	return int32(v)
}

// Layout gives the channel of each element of a per-channel tensor.
type Layout struct {
	Inner    int // Π of the dimensions after the axis
	Channels int // size of the axis (1 when per tensor)
}

// LayoutOf returns the layout of a tensor of the given shape for p.
func LayoutOf(p *Params, shape []int) Layout {
	if !p.PerChannel() {
		return Layout{Inner: 1, Channels: 1}
	}
	if p.Axis < 0 || p.Axis >= len(shape) || shape[p.Axis] != len(p.Scale) {
		panic(fmt.Sprintf("quant: %d channels on axis %d do not fit shape %v", len(p.Scale), p.Axis, shape))
	}
	in := 1
	for _, d := range shape[p.Axis+1:] {
		in *= d
	}
	return Layout{Inner: in, Channels: shape[p.Axis]}
}

// Channel is the channel of flat index i.
func (l Layout) Channel(i int) int {
	if l.Channels == 1 {
		return 0
	}
	return (i / l.Inner) % l.Channels
}

// Runs calls f for each run [lo, hi) of the n elements of a tensor that
// share channel c: the one per-channel walk (a run is Inner elements long;
// the whole tensor when per tensor).
func (l Layout) Runs(n int, f func(lo, hi, c int)) {
	if l.Channels == 1 {
		f(0, n, 0)
		return
	}
	for lo := 0; lo < n; lo += l.Inner {
		f(lo, lo+l.Inner, (lo/l.Inner)%l.Channels)
	}
}

// Quantize writes the integers of src into dst (both of the tensor's size).
func Quantize(dst []int32, src []float32, shape []int, p *Params) {
	l := LayoutOf(p, shape)
	qmin, qmax := p.QRange()
	for i, r := range src {
		c := l.Channel(i)
		dst[i] = QuantizeValue(r, p.Scale[c], p.Zero[c], qmin, qmax)
	}
}

// Dequantize writes S·(q − Z) into dst.
func Dequantize(dst []float32, src []int32, shape []int, p *Params) {
	l := LayoutOf(p, shape)
	for i, q := range src {
		c := l.Channel(i)
		dst[i] = p.Scale[c] * float32(q-p.Zero[c])
	}
}

// FakeQuantize writes quantize-then-dequantize of src into dst; dst may be src.
func FakeQuantize(dst, src []float32, shape []int, p *Params) {
	l := LayoutOf(p, shape)
	qmin, qmax := p.QRange()
	if l.Channels > 1 && l.Inner == 1 && p.Bits <= 24 {
		// Channels on the last axis (a Linear weight): walk rows.
		for start := 0; start < len(src); start += l.Channels {
			row, out := src[start:start+l.Channels], dst[start:start+l.Channels]
			for c, r := range row {
				s, z := p.Scale[c], p.Zero[c]
				out[c] = s * float32(RoundClamp(r/s, qmin-z, qmax-z))
			}
		}
		return
	}
	l.Runs(len(src), func(lo, hi, c int) {
		fakeQuantRun(dst[lo:hi], src[lo:hi], p.Scale[c], p.Zero[c], qmin, qmax)
	})
}

// fakeQuantRun fake-quantizes a run of elements that share S and Z.
func fakeQuantRun(dst, src []float32, s float32, z, qmin, qmax int32) {
	lo, hi := qmin-z, qmax-z
	_ = dst[len(src)-1]
	if int64(hi)-int64(lo) > 1<<24 {
		// 32-bit grids: integers beyond 2^24 are not all float32s; take the
		// exact path.
		for i, r := range src {
			dst[i] = s * float32(QuantizeValue(r, s, z, qmin, qmax)-z)
		}
		return
	}
	for i, r := range src {
		dst[i] = s * float32(RoundClamp(r/s, lo, hi))
	}
}
