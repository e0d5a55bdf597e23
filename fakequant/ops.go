package fakequant

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/chewxy/hm"
	"github.com/tinyqat/tinyqat/quant"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The residual addition and the global average pool of the integer
// runtime, simulated exactly: each op recovers the integers its inputs
// stand for and calls the runtime's integer arithmetic (package quant).

// NewAdd adds the node of the residual addition a + b (with a fused ReLU
// when s.ReLU, and ReLU6's clamp when s.Max is set) at the output state s,
// whose Add names the states that quantized a and b.
//
// Enabled, the forward pass recovers q_a − z_a = round(a/S_a) and
// q_b − z_b = round(b/S_b) and computes, like the integer runtime,
//
//	q = clamp(z_o + round(da·M_a + db·M_b), lo, hi)   (quant.RequantizeAdd)
//
// with M_a = S_a/S_o and M_b = S_b/S_o held exactly by
// quant.QuantizeMultiplier, lo = z_o with a ReLU (else q_min) and hi the
// grid top (ReLU6's ClampHi with Max); the output is S_o·(q − z_o).
// Disabled, it is the float sum (then ReLU, min(·, Max)). The observer
// sees that float sum (after ReLU and the Max clamp). The backward pass
// applies s's estimator to the sum v = a + b, zeroes the gradient where
// the ReLU (v ≤ 0) or the Max clamp (v ≥ Max) cut it, and gives the
// result to both a and b.
func NewAdd(a, b *G.Node, s *State) (*G.Node, error) {
	if s.Add == nil || s.Add[0] == nil || s.Add[1] == nil {
		return nil, fmt.Errorf("fakequant: %s: NewAdd needs a state with Add set", s.Name)
	}
	if s.Estimator == nil {
		return nil, fmt.Errorf("fakequant: state %s has no estimator", s.Name)
	}
	if !a.Shape().Eq(b.Shape()) {
		return nil, fmt.Errorf("fakequant: %s: summands have shapes %v and %v", s.Name, a.Shape(), b.Shape())
	}
	return G.ApplyOp(&addOp{sameShapeOp: sameShapeOp{2, "FakeQuantAdd", s.Name, s}, s: s}, a, b)
}

type addOp struct {
	sameShapeOp
	s   *State
	buf *tensor.Dense
}

var (
	_ G.SDOp            = (*addOp)(nil)
	_ G.UsePreallocDoer = (*addOp)(nil)
)

func (op *addOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *addOp) Do(vals ...G.Value) (G.Value, error) {
	a, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	op.buf = reuse(op.buf, a.Shape())
	return op.UsePreallocDo(op.buf, vals...)
}

func (op *addOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dst, in, shape, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	if err := op.s.AddForward(dst, in[0], in[1], shape); err != nil {
		return nil, err
	}
	return prealloc, nil
}

func (op *addOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dv, err := G.ApplyOp(&addGradOp{sameShapeOp: sameShapeOp{3, "FakeQuantAddGrad", op.s.Name, op.s}, s: op.s}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dv, dv}, nil
}

// addGradOp maps (a, b, ∂L/∂y) to ∂L/∂a = ∂L/∂b; sum holds a + b
// from run to run.
type addGradOp struct {
	sameShapeOp
	s        *State
	buf, sum *tensor.Dense
}

var _ G.UsePreallocDoer = (*addGradOp)(nil)

func (op *addGradOp) Do(vals ...G.Value) (G.Value, error) {
	a, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	op.buf = reuse(op.buf, a.Shape())
	return op.UsePreallocDo(op.buf, vals...)
}

func (op *addGradOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dx, in, shape, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	op.sum = reuse(op.sum, shape)
	op.s.addBackward(dx, in[2], in[0], in[1], shape, op.sum.Data().([]float32))
	return prealloc, nil
}

// addSum writes into v the float sum a + b, then ReLU and the Max clamp
// as the state asks.
func (s *State) addSum(v, a, b []float32) {
	lo, hi := negInf, posInf
	if s.ReLU {
		lo = 0
	}
	if s.Max > 0 {
		hi = s.Max
	}
	sum(v, a, b, lo, hi)
}

// AddForward is the forward pass of NewAdd's node: dst from a and b of
// the given shape.
func (s *State) AddForward(dst, a, b []float32, shape []int) error {
	if len(a) != len(b) || len(dst) < len(a) {
		return fmt.Errorf("fakequant: %s: summands of %d and %d elements into %d", s.Name, len(a), len(b), len(dst))
	}
	// The float sum goes to dst: the observer reads it there, and the
	// enabled pass below overwrites it from a and b alone.
	v := dst[:len(a)]
	s.addSum(v, a, b)
	enabled, _, _, _, err := s.observe(v, shape, nil)
	if err != nil || !enabled {
		return err
	}
	po, pa, pb := s.current(), s.Add[0].current(), s.Add[1].current()
	if po == nil || pa == nil || pb == nil {
		return fmt.Errorf("%s: %w", s.Name, ErrNoParams)
	}
	if po.PerChannel() || pa.PerChannel() || pb.PerChannel() {
		return fmt.Errorf("fakequant: %s: a residual addition's summands and output are quantized per tensor", s.Name)
	}
	k, err := newAddK(s, po, pa, pb)
	if err != nil {
		if !errors.Is(err, quant.ErrMultiplier) {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		// No integer form: the export will say so; simulate with the
		// plain rule meanwhile (on the float sum, still in dst).
		fakeQuantizeHi(v, v, shape, po, s.hi(po))
		return nil
	}
	if k.wide {
		k.runGo(v, a, b)
	} else {
		k.run(v, a, b)
	}
	return nil
}

// addK is the integer residual addition of one node's parameters:
// summand i of a and b becomes
//
//	da = RoundClamp(a/S_a, aLo, aHi), db = RoundClamp(b/S_b, bLo, bHi)
//	q  = RequantizeAdd(da, db, M0a, na, M0b, nb, z, lo, hi)
//
// and the output S·(q − z).
type addK struct {
	sa, sb, so         float32
	aLo, aHi, bLo, bHi int32 // the summands' integer ranges, zero points off
	m0a, na, m0b, nb   int32
	zo, lo, hi         int32
	// With n = max(na, nb), A = M0a·2^(n−na) and B = M0b·2^(n−nb),
	// RequantizeAdd's 128-bit numerator is da·A + db·B; when every da in
	// [aLo, aHi] and db in [bLo, bHi] keeps it below 2^62 in magnitude
	// (always for 8- and 16-bit grids unless the summands' scales differ by
	// more than about 2^20), run computes it in int64 and rounds it with
	// quant.RoundShift, the same integer; wide marks the other case.
	ma, mb int64
	n      int32
	wide   bool
}

func newAddK(s *State, po, pa, pb *quant.Params) (*addK, error) {
	m0a, na, errA := quant.QuantizeMultiplier(pa.Scale[0], po.Scale[0])
	m0b, nb, errB := quant.QuantizeMultiplier(pb.Scale[0], po.Scale[0])
	if err := errors.Join(errA, errB); err != nil {
		return nil, err
	}
	k := &addK{sa: pa.Scale[0], sb: pb.Scale[0], so: po.Scale[0],
		m0a: m0a, na: na, m0b: m0b, nb: nb, zo: po.Zero[0]}
	k.lo, _ = po.QRange()
	if s.ReLU {
		k.lo = k.zo
	}
	k.hi = s.hi(po)
	aLo, aHi := pa.QRange()
	bLo, bHi := pb.QRange()
	k.aLo, k.aHi, k.bLo, k.bHi = aLo-pa.Zero[0], aHi-pa.Zero[0], bLo-pb.Zero[0], bHi-pb.Zero[0]
	k.terms()
	return k, nil
}

// terms sets n, ma, mb and wide from the multipliers and the ranges.
func (k *addK) terms() {
	k.n = max(k.na, k.nb)
	ta, okA := addTerm(k.m0a, k.n-k.na, k.aLo, k.aHi)
	tb, okB := addTerm(k.m0b, k.n-k.nb, k.bLo, k.bHi)
	k.ma, k.mb = ta, tb
	k.wide = !okA || !okB || k.n < 1 || k.n > 63
}

// addTerm returns M0·2^d and whether |d·M0·2^d| < 2^61 for every d in
// [lo, hi] (so that two such terms sum below 2^62).
func addTerm(m0, d, lo, hi int32) (int64, bool) {
	if d < 0 || d > 37 || m0 < 0 { // M0 < 2^24: 2^d·M0 < 2^61
		return 0, false
	}
	m := int64(m0) << d
	r := max(-int64(lo), int64(hi))
	if r < 0 {
		r = 0
	}
	h, l := bits.Mul64(uint64(r), uint64(m))
	return m, h == 0 && l < 1<<61
}

// run is the loop of the int64 form (k.wide false), on the vector
// kernel where the CPU has one.
func (k *addK) run(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	n8 := addVec(dst, a, b, k)
	k.runInt64(dst[n8:], a[n8:], b[n8:])
}

// runInt64 is run's scalar loop.
func (k *addK) runInt64(dst, a, b []float32) {
	dst, b = dst[:len(a)], b[:len(a)]
	sa, sb, so := k.sa, k.sb, k.so
	ma, mb, n := k.ma, k.mb, k.n
	aLo, aHi, bLo, bHi := k.aLo, k.aHi, k.bLo, k.bHi
	zo, lo, hi := int64(k.zo), int64(k.lo), int64(k.hi)
	for i := range a {
		p := int64(quant.RoundClamp(a[i]/sa, aLo, aHi))*ma + int64(quant.RoundClamp(b[i]/sb, bLo, bHi))*mb
		v := quant.RoundShift(p, n) + zo // |p| < 2^62
		dst[i] = so * float32(min(max(v, lo), hi)-zo)
	}
}

// runGo is the loop of the definition (RequantizeAdd's 128-bit form):
// run's reference twin, and the path of wide parameters.
func (k *addK) runGo(dst, a, b []float32) {
	for i := range a {
		da := quant.RoundClamp(a[i]/k.sa, k.aLo, k.aHi)
		db := quant.RoundClamp(b[i]/k.sb, k.bLo, k.bHi)
		q := quant.RequantizeAdd(da, db, k.m0a, k.na, k.m0b, k.nb, k.zo, k.lo, k.hi)
		dst[i] = k.so * float32(q-k.zo)
	}
}

// AddBackward is the backward pass of NewAdd's node: the gradient dx of
// each summand from dy and the summands a and b.
func (s *State) AddBackward(dx, dy, a, b []float32, shape []int) {
	s.addBackward(dx, dy, a, b, shape, make([]float32, len(a)))
}

// addBackward is AddBackward with v (len(a)) to hold the sum.
func (s *State) addBackward(dx, dy, a, b []float32, shape []int, v []float32) {
	v = v[:len(a)]
	sum(v, a, b, negInf, posInf)
	// The gradient survives where v > 0 (a ReLU) and v < Max (ReLU6's
	// top): for float32, tlo ≤ v ≤ thi with tlo the least positive
	// float32 and thi the float32 below Max; NaN fails both.
	tlo, thi := negInf, posInf
	if s.ReLU {
		tlo = math.SmallestNonzeroFloat32
	}
	if s.Max > 0 {
		thi = math.Nextafter32(s.Max, negInf)
	}
	if tlo == negInf && thi == posInf {
		s.estimate(dx, dy, v, shape)
		return
	}
	// One pass for both masks when the estimator copies or is one
	// interval of v (min and max give NaN for an empty one).
	src := dy
	if !s.passesThrough(nil) {
		if elo, ehi, ok := s.passBounds(); ok {
			tlo, thi = max(tlo, elo), min(thi, ehi)
		} else {
			s.estimate(dx, dy, v, shape)
			src = dx
		}
	}
	PassGrad(dx, src, v, tlo, thi)
}

// NewMean adds the node of the global average pool (N, C, H, W) → (N, C)
// of x at the output state s, whose MeanOf is the state that quantized x.
// Enabled, the forward pass is the integer runtime's exactly rounded
// mean with x's parameters (S, z):
//
//	m = z + RoundDiv(Σ (q − z), H·W),   q − z = round(x/S)
//
// and the output S·(m − z); disabled, it is the float mean. Each input
// element receives ∂L/∂y / (H·W) (the mean's gradient; the rounding is
// passed straight through).
func NewMean(x *G.Node, s *State) (*G.Node, error) {
	if s.MeanOf == nil {
		return nil, fmt.Errorf("fakequant: %s: NewMean needs a state with MeanOf set", s.Name)
	}
	if x.Dims() != 4 {
		return nil, fmt.Errorf("fakequant: %s: global average pool of a %d-d tensor, want (N, C, H, W)", s.Name, x.Dims())
	}
	return G.ApplyOp(&meanOp{sameShapeOp: sameShapeOp{1, "FakeQuantMean", s.Name, s}, s: s}, x)
}

// meanOp takes sameShapeOp's boilerplate but not its shapes: (N, C, H, W)
// in, (N, C) out.
type meanOp struct {
	sameShapeOp
	s   *State
	buf *tensor.Dense
}

var (
	_ G.SDOp            = (*meanOp)(nil)
	_ G.UsePreallocDoer = (*meanOp)(nil)
)

func (op *meanOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a})
}
func (op *meanOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("fakequant: %s: global average pool of shape %v", op.s.Name, in[0])
	}
	return tensor.Shape{s[0], s[1]}, nil
}
func (op *meanOp) DiffWRT(int) []bool { return []bool{true} }

func (op *meanOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	sh := x.Shape()
	if len(sh) != 4 {
		return nil, fmt.Errorf("fakequant: %s: global average pool of shape %v", op.s.Name, sh)
	}
	op.buf = reuse(op.buf, tensor.Shape{sh[0], sh[1]})
	return op.UsePreallocDo(op.buf, vals...)
}

func (op *meanOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dst, in, shape, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	if err := op.s.MeanForward(dst, in[0], shape); err != nil {
		return nil, err
	}
	return prealloc, nil
}

func (op *meanOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&meanGradOp{sameShapeOp: sameShapeOp{2, "FakeQuantMeanGrad", op.s.Name, op.s}, s: op.s}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// meanGradOp maps (x, ∂L/∂y) to ∂L/∂x.
type meanGradOp struct {
	sameShapeOp // its output has x's shape; Type is its own
	s           *State
	buf         *tensor.Dense
}

var _ G.UsePreallocDoer = (*meanGradOp)(nil)

func (op *meanGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 4, Of: a})
}

func (op *meanGradOp) Do(vals ...G.Value) (G.Value, error) {
	x, err := f32Tensor(vals[0], op.s.Name)
	if err != nil {
		return nil, err
	}
	op.buf = reuse(op.buf, x.Shape())
	return op.UsePreallocDo(op.buf, vals...)
}

func (op *meanGradOp) UsePreallocDo(prealloc G.Value, vals ...G.Value) (G.Value, error) {
	dx, in, shape, err := operands(op.s.Name, prealloc, vals...)
	if err != nil {
		return nil, err
	}
	MeanBackward(dx, in[1], shape)
	return prealloc, nil
}

// MeanForward is the forward pass of NewMean's node: dst (N·C) from x of
// shape (N, C, H, W).
func (s *State) MeanForward(dst, x []float32, shape []int) error {
	if len(shape) != 4 {
		return fmt.Errorf("fakequant: %s: global average pool of shape %v", s.Name, shape)
	}
	nc, hw := shape[0]*shape[1], shape[2]*shape[3]
	if len(x) != nc*hw || len(dst) < nc || hw == 0 {
		return fmt.Errorf("fakequant: %s: global average pool of %d elements, shape %v, into %d", s.Name, len(x), shape, len(dst))
	}
	if !s.Enabled() {
		for i := range nc {
			var sum float64
			for _, v := range x[i*hw : (i+1)*hw] {
				sum += float64(v)
			}
			dst[i] = float32(sum / float64(hw))
		}
		return nil
	}
	p := s.current()
	if p == nil {
		return fmt.Errorf("%s: %w", s.Name, ErrNoParams)
	}
	if p.PerChannel() {
		return fmt.Errorf("fakequant: %s: a global average pool's input is quantized per tensor", s.Name)
	}
	sc, z := p.Scale[0], p.Zero[0]
	qmin, qmax := p.QRange()
	if int64(qmax)-int64(qmin) > 1<<24 {
		// 32-bit grids: beyond the vector kernel's exact range.
		for i := range nc {
			var sum int64
			for _, v := range x[i*hw : (i+1)*hw] {
				sum += int64(quant.RoundClamp(v/sc, qmin-z, qmax-z))
			}
			dst[i] = sc * float32(quant.RoundDiv(sum, int64(hw)))
		}
		return nil
	}
	// Each row's integers summed in the vector kernel (qSumRows) where
	// there is one, 64 rows a call: integer addition, so the order of the
	// terms does not matter.
	var sums [64]int64
	if qSumRows(sums[:0], x[:0], hw, sc, qmin-z, qmax-z) {
		for i0 := 0; i0 < nc; i0 += len(sums) {
			s := sums[:min(len(sums), nc-i0)]
			qSumRows(s, x[i0*hw:], hw, sc, qmin-z, qmax-z)
			for i, sum := range s {
				dst[i0+i] = sc * float32(quant.RoundDiv(sum, int64(hw)))
			}
		}
		return nil
	}
	// Else the integers of blocks of whole rows (qRun, vector where it
	// can: the division dominates), then each row's exact int64 sum.
	rows := max(1, meanBlock/hw)
	buf := intPool.get(min(rows, nc) * hw)
	defer intPool.put(buf)
	for i0 := 0; i0 < nc; i0 += rows {
		i1 := min(nc, i0+rows)
		q := (*buf)[:(i1-i0)*hw]
		qRun(q, x[i0*hw:i1*hw], sc, qmin-z, qmax-z)
		for i := i0; i < i1; i++ {
			var sum int64
			for _, v := range q[(i-i0)*hw : (i-i0+1)*hw] {
				sum += int64(v)
			}
			dst[i] = sc * float32(quant.RoundDiv(sum, int64(hw)))
		}
	}
	return nil
}

// meanBlock is the number of integers MeanForward holds at a time (16 KB).
const meanBlock = 4096

// intPool holds MeanForward's integers.
var intPool slicePool[int32]

// MeanBackward writes into dx (shape (N, C, H, W)) each channel's
// ∂L/∂y / (H·W).
func MeanBackward(dx, dy []float32, shape []int) {
	nc, hw := shape[0]*shape[1], shape[2]*shape[3]
	for i := range nc {
		g := dy[i] / float32(hw)
		row := dx[i*hw : (i+1)*hw]
		for j := range row {
			row[j] = g
		}
	}
}
