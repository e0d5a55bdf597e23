package export

// The QDQ writer: an integer model (w8a8, w8a8-asym, w8-only) as the
// ONNX graph onnx.go describes.

import (
	"fmt"
	"strconv"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
)

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
