package export

// ONNX export. An integer model becomes a standard ONNX graph in QDQ form
// (opset 13): every activation is a uint8 tensor with a scale and zero
// point, every weighted layer is
//
//	DequantizeLinear(x) ─┐
//	DequantizeLinear(W) ─┼─ Gemm / Conv ── QuantizeLinear ── [Clip on uint8]
//	DequantizeLinear(b) ─┘
//
// with int8 weights and per-output-channel scales (axis 0), an int32 bias
// with scale S_in·S_w[c] and zero point 0, exactly the integers of the
// model file. ONNX Runtime fuses each DQ → Gemm/Conv → Q group into one
// integer kernel (QGemm / QLinearConv).
//
// Symmetric int8 activations (mode w8a8) are written as uint8 with zero
// point 128: q ∈ [−127, 127] maps to u = q + 128 with the same scale, which
// is lossless, and u8 activations × s8 weights is ONNX Runtime's fast x86
// path (s8 activations fall back to a slow kernel). The model's clamp
// (ReLU fused into the lower bound, and the restricted range [−127, 127]
// that uint8 cannot express by saturation alone) follows as an integer
// Clip on the uint8 tensor, exact and cheap. MaxPool and Flatten run on the
// uint8 tensor directly (the offset is monotone, so the maximum is the
// same). The int8 logits come from the last uint8 tensor by
// DequantizeLinear → QuantizeLinear, which is exact.
//
// Modern layers: a grouped or depthwise convolution is a Conv with its
// group attribute; a ReLU6 is the upper bound of the same integer Clip
// (Hi = round(6/S) + Z); a residual addition is
//
//	DequantizeLinear(a) ─┐
//	DequantizeLinear(b) ─┴─ Add ── QuantizeLinear ── [Clip on uint8]
//
// (ONNX Runtime fuses it into QLinearAdd; the ReLU after the addition is
// the Clip's lower bound Z_out, which is what Relu before QuantizeLinear
// gives); a global average pool is DequantizeLinear → GlobalAveragePool
// → QuantizeLinear with the input's parameters, and a Flatten before the
// Gemm that reads it. Layers read the values their Inputs name, so a
// residual network is the same DAG as the model file. ONNX Runtime adds
// and averages in float, so a value next to a half step may round the
// other way where the model file rounds exactly.
//
// Per-layer bit-widths (mixed precision, qat.Config.SlotBits) are kept
// exactly but not packed: opset 13 has no types narrower than 8 bits, so a
// 2- to 6-bit weight is an int8 initializer holding values in
// ±(2^(b−1) − 1) (the graph is as large as a W8 graph; the model file packs
// it), and a 4-bit activation a uint8 tensor whose Clip is its integer
// range. (Opset 21's INT4/UINT4 would pack 4-bit tensors only, and ONNX
// Runtime's fused integer kernels do not take them.)
//
// Rounding: QuantizeLinear rounds x/S half to even, once, and ONNX
// Runtime's fused kernels requantize acc·(S_in·S_w/S_out) the same way; the
// graph equals tinyqat's runtime bit for bit only where the runtime rounds
// once with that tie rule (quant/doc.go). scripts/onnx_check.sh measures the
// agreement on MNIST.
//
// Graph inputs and outputs:
//
//	input     float32 [N, C, H, W]   pixels in [0, 1], as infer.Model.Logits
//	                                 takes them
//	logits_q  int8 (w8a8) or uint8 (w8a8-asym) [N, classes]: the model's
//	          integer logits, comparable one for one with infer.Model.Logits
//	logits    float32 [N, classes]: the dequantized logits
//
// A model with an input normalization (infer.Model.Norm) normalizes the
// input first, as the training batches did in float32:
//
//	Sub(input, mean[C,1,1]) → Mul(·, inv[C,1,1]),   inv[c] = float32(1/Std[c])
//
// (a subtraction rounded to float32, then a multiplication by the float32
// reciprocal: Div by the std would round differently), before
// QuantizeLinear. Its class names and normalization are also in the
// model's metadata_props: tinyqat.class_names, tinyqat.input_mean and
// tinyqat.input_std (JSON arrays).
//
// With ONNXOptions.LayerOutputs every layer's stored output is also a graph
// output, "layer<i>", and the quantized input "layer_input" (uint8;
// subtract the metadata value tinyqat.act_offset to get the model's
// integer; the last layer is int8 for w8a8), for diagnosis.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
)

const (
	// ONNXOpset is the ai.onnx operator set the exported graphs use (per-
	// channel DequantizeLinear needs 13).
	ONNXOpset = 13
	// onnxIRVersion is the IR version of opset 13 (ONNX 1.8).
	onnxIRVersion = 7
	// onnxActOffset maps a symmetric int8 activation q to its uint8
	// storage q + 128.
	onnxActOffset = 128
)

// ONNXOptions are the export options; the zero value (or nil) writes the
// plain graph.
type ONNXOptions struct {
	// LayerOutputs adds each layer's stored output as a graph output named
	// "layer<i>", so an engine's intermediate results can be compared with
	// the runtime's layer by layer.
	LayerOutputs bool
}

// ONNXError reports a model that cannot be written as ONNX.
type ONNXError struct{ Problem string }

func (e *ONNXError) Error() string { return "export: onnx: " + e.Problem }

// ONNXFromModel builds the ONNX graph of an integer model (w8a8,
// w8a8-asym or w8-only). The model is validated first.
func ONNXFromModel(m *infer.Model, opt *ONNXOptions) (*onnxpb.ModelProto, error) {
	if m == nil {
		return nil, &ONNXError{"nil model"}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("export: onnx: %w", err)
	}
	if opt == nil {
		opt = &ONNXOptions{}
	}
	b := newONNXBuilder(m.Arch + "_" + string(m.Mode))
	b.input("input", m.InC, m.InH, m.InW)
	in := b.normalize("input", m.Norm)
	if m.Mode == infer.W8Only {
		if err := b.weightOnly(m, in); err != nil {
			return nil, err
		}
	} else if err := b.integer(m, in, opt); err != nil {
		return nil, err
	}
	meta := map[string]string{"tinyqat.arch": m.Arch, "tinyqat.mode": string(m.Mode),
		"tinyqat.classes": strconv.Itoa(m.Classes)}
	if m.Mode != infer.W8Only {
		meta["tinyqat.act_offset"] = strconv.Itoa(int(onnxOffset(m.Input)))
	}
	for k, v := range m.Source.Map() {
		meta["tinyqat.source."+k] = v
	}
	if m.ClassNames != nil {
		meta["tinyqat.class_names"] = jsonString(m.ClassNames)
	}
	if m.Norm != nil {
		meta["tinyqat.input_mean"], meta["tinyqat.input_std"] = jsonString(m.Norm.Mean), jsonString(m.Norm.Std)
	}
	return b.model(meta), nil
}

// jsonString is v as JSON (of values that always marshal).
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("export: onnx metadata: " + err.Error())
	}
	return string(b)
}

// normalize emits the input normalization of float pixels x, if any:
// Sub(x, mean) then Mul(·, 1/std), per channel ([C,1,1] constants that
// broadcast over [N,C,H,W]), the float32 expression and order of the
// training batches. It returns the normalized value's name (x without a
// normalization).
func (b *onnxBuilder) normalize(x string, n *infer.InputNorm) string {
	if n == nil {
		return x
	}
	c := len(n.Mean)
	inv := make([]float32, c)
	for i, s := range n.Std {
		inv[i] = 1 / s
	}
	b.node("Sub", []string{x, b.f32("input_mean", n.Mean, c, 1, 1)}, "input_centered")
	b.node("Mul", []string{"input_centered", b.f32("input_inv_std", inv, c, 1, 1)}, "input_normalized")
	return "input_normalized"
}

// ONNXFromFloat builds the float32 ONNX graph of a float network (Gemm,
// Conv with its groups, BatchNormalization with the running statistics,
// MaxPool, GlobalAveragePool, Relu, Clip for ReLU6, Add for residual
// blocks, Flatten) with its current parameters: the network as its
// evaluation graphs compute it.
func ONNXFromFloat(nm *nn.Model) (*onnxpb.ModelProto, error) {
	return ONNXFromFloatInput(nm, nil, nil)
}

// ONNXFromFloatInput is ONNXFromFloat for a network trained on normalized
// inputs and named classes (a run's checkpoint records both): the graph
// takes pixels in [0, 1] and normalizes them first, as the integer
// model's graph does, and its metadata names the classes. norm nil and
// classNames empty give ONNXFromFloat's graph.
func ONNXFromFloatInput(nm *nn.Model, classNames []string, norm *infer.InputNorm) (*onnxpb.ModelProto, error) {
	if nm == nil {
		return nil, &ONNXError{"nil model"}
	}
	if len(classNames) > 0 && len(classNames) != nm.Classes {
		return nil, &ONNXError{fmt.Sprintf("%d class names for %d classes", len(classNames), nm.Classes)}
	}
	if norm != nil {
		if len(norm.Mean) != nm.In.C || len(norm.Std) != nm.In.C {
			return nil, &ONNXError{fmt.Sprintf("input normalization of %d means and %d stds for %d channels", len(norm.Mean), len(norm.Std), nm.In.C)}
		}
		for c := range norm.Mean {
			m, sd := float64(norm.Mean[c]), float64(norm.Std[c])
			if math.IsNaN(m) || math.IsInf(m, 0) || !(sd > 0) || math.IsInf(sd, 0) || math.IsInf(float64(1/norm.Std[c]), 0) {
				return nil, &ONNXError{fmt.Sprintf("input normalization of channel %d: mean %v, std %v", c, norm.Mean[c], norm.Std[c])}
			}
		}
	}
	lw, err := nm.Lower()
	if err != nil {
		return nil, fmt.Errorf("export: onnx: %w", err)
	}
	b := newONNXBuilder(nm.Arch + "_float32")
	b.input("input", nm.In.C, nm.In.H, nm.In.W)
	cur, err := b.floatUnits(lw, onnxVal{name: b.normalize("input", norm), typ: onnxpb.TensorProto_FLOAT})
	if err != nil {
		return nil, err
	}
	if !cur.flat {
		// logits are [N, classes] (a model ending in a 1×1 map)
		b.node("Flatten", []string{cur.name}, "logits_flat", onnxInt("axis", 1))
		cur.name = "logits_flat"
	}
	b.node("Identity", []string{cur.name}, "logits")
	b.output("logits", onnxpb.TensorProto_FLOAT, nm.Classes)
	meta := map[string]string{"tinyqat.arch": nm.Arch, "tinyqat.mode": "float32",
		"tinyqat.classes": strconv.Itoa(nm.Classes)}
	if len(classNames) > 0 {
		meta["tinyqat.class_names"] = jsonString(classNames)
	}
	if norm != nil {
		meta["tinyqat.input_mean"], meta["tinyqat.input_std"] = jsonString(norm.Mean), jsonString(norm.Std)
	}
	return b.model(meta), nil
}

// floatUnits writes the units of a lowered float network reading in.
// A weighted unit is written as its layers are (Gemm or Conv, then
// BatchNormalization with the running statistics, then Relu or Clip), so
// ONNX Runtime folds the batch norm itself. Node names number the
// network's layers in pre-order (nn.Unit.Layer) with their kinds.
func (b *onnxBuilder) floatUnits(lw *nn.Lowered, in onnxVal) (onnxVal, error) {
	vals := make([]onnxVal, len(lw.Units))
	at := func(j int) onnxVal {
		if j < 0 {
			return in
		}
		return vals[j]
	}
	for i := range lw.Units {
		u := &lw.Units[i]
		cur := at(u.Inputs[0])
		name := func(k int, kind string) string { return fmt.Sprintf("l%d_%s", u.Layer+k, kind) }
		out := name(0, u.Kind.String())
		switch u.Kind {
		case nn.UnitFlatten:
			b.node("Flatten", []string{cur.name}, out, onnxInt("axis", 1))
		case nn.UnitMaxPool:
			b.node("MaxPool", []string{cur.name}, out, onnxInts("kernel_shape", u.K, u.K), onnxInts("strides", u.Stride, u.Stride))
		case nn.UnitGlobalAvgPool:
			// nn's mean is (N, C): pool, then flatten.
			b.node("GlobalAveragePool", []string{cur.name}, out+"_pool")
			b.node("Flatten", []string{out + "_pool"}, out, onnxInt("axis", 1))
		case nn.UnitAdd:
			out = name(0, "residual") // the block's node names, as before the lowering
			sum := out
			if u.Act == nn.ActReLU {
				sum = out + "_sum"
			}
			b.node("Add", []string{cur.name, at(u.Inputs[1]).name}, sum)
			if u.Act == nn.ActReLU {
				b.node("Relu", []string{sum}, out)
			}
		case nn.UnitLinear:
			// nn stores W as (in, out): y = x·W + b is Gemm without transposes.
			w := b.f32(u.WeightSlot, u.W.Data(), u.In[0], u.Out[0])
			bias := b.f32(u.B.Name, u.B.Data(), u.Out[0])
			b.node("Gemm", []string{cur.name, w, bias}, out)
			out = b.floatAct(u, out, name(1, u.Act.String()))
		case nn.UnitConv2D:
			c := u.Out[0]
			in := []string{cur.name, b.f32(u.WeightSlot, u.W.Data(), c, u.In[0]/u.Groups, u.K, u.K)}
			if u.B != nil { // a conv followed by batch norm has none
				in = append(in, b.f32(u.B.Name, u.B.Data(), c))
			}
			attrs := []*onnxpb.AttributeProto{onnxInts("kernel_shape", u.K, u.K),
				onnxInts("pads", u.Pad, u.Pad, u.Pad, u.Pad), onnxInts("strides", u.Stride, u.Stride)}
			if u.Groups > 1 {
				attrs = append(attrs, onnxInt("group", u.Groups))
			}
			b.node("Conv", in, out, attrs...)
			k := 1
			if bn := u.BN; bn != nil {
				bnOut := name(1, "batchnorm2d")
				b.node("BatchNormalization", []string{out, b.f32(bn.Gamma.Name, bn.Gamma.Data(), c),
					b.f32(bn.Beta.Name, bn.Beta.Data(), c), b.f32(bn.Mean.Name, bn.Mean.Data(), c),
					b.f32(bn.Var.Name, bn.Var.Data(), c)}, bnOut, onnxFloat("epsilon", bn.Eps))
				out, k = bnOut, 2
			}
			out = b.floatAct(u, out, name(k, u.Act.String()))
		default:
			return in, &ONNXError{fmt.Sprintf("unit %d: kind %s has no ONNX form", i, u.Kind)}
		}
		vals[i] = onnxVal{name: out, typ: onnxpb.TensorProto_FLOAT, flat: len(u.Out) == 1}
	}
	return vals[len(vals)-1], nil
}

// floatAct writes a weighted unit's activation of x as node out and
// returns its output (x when it has none).
func (b *onnxBuilder) floatAct(u *nn.Unit, x, out string) string {
	switch u.Act {
	case nn.ActReLU:
		b.node("Relu", []string{x}, out)
	case nn.ActReLU6:
		b.node("Clip", []string{x, b.scalarF32(out+"_min", 0), b.scalarF32(out+"_max", u.Act.Max())}, out)
	default:
		return x
	}
	return out
}

// WriteONNX serializes an ONNX model to path atomically (a temporary file,
// then a rename).
func WriteONNX(path string, mp *onnxpb.ModelProto) error {
	if mp == nil {
		return &ONNXError{"nil model"}
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("export: onnx: %w", err)
	}
	return stfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// onnxOffset is the uint8 storage offset of an activation: 128 for
// symmetric int8, 0 for affine uint8.
func onnxOffset(p infer.QParams) int32 {
	if p.Signed {
		return onnxActOffset
	}
	return 0
}

// onnxVal is a stored activation in the graph: its name, its element
// type (uint8, or int8 for the logits of a w8a8 model) and whether it is
// flat ([N, K]) rather than [N, C, H, W].
type onnxVal struct {
	name string
	typ  onnxpb.TensorProto_DataType
	flat bool
}

// onnxInputs are the values layer i of m reads: Inputs, or the previous
// layer's output (−1: the model input).
func onnxInputs(m *infer.Model, i int) []int {
	if l := m.Layers[i]; len(l.Inputs) > 0 {
		return l.Inputs
	}
	return []int{i - 1}
}

// integer writes the layers of a w8a8 or w8a8-asym model.
func (b *onnxBuilder) integer(m *infer.Model, x string, opt *ONNXOptions) error {
	// Input quantization of x (the input, normalized), then the input's
	// clamp (the restricted range).
	in := m.Input
	lo, hi := in.QRange()
	cur := b.quantize(x, "input_q", in, onnxpb.TensorProto_UINT8)
	cur = b.clamp(cur, "input", in, lo, hi, onnxpb.TensorProto_UINT8)
	if opt.LayerOutputs {
		b.node("Identity", []string{cur}, "layer_input")
		b.output("layer_input", onnxpb.TensorProto_UINT8, m.InC, m.InH, m.InW)
	}
	// The logits are the output of the last layer that requantizes
	// (weighted or add); a max-pool, flatten or mean after it works on its
	// storage type.
	last := -1
	for i, l := range m.Layers {
		if l.Kind.Weighted() || l.Kind == infer.KindAdd {
			last = i
		}
	}
	if last < 0 {
		return &ONNXError{"the model has no weighted layer"}
	}
	vals := map[int]onnxVal{-1: {name: cur, typ: onnxpb.TensorProto_UINT8}}
	for i, l := range m.Layers {
		name := fmt.Sprintf("l%d_%s", i, l.Kind)
		if l.Name != "" {
			name = fmt.Sprintf("l%d_%s", i, l.Name)
		}
		ins := onnxInputs(m, i)
		x := vals[ins[0]]
		outType := onnxpb.TensorProto_UINT8
		if i == last && l.Out.Signed {
			outType = onnxpb.TensorProto_INT8
		}
		v := onnxVal{name: name, typ: x.typ, flat: x.flat}
		switch l.Kind {
		case infer.KindFlatten:
			b.node("Flatten", []string{x.name}, name, onnxInt("axis", 1))
			v.flat = true
		case infer.KindMaxPool2D:
			b.node("MaxPool", []string{x.name}, name, onnxInts("kernel_shape", l.K, l.K), onnxInts("strides", l.Stride, l.Stride))
		case infer.KindGlobalAvgPool:
			// DequantizeLinear → GlobalAveragePool → QuantizeLinear with
			// the input's parameters: round(mean) + Z, the integer mean
			// computed in float (exact up to float rounding near ties).
			xd := b.dequantize(x, l.In, name+"_x")
			b.node("GlobalAveragePool", []string{xd}, name+"_mean")
			v = onnxVal{name: b.quantize(name+"_mean", name, l.Out, x.typ), typ: x.typ}
		case infer.KindAdd:
			// DequantizeLinear (both) → Add → QuantizeLinear, then the
			// integer clamp (a fused ReLU is its lower bound Z_out, which
			// is what Relu before QuantizeLinear gives, and keeps the
			// group fusable into one QLinearAdd).
			ad := b.dequantize(x, l.In, name+"_a")
			bd := b.dequantize(vals[ins[1]], l.In2, name+"_b")
			b.node("Add", []string{ad, bd}, name+"_sum")
			q := b.quantize(name+"_sum", name+"_q", l.Out, onnxpb.TensorProto_UINT8)
			v = onnxVal{name: b.clamp(q, name, l.Out, l.Lo, l.Hi, outType), typ: outType, flat: x.flat}
		case infer.KindLinear, infer.KindConv2D:
			if l.Kind == infer.KindLinear && !x.flat {
				// A linear layer reading a C×1×1 map (a mean): Gemm takes [N, K].
				b.node("Flatten", []string{x.name}, name+"_flat", onnxInt("axis", 1))
				x = onnxVal{name: name + "_flat", typ: x.typ, flat: true}
			}
			v = onnxVal{name: b.weighted(x, name, l, outType), typ: outType, flat: l.Kind == infer.KindLinear}
		default:
			return &ONNXError{fmt.Sprintf("layer %d: kind %q has no ONNX form", i, l.Kind)}
		}
		vals[i] = v
		if opt.LayerOutputs {
			out := fmt.Sprintf("layer%d", i)
			b.node("Identity", []string{v.name}, out)
			b.output(out, v.typ, onnxLayerDims(l)...)
		}
	}
	fin := vals[len(m.Layers)-1]
	cur = fin.name
	if !fin.flat {
		// A model ending in a 1×1 feature map: logits are [N, classes].
		b.node("Flatten", []string{cur}, "logits_flat", onnxInt("axis", 1))
		cur = "logits_flat"
	}
	b.node("Identity", []string{cur}, "logits_q")
	b.output("logits_q", fin.typ, m.Classes)
	out := m.Layers[last].Out
	b.node("DequantizeLinear", []string{cur, b.scalarF32("logits_scale", out.Scale), b.zeroPoint("logits_zp", out, fin.typ)}, "logits")
	b.output("logits", onnxpb.TensorProto_FLOAT, m.Classes)
	return nil
}

// dequantize emits DequantizeLinear of stored activation x with
// parameters p.
func (b *onnxBuilder) dequantize(x onnxVal, p infer.QParams, out string) string {
	b.node("DequantizeLinear", []string{x.name, b.scalarF32(out+"_scale", p.Scale), b.zeroPoint(out+"_zp", p, x.typ)}, out)
	return out
}

func onnxLayerDims(l *infer.Layer) []int {
	if l.Kind == infer.KindLinear || l.Kind == infer.KindFlatten {
		return []int{l.OutC}
	}
	return []int{l.OutC, l.OutH, l.OutW}
}

// zeroPoint is the scalar zero-point initializer of p stored as typ.
func (b *onnxBuilder) zeroPoint(name string, p infer.QParams, typ onnxpb.TensorProto_DataType) string {
	if typ == onnxpb.TensorProto_INT8 {
		return b.tensor(name, onnxpb.TensorProto_INT8, []byte{byte(int8(p.Zero))})
	}
	return b.tensor(name, onnxpb.TensorProto_UINT8, []byte{uint8(p.Zero + onnxOffset(p))})
}

// quantize emits QuantizeLinear(x) to the storage type typ.
func (b *onnxBuilder) quantize(x, out string, p infer.QParams, typ onnxpb.TensorProto_DataType) string {
	b.node("QuantizeLinear", []string{x, b.scalarF32(out+"_scale", p.Scale), b.zeroPoint(out+"_zp", p, typ)}, out)
	return out
}

// clamp restricts a stored activation x (uint8) to the model's integer
// range [lo, hi] with an integer Clip on the uint8 values (emitted only
// when uint8 saturation is not already that clamp), then converts it to
// typ (DequantizeLinear → QuantizeLinear, exact) if typ is int8.
func (b *onnxBuilder) clamp(x, name string, p infer.QParams, lo, hi int32, typ onnxpb.TensorProto_DataType) string {
	off := onnxOffset(p)
	if lo > -off || hi < 255-off {
		// uint8 storage saturates to q ∈ [−off, 255 − off].
		r := name + "_clamped"
		maxName := ""
		if hi < 255-off {
			maxName = b.tensor(r+"_max", onnxpb.TensorProto_UINT8, []byte{uint8(hi + off)})
		}
		b.node("Clip", []string{x, b.tensor(r+"_min", onnxpb.TensorProto_UINT8, []byte{uint8(max(lo, -off) + off)}), maxName}, r)
		x = r
	}
	if typ == onnxpb.TensorProto_UINT8 {
		return x
	}
	d := name + "_dq"
	b.node("DequantizeLinear", []string{x, b.scalarF32(d+"_scale", p.Scale), b.zeroPoint(d+"_zp", p, onnxpb.TensorProto_UINT8)}, d)
	return b.quantize(d, name+"_out", p, typ)
}

// weighted emits one Linear or Conv2D layer in QDQ form and returns the
// name of its stored output.
func (b *onnxBuilder) weighted(x onnxVal, name string, l *infer.Layer, outType onnxpb.TensorProto_DataType) string {
	xd := b.dequantize(x, l.In, name+"_x")
	wq := make([]byte, len(l.W))
	for i, v := range l.W {
		wq[i] = byte(v)
	}
	wdims := onnxWeightDims(l)
	w := b.tensor(name+"_w", onnxpb.TensorProto_INT8, wq, wdims...)
	wzp := b.tensor(name+"_w_zp", onnxpb.TensorProto_INT8, make([]byte, l.OutC), l.OutC)
	ws := b.f32(name+"_w_scale", l.WScale, l.OutC)
	wd := name + "_wd"
	b.node("DequantizeLinear", []string{w, ws, wzp}, wd, onnxInt("axis", 0))
	// The bias scale is the float32 product S_in·S_w[c], as in the model
	// file's accumulator (export.go: the bias slot's scale).
	bs := make([]float32, l.OutC)
	for c := range bs {
		bs[c] = l.In.Scale * l.WScale[c]
	}
	bias := b.tensor(name+"_b", onnxpb.TensorProto_INT32, onnxI32(l.Bias), l.OutC)
	bzp := b.tensor(name+"_b_zp", onnxpb.TensorProto_INT32, make([]byte, 4*l.OutC), l.OutC)
	bd := name + "_bd"
	b.node("DequantizeLinear", []string{bias, b.f32(name+"_b_scale", bs, l.OutC), bzp}, bd, onnxInt("axis", 0))
	y := name + "_acc"
	b.product(l, xd, wd, bd, y)
	q := b.quantize(y, name+"_q", l.Out, onnxpb.TensorProto_UINT8)
	return b.clamp(q, name, l.Out, l.Lo, l.Hi, outType)
}

// onnxWeightDims is the ONNX shape of a layer's weights: (OutC,
// InC/Groups, K, K) for a convolution, (OutC, In) for Gemm with transB.
func onnxWeightDims(l *infer.Layer) []int {
	if l.Kind == infer.KindConv2D {
		return []int{l.OutC, l.InC / max(l.Groups, 1), l.K, l.K}
	}
	return []int{l.OutC, l.InSize()}
}

// product emits the Conv (with its group count) or Gemm of a weighted
// layer: y = x ∗ w + bias.
func (b *onnxBuilder) product(l *infer.Layer, x, w, bias, y string) {
	if l.Kind == infer.KindConv2D {
		attrs := []*onnxpb.AttributeProto{onnxInts("kernel_shape", l.K, l.K),
			onnxInts("pads", l.Pad, l.Pad, l.Pad, l.Pad), onnxInts("strides", l.Stride, l.Stride)}
		if l.Groups > 1 {
			attrs = append(attrs, onnxInt("group", l.Groups))
		}
		b.node("Conv", []string{x, w, bias}, y, attrs...)
		return
	}
	b.node("Gemm", []string{x, w, bias}, y, onnxInt("transB", 1))
}

// weightOnly writes a w8-only model: int8 weights dequantized per channel,
// float32 bias and arithmetic.
func (b *onnxBuilder) weightOnly(m *infer.Model, x string) error {
	vals := map[int]onnxVal{-1: {name: x, typ: onnxpb.TensorProto_FLOAT}}
	for i, l := range m.Layers {
		name := fmt.Sprintf("l%d_%s", i, l.Kind)
		ins := onnxInputs(m, i)
		x := vals[ins[0]]
		v := onnxVal{name: name, typ: onnxpb.TensorProto_FLOAT, flat: x.flat}
		switch l.Kind {
		case infer.KindFlatten:
			b.node("Flatten", []string{x.name}, name, onnxInt("axis", 1))
			v.flat = true
		case infer.KindMaxPool2D:
			b.node("MaxPool", []string{x.name}, name, onnxInts("kernel_shape", l.K, l.K), onnxInts("strides", l.Stride, l.Stride))
		case infer.KindGlobalAvgPool:
			b.node("GlobalAveragePool", []string{x.name}, name)
		case infer.KindAdd:
			sum := name
			if l.ReLU {
				sum = name + "_sum"
			}
			b.node("Add", []string{x.name, vals[ins[1]].name}, sum)
			if l.ReLU {
				b.node("Relu", []string{sum}, name)
			}
		case infer.KindLinear, infer.KindConv2D:
			if l.Kind == infer.KindLinear && !x.flat {
				b.node("Flatten", []string{x.name}, name+"_flat", onnxInt("axis", 1))
				x = onnxVal{name: name + "_flat", typ: x.typ, flat: true}
			}
			if l.CBits > 0 && len(l.W) == 0 {
				return &ONNXError{fmt.Sprintf("layer %d: w8-only codebook weights have no ONNX form", i)}
			}
			wq := make([]byte, len(l.W))
			for j, w := range l.W {
				wq[j] = byte(w)
			}
			w := b.tensor(name+"_w", onnxpb.TensorProto_INT8, wq, onnxWeightDims(l)...)
			wzp := b.tensor(name+"_w_zp", onnxpb.TensorProto_INT8, make([]byte, l.OutC), l.OutC)
			wd := name + "_wd"
			b.node("DequantizeLinear", []string{w, b.f32(name+"_w_scale", l.WScale, l.OutC), wzp}, wd, onnxInt("axis", 0))
			bias := b.f32(name+"_b", l.FBias, l.OutC)
			y := name + "_y"
			b.product(l, x.name, wd, bias, y)
			switch {
			case l.ReLU && l.Max > 0:
				b.node("Clip", []string{y, b.scalarF32(name+"_min", 0), b.scalarF32(name+"_max", l.Max)}, name)
			case l.ReLU:
				b.node("Relu", []string{y}, name)
			default:
				name = y
			}
			v = onnxVal{name: name, typ: onnxpb.TensorProto_FLOAT, flat: l.Kind == infer.KindLinear}
		default:
			return &ONNXError{fmt.Sprintf("layer %d: kind %q has no ONNX form", i, l.Kind)}
		}
		vals[i] = v
	}
	cur := vals[len(m.Layers)-1]
	if !cur.flat {
		b.node("Flatten", []string{cur.name}, "logits_flat", onnxInt("axis", 1))
		cur.name = "logits_flat"
	}
	b.node("Identity", []string{cur.name}, "logits")
	b.output("logits", onnxpb.TensorProto_FLOAT, m.Classes)
	return nil
}

// onnxBuilder accumulates one graph.
type onnxBuilder struct {
	g     *onnxpb.GraphProto
	names map[string]bool
}

func newONNXBuilder(name string) *onnxBuilder {
	return &onnxBuilder{g: &onnxpb.GraphProto{Name: proto.String(name)}, names: map[string]bool{}}
}

func (b *onnxBuilder) model(meta map[string]string) *onnxpb.ModelProto {
	mp := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(onnxIRVersion),
		ProducerName:    proto.String("tinyqat"),
		ProducerVersion: proto.String(strconv.Itoa(infer.FormatVersion)),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(ONNXOpset)}},
		Graph:           b.g,
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(meta[k])})
	}
	return mp
}

func (b *onnxBuilder) node(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(out + "_" + op),
		Input: in, Output: []string{out}, Attribute: attrs})
}

// onnxValue is a tensor type with a dynamic batch dimension N first.
func onnxValue(name string, typ onnxpb.TensorProto_DataType, dims ...int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(typ)), Shape: shape}}}}
}

func (b *onnxBuilder) input(name string, c, h, w int) {
	b.g.Input = append(b.g.Input, onnxValue(name, onnxpb.TensorProto_FLOAT, c, h, w))
}

func (b *onnxBuilder) output(name string, typ onnxpb.TensorProto_DataType, dims ...int) {
	b.g.Output = append(b.g.Output, onnxValue(name, typ, dims...))
}

// tensor adds an initializer with little-endian raw data and returns its
// name. A name is added once; later calls with the same name reuse it.
func (b *onnxBuilder) tensor(name string, typ onnxpb.TensorProto_DataType, raw []byte, dims ...int) string {
	if b.names[name] {
		return name
	}
	b.names[name] = true
	t := &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(typ)), RawData: raw}
	for _, d := range dims {
		t.Dims = append(t.Dims, int64(d))
	}
	b.g.Initializer = append(b.g.Initializer, t)
	return name
}

func (b *onnxBuilder) f32(name string, v []float32, dims ...int) string {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return b.tensor(name, onnxpb.TensorProto_FLOAT, raw, dims...)
}

func (b *onnxBuilder) scalarF32(name string, v float32) string { return b.f32(name, []float32{v}) }

func onnxI32(v []int32) []byte {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return raw
}

func onnxInt(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func onnxFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func onnxInts(name string, v ...int) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum()}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}
