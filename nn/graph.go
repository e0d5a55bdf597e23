package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The Gorgonia graph builder: it reads the lowered network (Model.Lower),
// one node group per unit, and never looks at layer types.

// Net is a model built into a Gorgonia graph for a fixed batch size.
type Net struct {
	G      *G.ExprGraph
	Batch  int
	X      *G.Node   // input, (Batch, C, H, W)
	Out    *G.Node   // logits, (Batch, Classes)
	Params []*G.Node // in Model.Params order, bound to the model's tensors
	// Nodes maps each slot name to its (possibly quantized) node; in a
	// float training graph, not the output slot of a residual body whose
	// batch normalization is fused into the addition (builder.units).
	Nodes map[string]*G.Node
}

// Build adds the model to a new graph for batches of the given size, for
// inference: batch normalization uses the running statistics, folded into
// the convolutions. The quantizer is consulted for every slot; nil means
// float.
func (m *Model) Build(batch int, q Quantizer) (*Net, error) { return m.build(batch, q, false) }

func (m *Model) build(batch int, q Quantizer, train bool) (*Net, error) {
	if batch < 1 {
		return nil, fmt.Errorf("nn: building %s for a batch of %d samples: %w (want at least 1)", m.Arch, batch, ErrSize)
	}
	lw, err := m.Lower()
	if err != nil {
		return nil, err
	}
	g := G.NewGraph()
	n := &Net{G: g, Batch: batch, Nodes: map[string]*G.Node{}}
	pn := map[string]*G.Node{}
	newNode := func(p *Param) *G.Node {
		node := G.NewTensor(g, tensor.Float32, p.Value.Dims(), G.WithShape(p.Value.Shape()...), G.WithName(p.Name), G.WithValue(p.Value))
		pn[p.Name] = node
		return node
	}
	for _, p := range m.Params {
		n.Params = append(n.Params, newNode(p))
	}
	for _, p := range m.Buffers {
		newNode(p)
	}
	n.X = G.NewTensor(g, tensor.Float32, 4, G.WithShape(batch, m.In.C, m.In.H, m.In.W), G.WithName("x"))
	b := &builder{m: m, q: q, net: n, params: pn, train: train}
	x, err := b.slot("input", n.X)
	if err != nil {
		return nil, err
	}
	if n.Out, err = b.units(lw, x); err != nil {
		return nil, err
	}
	return n, nil
}

// units adds the lowered units to the graph after the input x and
// returns the last one's output.
func (b *builder) units(lw *Lowered, x *G.Node) (*G.Node, error) {
	vals := make([]*G.Node, len(lw.Units))
	// dep[i]: unit i's output depends on a parameter (the first weighted
	// layer needs no input gradient).
	dep := make([]bool, len(lw.Units))
	// A float training graph's residual addition with ReLU takes in the
	// batch normalization of its body's last convolution when nothing else
	// reads that output: one node, max(BN(y) + r, 0).
	deferBN := make([]bool, len(lw.Units))
	if b.train && b.q == nil && !b.m.gorgoniaOps && fuseBNReLU {
		readers := make([]int, len(lw.Units))
		for _, u := range lw.Units {
			for _, j := range u.Inputs {
				if j >= 0 {
					readers[j]++
				}
			}
		}
		for _, u := range lw.Units {
			if j := u.Inputs[0]; u.Kind == UnitAdd && u.Act == ActReLU && j >= 0 && readers[j] == 1 {
				v := &lw.Units[j]
				deferBN[j] = v.Kind == UnitConv2D && v.BN != nil && v.Act == ActNone
			}
		}
	}
	b.pending = map[*G.Node]func(res *G.Node) (*G.Node, error){}
	in := func(j int) (*G.Node, bool) {
		if j < 0 {
			return x, b.m.InputGrad
		}
		return vals[j], dep[j]
	}
	for i := range lw.Units {
		u := &lw.Units[i]
		a, da := in(u.Inputs[0])
		b.xGrad = da
		var y *G.Node
		var err error
		switch u.Kind {
		case UnitFlatten:
			s := a.Shape()
			y, err = G.Reshape(a, tensor.Shape{s[0], s.TotalSize() / s[0]})
		case UnitMaxPool:
			if b.m.gorgoniaOps {
				y, err = G.MaxPool2D(a, tensor.Shape{u.K, u.K}, []int{0, 0}, []int{u.Stride, u.Stride})
			} else {
				y, err = poolNode(a, u.K, u.Stride)
			}
		case UnitGlobalAvgPool:
			y, err = b.globalAvgPool(u, a)
		case UnitAdd:
			c, dc := in(u.Inputs[1])
			da = da || dc
			if fused := b.pending[a]; fused != nil {
				delete(b.net.Nodes, lw.Units[u.Inputs[0]].OutSlot) // a is not its value
				if y, err = fused(c); err == nil {
					y, err = b.slot(u.OutSlot, y)
				}
			} else {
				y, err = b.add(u, a, c)
			}
		case UnitLinear, UnitConv2D:
			da = true
			b.deferBN = deferBN[i]
			y, err = b.weighted(u, a)
			b.deferBN = false
		default:
			panic("nn: graph of a " + u.Kind.String() + " unit")
		}
		if err != nil {
			return nil, err
		}
		vals[i], dep[i] = y, da
	}
	return vals[len(vals)-1], nil
}

// weighted adds a Linear or Conv2D unit with its batch normalization and
// activation, and its output slot.
func (b *builder) weighted(u *Unit, x *G.Node) (*G.Node, error) {
	var err error
	act := u.Act
	if act == ActReLU6 && b.clampsMax() {
		// The output slot's quantizer clamps at 6 itself, on the
		// integer grid as the runtime does: give it max(x, 0).
		act = ActReLU
	}
	// A Linear followed by a ReLU is one fused node on the fast path, and
	// so is a training graph's batch normalization followed by a ReLU or
	// ReLU6, also the ReLU left of a ReLU6 whose slot clamps at 6 (the
	// output slot comes after the activation either way).
	switch {
	case b.m.gorgoniaOps:
	case u.Kind == UnitLinear && u.Act == ActReLU:
		b.fuseAct = ActReLU
	case u.BN != nil && b.train && fuseBNReLU:
		b.fuseAct = act
	}
	switch {
	case u.BN != nil:
		x, err = b.convBN(u, x)
	case u.Kind == UnitLinear:
		x, err = b.linear(u, x)
	default:
		var w, bias *G.Node
		if w, bias, err = b.weights(u.W, u.B); err == nil {
			x, err = b.conv(u, x, w, bias)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("nn: building %s: %w", u.Kind, err)
	}
	if act != ActNone && b.fuseAct == ActNone {
		switch {
		case act == ActReLU && b.m.gorgoniaOps:
			x, err = G.Rectify(x)
		default:
			x, err = actNode(act.String(), x, act.Max())
		}
		if err != nil {
			return nil, fmt.Errorf("nn: building %s: %w", u.Act, err)
		}
	}
	b.fuseAct = ActNone
	if t := b.bn; t != nil {
		b.bn = nil
		return b.maskedSlot(u.OutSlot, x, t)
	}
	return b.slot(u.OutSlot, x)
}

// maskedSlot is slot for the output x of the batch normalization t fused
// with its ReLU: a MaskQuantizer's node leaves its gradient mask to t.
func (b *builder) maskedSlot(name string, x *G.Node, t *bnTrain) (*G.Node, error) {
	mq, ok := b.q.(MaskQuantizer)
	if !ok {
		return b.slot(name, x)
	}
	s := b.m.Slot(name)
	if s == nil {
		panic("nn: no slot " + name)
	}
	t.ext = true
	y, take, err := mq.QuantizeMasked(s, x, t.takeExtremes)
	if err != nil {
		return nil, fmt.Errorf("nn: quantizer at %s: %w", name, err)
	}
	t.mask = take
	b.net.Nodes[name] = y
	return y, nil
}

// linear adds x·W + b.
func (b *builder) linear(u *Unit, x *G.Node) (*G.Node, error) {
	w, bias, err := b.weights(u.W, u.B)
	if err != nil {
		return nil, err
	}
	if !b.m.gorgoniaOps {
		return linearNode(u.Name, x, w, bias, b.fuseAct == ActReLU, b.xGrad)
	}
	xw, err := G.Mul(x, w)
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(xw, bias, nil, []byte{0})
}

// conv adds conv(x, w) + bias with the (possibly quantized) weight and
// bias nodes.
func (b *builder) conv(u *Unit, x, w, bias *G.Node) (*G.Node, error) {
	if u.Groups > 1 {
		// Gorgonia's Conv2d has no groups: the fused op serves gorgoniaOps too.
		return groupConvNode(u.Name, x, w, bias, u.Stride, u.Pad, u.Groups, b.xGrad)
	}
	if !b.m.gorgoniaOps {
		return convNode(u.Name, x, w, bias, u.Stride, u.Pad, b.xGrad)
	}
	y, err := G.Conv2d(x, w, tensor.Shape{u.K, u.K}, []int{u.Pad, u.Pad}, []int{u.Stride, u.Stride}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	b4, err := G.Reshape(bias, tensor.Shape{1, u.Out[0], 1, 1})
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(y, b4, nil, []byte{0, 2, 3})
}

// convBN adds a convolution with its batch normalization folded in:
//
//	s = γ/sqrt(var_run + ε)
//	y = conv(x, Q_w(W·s)) + Q_b(β − s·μ_run)
//
// and, in training graphs, the batch normalization with batch statistics
// (bnTrain), which is the identity while BN is frozen.
func (b *builder) convBN(u *Unit, x *G.Node) (*G.Node, error) {
	bn := u.BN
	gamma, beta := b.params[bn.Gamma.Name], b.params[bn.Beta.Name]
	mean, variance := b.params[bn.Mean.Name], b.params[bn.Var.Name]
	s, err := scaleNode(bn.Name, gamma, variance, bn.Eps)
	if err != nil {
		return nil, err
	}
	wf, err := foldWeightNode(u.Name, b.params[u.W.Name], s)
	if err != nil {
		return nil, err
	}
	bf, err := foldBiasNode(u.Name, beta, s, mean)
	if err != nil {
		return nil, err
	}
	wq, err := b.slot(u.WeightSlot, wf)
	if err != nil {
		return nil, err
	}
	bq, err := b.slot(u.BiasSlot, bf)
	if err != nil {
		return nil, err
	}
	y, err := b.conv(u, x, wq, bq)
	if err != nil || !b.train {
		return y, err
	}
	if b.deferBN {
		b.pending[y] = func(res *G.Node) (*G.Node, error) { return bnTrainNode(b.m, bn, y, s, bq, gamma, beta, ActReLU, res) }
		return y, nil
	}
	y, t, err := bnTrainNodeOf(b.m, bn, y, s, bq, gamma, beta, b.fuseAct, nil)
	if err == nil && t.hi > 0 {
		b.bn = t
	}
	return y, err
}

// globalAvgPool adds the mean over H×W and its output slot.
func (b *builder) globalAvgPool(u *Unit, x *G.Node) (*G.Node, error) {
	s := b.m.Slot(u.OutSlot)
	if oq, ok := b.q.(OpQuantizer); ok {
		y, err := oq.QuantizeMean(s, x)
		if err != nil {
			return nil, fmt.Errorf("nn: quantizer at %s: %w", s.Name, err)
		}
		b.net.Nodes[s.Name] = y
		return y, nil
	}
	y, err := gapNode(u.Name, x)
	if err != nil {
		return nil, fmt.Errorf("nn: building %s: %w", u.Kind, err)
	}
	return b.slot(s.Name, y)
}

// add adds the residual addition a + c (then ReLU) and its output slot.
func (b *builder) add(u *Unit, a, c *G.Node) (*G.Node, error) {
	s := b.m.Slot(u.OutSlot)
	if oq, ok := b.q.(OpQuantizer); ok {
		y, err := oq.QuantizeAdd(s, a, c)
		if err != nil {
			return nil, fmt.Errorf("nn: quantizer at %s: %w", s.Name, err)
		}
		b.net.Nodes[s.Name] = y
		return y, nil
	}
	y, err := addNode(u.Name, a, c, u.Act == ActReLU)
	if err != nil {
		return nil, err
	}
	return b.slot(s.Name, y)
}

type builder struct {
	m      *Model
	q      Quantizer
	net    *Net
	params map[string]*G.Node
	// fuseAct asks the layer being built to apply the activation that
	// follows it (ActNone: none).
	fuseAct Act
	// xGrad is false while the activations depend on no parameter (the
	// first weighted layer needs no input gradient).
	xGrad bool
	// train builds a training graph (batch normalization with batch
	// statistics unless frozen).
	train bool
	// deferBN: the unit being built leaves its batch normalization to the
	// residual addition reading it, which finds it in pending by the
	// convolution's output node (units).
	deferBN bool
	pending map[*G.Node]func(res *G.Node) (*G.Node, error)
	// bn: the batch normalization fused with its activation that the unit
	// being built ends with (its output slot may leave it the quantizer's
	// gradient mask: maskedSlot).
	bn *bnTrain
}

// slot passes x through the quantizer of the named slot.
func (b *builder) slot(name string, x *G.Node) (*G.Node, error) {
	s := b.m.Slot(name)
	if s == nil {
		panic("nn: no slot " + name)
	}
	if b.q != nil {
		var err error
		if x, err = b.q.Quantize(s, x); err != nil {
			return nil, fmt.Errorf("nn: quantizer at %s: %w", name, err)
		}
	}
	b.net.Nodes[name] = x
	return x, nil
}

// weights returns the (possibly quantized) nodes of a weight and its bias,
// in that order (the bias quantizer needs the weight's scales).
func (b *builder) weights(w, bias *Param) (*G.Node, *G.Node, error) {
	wn, err := b.slot(w.Name, b.params[w.Name])
	if err != nil {
		return nil, nil, err
	}
	bn, err := b.slot(bias.Name, b.params[bias.Name])
	return wn, bn, err
}
