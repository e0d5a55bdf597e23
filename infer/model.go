package infer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// FormatVersion is the version of the integer model this build writes and
// runs. Version 2: multipliers are float32 mantissas M0 ∈ [2^23, 2^24) with
// right shifts in [1, 63], rounded once, half to even (package quant).
// Version 3 adds the kinds add and globalavgpool, grouped convolutions
// (Layer.Groups), graphs (Layer.Inputs) and Layer.Max; version-2 files
// (which have none of these) still load and run unchanged. Version 4 adds
// the class names and the input normalization (Model.ClassNames,
// Model.Norm), which a version-3 reader would ignore and run wrong.
const FormatVersion = 4

// MinFormatVersion is the oldest version this build still reads.
const MinFormatVersion = 2

// Mode is the kind of integer model.
type Mode string

const (
	// W8A8 is full integer inference with symmetric int8 activations.
	W8A8 Mode = "w8a8"
	// W8A8Asym uses asymmetric uint8 activations with zero points.
	W8A8Asym Mode = "w8a8-asym"
	// W8Only stores int8 weights and computes in float32.
	W8Only Mode = "w8-only"
	// F32 is a float32 model (float.go): float32 weights and biases,
	// float32 activations, written in the float file format
	// (FloatFormatVersion). It is not one of Modes, the integer modes
	// that export's --mode names.
	F32 Mode = "f32"
)

// Modes lists the integer modes: those export's integer --mode names.
var Modes = []Mode{W8A8, W8A8Asym, W8Only}

// ParseMode validates a mode name: one of Modes, or F32 ("f32"), the
// mode of a float model. Each is the name Model.Mode holds and the
// command line prints.
func ParseMode(s string) (Mode, error) {
	known := append(slices.Clone(Modes), F32)
	names := make([]string, len(known))
	for i, m := range known {
		if string(m) == s {
			return m, nil
		}
		names[i] = string(m)
	}
	return "", fmt.Errorf("infer: unknown mode %q (known: %s)", s, strings.Join(names, ", "))
}

// QParams are the quantization parameters of an activation tensor.
type QParams struct {
	Scale float32 `json:"scale"`
	Zero  int32   `json:"zero"`
	Bits  int     `json:"bits"`
	// Signed is true for int8 storage (symmetric), false for uint8 (affine).
	Signed bool `json:"signed"`
}

// QRange is the integer range of the storage.
func (q QParams) QRange() (int32, int32) {
	if q.Signed {
		m := int32(1)<<(q.Bits-1) - 1
		return -m, m
	}
	return 0, int32(1)<<q.Bits - 1
}

// Kind is the kind of a layer. It is a string type, so the names compare
// with string constants too.
type Kind string

// The layer kinds of the integer runtime.
const (
	KindLinear    Kind = "linear"
	KindConv2D    Kind = "conv2d"
	KindMaxPool2D Kind = "maxpool2d"
	KindFlatten   Kind = "flatten"
	// KindAdd adds two earlier outputs (Inputs) with parameters In and
	// In2, rescaled to Out with fixed-point multipliers M0/Shift (two
	// entries: one per input) and one rounding (quant.RequantizeAdd),
	// then clamped to [Lo, Hi] (a fused ReLU raises Lo).
	KindAdd Kind = "add"
	// KindGlobalAvgPool averages each channel over H×W into OutC×1×1 with
	// an exactly rounded integer mean (quant.RoundDiv); Out equals In.
	KindGlobalAvgPool Kind = "globalavgpool"
)

// Weighted reports whether layers of kind k have weights (Linear, Conv2D).
func (k Kind) Weighted() bool { return k == KindLinear || k == KindConv2D }

// Layer is one integer layer. Shapes are per sample, CHW.
type Layer struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name,omitempty"`

	InC  int `json:"in_c"`
	InH  int `json:"in_h"`
	InW  int `json:"in_w"`
	OutC int `json:"out_c"`
	OutH int `json:"out_h"`
	OutW int `json:"out_w"`

	K      int `json:"k,omitempty"` // kernel (conv2d, maxpool2d)
	Stride int `json:"stride,omitempty"`
	Pad    int `json:"pad,omitempty"`
	// Groups of a conv2d (0 or 1: dense; InC = OutC = Groups: depthwise).
	// W is (OutC, InC/Groups·K·K).
	Groups int `json:"groups,omitempty"`

	// Inputs are the indices of the layers whose outputs this layer reads
	// (−1: the model input). Empty means the previous layer's output (the
	// model input for layer 0); an add has two.
	Inputs []int `json:"inputs,omitempty"`
	// In2 are the second input's parameters (add).
	In2 QParams `json:"in2,omitzero"`

	// Linear, Conv2D, Add (In: the first input's) and GlobalAvgPool (In =
	// Out = its input's).
	In    QParams `json:"in"`  // input activation parameters
	Out   QParams `json:"out"` // output activation parameters
	ReLU  bool    `json:"relu,omitempty"`
	WBits int     `json:"w_bits,omitempty"`
	Lo    int32   `json:"lo,omitempty"` // output clamp (ReLU fused into Lo)
	Hi    int32   `json:"hi,omitempty"`
	// Max is the upper clamp of a ReLU in w8-only mode (6 for ReLU6; 0:
	// none). The integer modes hold it in Hi.
	Max float32 `json:"max,omitempty"`

	// Tensors (not in the JSON header).
	W      []int8    `json:"-"` // (OutC, InC/Groups·K·K) row-major, or (OutC, In) for linear
	Bias   []int32   `json:"-"` // OutC, scale In.Scale·WScale[c]
	M0     []int32   `json:"-"` // OutC, requantization multipliers in [2^23, 2^24) (quant/doc.go); add: 2 (S_a/S_out, S_b/S_out)
	Shift  []int32   `json:"-"` // OutC, right shifts in [1, 63]: M = M0·2^−Shift; add: 2
	WScale []float32 `json:"-"` // OutC, weight scales (w8-only and reporting)
	FBias  []float32 `json:"-"` // OutC, float bias (w8-only)

	// Codebook weights (pack.go): CGroups tables of 2^CBits entries (one, or
	// one per output channel), W[c·fan+j] = LUT[g(c)·2^CBits + Index[c·fan+j]];
	// in w8-only mode float32 Centroids and Packed indices instead of W.
	CBits     int       `json:"cb_bits,omitempty"`
	CGroups   int       `json:"cb_groups,omitempty"`
	Index     []uint8   `json:"-"`
	LUT       []int8    `json:"-"`
	Packed    []byte    `json:"-"`
	Centroids []float32 `json:"-"`

	// FW are a float model's (F32) float32 weights, laid out as W; its
	// biases are FBias (float.go).
	FW []float32 `json:"-"`
}

// InSize and OutSize are the per-sample element counts.
func (l *Layer) InSize() int  { return l.InC * l.InH * l.InW }
func (l *Layer) OutSize() int { return l.OutC * l.OutH * l.OutW }

// MACs is a model's number of multiply-accumulates per sample (lenet300:
// 784·300 + 300·100 + 100·10 = 266,200).
func MACs(m *Model) int {
	macs := 0
	for _, l := range m.Layers {
		if l.Kind.Weighted() {
			macs += l.OutC * l.fanIn() * l.OutH * l.OutW
		}
	}
	return macs
}

// fanIn is the length of one weight row.
func (l *Layer) fanIn() int {
	if l.Kind == KindConv2D {
		return l.InC / l.groups() * l.K * l.K
	}
	return l.InSize()
}

// groups is the number of groups of a conv2d (1 when Groups is 0).
func (l *Layer) groups() int { return max(1, l.Groups) }

// depthwise reports whether l is a depthwise conv2d: one group per
// channel, one output channel per input channel.
func (l *Layer) depthwise() bool {
	return l.Kind == KindConv2D && l.Groups > 1 && l.Groups == l.InC && l.OutC == l.InC
}

// inputs are the indices of the values layer i reads: −1 for the model
// input, j for layer j's output (Inputs, or the previous layer).
func (m *Model) inputs(i int) []int {
	if l := m.Layers[i]; len(l.Inputs) > 0 {
		return l.Inputs
	}
	return []int{i - 1}
}

// Model is an exported integer model. It is immutable once built or
// loaded, and safe for concurrent use.
type Model struct {
	Version int      `json:"version"`
	Arch    string   `json:"arch"`
	Mode    Mode     `json:"mode"`
	InC     int      `json:"in_c"`
	InH     int      `json:"in_h"`
	InW     int      `json:"in_w"`
	Classes int      `json:"classes"`
	Input   QParams  `json:"input"`
	Layers  []*Layer `json:"layers"`
	// Source says where the model came from (source.go): the run
	// folder, the checkpoint's phase, the real weight and activation
	// bit-widths, estimator and observer. Arch, the input shape and
	// Classes above are the source network's.
	Source Source `json:"source,omitzero"`
	// ClassNames are the classes' names, in logit order (empty: unnamed;
	// otherwise Classes distinct, non-empty printable names).
	ClassNames []string `json:"class_names,omitempty"`
	// Norm is the per-channel input normalization the network was trained
	// with (nil: none, the identity). Logits, Predict and FloatLogits
	// apply it to their float pixels before the input quantization, and
	// LogitsBytes and PredictBytes fold it into their byte tables.
	Norm *InputNorm `json:"input_norm,omitempty"`

	padOnce sync.Once
	plans   *modelPlan
	fplan   *floatPlan // an F32 model's plan (float_run.go)
	planErr error      // Validate's error, found when the plan is built
}

// InputNorm is a per-channel input normalization of pixels x in [0, 1]
// (x = p/255 for a byte p), in float32 exactly as the training batches
// computed it (datasets.Batcher.SetNorm): the reciprocal first, then one
// subtraction and one multiplication,
//
//	inv[c] = 1 / Std[c]
//	x'     = (x − Mean[c]) · inv[c]
type InputNorm struct {
	Mean []float32 `json:"mean"`
	Std  []float32 `json:"std"`
}

// maxClassName bounds the bytes of one class name.
const maxClassName = 256

// Bits returns the real bit-widths of the model: the widest weights of its
// layers, and its activations (32 for a w8-only model, whose activations
// are float32).
func (m *Model) Bits() (weights, activations int) {
	for _, l := range m.Layers {
		weights = max(weights, l.WBits)
	}
	if m.Mode == F32 {
		return 32, 32
	}
	if m.Mode == W8Only {
		return weights, 32
	}
	return weights, m.Input.Bits
}

// CheckData returns an error unless data of c×h×w images with the given
// class count fits the model.
func (m *Model) CheckData(c, h, w, classes int) error {
	if c != m.InC || h != m.InH || w != m.InW || classes != m.Classes {
		return fmt.Errorf("infer: the model takes %dx%dx%d images with %d classes, the data has %dx%dx%d with %d",
			m.InC, m.InH, m.InW, m.Classes, c, h, w, classes)
	}
	return nil
}

// Output returns the quantization parameters of the logits (of a valid
// model).
func (m *Model) Output() QParams {
	if len(m.Layers) == 0 {
		return m.Input
	}
	return m.outQ(len(m.Layers) - 1)
}

// outQ is the quantization parameters of value v (−1: the model input; j:
// layer j's output): a weighted layer's or an add's Out; max-pooling,
// flatten and global average pooling keep their input's (global average
// pooling's Out must equal its In). It follows a valid model's inputs.
func (m *Model) outQ(v int) QParams {
	for v >= 0 {
		l := m.Layers[v]
		if l.Kind.Weighted() || l.Kind == KindAdd {
			return l.Out
		}
		v = m.inputs(v)[0]
	}
	return m.Input
}
