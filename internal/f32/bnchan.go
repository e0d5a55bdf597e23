package f32

import (
	"fmt"
	"math"
)

// Batch normalization over one channel's rows: the row kernels of
// bnrows.go and bnrelu.go applied to rows rows of hw elements, row r at
// y[r·ld:], their float32 row results summed in float64 in row order,
// which is how nn's batch normalization adds a channel's images. One
// call per channel where a call per (image, channel) row cost more than
// the row's arithmetic at small H·W (16 elements at 4×4, 49 at 7×7).
//
// Each row is summed exactly as the single-row kernel sums it (16 lanes,
// the hw mod 16 tail into the first lanes, then reduce16's pairwise
// order), so the results are those of the loops over rows of the
// single-row calls, bit for bit (chanRowsGo and siblings, the reference
// twins, are those loops).

// ZSumRows returns Σ over rows r in order of float64(ZSum(y[r·ld:][:hw])).
func (sc *Lanes) ZSumRows(y []float32, ld, rows, hw int, b, rs float32) float64 {
	if !checkRows("ZSumRows", ld, rows, hw, y) {
		return 0
	}
	if k := zsumRowsK; k != nil {
		return k(&y[0], ld, rows, hw, b, rs)
	}
	var s float64
	for r := 0; r < rows; r++ {
		s += float64(sc.ZSum(y[r*ld:][:hw], b, rs))
	}
	return s
}

// ZSqDevRows returns Σ over rows r in order of float64(ZSqDev(y[r·ld:][:hw])).
func (sc *Lanes) ZSqDevRows(y []float32, ld, rows, hw int, b, rs, mu float32) float64 {
	if !checkRows("ZSqDevRows", ld, rows, hw, y) {
		return 0
	}
	if k := zsqdevRowsK; k != nil {
		return k(&y[0], ld, rows, hw, b, rs, mu)
	}
	var s float64
	for r := 0; r < rows; r++ {
		s += float64(sc.ZSqDev(y[r*ld:][:hw], b, rs, mu))
	}
	return s
}

// ZSumDotRows returns the float64 sums over rows r in order of ZSumDot's
// two float32 results on g[r·ld:][:hw] and y[r·ld:][:hw], or of
// ZSumDotReLU's (with k, off and the clamp hi) if hi > 0. hi is the
// activation after the normalization: 0 none, +Inf a ReLU, 6 a ReLU6.
func (sc *Lanes) ZSumDotRows(g, y []float32, ld, rows, hw int, b, rs, mu, k, off, hi float32) (sum, dot float64) {
	if !checkRows("ZSumDotRows", ld, rows, hw, g, y) {
		return 0, 0
	}
	if kern := zsumdotRowsK; kern != nil {
		return kern(&g[0], &y[0], ld, rows, hw, b, rs, mu, k, off, hi, hi > 0)
	}
	for r := 0; r < rows; r++ {
		gr, yr := g[r*ld:][:hw], y[r*ld:][:hw]
		var s, d float32
		if hi > 0 {
			s, d = sc.ZSumDotReLU(gr, yr, b, rs, mu, k, off, hi)
		} else {
			s, d = sc.ZSumDot(gr, yr, b, rs, mu)
		}
		sum += float64(s)
		dot += float64(d)
	}
	return sum, dot
}

// ZGradRows runs ZGrad (ZGradReLU with k, off and hi if hi > 0, as in
// ZSumDotRows) on rows r of d, g and y in order and returns
// 0 − Σ float64(row result), subtracted in row order (nn's ds = −Σ dy·z).
func (sc *Lanes) ZGradRows(d, g, y []float32, ld, rows, hw int, a, b0, b1, b, rs, mu, k, off, hi float32) float64 {
	if !checkRows("ZGradRows", ld, rows, hw, d, g, y) {
		return 0
	}
	if kern := zgradRowsK; kern != nil {
		return kern(&d[0], &g[0], &y[0], ld, rows, hw, a, b0, b1, b, rs, mu, k, off, hi, hi > 0)
	}
	var s float64
	for r := 0; r < rows; r++ {
		dr, gr, yr := d[r*ld:][:hw], g[r*ld:][:hw], y[r*ld:][:hw]
		if hi > 0 {
			s -= float64(sc.ZGradReLU(dr, gr, yr, a, b0, b1, b, rs, mu, k, off, hi))
		} else {
			s -= float64(sc.ZGrad(dr, gr, yr, a, b0, b1, b, rs, mu))
		}
	}
	return s
}

// ZAffineRows runs, on rows r of out and y (and res) in order,
// ZAffineAddReLU with the residual res if res is not nil (hi is then
// ignored), else ZAffineReLU with the clamp hi if hi > 0, else ZAffine.
func ZAffineRows(out, y, res []float32, ld, rows, hw int, b, rs, mu, k, off, hi float32) {
	ok := false
	if res != nil {
		ok = checkRows("ZAffineRows", ld, rows, hw, out, y, res)
	} else {
		ok = checkRows("ZAffineRows", ld, rows, hw, out, y)
	}
	if !ok {
		return
	}
	if kern := zaffineRowsK; kern != nil {
		mode, rp := 0, (*float32)(nil)
		switch {
		case res != nil:
			mode, rp = 2, &res[0]
		case hi > 0:
			mode = 1
		}
		kern(&out[0], &y[0], rp, ld, rows, hw, b, rs, mu, k, off, hi, mode)
		return
	}
	for r := 0; r < rows; r++ {
		o, yr := out[r*ld:][:hw], y[r*ld:][:hw]
		switch {
		case res != nil:
			ZAffineAddReLU(o, yr, res[r*ld:][:hw], b, rs, mu, k, off)
		case hi > 0:
			ZAffineReLU(o, yr, b, rs, mu, k, off, hi)
		default:
			ZAffine(o, yr, b, rs, mu, k, off)
		}
	}
}

// Extremes16 holds 16 lanes' running minima and maxima of the values a
// kernel stored (v < mn ? v : mn, v > mx ? v : mx: exact for non-NaN
// values) and the lanes that stored a NaN (bit i: lane i): the scratch
// of ZAffineReLURowsExt. Reset starts it empty.
type Extremes16 struct {
	Min, Max [16]float32
	NaN      uint16
}

// Reset sets the minima to +Inf, the maxima to −Inf and no NaN.
func (e *Extremes16) Reset() {
	for i := range e.Min {
		e.Min[i], e.Max[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	e.NaN = 0
}

// Reduce returns the extremes over the lanes and whether a lane stored a
// NaN (the extremes then mean nothing).
func (e *Extremes16) Reduce() (mn, mx float32, nan bool) {
	mn, mx = e.Min[0], e.Max[0]
	for i := 1; i < 16; i++ {
		if v := e.Min[i]; v < mn {
			mn = v
		}
		if v := e.Max[i]; v > mx {
			mx = v
		}
	}
	return mn, mx, e.NaN != 0
}

// ZAffineReLURowsExt is ZAffineRows with the clamp hi > 0 (batch
// normalization then ReLU or ReLU6) that also folds every value it
// stores into ext (Extremes16): the output's extremes in the same pass,
// for an observer of the output. hw elements of each row go to lanes
// 0..15 in turn, the hw mod 16 tail to the first lanes.
func ZAffineReLURowsExt(out, y []float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16) {
	if !checkRows("ZAffineReLURowsExt", ld, rows, hw, out, y) {
		return
	}
	if kern := zaffineReLURowsExtK; kern != nil {
		kern(&out[0], &y[0], ld, rows, hw, b, rs, mu, k, off, hi, ext)
		return
	}
	zaffineReLURowsExtGo(out, y, ld, rows, hw, b, rs, mu, k, off, hi, ext)
}

// zaffineReLURowsExtGo is ZAffineReLURowsExt's twin: ZAffineReLU on each
// row, then its values folded into ext's lanes.
func zaffineReLURowsExtGo(out, y []float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16) {
	for r := 0; r < rows; r++ {
		o := out[r*ld:][:hw]
		ZAffineReLU(o, y[r*ld:][:hw], b, rs, mu, k, off, hi)
		for i, v := range o {
			l := i & 15
			if v < ext.Min[l] {
				ext.Min[l] = v
			}
			if v > ext.Max[l] {
				ext.Max[l] = v
			}
			if v != v {
				ext.NaN |= 1 << l
			}
		}
	}
}

// checkRows panics unless every slice holds rows rows of hw at stride ld
// (ld ≥ hw), and reports whether there is anything to do.
func checkRows(name string, ld, rows, hw int, s ...[]float32) bool {
	if rows < 0 || hw < 0 || (rows > 1 && ld < hw) {
		panic(fmt.Sprintf("f32: %s: %d rows of %d at stride %d", name, rows, hw, ld))
	}
	if rows == 0 || hw == 0 {
		return false
	}
	for _, v := range s {
		if len(v) < (rows-1)*ld+hw {
			panic(fmt.Sprintf("f32: %s: %d rows of %d at stride %d in %d elements", name, rows, hw, ld, len(v)))
		}
	}
	return true
}

// The channel kernels in use: nil (the loops above, over the row
// kernels), or assembly (bnchan_amd64.go; AVX2 in bn_avx2_amd64.go).
var (
	zsumRowsK    func(y *float32, ld, rows, hw int, b, rs float32) float64
	zsqdevRowsK  func(y *float32, ld, rows, hw int, b, rs, mu float32) float64
	zsumdotRowsK func(g, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, relu bool) (sum, dot float64)
	zgradRowsK   func(d, g, y *float32, ld, rows, hw int, a, b0, b1, b, rs, mu, k, off, hi float32, relu bool) float64
	zaffineRowsK func(out, y, r *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, mode int)

	zaffineReLURowsExtK func(out, y *float32, ld, rows, hw int, b, rs, mu, k, off, hi float32, ext *Extremes16)
)
