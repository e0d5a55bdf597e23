package nn

import (
	"errors"
	"fmt"
	"math"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tinyqat/tinyqat/internal/f32"
	"github.com/tinyqat/tinyqat/internal/par"
)

// Batch normalization: the BatchNorm2D layer, its folding into the
// convolution before it (FoldBN, the fold nodes) and the training-time
// normalization op. Each op is one Gorgonia node (a kop) with one node per
// gradient; the math is in the package doc.

// BatchNorm2D normalizes each channel of an (N, C, H, W) activation:
//
//	y = γ·(x − μ)/sqrt(σ² + ε) + β
//
// with the batch's statistics in training graphs (BuildTrain, BN not
// frozen), updating the running statistics, and with the running
// statistics otherwise. A BatchNorm2D must directly follow a Conv2D: it is
// folded into it (FoldBN), so the convolution's weight slot quantizes the
// folded weights γ/σ·W and its bias slot the folded bias; the Conv2D
// followed by a BatchNorm2D has no bias parameter of its own.
type BatchNorm2D struct {
	Name     string
	Eps      float32 // 0 means 1e-5 (bnOf)
	Momentum float32 // running-statistics momentum; 0 means 0.1
	C        int
	// Gamma and Beta are trained (Model.Params); Mean and Var are the
	// running statistics (Model.Buffers), saved in checkpoints.
	Gamma, Beta *Param
	Mean, Var   *Param
}

func (l *BatchNorm2D) Kind() string { return "batchnorm2d" }

func (l *BatchNorm2D) setup(in []int) ([]int, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("batchnorm2d input must be CxHxW, got %v", in)
	}
	if l.C != 0 && l.C != in[0] {
		return nil, fmt.Errorf("batchnorm2d %s has C=%d, its input %d channels", l.Name, l.C, in[0])
	}
	if !(l.Eps >= 0 && l.Eps < 1) || !(l.Momentum >= 0 && l.Momentum <= 1) {
		return nil, fmt.Errorf("batchnorm2d %s: eps %v or momentum %v out of range", l.Name, l.Eps, l.Momentum)
	}
	l.C = in[0]
	l.Gamma = newParam(l.Name+".gamma", -1, l.C)
	l.Beta = newParam(l.Name+".beta", -1, l.C)
	l.Mean = newParam(l.Name+".running_mean", -1, l.C)
	l.Var = newParam(l.Name+".running_var", -1, l.C)
	for i := range l.C {
		l.Gamma.Data()[i], l.Var.Data()[i] = 1, 1
	}
	return in, nil
}

// FoldBN returns the folded weights (in the Conv2D's layout) and bias of
// a convolution followed by batch normalization with running statistics:
//
//	s[c] = γ[c] / sqrt(var[c] + ε)
//	W'[c] = s[c]·W[c],   b'[c] = β[c] − s[c]·μ[c]
//
// These are, bit for bit, the float32 values the graph feeds to the
// convolution's weight and bias slots when BN uses running statistics, so
// export quantizes exactly what the simulation quantized.
//
// conv and bn must be a wired pair (bn following conv in a model);
// anything else is an error.
func FoldBN(conv *Conv2D, bn *BatchNorm2D) (w, b []float32, err error) {
	if conv == nil || bn == nil {
		return nil, nil, errors.New("nn: FoldBN of a nil layer")
	}
	if conv.W == nil || bn.Gamma == nil || conv.Out != bn.C {
		return nil, nil, fmt.Errorf("nn: FoldBN of %s and %s: not a wired conv2d and its batchnorm2d", conv.Name, bn.Name)
	}
	w, b = foldBN(conv.W, bnOf(bn))
	return w, b, nil
}

// BuildTrain is Build for a training step: batch normalization uses the
// batch's statistics and updates the running ones (unless frozen).
func (m *Model) BuildTrain(batch int, q Quantizer) (*Net, error) { return m.build(batch, q, true) }

// SetBNFrozen freezes (true) or unfreezes batch-normalization statistics:
// frozen, training graphs use the running statistics (the folded form the
// runtime runs) and stop updating them. Graphs already built follow.
func (m *Model) SetBNFrozen(frozen bool) { m.bnFrozen = frozen }

// BNFrozen reports whether batch-normalization statistics are frozen.
func (m *Model) BNFrozen() bool { return m.bnFrozen }

// bnScale is s = γ/sqrt(var+ε) in float32: the sum var+ε is rounded to
// float32, its square root is taken in float64 and rounded to float32 (the
// correctly rounded float32 square root: float64 has more than 2·24+2
// bits), then one float32 division. FoldBN and the graph's fold nodes both
// call it, so they produce the same bits.
func bnScale(gamma, variance, eps float32) float32 {
	v := variance + eps
	return gamma / float32(math.Sqrt(float64(v)))
}

// bnInvStd is 1/sqrt(var+ε) as a float64 (for gradients only).
func bnInvStd(variance, eps float32) float64 {
	return 1 / math.Sqrt(float64(variance+eps))
}

// foldedBias is b' = β − s·μ with the product rounded to float32 first
// (the explicit conversion forbids a fused multiply-add, which Go may
// otherwise use on some architectures).
func foldedBias(beta, s, mean float32) float32 { return beta - float32(s*mean) }

// scaleNode adds s[c] = γ[c]/sqrt(var[c]+ε); differentiable wrt γ only
// (ds/dγ = 1/sqrt(var+ε)).
func scaleNode(name string, gamma, variance *G.Node, eps float32) (*G.Node, error) {
	c := gamma.Shape()[0]
	op := newOp("BNScale{"+name+"}", []int{1, 1}, 1)
	op.shape = fixedShape(tensor.Shape{c})
	op.run = func(s []float32, v [][]float32, _ []tensor.Shape) error {
		for i := range s {
			s[i] = bnScale(v[0][i], v[1][i], eps)
		}
		return nil
	}
	op.wrt = []bool{true, false}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		m := newOp("BNScaleGrad{"+name+"}", []int{1, 1}, 1)
		m.shape = fixedShape(tensor.Shape{c})
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			for i := range d {
				d[i] = float32(float64(v[1][i]) * bnInvStd(v[0][i], eps))
			}
			return nil
		}
		dg, err := G.ApplyOp(m, inputs[1], grad)
		return G.Nodes{dg, nil}, err
	}
	return G.ApplyOp(op, gamma, variance)
}

// foldWeightNode adds W'[c][r] = W[c][r]·s[c] for W of shape (C, ...),
// differentiable wrt W (dW = dW'·s) and s (ds[c] = Σ_r dW'[c][r]·W[c][r]).
func foldWeightNode(name string, w, s *G.Node) (*G.Node, error) {
	ws := w.Shape().Clone()
	c := ws[0]
	r := ws.TotalSize() / c
	if s.Dims() != 1 || s.Shape()[0] != c {
		return nil, fmt.Errorf("fold %s: weight %v, scale %v", name, ws, s.Shape())
	}
	op := newOp("FoldW{"+name+"}", []int{w.Dims(), 1}, w.Dims())
	op.shape = fixedShape(ws)
	op.run = func(y []float32, v [][]float32, _ []tensor.Shape) error {
		foldWeights(y, v[0], v[1], r)
		return nil
	}
	op.wrt = []bool{true, true}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		mw := newOp("FoldWGradW{"+name+"}", []int{1, w.Dims()}, w.Dims())
		mw.shape = fixedShape(ws)
		mw.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			foldWeights(d, v[1], v[0], r)
			return nil
		}
		dw, err := G.ApplyOp(mw, inputs[1], grad)
		if err != nil {
			return nil, err
		}
		ms := newOp("FoldWGradS{"+name+"}", []int{w.Dims(), w.Dims()}, 1)
		ms.shape = fixedShape(tensor.Shape{c})
		ms.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			// Output channels split over cores, each sum in one order.
			par.For(len(d), par.Pass(2*r, 1), func(o0, o1 int) {
				for o := o0; o < o1; o++ {
					var acc float64
					wr, gr := v[0][o*r:][:r], v[1][o*r:][:r]
					for i, g := range gr {
						acc += float64(g) * float64(wr[i])
					}
					d[o] = float32(acc)
				}
			})
			return nil
		}
		ds, err := G.ApplyOp(ms, inputs[0], grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{dw, ds}, nil
	}
	return G.ApplyOp(op, w, s)
}

// foldWeights sets dst[c·r+i] = w[c·r+i]·s[c], channels split over cores.
func foldWeights(dst, w, s []float32, r int) {
	par.For(len(s), par.Pass(r, 1), func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			sc := s[c]
			d, src := dst[c*r:][:r], w[c*r:][:r]
			for i, v := range src {
				d[i] = v * sc
			}
		}
	})
}

// foldBiasNode adds b'[c] = β[c] − s[c]·μ[c], differentiable wrt β (1) and
// s (−μ); μ is the running mean, a buffer.
func foldBiasNode(name string, beta, s, mean *G.Node) (*G.Node, error) {
	c := beta.Shape()[0]
	op := newOp("FoldB{"+name+"}", []int{1, 1, 1}, 1)
	op.shape = fixedShape(tensor.Shape{c})
	op.run = func(b []float32, v [][]float32, _ []tensor.Shape) error {
		for i := range b {
			b[i] = foldedBias(v[0][i], v[1][i], v[2][i])
		}
		return nil
	}
	op.wrt = []bool{true, true, false}
	op.diff = func(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		m := newOp("FoldBGradS{"+name+"}", []int{1, 1}, 1)
		m.shape = fixedShape(tensor.Shape{c})
		m.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			for i := range d {
				d[i] = -v[0][i] * v[1][i]
			}
			return nil
		}
		ds, err := G.ApplyOp(m, inputs[2], grad)
		if err != nil {
			return nil, err
		}
		return G.Nodes{grad, ds, nil}, nil
	}
	return G.ApplyOp(op, beta, s, mean)
}

// bnTrain is the batch normalization of a training graph, placed after
// the folded convolution y = conv(x, Q_w(W·s)) + Q_b(b'):
//
//	frozen:      out = y                                   (the folded form)
//	not frozen:  z = (y − b_q)/s = conv(x, Q_w(W·s))/s,
//	             out = γ·(z − μ_B)/sqrt(σ²_B + ε) + β
//
// with the batch's per-channel mean μ_B and biased variance σ²_B over
// N·H·W, updating the running statistics (momentum m, unbiased variance):
// run ← (1−m)·run + m·batch. The frozen flag is read at every run, so a
// graph built before SetBNFrozen follows it.
type bnTrain struct {
	name     string
	bn       *FoldedBN
	m        *Model
	n, c, hw int
	// The gradients of γ, β and s, computed with the input's by the same
	// backward node and read by three small nodes that depend on it.
	dGamma, dBeta, dS []float32
	mean, inv, vars   []float64
	fresh             bool // the statistics are this run's forward pass's
	// hi: the ReLU (hi = +Inf) or ReLU6 (hi = 6) after the normalization
	// is applied in the same pass (out = min(max(·, 0), hi)), and the
	// backward masks the output gradient with it in the same passes, g
	// passing where 0 < out < hi (f32.ZAffineReLU and siblings, the
	// separate activation's rule, actGrad); 0 means no activation.
	hi float32
	// res: a residual r (the node's sixth input) is added after the
	// normalization and the sum ReLU'd in the same pass,
	// out = max(BN(y) + r, 0); the backward masks g by out > 0 in a node
	// of its own (the masked gradient is r's too) and runs the plain
	// batch-normalization backward on it.
	res bool
	// mask, when set (a quantizer's node reads the output, and can leave
	// its backward pass's mask to this node: MaskQuantizer), is called
	// once per backward pass and returns the mask's top thi when the
	// quantizer left it: the gradient then passes where 0 < pre < hi and
	// pre ≤ thi, one mask (maskHi).
	mask func() (thi float32, ok bool)
	// ext: the forward pass with batch statistics also measures the
	// output's extremes (per channel in cext, then over channels), which
	// the quantizer reading the output takes once (takeExtremes).
	ext     bool
	cext    []f32.Extremes16
	extMu   sync.Mutex
	extOut  *float32 // the output they were measured on; nil: none
	extN    int
	extLo   float32
	extHi   float32
	extGood bool // both finite and no NaN
}

// fuseBNReLU lets training graphs fuse a ReLU or ReLU6 into the batch
// normalization before it (bnTrain.hi); tests turn it off to compare
// with the unfused composition.
var fuseBNReLU = true

// stats sets the per-channel mean and 1/sqrt(σ²+ε) of z = (y − b)/s and
// the biased variances. z is never stored: every pass recomputes it as
// (y − b)·(1/s) in float32, the same bits each time. Channels are
// independent, so they are split over cores (each channel's sums run in
// one order whatever the split).
func (t *bnTrain) stats(y, s, b []float32) {
	t.growStats()
	par.For(t.c, par.Pass(2*t.n*t.hw, 2*t.n), func(c0, c1 int) {
		sc := new(f32.Lanes) // one per worker, not per row
		for c := c0; c < c1; c++ {
			t.statsOf(sc, c, y, s, b)
		}
	})
	t.fresh = true
}

// growStats sizes the statistics for t.c channels.
func (t *bnTrain) growStats() {
	t.mean = growF64(t.mean, t.c)
	t.inv = growF64(t.inv, t.c)
	t.vars = growF64(t.vars, t.c)
}

// statsOf sets channel c's statistics (see stats).
func (t *bnTrain) statsOf(sc *f32.Lanes, c int, y, s, b []float32) {
	cnt := float64(t.n * t.hw)
	bc, rs := b[c], 1/s[c]
	// The channel's rows (one per image, C·H·W apart): a row of
	// H·W terms in float32 (f32.ZSum), rows in float64, in
	// image order (f32.Lanes.ZSumRows).
	sum := sc.ZSumRows(y[c*t.hw:], t.c*t.hw, t.n, t.hw, bc, rs)
	mu := sum / cnt
	// Σ (z − μ)² = Σ (z − μ_f)² − M·(μ − μ_f)² with μ_f = float32(μ);
	// rows summed in float32, rows in float64.
	muf := float32(mu)
	ss := sc.ZSqDevRows(y[c*t.hw:], t.c*t.hw, t.n, t.hw, bc, rs, muf)
	dm := mu - float64(muf)
	t.mean[c], t.vars[c] = mu, max(ss/cnt-dm*dm, 0)
	t.inv[c] = 1 / math.Sqrt(t.vars[c]+float64(t.bn.Eps))
}

func growF64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// affine returns channel c's normalization out = (z − μ_f)·k + off with
// μ_f = float32(μ): centred first, so a mean large against σ cancels
// exactly. The backward of a fused activation recomputes its mask with it.
func (t *bnTrain) affine(c int, gamma, beta []float32) (muf, k, off float32) {
	muf = float32(t.mean[c])
	k = float32(float64(gamma[c]) * t.inv[c])
	off = float32(float64(beta[c]) - float64(gamma[c])*t.inv[c]*(t.mean[c]-float64(muf)))
	return muf, k, off
}

func (t *bnTrain) forward(out []float32, v [][]float32) {
	y, s, b, gamma, beta := v[0], v[1], v[2], v[3], v[4]
	if t.ext {
		t.setExtremes(nil)
	}
	if t.m.bnFrozen {
		switch {
		case t.res:
			chunks(len(out), func(i0, i1 int) { addActs(out[i0:i1], y[i0:i1], v[5][i0:i1], true) })
		case t.hi > 0:
			chunks(len(out), func(i0, i1 int) { clampActs(out[i0:i1], y[i0:i1], t.hi) })
		default:
			copy(out, y)
		}
		return
	}
	// The statistics and the normalization of a channel in one pass over
	// the channels (its rows are still in cache for the second), one
	// split and one join.
	t.growStats()
	ext := t.ext && t.hi > 0 && !t.res
	if ext {
		if len(t.cext) != t.c {
			t.cext = make([]f32.Extremes16, t.c)
		}
	}
	par.For(t.c, par.Pass(3*t.n*t.hw, 3*t.n), func(c0, c1 int) {
		sc := new(f32.Lanes)
		for c := c0; c < c1; c++ {
			t.statsOf(sc, c, y, s, b)
			muf, k, off := t.affine(c, gamma, beta)
			o := c * t.hw
			if ext {
				// ZAffineRows with the clamp, measuring the output.
				t.cext[c].Reset()
				f32.ZAffineReLURowsExt(out[o:], y[o:], t.c*t.hw, t.n, t.hw, b[c], 1/s[c], muf, k, off, t.hi, &t.cext[c])
				continue
			}
			// The channel's rows, one per image (f32.ZAffineRows: ZAffine,
			// ZAffineReLU with hi or, with the residual, ZAffineAddReLU on
			// each).
			var res []float32
			if t.res {
				res = v[5][o:]
			}
			f32.ZAffineRows(out[o:], y[o:], res, t.c*t.hw, t.n, t.hw, b[c], 1/s[c], muf, k, off, t.hi)
		}
	})
	if ext {
		t.setExtremes(out)
	}
	t.fresh = true
	// Running statistics: unbiased variance (PyTorch's convention).
	m := float64(t.bn.Momentum)
	cnt := t.n * t.hw
	rm, rv := t.bn.Mean.Data(), t.bn.Var.Data()
	for c := 0; c < t.c; c++ {
		unbiased := t.vars[c]
		if cnt > 1 {
			unbiased *= float64(cnt) / float64(cnt-1)
		}
		// float64(…): each product rounded, never fused into a
		// multiply-add (GOAMD64=v3), so the statistics do not depend
		// on the build.
		rm[c] = float32(float64((1-m)*float64(rm[c])) + float64(m*t.mean[c]))
		rv[c] = float32(float64((1-m)*float64(rv[c])) + float64(m*unbiased))
	}
}

// backward sets dy and the parameter gradients from the output gradient g:
// with ẑ = (z − μ)·inv and M = N·H·W,
//
//	dβ = Σ g,  dγ = Σ g·ẑ,  dz = γ·inv/M·(M·g − dβ − ẑ·dγ),
//	dy = dz/s, db = −Σ dz/s (≈ 0: BN removes shifts), ds = −Σ dz·z/s.
//
// It reuses the statistics of the forward pass of the same run. With a
// fused activation, g is masked by the forward's normalized value lying
// in (0, hi) (recomputed from y, as the forward computed it) in the same
// passes.
func (t *bnTrain) backward(dy []float32, v [][]float32) {
	y, s, b, gamma, beta, g := v[0], v[1], v[2], v[3], v[4], v[5]
	t.dGamma = grow(t.dGamma, t.c)
	t.dBeta = grow(t.dBeta, t.c)
	t.dS = grow(t.dS, t.c)
	hi := t.hi
	if hi > 0 {
		hi = t.maskHi()
	}
	if t.m.bnFrozen {
		if hi > 0 {
			// out = min(max(y, 0), hi) passes g where 0 < y < hi (actGrad's
			// rule on out: the same set).
			chunks(len(dy), func(i0, i1 int) { actGrad(dy[i0:i1], y[i0:i1], g[i0:i1], hi) })
		} else {
			copy(dy, g)
		}
		clear(t.dGamma)
		clear(t.dBeta)
		clear(t.dS)
		return
	}
	if !t.fresh {
		t.stats(y, s, b)
	}
	t.fresh = false
	cnt := float64(t.n * t.hw)
	par.For(t.c, par.Pass(2*t.n*t.hw, 2*t.n), func(c0, c1 int) {
		sc := new(f32.Lanes)
		for c := c0; c < c1; c++ {
			mu, inv := t.mean[c], t.inv[c]
			muf, kr, offr := t.affine(c, gamma, beta) // the fused activation's mask
			bc, rz := b[c], 1/s[c]                    // z = (y − bc)·rz, as in stats
			// The channel's rows, H·W terms in float32 each (f32.ZSumDot,
			// f32.ZSumDotReLU), rows added in float64 in image order;
			// centred on μ_f: no cancellation when |μ| ≫ σ.
			o, ld := c*t.hw, t.c*t.hw
			sg, sgz := sc.ZSumDotRows(g[o:], y[o:], ld, t.n, t.hw, bc, rz, muf, kr, offr, hi)
			sgz = (sgz - (mu-float64(muf))*sg) * inv // Σ g·ẑ
			t.dBeta[c], t.dGamma[c] = float32(sg), float32(sgz)
			k := float64(gamma[c]) * inv / cnt
			// dy = a·g + b0 + b1·(z − μ_f) with the constants below
			// (centred on μ_f = float32(μ), as in the forward pass).
			rs := 1 / float64(s[c])
			a := float32(k * cnt * rs)
			b1 := float32(-k * sgz * inv * rs)
			b0 := float32(k * (-sg - sgz*inv*(float64(muf)-mu)) * rs)
			// ds = −Σ dz·z/s = −Σ dy·z (dy = dz/s), rows in image order.
			ds := sc.ZGradRows(dy[o:], g[o:], y[o:], ld, t.n, t.hw, a, b0, b1, bc, rz, muf, kr, offr, hi)
			t.dS[c] = float32(ds)
		}
	})
}

// bnTrainNode adds the training-graph batch normalization (see bnTrain) of
// y (N, C, H, W) given the fold scale s, the folded (quantized) bias b, γ
// and β, followed by the activation act (ActNone, ActReLU or ActReLU6) in
// the same node. With a residual res (not nil), the node is
// max(BN(y) + res, 0) (bnTrain.res; act must be ActReLU).
func bnTrainNode(m *Model, bn *FoldedBN, y, s, b, gamma, beta *G.Node, act Act, res *G.Node) (*G.Node, error) {
	n, _, err := bnTrainNodeOf(m, bn, y, s, b, gamma, beta, act, res)
	return n, err
}

// bnTrainNodeOf is bnTrainNode that also returns the node's bnTrain.
func bnTrainNodeOf(m *Model, bn *FoldedBN, y, s, b, gamma, beta *G.Node, act Act, res *G.Node) (*G.Node, *bnTrain, error) {
	ys := y.Shape().Clone()
	if c := bn.Gamma.Value.Size(); y.Dims() != 4 || ys[1] != c {
		return nil, nil, fmt.Errorf("batchnorm2d %s: input %v, want %d channels", bn.Name, ys, c)
	}
	if res != nil && !res.Shape().Eq(ys) {
		return nil, nil, fmt.Errorf("residual after batchnorm2d %s: summands of shapes %v and %v", bn.Name, ys, res.Shape())
	}
	t := &bnTrain{name: bn.Name, bn: bn, m: m, n: ys[0], c: ys[1], hw: ys[2] * ys[3], res: res != nil}
	name, dims, in := "BatchNormTrain", []int{4, 1, 1, 1, 1}, G.Nodes{y, s, b, gamma, beta}
	switch {
	case t.res:
		name, dims, in = "BatchNormAddReLUTrain", append(dims, 4), append(in, res)
	case act == ActReLU:
		name, t.hi = "BatchNormReLUTrain", float32(math.Inf(1))
	case act == ActReLU6:
		name, t.hi = "BatchNormReLU6Train", act.Max()
	}
	op := newOp(name+"{"+bn.Name+"}", dims, 4)
	op.shape = fixedShape(ys)
	op.run = func(out []float32, v [][]float32, _ []tensor.Shape) error {
		t.forward(out, v)
		return nil
	}
	op.wrt = []bool{true, true, true, true, true, true}[:len(dims)]
	op.diff = func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
		if t.res {
			// g·[out > 0]: the gradient of the sum, r's and BN's.
			mk := newOp("BatchNormAddReLUMask{"+bn.Name+"}", []int{4, 4}, 4)
			mk.shape = fixedShape(ys)
			mk.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
				chunks(len(d), func(i0, i1 int) { actGrad(d[i0:i1], v[0][i0:i1], v[1][i0:i1], 0) })
				return nil
			}
			var err error
			if grad, err = G.ApplyOp(mk, output, grad); err != nil {
				return nil, err
			}
		}
		md := newOp("BatchNormTrainGrad{"+bn.Name+"}", []int{4, 1, 1, 1, 1, 4}, 4)
		md.shape = fixedShape(ys)
		md.run = func(d []float32, v [][]float32, _ []tensor.Shape) error {
			t.backward(d, v)
			return nil
		}
		dy, err := G.ApplyOp(md, append(inputs[:5:5], grad)...)
		if err != nil {
			return nil, err
		}
		// The parameter gradients: computed by md, read after it (dy is
		// their input only to order them after it).
		read := func(what string, src func() []float32, scale float32) (*G.Node, error) {
			m := newOp("BatchNormTrainGrad"+what+"{"+bn.Name+"}", []int{4}, 1)
			m.shape = fixedShape(tensor.Shape{t.c})
			m.run = func(d []float32, _ [][]float32, _ []tensor.Shape) error {
				for i, v := range src() {
					d[i] = scale * v
				}
				return nil
			}
			return G.ApplyOp(m, dy)
		}
		ds, err := read("S", func() []float32 { return t.dS }, 1)
		if err != nil {
			return nil, err
		}
		// db = −Σ dz/s = −dβ·0: Σ dz is 0 up to rounding, so its gradient
		// is left at exactly 0 rather than rounding noise.
		db, err := read("B", func() []float32 { return t.dBeta }, 0)
		if err != nil {
			return nil, err
		}
		dg, err := read("Gamma", func() []float32 { return t.dGamma }, 1)
		if err != nil {
			return nil, err
		}
		dbt, err := read("Beta", func() []float32 { return t.dBeta }, 1)
		if err != nil {
			return nil, err
		}
		if t.res {
			return G.Nodes{dy, ds, db, dg, dbt, grad}, nil
		}
		return G.Nodes{dy, ds, db, dg, dbt}, nil
	}
	n, err := G.ApplyOp(op, in...)
	return n, t, err
}
