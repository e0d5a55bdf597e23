package infer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	st "github.com/nlpodyssey/safetensors"
	"github.com/tinyqat/tinyqat/internal/stfile"
)

// A float model (Mode F32) is the float32 twin of an integer model: the
// same layer graph (Layer, Inputs, CHW shapes, the same kinds and
// geometry rules), float32 weights and biases with batch norm already
// folded in, float32 activations. It is written in the same file family
// as the integer model — a safetensors file with a SHA-256 checksum of
// the metadata and every tensor, written atomically — with the format
// name "tinyqat-f32" and its own version, FloatFormatVersion; the
// metadata's "precision" is "f32". Load and Parse read both kinds and
// refuse a damaged float file with a *FormatError, as an integer one.
//
// The fields of a float layer (NewFloatModel fills and checks them):
//
//	Kind, Name, InC…OutW, K, Stride, Pad, Groups, Inputs   as for an integer layer
//	FW     linear: OutC×InSize weights, row-major, the input in the model's CHW
//	       order (a flatten changes nothing); conv2d: OutC×(InC/Groups·K·K),
//	       each row in (ci, ky, kx) order
//	FBias  OutC biases (linear, conv2d)
//	ReLU   after a linear, conv2d or add: max(v, 0)
//	Max    with ReLU, > 0: also min(v, Max) (6: ReLU6)
//
// Every integer field (In, Out, In2, WBits, Lo, Hi, W, Bias, M0, Shift,
// WScale and the codebook fields) stays zero or empty, as does the
// model's Input; Norm and ClassNames mean what they mean for an integer
// model.

// FloatFormatVersion is the version of the float model format this build
// writes and reads.
const FloatFormatVersion = 1

const floatFileFormat = "tinyqat-f32"

// NewFloatModel returns the float model of the given input shape, class
// count and layers (see the fields above) with Mode F32 and Version
// FloatFormatVersion, after Validate and CheckLimits (the default
// Limits). norm and classNames may be nil, source the zero Source. The layers are used,
// not copied.
func NewFloatModel(arch string, inC, inH, inW, classes int, layers []*Layer, norm *InputNorm, classNames []string, source Source) (*Model, error) {
	m := &Model{Version: FloatFormatVersion, Arch: arch, Mode: F32, InC: inC, InH: inH, InW: inW, Classes: classes,
		Layers: layers, Norm: norm, ClassNames: classNames, Source: source}
	if err := m.CheckLimits(Limits{}); err != nil {
		return nil, err
	}
	return m, nil
}

// validateFloat is validate for an F32 model: the graph and geometry
// rules of the integer model, no integer fields, float tensors of the
// right sizes with finite values.
func (m *Model) validateFloat() error {
	bad := m.layerError
	if m.Version != FloatFormatVersion {
		return fmt.Errorf("float model version %d, this build runs version %d", m.Version, FloatFormatVersion)
	}
	if m.InC < 1 || m.InH < 1 || m.InW < 1 || m.InC > maxDim || m.InH > maxDim || m.InW > maxDim {
		return fmt.Errorf("bad input shape %dx%dx%d", m.InC, m.InH, m.InW)
	}
	if _, ok := mulCap(maxInput, m.InC, m.InH, m.InW); !ok {
		return fmt.Errorf("input shape %dx%dx%d has more than %d values", m.InC, m.InH, m.InW, maxInput)
	}
	if m.Classes < 2 || m.Classes > maxDim {
		return fmt.Errorf("class count %d outside [2, %d]", m.Classes, maxDim)
	}
	if len(m.Layers) == 0 || len(m.Layers) > 256 {
		return fmt.Errorf("%d layers, want 1 to 256", len(m.Layers))
	}
	if m.Input != (QParams{}) {
		return fmt.Errorf("a float model has no input quantization, got %+v", m.Input)
	}
	if err := m.checkInputMeta(); err != nil {
		return err
	}
	shapes := []shape{{m.InC, m.InH, m.InW}}
	for i, l := range m.Layers {
		if l == nil {
			return bad(i, "missing")
		}
		if err := l.checkGeometry(); err != nil {
			return bad(i, "%v", err)
		}
		if err := l.checkNoInteger(); err != nil {
			return bad(i, "%v", err)
		}
		ins, err := m.checkInputs(i, shapes)
		if err != nil {
			return bad(i, "%v", err)
		}
		in := shapes[ins[0]+1]
		c, h, w := in.c, in.h, in.w
		if l.Groups != 0 && l.Kind != KindConv2D {
			return bad(i, "%s with groups %d", l.Kind, l.Groups)
		}
		hasAct := l.Kind.Weighted() || l.Kind == KindAdd
		if l.ReLU && !hasAct || l.Max != 0 && (!l.ReLU || !(l.Max > 0) || l.Max > 1e30) {
			return bad(i, "relu %v, max %v: a ReLU follows a linear, conv2d or add layer, and a max is positive and needs it", l.ReLU, l.Max)
		}
		if !l.Kind.Weighted() && (len(l.FW) != 0 || len(l.FBias) != 0) {
			return bad(i, "a %s layer has no weights", l.Kind)
		}
		switch l.Kind {
		case KindFlatten:
			if l.OutC != c*h*w || l.OutH != 1 || l.OutW != 1 {
				return bad(i, "flatten output %dx%dx%d", l.OutC, l.OutH, l.OutW)
			}
		case KindMaxPool2D:
			if l.K < 1 || l.Stride < 1 || l.Pad != 0 || l.K > h || l.K > w || l.OutC != c ||
				l.OutH != (h-l.K)/l.Stride+1 || l.OutW != (w-l.K)/l.Stride+1 {
				return bad(i, "inconsistent maxpool k=%d stride=%d pad=%d output %dx%dx%d", l.K, l.Stride, l.Pad, l.OutC, l.OutH, l.OutW)
			}
		case KindGlobalAvgPool:
			if l.OutC != c || l.OutH != 1 || l.OutW != 1 {
				return bad(i, "global average pool output %dx%dx%d of a %dx%dx%d input", l.OutC, l.OutH, l.OutW, c, h, w)
			}
		case KindAdd:
			if s2 := shapes[ins[1]+1]; s2 != in {
				return bad(i, "add of %dx%dx%d and %dx%dx%d", c, h, w, s2.c, s2.h, s2.w)
			}
			if l.OutC != c || l.OutH != h || l.OutW != w || l.K != 0 {
				return bad(i, "add output %dx%dx%d of %dx%dx%d inputs", l.OutC, l.OutH, l.OutW, c, h, w)
			}
		case KindLinear, KindConv2D:
			if err := l.checkFloatWeighted(); err != nil {
				return bad(i, "%s: %v", l.Kind, err)
			}
		default:
			return bad(i, "unknown kind %q", l.Kind)
		}
		shapes = append(shapes, shape{l.OutC, l.OutH, l.OutW})
	}
	last := m.Layers[len(m.Layers)-1]
	if last.OutSize() != m.Classes || last.OutH != 1 || last.OutW != 1 {
		return fmt.Errorf("the last layer gives %dx%dx%d values, want %d classes", last.OutC, last.OutH, last.OutW, m.Classes)
	}
	return nil
}

// checkNoInteger refuses the integer fields on a float layer.
func (l *Layer) checkNoInteger() error {
	if l.In != (QParams{}) || l.Out != (QParams{}) || l.In2 != (QParams{}) || l.WBits != 0 || l.Lo != 0 || l.Hi != 0 ||
		len(l.W) != 0 || len(l.Bias) != 0 || len(l.M0) != 0 || len(l.Shift) != 0 || len(l.WScale) != 0 ||
		l.CBits != 0 || l.CGroups != 0 || len(l.Index) != 0 || len(l.LUT) != 0 || len(l.Packed) != 0 || len(l.Centroids) != 0 {
		return fmt.Errorf("a float layer has integer fields (in, out, in2, w_bits, lo, hi, weights, multipliers, scales or codebook)")
	}
	return nil
}

// checkFloatWeighted checks a float linear or conv2d layer: geometry as
// for an integer layer, FW and FBias of the right sizes, all finite.
func (l *Layer) checkFloatWeighted() error {
	if l.OutC < 1 {
		return fmt.Errorf("%d output channels", l.OutC)
	}
	if g := l.groups(); l.Kind == KindConv2D && (l.Groups < 0 || l.InC%g != 0 || l.OutC%g != 0) {
		return fmt.Errorf("%d groups do not divide %d input and %d output channels", l.Groups, l.InC, l.OutC)
	}
	if l.Kind == KindConv2D {
		if l.K < 1 || l.Stride < 1 || l.Pad < 0 || l.Pad >= l.K || l.InH+2*l.Pad < l.K || l.InW+2*l.Pad < l.K ||
			l.OutH != (l.InH+2*l.Pad-l.K)/l.Stride+1 || l.OutW != (l.InW+2*l.Pad-l.K)/l.Stride+1 {
			return fmt.Errorf("inconsistent geometry k=%d stride=%d pad=%d output %dx%d", l.K, l.Stride, l.Pad, l.OutH, l.OutW)
		}
	} else if l.OutH != 1 || l.OutW != 1 {
		return fmt.Errorf("linear output must be flat, got %dx%dx%d", l.OutC, l.OutH, l.OutW)
	}
	if len(l.FW) != l.OutC*l.fanIn() {
		return fmt.Errorf("%d weights, want %d·%d", len(l.FW), l.OutC, l.fanIn())
	}
	if len(l.FBias) != l.OutC {
		return fmt.Errorf("%d biases for %d channels", len(l.FBias), l.OutC)
	}
	if i := firstNotFinite(l.FW); i >= 0 {
		return fmt.Errorf("weight %d is %v", i, l.FW[i])
	}
	if i := firstNotFinite(l.FBias); i >= 0 {
		return fmt.Errorf("bias %d is %v", i, l.FBias[i])
	}
	return nil
}

// firstNotFinite is the index of the first NaN or ±Inf in v, or −1.
func firstNotFinite(v []float32) int {
	for i, x := range v {
		if !finite32(x) {
			return i
		}
	}
	return -1
}

// floatTensors are a float model's tensors as its file stores them.
func (m *Model) floatTensors() map[string]stfile.Tensor {
	ts := map[string]stfile.Tensor{}
	for i, l := range m.Layers {
		if !l.Kind.Weighted() {
			continue
		}
		p := fmt.Sprintf("layers.%d.", i)
		ts[p+"weight"] = stfile.F32(l.FW, l.OutC, l.fanIn())
		ts[p+"bias"] = stfile.F32(l.FBias, l.OutC)
	}
	return ts
}

// decodeFloat is decode for a float model file.
func decodeFloat(ts map[string]stfile.Tensor, meta map[string]string) (*Model, error) {
	v, err := strconv.Atoi(meta["version"])
	if err != nil || v != FloatFormatVersion {
		return nil, fmt.Errorf("float model format version %q, this build reads version %d", meta["version"], FloatFormatVersion)
	}
	m := &Model{}
	if err := json.Unmarshal([]byte(meta["model"]), m); err != nil {
		return nil, fmt.Errorf("bad model header: %v", err)
	}
	if m.Mode != F32 {
		return nil, fmt.Errorf("a float model file whose header says mode %q", m.Mode)
	}
	if m.Version != v {
		return nil, fmt.Errorf("the metadata says format version %d, the model header %d", v, m.Version)
	}
	used := 0
	get := func(i int, name string, dims ...int) ([]float32, error) {
		key := fmt.Sprintf("layers.%d.%s", i, name)
		t, ok := ts[key]
		if !ok {
			return nil, fmt.Errorf("missing tensor %s", key)
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if t.DType != st.F32 || t.Len() != n || len(t.Data) != 4*n || !slices.Equal(t.Shape, dims) {
			return nil, fmt.Errorf("tensor %s is %v%v, want F32%v", key, t.DType, t.Shape, dims)
		}
		used++
		return t.Float32s()
	}
	for i, l := range m.Layers {
		if l == nil {
			return nil, fmt.Errorf("layer %d is null", i)
		}
		if !l.Kind.Weighted() {
			continue
		}
		// The geometry first: the tensor sizes below multiply it.
		if err := l.checkGeometry(); err != nil {
			return nil, m.layerError(i, "%v", err)
		}
		if l.OutC < 1 || l.fanIn() < 1 {
			return nil, m.layerError(i, "bad size %d×%d", l.OutC, l.fanIn())
		}
		if l.FW, err = get(i, "weight", l.OutC, l.fanIn()); err != nil {
			return nil, err
		}
		if l.FBias, err = get(i, "bias", l.OutC); err != nil {
			return nil, err
		}
	}
	if used != len(ts) {
		return nil, fmt.Errorf("%d tensors do not belong to any layer", len(ts)-used)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if p, ok := meta["precision"]; ok && !m.precisionIs(p) {
		return nil, fmt.Errorf("metadata says precision %s, the layers are %s", p, m.Precision())
	}
	return m, nil
}
