package export

// The float writer: a float network as a float32 ONNX graph.

import (
	"fmt"
	"math"
	"strconv"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/nn"
)

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
