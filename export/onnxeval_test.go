package export

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/internal/onnxpb"
)

// onnxTensor is a value in the reference evaluator: every element held as
// a float64 (exact for the 8- and 32-bit integers of the graph).
type onnxTensor struct {
	typ  onnxpb.TensorProto_DataType
	dims []int
	v    []float64
}

// evalONNX is a deliberately plain interpreter of the operators the
// exporter writes, following the ONNX operator definitions (opset 13):
// QuantizeLinear divides in float32 and rounds half to even, then
// saturates; DequantizeLinear computes (q − zp)·scale in float32; Gemm and
// Conv accumulate in float64 (the real-number result the integer kernels
// of an engine compute exactly). It shares nothing with the runtime.
func evalONNX(mp *onnxpb.ModelProto, inputs map[string]onnxTensor) (map[string]onnxTensor, error) {
	env := map[string]onnxTensor{}
	for k, v := range inputs {
		env[k] = v
	}
	for _, t := range mp.Graph.Initializer {
		env[t.GetName()] = decodeONNXTensor(t)
	}
	for _, n := range mp.Graph.Node {
		in := make([]onnxTensor, len(n.Input))
		for i, name := range n.Input {
			if name == "" { // an omitted optional input
				continue
			}
			t, ok := env[name]
			if !ok {
				return nil, fmt.Errorf("node %s: input %s is not defined before it", n.GetName(), name)
			}
			in[i] = t
		}
		attr := map[string]*onnxpb.AttributeProto{}
		for _, a := range n.Attribute {
			attr[a.GetName()] = a
		}
		out, err := evalONNXNode(n.GetOpType(), in, attr)
		if err != nil {
			return nil, fmt.Errorf("node %s: %v", n.GetName(), err)
		}
		if len(n.Output) != 1 {
			return nil, fmt.Errorf("node %s: %d outputs", n.GetName(), len(n.Output))
		}
		env[n.Output[0]] = out
	}
	res := map[string]onnxTensor{}
	for _, o := range mp.Graph.Output {
		t, ok := env[o.GetName()]
		if !ok {
			return nil, fmt.Errorf("output %s is never computed", o.GetName())
		}
		if want := onnxpb.TensorProto_DataType(o.GetType().GetTensorType().GetElemType()); t.typ != want {
			return nil, fmt.Errorf("output %s is %v, declared %v", o.GetName(), t.typ, want)
		}
		dims := o.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) != len(t.dims) {
			return nil, fmt.Errorf("output %s has shape %v, declared rank %d", o.GetName(), t.dims, len(dims))
		}
		for i, d := range dims[1:] { // dims[0] is the batch N
			if int(d.GetDimValue()) != t.dims[i+1] {
				return nil, fmt.Errorf("output %s has shape %v, declared dimension %d = %d", o.GetName(), t.dims, i+1, d.GetDimValue())
			}
		}
		res[o.GetName()] = t
	}
	return res, nil
}

func decodeONNXTensor(t *onnxpb.TensorProto) onnxTensor {
	r := onnxTensor{typ: onnxpb.TensorProto_DataType(t.GetDataType())}
	n := 1
	for _, d := range t.Dims {
		r.dims = append(r.dims, int(d))
		n *= int(d)
	}
	raw := t.RawData
	r.v = make([]float64, n)
	for i := range r.v {
		switch r.typ {
		case onnxpb.TensorProto_FLOAT:
			r.v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		case onnxpb.TensorProto_INT32:
			r.v[i] = float64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		case onnxpb.TensorProto_INT8:
			r.v[i] = float64(int8(raw[i]))
		case onnxpb.TensorProto_UINT8:
			r.v[i] = float64(raw[i])
		}
	}
	return r
}

func onnxAttrInts(a map[string]*onnxpb.AttributeProto, name string, def ...int) []int {
	if x, ok := a[name]; ok {
		if x.GetType() == onnxpb.AttributeProto_INT {
			return []int{int(x.GetI())}
		}
		var r []int
		for _, v := range x.Ints {
			r = append(r, int(v))
		}
		return r
	}
	return def
}

func evalONNXNode(op string, in []onnxTensor, attr map[string]*onnxpb.AttributeProto) (onnxTensor, error) {
	x := in[0]
	out := onnxTensor{typ: x.typ, dims: append([]int(nil), x.dims...), v: make([]float64, len(x.v))}
	switch op {
	case "Identity":
		copy(out.v, x.v)
	case "Relu":
		for i, v := range x.v {
			out.v[i] = math.Max(v, 0)
		}
	case "Clip":
		lo, hi := math.Inf(-1), math.Inf(1)
		if len(in) > 1 && in[1].v != nil {
			lo = in[1].v[0]
		}
		if len(in) > 2 && in[2].v != nil {
			hi = in[2].v[0]
		}
		for i, v := range x.v {
			out.v[i] = math.Min(math.Max(v, lo), hi)
		}
	case "Flatten":
		out.dims = []int{x.dims[0], len(x.v) / x.dims[0]}
		copy(out.v, x.v)
	case "QuantizeLinear":
		s, zp := float32(in[1].v[0]), in[2].v[0]
		out.typ = in[2].typ
		lo, hi := 0.0, 255.0
		if out.typ == onnxpb.TensorProto_INT8 {
			lo, hi = -128, 127
		}
		for i, v := range x.v {
			q := math.RoundToEven(float64(float32(v)/s)) + zp
			out.v[i] = math.Min(math.Max(q, lo), hi)
		}
	case "DequantizeLinear":
		out.typ = onnxpb.TensorProto_FLOAT
		s, zp := in[1], in[2]
		axis := onnxAttrInts(attr, "axis", 1)[0]
		inner := 1
		for _, d := range x.dims[axis+1:] {
			inner *= d
		}
		for i, v := range x.v {
			c := 0
			if len(s.v) > 1 {
				c = (i / inner) % x.dims[axis]
			}
			out.v[i] = float64(float32(v-zp.v[c]) * float32(s.v[c]))
		}
	case "Gemm":
		a, b, c := x, in[1], in[2]
		transB := len(onnxAttrInts(attr, "transB")) == 1 && onnxAttrInts(attr, "transB")[0] == 1
		m, k := a.dims[0], a.dims[1]
		nOut := b.dims[1]
		if transB {
			nOut = b.dims[0]
		}
		if (transB && b.dims[1] != k) || (!transB && b.dims[0] != k) {
			return out, fmt.Errorf("Gemm: A is %v, B is %v", a.dims, b.dims)
		}
		out = onnxTensor{typ: onnxpb.TensorProto_FLOAT, dims: []int{m, nOut}, v: make([]float64, m*nOut)}
		for i := 0; i < m; i++ {
			for j := 0; j < nOut; j++ {
				sum := c.v[j]
				for p := 0; p < k; p++ {
					w := b.v[p*nOut+j]
					if transB {
						w = b.v[j*k+p]
					}
					sum += a.v[i*k+p] * w
				}
				out.v[i*nOut+j] = sum
			}
		}
	case "Add":
		a, b := x, in[1]
		if len(a.v) != len(b.v) {
			return out, fmt.Errorf("Add of shapes %v and %v", a.dims, b.dims)
		}
		out.typ = onnxpb.TensorProto_FLOAT
		for i := range a.v {
			out.v[i] = a.v[i] + b.v[i]
		}
	case "Sub", "Mul":
		// Float32 arithmetic, elementwise or with a [C,1,1] operand
		// broadcast over [N,C,H,W].
		a, b := x, in[1]
		at := func(i int) float32 { return float32(b.v[i]) }
		if len(b.v) != len(a.v) {
			if len(b.dims) != 3 || b.dims[1] != 1 || b.dims[2] != 1 || len(a.dims) != 4 || a.dims[1] != b.dims[0] {
				return out, fmt.Errorf("%s of shapes %v and %v", op, a.dims, b.dims)
			}
			hw, c := a.dims[2]*a.dims[3], a.dims[1]
			at = func(i int) float32 { return float32(b.v[i/hw%c]) }
		}
		out.typ = onnxpb.TensorProto_FLOAT
		for i := range a.v {
			if op == "Sub" {
				out.v[i] = float64(float32(a.v[i]) - at(i))
			} else {
				out.v[i] = float64(float32(a.v[i]) * at(i))
			}
		}
	case "GlobalAveragePool":
		n, c, hw := x.dims[0], x.dims[1], x.dims[2]*x.dims[3]
		out = onnxTensor{typ: x.typ, dims: []int{n, c, 1, 1}, v: make([]float64, n*c)}
		for p := range out.v {
			sum := 0.0
			for _, v := range x.v[p*hw : (p+1)*hw] {
				sum += v
			}
			out.v[p] = sum / float64(hw)
		}
	case "BatchNormalization":
		gamma, beta, mean, vr := in[1], in[2], in[3], in[4]
		eps := 1e-5
		if a, ok := attr["epsilon"]; ok {
			eps = float64(a.GetF())
		}
		c, hw := x.dims[1], len(x.v)/(x.dims[0]*x.dims[1])
		for i, v := range x.v {
			ch := i / hw % c
			out.v[i] = gamma.v[ch]*(v-mean.v[ch])/math.Sqrt(vr.v[ch]+eps) + beta.v[ch]
		}
	case "Conv":
		w := in[1]
		bias := onnxTensor{v: make([]float64, w.dims[0])}
		if len(in) > 2 && in[2].v != nil {
			bias = in[2]
		}
		pad, stride := onnxAttrInts(attr, "pads")[0], onnxAttrInts(attr, "strides")[0]
		groups := onnxAttrInts(attr, "group", 1)[0]
		n, c, h, wd := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
		o, k := w.dims[0], w.dims[2]
		if w.dims[1]*groups != c || o%groups != 0 {
			return out, fmt.Errorf("Conv: weights %v, %d groups, %d input channels", w.dims, groups, c)
		}
		icg := c / groups
		oh, ow := (h+2*pad-k)/stride+1, (wd+2*pad-k)/stride+1
		out = onnxTensor{typ: onnxpb.TensorProto_FLOAT, dims: []int{n, o, oh, ow}, v: make([]float64, n*o*oh*ow)}
		for s := 0; s < n; s++ {
			for f := 0; f < o; f++ {
				for y := 0; y < oh; y++ {
					for xx := 0; xx < ow; xx++ {
						sum := bias.v[f]
						g := f / (o / groups)
						for cl := 0; cl < icg; cl++ {
							ci := g*icg + cl
							for ky := 0; ky < k; ky++ {
								for kx := 0; kx < k; kx++ {
									iy, ix := y*stride+ky-pad, xx*stride+kx-pad
									if iy < 0 || iy >= h || ix < 0 || ix >= wd {
										continue
									}
									sum += x.v[((s*c+ci)*h+iy)*wd+ix] * w.v[((f*icg+cl)*k+ky)*k+kx]
								}
							}
						}
						out.v[((s*o+f)*oh+y)*ow+xx] = sum
					}
				}
			}
		}
	case "MaxPool":
		k, stride := onnxAttrInts(attr, "kernel_shape")[0], onnxAttrInts(attr, "strides")[0]
		n, c, h, wd := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
		oh, ow := (h-k)/stride+1, (wd-k)/stride+1
		out = onnxTensor{typ: x.typ, dims: []int{n, c, oh, ow}, v: make([]float64, n*c*oh*ow)}
		for p := 0; p < n*c; p++ {
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					best := math.Inf(-1)
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							best = math.Max(best, x.v[(p*h+y*stride+ky)*wd+xx*stride+kx])
						}
					}
					out.v[(p*oh+y)*ow+xx] = best
				}
			}
		}
	default:
		return out, fmt.Errorf("operator %s not supported by the test evaluator", op)
	}
	return out, nil
}
