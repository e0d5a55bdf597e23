package train

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	"github.com/tinyqat/tinyqat/rundir"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SoftmaxCrossEntropy adds the mean softmax cross-entropy of logits (N, K)
// against one-hot (or soft) targets (N, K) whose rows sum to 1 to the graph:
//
//	L = −(1/N) Σ_n Σ_k y_nk · log softmax(z_n)_k
//	log softmax(z)_k = z_k − m − log Σ_j exp(z_j − m),  m = max_j z_j
//
// Subtracting the row maximum keeps exp from overflowing, so the float64
// sum is finite for any finite logits (the float32 result overflows only
// if the loss itself exceeds 3.4e38, a logit gap near float32's range). The gradient is the fused
//
//	∂L/∂z_nk = (softmax(z_n)_k − y_nk) / N
//
// computed in one pass by a second op, as in micrograd-style fused losses.
func SoftmaxCrossEntropy(logits, targets *G.Node) (*G.Node, error) {
	if !logits.Shape().Eq(targets.Shape()) || logits.Dims() != 2 {
		return nil, fmt.Errorf("train: logits %v and targets %v must be equal 2-D shapes", logits.Shape(), targets.Shape())
	}
	return G.ApplyOp(xentOp{}, logits, targets)
}

type xentOp struct{}

var _ G.SDOp = xentOp{}

func (xentOp) Arity() int { return 2 }
func (xentOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a)
}
func (xentOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (xentOp) ReturnsPtr() bool                               { return false }
func (xentOp) CallsExtern() bool                              { return false }
func (xentOp) OverwritesInput() int                           { return -1 }
func (op xentOp) WriteHash(h hash.Hash)                       { fmt.Fprint(h, op.String()) }
func (op xentOp) Hashcode() uint32                            { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (xentOp) String() string                                 { return "SoftmaxXent" }
func (xentOp) DiffWRT(int) []bool                             { return []bool{true, false} }

func (xentOp) Do(vals ...G.Value) (G.Value, error) {
	z, y, n, k, err := xentInputs(vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	var total float64
	for i := 0; i < n; i++ {
		zr, yr := z[i*k:(i+1)*k], y[i*k:(i+1)*k]
		m, lse := logSumExp(zr)
		for j, t := range yr {
			if t != 0 {
				total -= float64(t) * (float64(zr[j]) - m - lse)
			}
		}
	}
	return G.NewF32(float32(total / float64(n))), nil
}

// logSumExp returns m = max z and log Σ exp(z − m), in float64.
func logSumExp(z []float32) (m, lse float64) {
	m = math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	return m, math.Log(s)
}

func xentInputs(a, b G.Value) (z, y []float32, n, k int, err error) {
	zt, ok1 := a.(tensor.Tensor)
	yt, ok2 := b.(tensor.Tensor)
	if !ok1 || !ok2 {
		return nil, nil, 0, 0, fmt.Errorf("train: cross-entropy wants tensors, got %T and %T", a, b)
	}
	z, ok1 = zt.Data().([]float32)
	y, ok2 = yt.Data().([]float32)
	if !ok1 || !ok2 {
		return nil, nil, 0, 0, fmt.Errorf("train: cross-entropy wants float32 tensors")
	}
	s := zt.Shape()
	return z, y, s[0], s[1], nil
}

func (xentOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dz, err := G.ApplyOp(xentGradOp{}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dz, nil}, nil
}

// xentGradOp computes g·(softmax(z) − y)/N from (z, y, g).
type xentGradOp struct{}

func (xentGradOp) Arity() int { return 3 }
func (xentGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, a, t)
}
func (xentGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (xentGradOp) ReturnsPtr() bool         { return false }
func (xentGradOp) CallsExtern() bool        { return false }
func (xentGradOp) OverwritesInput() int     { return -1 }
func (op xentGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op xentGradOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (xentGradOp) String() string           { return "SoftmaxXentGrad" }

func (xentGradOp) Do(vals ...G.Value) (G.Value, error) {
	z, y, n, k, err := xentInputs(vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	g, err := scalarGrad(vals[2], "cross-entropy")
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.WithShape(n, k), tensor.Of(tensor.Float32))
	d := out.Data().([]float32)
	scale := float64(g) / float64(n)
	for i := 0; i < n; i++ {
		zr := z[i*k : (i+1)*k]
		m, lse := logSumExp(zr)
		for j := range zr {
			p := math.Exp(float64(zr[j]) - m - lse)
			d[i*k+j] = float32((p - float64(y[i*k+j])) * scale)
		}
	}
	return out, nil
}

// DistillLoss adds Hinton et al.'s knowledge-distillation loss (2015,
// "Distilling the Knowledge in a Neural Network", §2) of student logits
// (N, K) against one-hot (or soft) targets y (N, K) and a teacher's logits
// (N, K) to the graph, averaged over the batch:
//
//	L = (1/N) Σ_n [ (1−α)·CE(softmax(z_n), y_n) + α·T²·KL(softmax(t_n/T) ‖ softmax(z_n/T)) ]
//	KL(p ‖ q) = Σ_k p_k (log p_k − log q_k)
//
// with weight α in [0, 1] and temperature T in [rundir.DistillTempMin,
// rundir.DistillTempMax] (rundir.CheckDistill). The teacher's logits are a
// constant: no gradient flows into them. Every log-softmax is computed
// with log-sum-exp (see SoftmaxCrossEntropy), in float64; within that
// range of T, z/T and T² cannot overflow, so the float64 loss is finite
// for any finite logits (rundir.DistillTempMin explains the bound; the
// float32 result overflows only if the loss itself exceeds 3.4e38). The gradient, fused as SoftmaxCrossEntropy's, is
//
//	∂L/∂z_nk = ( (1−α)(softmax(z_n)_k − y_nk) + α·T·(softmax(z_n/T)_k − softmax(t_n/T)_k) ) / N
//
// The T² factor keeps the soft term's gradient on the scale of the hard
// term's as T changes (the softened probabilities' gradient shrinks as
// 1/T²). With α = 0 the loss and its gradient are SoftmaxCrossEntropy's,
// bit for bit.
func DistillLoss(logits, targets, teacher *G.Node, alpha, temp float64) (*G.Node, error) {
	if !logits.Shape().Eq(targets.Shape()) || !logits.Shape().Eq(teacher.Shape()) || logits.Dims() != 2 {
		return nil, fmt.Errorf("train: logits %v, targets %v and teacher logits %v must be equal 2-D shapes", logits.Shape(), targets.Shape(), teacher.Shape())
	}
	if err := rundir.CheckDistill(alpha, temp); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return G.ApplyOp(distillOp{alpha: alpha, temp: temp}, logits, targets, teacher)
}

type distillOp struct{ alpha, temp float64 }

var _ G.SDOp = distillOp{}

func (distillOp) Arity() int { return 3 }
func (distillOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, t, a)
}
func (distillOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (distillOp) ReturnsPtr() bool                               { return false }
func (distillOp) CallsExtern() bool                              { return false }
func (distillOp) OverwritesInput() int                           { return -1 }
func (op distillOp) WriteHash(h hash.Hash)                       { fmt.Fprint(h, op.String()) }
func (op distillOp) Hashcode() uint32                            { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op distillOp) String() string                              { return fmt.Sprintf("Distill{α=%v,T=%v}", op.alpha, op.temp) }
func (distillOp) DiffWRT(int) []bool                             { return []bool{true, false, false} }

func (op distillOp) Do(vals ...G.Value) (G.Value, error) {
	z, y, n, k, err := xentInputs(vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	t, _, _, _, err := xentInputs(vals[2], vals[1])
	if err != nil {
		return nil, err
	}
	// The hard term is summed exactly as xentOp sums it, so α = 0 gives
	// its bits.
	var ce, kl float64
	for i := 0; i < n; i++ {
		zr, yr := z[i*k:(i+1)*k], y[i*k:(i+1)*k]
		m, lse := logSumExp(zr)
		for j, v := range yr {
			if v != 0 {
				ce -= float64(v) * (float64(zr[j]) - m - lse)
			}
		}
	}
	if op.alpha == 0 {
		return G.NewF32(float32(ce / float64(n))), nil
	}
	for i := 0; i < n; i++ {
		kl += softKL(z[i*k:(i+1)*k], t[i*k:(i+1)*k], op.temp)
	}
	a := op.alpha
	return G.NewF32(float32((float64((1-a)*ce) + float64(a*op.temp*op.temp*kl)) / float64(n))), nil
}

// scaledLogSumExp returns m = max z/T and log Σ exp(z/T − m), in float64.
func scaledLogSumExp(z []float32, temp float64) (m, lse float64) {
	m = math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v)/temp)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v)/temp - m)
	}
	return m, math.Log(s)
}

// softKL is KL(softmax(t/T) ‖ softmax(z/T)) of one sample. A class whose
// teacher probability underflows to 0 adds 0 (the limit of p log p).
func softKL(z, t []float32, temp float64) float64 {
	mz, lz := scaledLogSumExp(z, temp)
	mt, lt := scaledLogSumExp(t, temp)
	var kl float64
	for j := range z {
		lp := float64(t[j])/temp - mt - lt
		p := math.Exp(lp)
		if p == 0 {
			continue
		}
		kl += float64(p * (lp - (float64(z[j])/temp - mz - lz)))
	}
	return kl
}

func (op distillOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dz, err := G.ApplyOp(distillGradOp(op), inputs[0], inputs[1], inputs[2], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dz, nil, nil}, nil
}

// distillGradOp computes g·∂L/∂z from (z, y, t, g) (see DistillLoss).
type distillGradOp struct{ alpha, temp float64 }

func (distillGradOp) Arity() int { return 4 }
func (distillGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, t, t, a, t)
}
func (distillGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (distillGradOp) ReturnsPtr() bool         { return false }
func (distillGradOp) CallsExtern() bool        { return false }
func (distillGradOp) OverwritesInput() int     { return -1 }
func (op distillGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op distillGradOp) Hashcode() uint32      { h := fnv.New32a(); op.WriteHash(h); return h.Sum32() }
func (op distillGradOp) String() string {
	return fmt.Sprintf("DistillGrad{α=%v,T=%v}", op.alpha, op.temp)
}

func (op distillGradOp) Do(vals ...G.Value) (G.Value, error) {
	if op.alpha == 0 {
		// SoftmaxCrossEntropy's gradient, bit for bit.
		return xentGradOp{}.Do(vals[0], vals[1], vals[3])
	}
	z, y, n, k, err := xentInputs(vals[0], vals[1])
	if err != nil {
		return nil, err
	}
	t, _, _, _, err := xentInputs(vals[2], vals[1])
	if err != nil {
		return nil, err
	}
	g, err := scalarGrad(vals[3], "distillation")
	if err != nil {
		return nil, err
	}
	out := tensor.New(tensor.WithShape(n, k), tensor.Of(tensor.Float32))
	d := out.Data().([]float32)
	scale := float64(g) / float64(n)
	a, T := op.alpha, op.temp
	for i := 0; i < n; i++ {
		zr, tr := z[i*k:(i+1)*k], t[i*k:(i+1)*k]
		m, lse := logSumExp(zr)
		mz, lz := scaledLogSumExp(zr, T)
		mt, lt := scaledLogSumExp(tr, T)
		for j := range zr {
			p := math.Exp(float64(zr[j]) - m - lse)
			ps := math.Exp(float64(zr[j])/T - mz - lz)
			pt := math.Exp(float64(tr[j])/T - mt - lt)
			d[i*k+j] = float32((float64((1-a)*(p-float64(y[i*k+j]))) + float64(a*T*(ps-pt))) * scale)
		}
	}
	return out, nil
}

// scalarGrad is the incoming gradient of a loss (a scalar, as Gorgonia
// hands it: *G.F32 or a one-element tensor); what names the loss in the
// error.
func scalarGrad(v G.Value, what string) (float32, error) {
	switch v := v.(type) {
	case *G.F32:
		return float32(*v), nil
	case tensor.Tensor:
		return v.Data().([]float32)[0], nil
	}
	return 0, fmt.Errorf("train: %s gradient: unexpected %T", what, v)
}
