package export

// The graph builder both ONNX writers share: nodes, initializers,
// inputs and outputs with unique names, attributes.

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
)

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
