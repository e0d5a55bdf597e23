package fakequant

import "github.com/tinyqat/tinyqat/quant"

// The quantization arithmetic lives in package quant (standard library
// only), shared with the runtime and the exporter; these names keep
// fakequant's API.

// Scheme is the kind of integer grid (quant.Scheme).
type Scheme = quant.Scheme

// Params are the quantization parameters of one tensor (quant.Params).
type Params = quant.Params

// Layout gives the channel of each element of a per-channel tensor (quant.Layout).
type Layout = quant.Layout

const (
	Symmetric = quant.Symmetric
	Affine    = quant.Affine
	MinScale  = quant.MinScale
	MinBits   = quant.MinBits
	MaxBits   = quant.MaxBits
)

// QRange is quant.QRange.
func QRange(bits int, s Scheme) (qmin, qmax int32) { return quant.QRange(bits, s) }

// CheckBits is quant.CheckBits.
func CheckBits(bits int) { quant.CheckBits(bits) }

// ScaleZero is quant.ScaleZero.
func ScaleZero(bits int, s Scheme, rmin, rmax float32) (float32, int32, error) {
	return quant.ScaleZero(bits, s, rmin, rmax)
}

// FromRanges is quant.FromRanges.
func FromRanges(bits int, s Scheme, axis int, rmin, rmax []float32) (*Params, error) {
	return quant.FromRanges(bits, s, axis, rmin, rmax)
}

// Round is quant.Round (half to even).
func Round(x float32) float32 { return quant.Round(x) }

// RoundClamp is quant.RoundClamp.
func RoundClamp(v float32, lo, hi int32) int32 { return quant.RoundClamp(v, lo, hi) }

// QuantizeValue is quant.QuantizeValue.
func QuantizeValue(r, s float32, z, qmin, qmax int32) int32 {
	return quant.QuantizeValue(r, s, z, qmin, qmax)
}

// LayoutOf is quant.LayoutOf.
func LayoutOf(p *Params, shape []int) Layout { return quant.LayoutOf(p, shape) }

// Quantize is quant.Quantize.
func Quantize(dst []int32, src []float32, shape []int, p *Params) { quant.Quantize(dst, src, shape, p) }

// Dequantize is quant.Dequantize.
func Dequantize(dst []float32, src []int32, shape []int, p *Params) {
	quant.Dequantize(dst, src, shape, p)
}

// FakeQuantize is quant.FakeQuantize.
func FakeQuantize(dst, src []float32, shape []int, p *Params) { quant.FakeQuantize(dst, src, shape, p) }

// FirstNonFinite is quant.FirstNonFinite.
func FirstNonFinite(x []float32) int { return quant.FirstNonFinite(x) }
