package nn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// The architecture file: a model's input shape, class count and layers
// (nested for residual blocks) with their settings, no parameter values.
//
//	{"format": "tinyqat-nn-spec", "version": 1, "arch": "mynet",
//	 "input": [1, 28, 28], "classes": 10,
//	 "layers": [
//	   {"kind": "conv2d", "name": "c1", "out": 16, "k": 3, "stride": 1, "pad": 1},
//	   {"kind": "batchnorm2d", "name": "bn1"},
//	   {"kind": "relu"},
//	   {"kind": "residual", "name": "r1", "relu": true,
//	    "body": [...], "shortcut": [...]},
//	   {"kind": "globalavgpool", "name": "pool"},
//	   {"kind": "linear", "name": "fc", "out": 10}]}
//
// Reading is strict: an unknown field (at any level, or one that the
// layer's kind does not take), an unknown kind, a wrong format or version,
// trailing data or a value out of range is a *SpecError naming where.

const (
	specFormat  = "tinyqat-nn-spec"
	specVersion = 1
)

// Limits on what a spec may ask for, so that a hostile or corrupted file
// is an error, not an allocation of the whole machine.
const (
	specMaxDepth  = 16      // nesting of residual blocks
	specMaxLayers = 1000    // layers in all
	specMaxDim    = 1 << 14 // channels, height, width, output sizes
	specMaxKernel = 64      // kernel size, stride, padding
	// maxModelParams bounds the parameter elements of any model (16 M,
	// 64 MB of float32: 30 times resnet8 + lenet5 + lenet300 together),
	// maxActivation the elements of one sample's activation (4 M, e.g.
	// 64 channels of 256×256).
	maxModelParams = 1 << 24
	maxActivation  = 1 << 22
)

// SpecError is a malformed or unsupported architecture spec.
type SpecError struct {
	Path string // where: "layers[3].body[0].k", "" for the whole file
	Msg  string
}

func (e *SpecError) Error() string {
	if e.Path == "" {
		return "nn: spec: " + e.Msg
	}
	return "nn: spec: " + e.Path + ": " + e.Msg
}

type specFile struct {
	Format  string            `json:"format"`
	Version int               `json:"version"`
	Arch    string            `json:"arch"`
	Input   []int             `json:"input"` // C, H, W
	Classes int               `json:"classes"`
	Layers  []json.RawMessage `json:"layers"`
}

// specLayer is one layer; which fields a kind takes is in specFields.
type specLayer struct {
	Kind     string            `json:"kind"`
	Name     string            `json:"name,omitempty"`
	Out      int               `json:"out,omitempty"`
	K        int               `json:"k,omitempty"`
	Stride   int               `json:"stride,omitempty"`
	Pad      int               `json:"pad,omitempty"`
	Groups   int               `json:"groups,omitempty"`
	Eps      float32           `json:"eps,omitempty"`
	Momentum float32           `json:"momentum,omitempty"`
	ReLU     bool              `json:"relu,omitempty"`
	Body     []json.RawMessage `json:"body,omitempty"`
	Shortcut []json.RawMessage `json:"shortcut,omitempty"`
}

var specFields = map[string][]string{
	"linear":        {"name", "out"},
	"conv2d":        {"name", "out", "k", "stride", "pad", "groups"},
	"maxpool2d":     {"k", "stride"},
	"relu":          nil,
	"relu6":         nil,
	"flatten":       nil,
	"batchnorm2d":   {"name", "eps", "momentum"},
	"globalavgpool": {"name"},
	"residual":      {"name", "relu", "body", "shortcut"},
}

// Spec returns the model's architecture (input shape, classes, layers with
// their settings, no parameter values) as JSON; FromSpec rebuilds it.
// Checkpoints store it, so any network built from these layers can be
// reloaded without code.
func (m *Model) Spec() ([]byte, error) {
	ls, err := specOf(m.Layers, "layers", 0)
	if err != nil {
		return nil, err
	}
	f := struct {
		Format  string      `json:"format"`
		Version int         `json:"version"`
		Arch    string      `json:"arch"`
		Input   []int       `json:"input"`
		Classes int         `json:"classes"`
		Layers  []specLayer `json:"layers"`
	}{specFormat, specVersion, m.Arch, []int{m.In.C, m.In.H, m.In.W}, m.Classes, ls}
	return json.MarshalIndent(f, "", " ")
}

func specOf(layers []Layer, path string, depth int) ([]specLayer, error) {
	if depth > specMaxDepth {
		return nil, &SpecError{path, fmt.Sprintf("residual blocks nested deeper than %d", specMaxDepth)}
	}
	var out []specLayer
	for i, l := range layers {
		if isNil(l) {
			return nil, &SpecError{fmt.Sprintf("%s[%d]", path, i), "nil layer"}
		}
		var s specLayer
		switch l := l.(type) {
		case *Linear:
			s = specLayer{Kind: "linear", Name: l.Name, Out: l.Out}
		case *Conv2D:
			s = specLayer{Kind: "conv2d", Name: l.Name, Out: l.Out, K: l.K, Stride: l.Stride, Pad: l.Pad}
			if l.Groups > 1 {
				s.Groups = l.Groups
			}
		case *MaxPool2D:
			s = specLayer{Kind: "maxpool2d", K: l.K, Stride: l.Stride}
		case *ReLU, *ReLU6, *Flatten:
			s = specLayer{Kind: l.Kind()}
		case *BatchNorm2D:
			s = specLayer{Kind: "batchnorm2d", Name: l.Name, Eps: l.Eps, Momentum: l.Momentum}
		case *GlobalAvgPool:
			s = specLayer{Kind: "globalavgpool", Name: l.Name}
		case *Residual:
			s = specLayer{Kind: "residual", Name: l.Name, ReLU: l.ReLU}
			for _, part := range []struct {
				name string
				ls   []Layer
				dst  *[]json.RawMessage
			}{{"body", l.Body, &s.Body}, {"shortcut", l.Shortcut, &s.Shortcut}} {
				sub, err := specOf(part.ls, fmt.Sprintf("%s[%d].%s", path, i, part.name), depth+1)
				if err != nil {
					return nil, err
				}
				for _, x := range sub {
					b, err := json.Marshal(x)
					if err != nil {
						return nil, err
					}
					*part.dst = append(*part.dst, b)
				}
			}
		default:
			return nil, &SpecError{fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("layer type %T has no spec", l)}
		}
		out = append(out, s)
	}
	return out, nil
}

// FromSpec builds the model described by Spec's JSON, with weights
// initialised from seed. A spec without "arch" names its model "custom". Anything malformed is a *SpecError (or the
// NewSequential error of an inconsistent network); it never panics.
func FromSpec(data []byte, seed uint64) (*Model, error) {
	var f specFile
	if err := strictDecode(data, &f); err != nil {
		return nil, &SpecError{"", err.Error()}
	}
	if f.Format != specFormat {
		return nil, &SpecError{"format", fmt.Sprintf("%q, want %q", f.Format, specFormat)}
	}
	if f.Version != specVersion {
		return nil, &SpecError{"version", fmt.Sprintf("%d; this build reads version %d", f.Version, specVersion)}
	}
	if f.Arch == "" {
		// Checkpoints written before the name was required hold such
		// specs; the model still needs a name (NewSequential).
		f.Arch = "custom"
	}
	if len(f.Input) != 3 {
		return nil, &SpecError{"input", fmt.Sprintf("%v, want [C, H, W]", f.Input)}
	}
	in := Shape{f.Input[0], f.Input[1], f.Input[2]}
	for i, d := range f.Input {
		if d < 1 || d > specMaxDim {
			return nil, &SpecError{fmt.Sprintf("input[%d]", i), fmt.Sprintf("%d out of range [1, %d]", d, specMaxDim)}
		}
	}
	if in.Size() > maxActivation {
		return nil, &SpecError{"input", fmt.Sprintf("%v has more than %d values", in, maxActivation)}
	}
	if f.Classes < 2 || f.Classes > specMaxDim {
		return nil, &SpecError{"classes", fmt.Sprintf("%d out of range [2, %d]", f.Classes, specMaxDim)}
	}
	if len(f.Layers) == 0 {
		return nil, &SpecError{"layers", "no layers"}
	}
	d := &specDecoder{}
	layers, err := d.layers(f.Layers, "layers", 0)
	if err != nil {
		return nil, err
	}
	return NewSequential(f.Arch, in, f.Classes, layers, seed)
}

// strictDecode decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

type specDecoder struct{ count int }

func (d *specDecoder) layers(raw []json.RawMessage, path string, depth int) ([]Layer, error) {
	if depth > specMaxDepth {
		return nil, &SpecError{path, fmt.Sprintf("residual blocks nested deeper than %d", specMaxDepth)}
	}
	var out []Layer
	for i, r := range raw {
		l, err := d.layer(r, fmt.Sprintf("%s[%d]", path, i), depth)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func (d *specDecoder) layer(raw json.RawMessage, path string, depth int) (Layer, error) {
	if d.count++; d.count > specMaxLayers {
		return nil, &SpecError{path, fmt.Sprintf("more than %d layers", specMaxLayers)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, &SpecError{path, "a layer must be a JSON object"}
	}
	var kind string
	if err := json.Unmarshal(fields["kind"], &kind); err != nil || kind == "" {
		return nil, &SpecError{path + ".kind", "missing or not a string"}
	}
	allowed, ok := specFields[kind]
	if !ok {
		kinds := make([]string, 0, len(specFields))
		for k := range specFields {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return nil, &SpecError{path + ".kind", fmt.Sprintf("unknown layer kind %q (known: %s)", kind, strings.Join(kinds, ", "))}
	}
	for k := range fields {
		if k != "kind" && !slices.Contains(allowed, k) {
			takes := "only kind"
			if len(allowed) > 0 {
				takes = "kind, " + strings.Join(allowed, ", ")
			}
			return nil, &SpecError{path + "." + k, fmt.Sprintf("a %s layer has no field %q (it takes %s)", kind, k, takes)}
		}
	}
	var s specLayer
	if err := strictDecode(raw, &s); err != nil {
		return nil, &SpecError{path, err.Error()}
	}
	for _, c := range []struct {
		name   string
		v, max int
	}{
		{"out", s.Out, specMaxDim},
		{"k", s.K, specMaxKernel},
		{"stride", s.Stride, specMaxKernel},
		{"pad", s.Pad, specMaxKernel},
		{"groups", s.Groups, specMaxDim},
	} {
		if c.v < 0 || c.v > c.max {
			return nil, &SpecError{path + "." + c.name, fmt.Sprintf("%d out of range [0, %d]", c.v, c.max)}
		}
	}
	need := func(what string) error {
		if fields[what] == nil {
			return &SpecError{path + "." + what, "required for a " + kind + " layer"}
		}
		return nil
	}
	switch kind {
	case "linear":
		for _, f := range []string{"name", "out"} {
			if err := need(f); err != nil {
				return nil, err
			}
		}
		return &Linear{Name: s.Name, Out: s.Out}, nil
	case "conv2d":
		for _, f := range []string{"name", "out", "k"} {
			if err := need(f); err != nil {
				return nil, err
			}
		}
		return &Conv2D{Name: s.Name, Out: s.Out, K: s.K, Stride: s.Stride, Pad: s.Pad, Groups: s.Groups}, nil
	case "maxpool2d":
		if err := need("k"); err != nil {
			return nil, err
		}
		return &MaxPool2D{K: s.K, Stride: s.Stride}, nil
	case "relu":
		return &ReLU{}, nil
	case "relu6":
		return &ReLU6{}, nil
	case "flatten":
		return &Flatten{}, nil
	case "batchnorm2d":
		if err := need("name"); err != nil {
			return nil, err
		}
		return &BatchNorm2D{Name: s.Name, Eps: s.Eps, Momentum: s.Momentum}, nil
	case "globalavgpool":
		if err := need("name"); err != nil {
			return nil, err
		}
		return &GlobalAvgPool{Name: s.Name}, nil
	case "residual":
		if err := need("name"); err != nil {
			return nil, err
		}
		body, err := d.layers(s.Body, path+".body", depth+1)
		if err != nil {
			return nil, err
		}
		sc, err := d.layers(s.Shortcut, path+".shortcut", depth+1)
		if err != nil {
			return nil, err
		}
		return &Residual{Name: s.Name, ReLU: s.ReLU, Body: body, Shortcut: sc}, nil
	}
	return nil, &SpecError{path + ".kind", "unhandled kind " + kind} // specFields and this switch disagree
}
