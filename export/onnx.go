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
// Rounding: QuantizeLinear rounds x/S half to even, once, and ONNX
// Runtime's fused kernels requantize acc·(S_in·S_w/S_out) the same way; the
// graph equals tinyqat's runtime bit for bit only where the runtime rounds
// once with that tie rule (quant/doc.go). scripts/onnx_check.sh measures the
// agreement on MNIST.
//
// Graph inputs and outputs:
//
//	input     float32 [N, C, H, W]   pixels as the float model takes them
//	logits_q  int8 (w8a8) or uint8 (w8a8-asym) [N, classes]: the model's
//	          integer logits, comparable one for one with infer.Model.Logits
//	logits    float32 [N, classes]: the dequantized logits
//
// With ONNXOptions.LayerOutputs every layer's stored output is also a graph
// output, "layer<i>", and the quantized input "layer_input" (uint8;
// subtract the metadata value tinyqat.act_offset to get the model's
// integer; the last layer is int8 for w8a8), for diagnosis.

import (
	"encoding/binary"
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
	if m.Mode == infer.W8Only {
		if err := b.weightOnly(m); err != nil {
			return nil, err
		}
	} else if err := b.integer(m, opt); err != nil {
		return nil, err
	}
	meta := map[string]string{"tinyqat.arch": m.Arch, "tinyqat.mode": string(m.Mode),
		"tinyqat.classes": strconv.Itoa(m.Classes)}
	if m.Mode != infer.W8Only {
		meta["tinyqat.act_offset"] = strconv.Itoa(int(onnxOffset(m.Input)))
	}
	for k, v := range m.Source {
		meta["tinyqat.source."+k] = v
	}
	return b.model(meta), nil
}

// ONNXFromFloat builds the float32 ONNX graph of a float network (Gemm,
// Conv, MaxPool, Relu, Flatten) with its current parameters.
func ONNXFromFloat(nm *nn.Model) (*onnxpb.ModelProto, error) {
	if nm == nil {
		return nil, &ONNXError{"nil model"}
	}
	b := newONNXBuilder(nm.Arch + "_float32")
	b.input("input", nm.In.C, nm.In.H, nm.In.W)
	cur := "input"
	for i, l := range nm.Layers {
		out := fmt.Sprintf("l%d_%s", i, l.Kind())
		switch l := l.(type) {
		case *nn.Flatten:
			b.node("Flatten", []string{cur}, out, onnxInt("axis", 1))
		case *nn.ReLU:
			b.node("Relu", []string{cur}, out)
		case *nn.MaxPool2D:
			b.node("MaxPool", []string{cur}, out, onnxInts("kernel_shape", l.K, l.K), onnxInts("strides", l.Stride, l.Stride))
		case *nn.Linear:
			// nn stores W as (in, out): y = x·W + b is Gemm without transposes.
			w := b.f32(l.Name+".weight", l.W.Data(), l.In, l.Out)
			bias := b.f32(l.Name+".bias", l.B.Data(), l.Out)
			b.node("Gemm", []string{cur, w, bias}, out)
		case *nn.Conv2D:
			w := b.f32(l.Name+".weight", l.W.Data(), l.Out, l.In, l.K, l.K)
			bias := b.f32(l.Name+".bias", l.B.Data(), l.Out)
			b.node("Conv", []string{cur, w, bias}, out, onnxInts("kernel_shape", l.K, l.K),
				onnxInts("pads", l.Pad, l.Pad, l.Pad, l.Pad), onnxInts("strides", l.Stride, l.Stride))
		default:
			return nil, &ONNXError{fmt.Sprintf("layer %d: kind %s has no ONNX form", i, l.Kind())}
		}
		cur = out
	}
	if len(nm.Layers) > 0 {
		if k := nm.Layers[len(nm.Layers)-1].Kind(); k == "conv2d" || k == "maxpool2d" || k == "relu" {
			// logits are [N, classes] (a no-op on an input that is already flat)
			b.node("Flatten", []string{cur}, "logits_flat", onnxInt("axis", 1))
			cur = "logits_flat"
		}
	}
	b.node("Identity", []string{cur}, "logits")
	b.output("logits", onnxpb.TensorProto_FLOAT, nm.Classes)
	return b.model(map[string]string{"tinyqat.arch": nm.Arch, "tinyqat.mode": "float32",
		"tinyqat.classes": strconv.Itoa(nm.Classes)}), nil
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

// integer writes the layers of a w8a8 or w8a8-asym model.
func (b *onnxBuilder) integer(m *infer.Model, opt *ONNXOptions) error {
	// Input quantization, then the input's clamp (the restricted range).
	in := m.Input
	lo, hi := in.QRange()
	cur := b.quantize("input", "input_q", in, onnxpb.TensorProto_UINT8)
	cur = b.clamp(cur, "input", in, lo, hi, onnxpb.TensorProto_UINT8)
	if opt.LayerOutputs {
		b.node("Identity", []string{cur}, "layer_input")
		b.output("layer_input", onnxpb.TensorProto_UINT8, m.InC, m.InH, m.InW)
	}
	last := -1
	for i, l := range m.Layers {
		if l.Kind == "linear" || l.Kind == "conv2d" {
			last = i
		}
	}
	if last < 0 {
		return &ONNXError{"the model has no weighted layer"}
	}
	for i, l := range m.Layers {
		name := fmt.Sprintf("l%d_%s", i, l.Kind)
		if l.Name != "" {
			name = fmt.Sprintf("l%d_%s", i, l.Name)
		}
		switch l.Kind {
		case "flatten":
			b.node("Flatten", []string{cur}, name, onnxInt("axis", 1))
			cur = name
		case "maxpool2d":
			b.node("MaxPool", []string{cur}, name, onnxInts("kernel_shape", l.K, l.K), onnxInts("strides", l.Stride, l.Stride))
			cur = name
		case "linear", "conv2d":
			outType := onnxpb.TensorProto_UINT8
			if i == last && l.Out.Signed {
				outType = onnxpb.TensorProto_INT8
			}
			cur = b.weighted(cur, name, l, outType)
		default:
			return &ONNXError{fmt.Sprintf("layer %d: kind %q has no ONNX form", i, l.Kind)}
		}
		if opt.LayerOutputs {
			typ := onnxpb.TensorProto_UINT8
			if i >= last {
				typ = onnxOutType(m.Layers[last])
			}
			out := fmt.Sprintf("layer%d", i)
			b.node("Identity", []string{cur}, out)
			b.output(out, typ, onnxLayerDims(l)...)
		}
	}
	if k := m.Layers[len(m.Layers)-1].Kind; k == "conv2d" || k == "maxpool2d" {
		// A model ending in a 1×1 feature map: logits are [N, classes].
		b.node("Flatten", []string{cur}, "logits_flat", onnxInt("axis", 1))
		cur = "logits_flat"
	}
	b.node("Identity", []string{cur}, "logits_q")
	b.output("logits_q", onnxOutType(m.Layers[last]), m.Classes)
	out := m.Layers[last].Out
	b.node("DequantizeLinear", []string{cur, b.scalarF32("logits_scale", out.Scale), b.zeroPoint("logits_zp", out, onnxOutType(m.Layers[last]))}, "logits")
	b.output("logits", onnxpb.TensorProto_FLOAT, m.Classes)
	return nil
}

func onnxLayerDims(l *infer.Layer) []int {
	if l.Kind == "linear" || l.Kind == "flatten" {
		return []int{l.OutC}
	}
	return []int{l.OutC, l.OutH, l.OutW}
}

// onnxOutType is the ONNX element type of the last layer's output.
func onnxOutType(l *infer.Layer) onnxpb.TensorProto_DataType {
	if l.Out.Signed {
		return onnxpb.TensorProto_INT8
	}
	return onnxpb.TensorProto_UINT8
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
func (b *onnxBuilder) weighted(x, name string, l *infer.Layer, outType onnxpb.TensorProto_DataType) string {
	xd := name + "_x"
	b.node("DequantizeLinear", []string{x, b.scalarF32(xd+"_scale", l.In.Scale), b.zeroPoint(xd+"_zp", l.In, onnxpb.TensorProto_UINT8)}, xd)
	wq := make([]byte, len(l.W))
	for i, v := range l.W {
		wq[i] = byte(v)
	}
	var wdims []int
	if l.Kind == "conv2d" {
		wdims = []int{l.OutC, l.InC, l.K, l.K}
	} else {
		wdims = []int{l.OutC, l.InSize()}
	}
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
	if l.Kind == "conv2d" {
		b.node("Conv", []string{xd, wd, bd}, y, onnxInts("kernel_shape", l.K, l.K),
			onnxInts("pads", l.Pad, l.Pad, l.Pad, l.Pad), onnxInts("strides", l.Stride, l.Stride))
	} else {
		b.node("Gemm", []string{xd, wd, bd}, y, onnxInt("transB", 1))
	}
	q := b.quantize(y, name+"_q", l.Out, onnxpb.TensorProto_UINT8)
	return b.clamp(q, name, l.Out, l.Lo, l.Hi, outType)
}

// weightOnly writes a w8-only model: int8 weights dequantized per channel,
// float32 bias and arithmetic.
func (b *onnxBuilder) weightOnly(m *infer.Model) error {
	cur := "input"
	for i, l := range m.Layers {
		name := fmt.Sprintf("l%d_%s", i, l.Kind)
		switch l.Kind {
		case "flatten":
			b.node("Flatten", []string{cur}, name, onnxInt("axis", 1))
		case "maxpool2d":
			b.node("MaxPool", []string{cur}, name, onnxInts("kernel_shape", l.K, l.K), onnxInts("strides", l.Stride, l.Stride))
		case "linear", "conv2d":
			wq := make([]byte, len(l.W))
			for j, v := range l.W {
				wq[j] = byte(v)
			}
			wdims := []int{l.OutC, l.InSize()}
			if l.Kind == "conv2d" {
				wdims = []int{l.OutC, l.InC, l.K, l.K}
			}
			w := b.tensor(name+"_w", onnxpb.TensorProto_INT8, wq, wdims...)
			wzp := b.tensor(name+"_w_zp", onnxpb.TensorProto_INT8, make([]byte, l.OutC), l.OutC)
			wd := name + "_wd"
			b.node("DequantizeLinear", []string{w, b.f32(name+"_w_scale", l.WScale, l.OutC), wzp}, wd, onnxInt("axis", 0))
			bias := b.f32(name+"_b", l.FBias, l.OutC)
			y := name + "_y"
			if l.Kind == "conv2d" {
				b.node("Conv", []string{cur, wd, bias}, y, onnxInts("kernel_shape", l.K, l.K),
					onnxInts("pads", l.Pad, l.Pad, l.Pad, l.Pad), onnxInts("strides", l.Stride, l.Stride))
			} else {
				b.node("Gemm", []string{cur, wd, bias}, y, onnxInt("transB", 1))
			}
			if l.ReLU {
				b.node("Relu", []string{y}, name)
			} else {
				name = y
			}
		default:
			return &ONNXError{fmt.Sprintf("layer %d: kind %q has no ONNX form", i, l.Kind)}
		}
		cur = name
	}
	b.node("Identity", []string{cur}, "logits")
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

func onnxInts(name string, v ...int) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum()}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}
