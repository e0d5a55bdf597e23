package nn

import (
	"fmt"
	"reflect"
	"slices"
)

// The lowering: a network's nested layers become a flat list of fused
// units (Lowered), the one form every backend reads — the Gorgonia graph
// builder here, export's integer model and ONNX writer, and the runtimes
// and generators to come. This file is the only place in the module
// (with the spec codec, spec.go) that looks at the concrete layer types:
// view is its one type switch, and everything else in nn (wiring,
// checks, MACs, the graph builder) works on views or on units.
//
// Its rules (the integer runtime's) are checked here, by NewSequential
// (so by FromSpec, train --spec and --print-spec) when a network is
// built, and by Lower, so a network that the runtime cannot run is
// refused before it is trained.
const (
	// maxLoweredLayers is the integer model's layer limit (infer.Validate).
	maxLoweredLayers = 256
	// maxFanIn bounds the inputs of one output of a weighted layer: the
	// runtime's int32 accumulator holds fan-in·255·127 < 2^30 (uint8
	// inputs minus a zero point reach ±255, weights ±127; infer.Validate).
	maxFanIn = (1 << 30) / (255 * 127)
)

// UnitKind is the operation of a lowered unit.
type UnitKind int

const (
	// UnitLinear is y = x·W + b on a flat input (W: (in, out)).
	UnitLinear UnitKind = iota + 1
	// UnitConv2D is a 2-D convolution with Unit.K, Stride, Pad and Groups
	// (W: (out, in/groups, k, k)).
	UnitConv2D
	// UnitMaxPool is a K×K max pool moved by Stride.
	UnitMaxPool
	// UnitGlobalAvgPool is the mean of each channel over H×W: (C, H, W) → (C).
	UnitGlobalAvgPool
	// UnitFlatten is (C, H, W) → (C·H·W).
	UnitFlatten
	// UnitAdd is the residual addition of its two inputs, then Act.
	UnitAdd
)

func (k UnitKind) String() string {
	switch k {
	case UnitLinear:
		return "linear"
	case UnitConv2D:
		return "conv2d"
	case UnitMaxPool:
		return "maxpool2d"
	case UnitGlobalAvgPool:
		return "globalavgpool"
	case UnitFlatten:
		return "flatten"
	case UnitAdd:
		return "add"
	}
	return fmt.Sprintf("UnitKind(%d)", int(k))
}

// Weighted reports whether units of kind k have a weight and a bias.
func (k UnitKind) Weighted() bool { return k == UnitLinear || k == UnitConv2D }

// Act is an activation fused into a unit's output: the integer runtime
// applies it as its requantization clamp.
type Act int

const (
	ActNone  Act = iota
	ActReLU      // max(x, 0)
	ActReLU6     // min(max(x, 0), 6)
)

func (a Act) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActReLU:
		return "relu"
	case ActReLU6:
		return "relu6"
	}
	return fmt.Sprintf("Act(%d)", int(a))
}

// Max is the activation's upper clamp (6 for ReLU6), 0 for none.
func (a Act) Max() float32 {
	if a == ActReLU6 {
		return 6
	}
	return 0
}

// FoldedBN is the batch normalization of a Conv2D unit, with its
// defaults applied. Lowering keeps it apart from the convolution's
// weight (BN is folded, not yet applied): eval graphs and the integer
// export fold it (Unit.Fold, the graph's fold nodes), training graphs
// also normalize with the batch's statistics, and the float ONNX graph
// writes it as a BatchNormalization node.
type FoldedBN struct {
	Name          string
	Gamma, Beta   *Param // trained
	Mean, Var     *Param // running statistics (Model.Buffers)
	Eps, Momentum float32
}

// Unit is one fused operation of a lowered network; its output is one
// value (one integer layer of the runtime).
type Unit struct {
	Kind UnitKind
	// Name is the layer's name: the weighted layer's, the residual
	// block's (UnitAdd), the global average pool's; "" for a max pool or
	// a flatten.
	Name string
	// Path is where the unit's first layer is in the nested layer list,
	// as errors name it ("3", "layer2.body.0").
	Path string
	// Layer numbers the unit's first layer in a pre-order walk of the
	// nested layer list (a residual block before its body); the layers
	// fused into it (batch norm, activation) follow it. Exported graphs
	// name their nodes with it.
	Layer int
	// Inputs are the units read, in order: one, or two for UnitAdd
	// (body, then shortcut). −1 is the network input.
	Inputs []int
	// In and Out are the per-sample shapes of the (first) input and the
	// output: (C, H, W) or (features).
	In, Out []int
	// K, Stride: UnitConv2D and UnitMaxPool. Pad, Groups (≥ 1;
	// depthwise when Groups = In[0] = Out[0]): UnitConv2D.
	K, Stride, Pad, Groups int
	// Act is the activation fused into a weighted unit's or an add's output.
	Act Act
	// W and B are a weighted unit's parameters as trained (B is nil when
	// BN is set: the folded bias replaces it).
	W, B *Param
	// BN is the batch normalization folded into a UnitConv2D, or nil.
	BN *FoldedBN
	// The quantizer slots (Model.Slot) the unit owns: WeightSlot and
	// BiasSlot of a weighted unit; OutSlot of a weighted unit, an add or
	// a global average pool quantizes its output. A max pool or flatten
	// owns none: its OutSlot is its input's (the slot that last quantized
	// the value it passes on; "input" for the network input).
	WeightSlot, BiasSlot, OutSlot string
}

// OwnsOut reports whether the unit's OutSlot is its own (not its input's).
func (u *Unit) OwnsOut() bool { return u.Kind != UnitMaxPool && u.Kind != UnitFlatten }

// Fold returns the float32 weights (in W's layout) and bias (one per
// output channel) that the unit's weight and bias slots quantize: with BN
// folded (see FoldBN), bit for bit what the eval graph computes, or
// copies of W and B. It reads the parameters now: call it again after
// they change. It panics for a unit that is not weighted.
func (u *Unit) Fold() (w, b []float32) {
	if !u.Kind.Weighted() {
		panic("nn: Fold of a " + u.Kind.String() + " unit")
	}
	if u.BN != nil {
		return foldBN(u.W, u.BN)
	}
	return slices.Clone(u.W.Data()), slices.Clone(u.B.Data())
}

// Lowered is a network lowered to a flat list of fused units (Model.Lower).
type Lowered struct {
	Arch    string
	In      Shape
	Classes int
	// Units in an order where every unit comes after its inputs; the
	// last one's output are the logits.
	Units []Unit
}

// Lower lowers the model's layers to fused units:
//
//   - a Linear or Conv2D, with a directly following BatchNorm2D
//     (Conv2D only; FoldedBN) and then a ReLU or ReLU6 (Act), is one
//     weighted unit;
//   - MaxPool2D, GlobalAvgPool and Flatten are one unit each;
//   - a Residual is its body's units, then its shortcut's (the first
//     reading the block's input), then an add reading the ends of both
//     (or the block's input for an identity shortcut), with Act ReLU
//     when the block has one.
//
// It returns the first rule of the integer runtime that the layers break
// (see CheckLowering), or an error for a model whose layers are not
// wired (not built by NewSequential, or changed after).
func (m *Model) Lower() (*Lowered, error) {
	c := &lowering{m: m, lw: &Lowered{Arch: m.Arch, In: m.In, Classes: m.Classes}}
	in := value{idx: -1, slot: "input", shape: []int{m.In.C, m.In.H, m.In.W}}
	out, err := c.layers(m.Layers, "", in, 0)
	if err != nil {
		return nil, err
	}
	if n := len(c.lw.Units); n > maxLoweredLayers {
		return nil, fmt.Errorf("nn: %s lowers to %d integer layers, more than the integer runtime's %d", m.Arch, n, maxLoweredLayers)
	}
	if c.unwired != nil {
		return nil, c.unwired
	}
	if n := len(c.lw.Units); n == 0 || !slices.Equal(out.shape, []int{m.Classes}) {
		return nil, fmt.Errorf("nn: %s ends with shape %v, want [%d] (the class count)", m.Arch, out.shape, m.Classes)
	}
	return c.lw, nil
}

// CheckLowering returns the first rule of the lowering to the integer
// runtime that the model's layers break, or nil:
//
//   - a ReLU or ReLU6 follows a Linear or Conv2D layer (or the
//     BatchNorm2D folded into a Conv2D): it is fused into that layer's
//     requantization clamp and has no integer layer of its own;
//   - a BatchNorm2D directly follows a Conv2D (it is folded into it);
//   - a convolution pads less than its kernel size (pad < k);
//   - a weighted layer has a fan-in of at most 33,155 (maxFanIn: its
//     int32 accumulator must not overflow);
//   - neither summand of a residual addition is a Flatten's output (the
//     runtime keeps a Flatten's bytes channels-last, readable only by a
//     Linear layer);
//   - the network lowers to at most 256 integer layers.
//
// NewSequential refuses a network that breaks one, so CheckLowering
// fails only for a model whose layers were changed after it was built.
// The message names the layer as NewSequential does
// ("nn: ARCH layer PATH (KIND): ...").
func (m *Model) CheckLowering() error {
	_, err := m.Lower()
	return err
}

// layerView is a layer as the lowering sees it.
type layerView struct {
	op   UnitKind // the unit the layer starts; 0 for a batch norm, an activation or an unknown layer
	lin  *Linear
	conv *Conv2D
	bn   *BatchNorm2D
	act  Act // ReLU, ReLU6
	pool *MaxPool2D
	gap  *GlobalAvgPool
	res  *Residual
}

// view is the module's one type switch on layer types (with the spec
// codec's). l must not be nil (isNil).
func view(l Layer) layerView {
	switch l := l.(type) {
	case *Linear:
		return layerView{op: UnitLinear, lin: l}
	case *Conv2D:
		return layerView{op: UnitConv2D, conv: l}
	case *BatchNorm2D:
		return layerView{bn: l}
	case *ReLU:
		return layerView{act: ActReLU}
	case *ReLU6:
		return layerView{act: ActReLU6}
	case *MaxPool2D:
		return layerView{op: UnitMaxPool, pool: l}
	case *GlobalAvgPool:
		return layerView{op: UnitGlobalAvgPool, gap: l}
	case *Flatten:
		return layerView{op: UnitFlatten}
	case *Residual:
		return layerView{op: UnitAdd, res: l}
	}
	return layerView{}
}

// weighted is the view's Linear or Conv2D, or nil.
func (v layerView) weighted() weighted {
	if v.lin != nil {
		return v.lin
	}
	if v.conv != nil {
		return v.conv
	}
	return nil
}

// group is a layer with the layers fused into it: a weighted layer's
// BatchNorm2D (Conv2D only) and ReLU or ReLU6. It is the one fusion rule.
type group struct {
	idx int // the index of l in the layer list it came from
	n   int // the number of layers fused (1 to 3)
	l   Layer
	v   layerView // zero for a nil layer
	bn  *BatchNorm2D
	act Act
}

// fuse groups a layer list into fused layers.
func fuse(layers []Layer) []group {
	var gs []group
	at := func(i int) layerView {
		if i < len(layers) && !isNil(layers[i]) {
			return view(layers[i])
		}
		return layerView{}
	}
	for i := 0; i < len(layers); i++ {
		g := group{idx: i, n: 1, l: layers[i], v: at(i)}
		if g.v.weighted() != nil {
			if bn := at(i + 1).bn; g.v.conv != nil && bn != nil {
				g.bn = bn
				g.n++
				i++
			}
			if a := at(i + 1).act; a != ActNone {
				g.act = a
				g.n++
				i++
			}
		}
		gs = append(gs, g)
	}
	return gs
}

// bnOf is a wired batch norm's FoldedBN: the one place its defaults
// (ε = 1e-5, momentum 0.1) are applied.
func bnOf(bn *BatchNorm2D) *FoldedBN {
	eps, mom := bn.Eps, bn.Momentum
	if eps == 0 {
		eps = 1e-5
	}
	if mom == 0 {
		mom = 0.1
	}
	return &FoldedBN{Name: bn.Name, Gamma: bn.Gamma, Beta: bn.Beta, Mean: bn.Mean, Var: bn.Var, Eps: eps, Momentum: mom}
}

// foldBN is the one batch-norm fold: W'[c] = s[c]·W[c], b'[c] = β[c] − s[c]·μ[c]
// with s[c] = γ[c]/sqrt(σ²[c] + ε), in the float32 operations of the
// graph's fold nodes.
func foldBN(w *Param, bn *FoldedBN) (wf, bf []float32) {
	gamma, beta, mean, variance := bn.Gamma.Data(), bn.Beta.Data(), bn.Mean.Data(), bn.Var.Data()
	s := make([]float32, len(gamma))
	bf = make([]float32, len(gamma))
	for c := range s {
		s[c] = bnScale(gamma[c], variance[c], bn.Eps)
		bf[c] = foldedBias(beta[c], s[c], mean[c])
	}
	wf = make([]float32, w.Value.Size())
	foldWeights(wf, w.Data(), s, len(wf)/len(s))
	return wf, bf
}

// value is a unit's output while lowering: its index (−1: the network
// input), the slot that last quantized it, its shape and whether it is a
// Flatten's output.
type value struct {
	idx   int
	slot  string
	shape []int
	flat  bool
}

type lowering struct {
	m   *Model
	lw  *Lowered
	seq int // pre-order number of the next layer
	// unwired is the first error of a layer that is not wired as its
	// place in the network needs (a model changed after NewSequential).
	// The walk goes on, so that a broken rule, reported first, is found
	// wherever it is.
	unwired error
}

// wiring records the first wiring error.
func (c *lowering) wiring(err error) {
	if c.unwired == nil {
		c.unwired = err
	}
}

// isNil reports whether l is nil or a typed nil pointer.
func isNil(l Layer) bool {
	v := reflect.ValueOf(l)
	return l == nil || v.Kind() == reflect.Pointer && v.IsNil()
}

func (c *lowering) add(u Unit) value {
	c.lw.Units = append(c.lw.Units, u)
	return value{idx: len(c.lw.Units) - 1, slot: u.OutSlot, shape: u.Out}
}

// layers lowers a layer list (path names the enclosing blocks) reading
// in and returns its output.
func (c *lowering) layers(ls []Layer, path string, in value, depth int) (value, error) {
	arch := c.m.Arch
	if depth > specMaxDepth {
		return value{}, fmt.Errorf("nn: %s: layers %s: residual blocks nested deeper than %d", arch, path, specMaxDepth)
	}
	cur := in
	for _, g := range fuse(ls) {
		i := g.idx
		if isNil(g.l) {
			return value{}, fmt.Errorf("nn: %s layer %s%d is nil", arch, path, i)
		}
		where := fmt.Sprintf("nn: %s layer %s%d (%s)", arch, path, i, g.l.Kind())
		u := Unit{Kind: g.v.op, Path: fmt.Sprintf("%s%d", path, i), Layer: c.seq, Inputs: []int{cur.idx}, In: cur.shape}
		c.seq += g.n
		var err error
		switch g.v.op {
		case UnitFlatten:
			u.Out, u.OutSlot = []int{elems(cur.shape)}, cur.slot
			cur = c.add(u)
			cur.flat = true
		case UnitMaxPool:
			p := g.v.pool
			u.K, u.Stride, u.OutSlot = p.K, p.Stride, cur.slot
			if len(cur.shape) != 3 || p.K < 1 || p.Stride < 1 || p.K > cur.shape[1] || p.K > cur.shape[2] {
				c.wiring(fmt.Errorf("%s: max-pool k=%d stride=%d on a %v input", where, p.K, p.Stride, cur.shape))
				u.Out = cur.shape
			} else {
				u.Out = []int{cur.shape[0], (cur.shape[1]-p.K)/p.Stride + 1, (cur.shape[2]-p.K)/p.Stride + 1}
			}
			cur = c.add(u)
		case UnitGlobalAvgPool:
			u.Name, u.OutSlot, u.Out = g.v.gap.Name, g.v.gap.Name+".out", cur.shape[:1]
			if g.v.gap.Name == "" || len(cur.shape) != 3 {
				c.wiring(fmt.Errorf("%s: a global average pool needs a name and a CxHxW input, has %q and %v", where, g.v.gap.Name, cur.shape))
			}
			c.owns(where, u.OutSlot)
			cur = c.add(u)
		case UnitAdd:
			if cur, err = c.residual(g.v.res, path, where, u, cur, depth); err != nil {
				return value{}, err
			}
		case UnitLinear, UnitConv2D:
			if cur, err = c.weighted(g, ls, where, u, cur); err != nil {
				return value{}, err
			}
		default:
			if g.v.bn != nil {
				return value{}, fmt.Errorf("%s: a BatchNorm2D must directly follow a Conv2D to be folded into it", where)
			}
			if g.v.act != ActNone {
				return value{}, fmt.Errorf("%s: a %s that does not follow a Linear or Conv2D layer (or its BatchNorm2D) cannot be fused", where, g.l.Kind())
			}
			return value{}, fmt.Errorf("%s: layer kind %s is not supported by the integer runtime", where, g.l.Kind())
		}
	}
	return cur, nil
}

// owns checks that the model has the quantizer slot a unit owns.
func (c *lowering) owns(where string, slots ...string) {
	for _, s := range slots {
		if c.m.Slot(s) == nil {
			c.wiring(fmt.Errorf("%s: the model has no quantizer slot %s (layers changed after NewSequential?)", where, s))
		}
	}
}

// residual lowers a residual block: body, shortcut, add.
func (c *lowering) residual(r *Residual, path, where string, u Unit, in value, depth int) (value, error) {
	sub := path + r.Name
	a, err := c.layers(r.Body, sub+".body.", in, depth+1)
	if err != nil {
		return value{}, err
	}
	b := in
	if len(r.Shortcut) > 0 {
		if b, err = c.layers(r.Shortcut, sub+".shortcut.", in, depth+1); err != nil {
			return value{}, err
		}
	}
	for k, x := range []value{a, b} {
		if x.flat {
			return value{}, fmt.Errorf("%s: residual block %s: its %s reads a Flatten's output directly, which the integer runtime cannot add; put the Flatten before a Linear layer inside the block, or the block after one",
				where, r.Name, [2]string{"body", "shortcut"}[k])
		}
	}
	if r.Name == "" || a.idx == in.idx || !slices.Equal(a.shape, b.shape) {
		c.wiring(fmt.Errorf("%s: residual %q: a block needs a name and a weighted layer in its body, and adds its body's %v to its shortcut's %v", where, r.Name, a.shape, b.shape))
	}
	u.Name, u.OutSlot = r.Name, r.Name+".out"
	u.Inputs, u.In, u.Out = []int{a.idx, b.idx}, a.shape, a.shape
	if r.ReLU {
		u.Act = ActReLU
	}
	c.owns(where, u.OutSlot)
	return c.add(u), nil
}

// weighted lowers a Linear or Conv2D with what is fused into it.
func (c *lowering) weighted(g group, ls []Layer, where string, u Unit, in value) (value, error) {
	l := g.v.weighted()
	if g.v.lin != nil && g.act == ActNone && g.idx+1 < len(ls) && !isNil(ls[g.idx+1]) && view(ls[g.idx+1]).bn != nil {
		return value{}, fmt.Errorf("%s: a BatchNorm2D after a Linear layer cannot be folded (only Conv2D + BatchNorm2D)", where)
	}
	if err := checkWeighted(g.v); err != nil {
		return value{}, fmt.Errorf("%s: %v", where, err)
	}
	u.Name, u.Act = l.layerName(), g.act
	u.W, u.B = l.params()
	if u.W == nil {
		c.wiring(fmt.Errorf("%s: %s has no weights (model not set up)", where, u.Name))
	}
	if lin := g.v.lin; lin != nil {
		if elems(in.shape) != lin.In {
			c.wiring(fmt.Errorf("%s: linear %s takes %d inputs, gets %v", where, u.Name, lin.In, in.shape))
		}
		u.Out = []int{lin.Out}
	} else {
		cv := g.v.conv
		if len(in.shape) != 3 || in.shape[0] != cv.In || in.shape[1] != cv.inH || in.shape[2] != cv.inW {
			c.wiring(fmt.Errorf("%s: conv %s takes %dx%dx%d, gets %v", where, u.Name, cv.In, cv.inH, cv.inW, in.shape))
		}
		u.K, u.Stride, u.Pad, u.Groups = cv.K, cv.Stride, cv.Pad, cv.groups()
		u.Out = []int{cv.Out, cv.outH, cv.outW}
	}
	if bn := g.bn; bn != nil {
		if bn.C != u.Out[0] || bn.Gamma == nil || bn.Beta == nil || bn.Mean == nil || bn.Var == nil {
			c.wiring(fmt.Errorf("%s: batch norm %s (%d channels) does not fit conv %s (%d)", where, bn.Name, bn.C, u.Name, u.Out[0]))
		}
		u.BN, u.B = bnOf(bn), nil
	} else if u.B == nil {
		c.wiring(fmt.Errorf("%s: %s has no bias", where, u.Name))
	}
	u.WeightSlot, u.BiasSlot, u.OutSlot = u.W.Name, u.Name+".bias", u.Name+".out"
	c.owns(where, u.WeightSlot, u.BiasSlot, u.OutSlot)
	return c.add(u), nil
}

// checkWeighted checks a wired Linear or Conv2D against the runtime's
// limits.
func checkWeighted(v layerView) error {
	l := v.weighted()
	kind := "linear"
	fan, _ := l.fans()
	if cv := v.conv; cv != nil {
		kind = "conv2d"
		if cv.Pad >= cv.K {
			return fmt.Errorf("conv2d %s: padding %d is not smaller than the kernel size %d (the integer runtime pads less than a kernel: an output that sees only padding is a constant)", cv.Name, cv.Pad, cv.K)
		}
	}
	if fan > maxFanIn {
		return fmt.Errorf("%s %s: fan-in %d is more than %d, the most an int32 accumulator of the integer runtime holds (fan-in·255·127 < 2^30)", kind, l.layerName(), fan, maxFanIn)
	}
	return nil
}

// weightElems is the size of the weight a layer would create on input
// shape in (0 for layers without one or shapes it will reject).
func weightElems(v layerView, in []int) int {
	switch {
	case v.lin != nil && len(in) == 1:
		return elems(in, []int{v.lin.Out})
	case v.conv != nil && len(in) == 3 && v.conv.Groups >= 0:
		return elems([]int{in[0] / v.conv.groups(), v.conv.Out, v.conv.K, v.conv.K})
	}
	return 0
}

// macs counts the multiply-accumulates of a layer list.
func macs(layers []Layer) int {
	n := 0
	for _, l := range layers {
		if isNil(l) {
			continue
		}
		v := view(l)
		if w := v.weighted(); w != nil {
			n += w.macs()
		}
		if v.res != nil {
			n += macs(v.res.Body) + macs(v.res.Shortcut)
		}
	}
	return n
}
