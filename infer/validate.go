package infer

import (
	"fmt"

	"unicode"
	"unicode/utf8"

	"github.com/tinyqat/tinyqat/quant"
)

// Hard bounds on a model's geometry, whatever the Limits: with every
// dimension at most maxDim and every product checked against its bound
// before it is formed (mulCap), no size, offset or loop bound the runtime
// computes from a valid model overflows an int.
const (
	// maxDim bounds each channel count, height, width, kernel size,
	// stride, padding and group count.
	maxDim = 1 << 24
	// maxValues bounds the values of one activation per sample
	// (channels·height·width); Limits.MaxActivation bounds them further.
	maxValues = 1 << 30
	// maxInput bounds the model input's values per sample.
	maxInput = 1 << 24
	// maxFanIn is the longest weight row of an integer layer: the int32
	// accumulator must not overflow, |bias| < 2^30 and
	// fan-in · 255 · 127 < 2^30 (uint8 inputs minus a zero point reach
	// ±255).
	maxFanIn = (1 << 30) / (255 * 127)
	// maxWeights bounds one layer's weights (a model file holds at most
	// stfile.MaxFileSize bytes).
	maxWeights = 1 << 30
)

// mulCap returns the product of xs and true if every factor is at least 0
// and the product at most limit (≥ 0); each partial product is checked
// before the next multiplication, so none overflows.
func mulCap(limit int, xs ...int) (int, bool) {
	p := 1
	for _, x := range xs {
		if x < 0 || x != 0 && p > limit/x {
			return 0, false
		}
		p *= x
	}
	return p, true
}

// layerError is the error for layer i of m: it names the layer's index,
// kind and name.
func (m *Model) layerError(i int, format string, args ...any) error {
	where := fmt.Sprintf("layer %d", i)
	if l := m.Layers[i]; l != nil {
		where += " (" + string(l.Kind)
		if l.Name != "" {
			where += fmt.Sprintf(" %q", l.Name)
		}
		where += ")"
	}
	return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
}

// checkGeometry checks a layer's dimension fields against the hard bounds
// (maxDim, maxValues, maxFanIn, maxWeights) before anything multiplies
// them: the error names the field. fanIn, InSize, OutSize and
// OutC·fanIn are safe to compute once it passes.
func (l *Layer) checkGeometry() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"in_c", l.InC}, {"in_h", l.InH}, {"in_w", l.InW}, {"out_c", l.OutC}, {"out_h", l.OutH}, {"out_w", l.OutW},
		{"k", l.K}, {"stride", l.Stride}, {"pad", l.Pad}, {"groups", l.Groups}} {
		if f.v < 0 || f.v > maxDim {
			return fmt.Errorf("%s %d outside [0, %d]", f.name, f.v, maxDim)
		}
	}
	if _, ok := mulCap(maxValues, l.InC, l.InH, l.InW); !ok {
		return fmt.Errorf("input %dx%dx%d has more than %d values", l.InC, l.InH, l.InW, maxValues)
	}
	if _, ok := mulCap(maxValues, l.OutC, l.OutH, l.OutW); !ok {
		return fmt.Errorf("output %dx%dx%d has more than %d values", l.OutC, l.OutH, l.OutW, maxValues)
	}
	if !l.Kind.Weighted() {
		return nil
	}
	fan, ok := l.InSize(), true
	if l.Kind == KindConv2D {
		fan, ok = mulCap(maxWeights, l.InC/l.groups(), l.K, l.K)
	}
	if !ok {
		return fmt.Errorf("fan-in in_c/groups·k·k = %d/%d·%d·%d is more than %d", l.InC, l.groups(), l.K, l.K, maxWeights)
	}
	if _, ok := mulCap(maxWeights, l.OutC, fan); !ok {
		return fmt.Errorf("%d output channels × fan-in %d: more than %d weights", l.OutC, fan, maxWeights)
	}
	return nil
}

// Validate checks that the model is complete and consistent: the graph
// reads only earlier layers, shapes chain, tensor sizes match,
// multipliers, shifts, zero points and clamps are in range, and the
// geometry (shapes, kernels, strides, pads, groups and their products)
// within hard bounds that keep every size the runtime computes from
// overflowing. A model that passes never makes the runtime index out of
// bounds. Its memory per image is bounded by CheckLimits (Load applies
// both).
func (m *Model) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	return nil
}

// validate is Validate without the package prefix (decode wraps its
// errors in a FormatError).
func (m *Model) validate() error {
	if m.Mode == F32 {
		return m.validateFloat()
	}
	bad := m.layerError
	if m.Version < MinFormatVersion || m.Version > FormatVersion {
		return fmt.Errorf("model version %d, this build runs versions %d to %d", m.Version, MinFormatVersion, FormatVersion)
	}
	if _, err := ParseMode(string(m.Mode)); err != nil {
		return fmt.Errorf("unknown mode %q (known: w8a8, w8a8-asym, w8-only)", m.Mode)
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
	if err := checkQ(m.Input, m.Mode); err != nil {
		return fmt.Errorf("input: %v", err)
	}
	if err := m.checkInputMeta(); err != nil {
		return err
	}
	// shape[v+1] is value v's shape (v = −1: the input); q[v+1] its
	// parameters.
	shapes := []shape{{m.InC, m.InH, m.InW}}
	qs := []QParams{m.Input}
	for i, l := range m.Layers {
		if l == nil {
			return bad(i, "missing")
		}
		if err := l.checkGeometry(); err != nil {
			return bad(i, "%v", err)
		}
		if m.Version < 3 && (l.Kind == KindAdd || l.Kind == KindGlobalAvgPool || l.Groups > 1 || len(l.Inputs) > 0 || l.Max != 0) {
			return bad(i, "%s with groups %d, inputs %v, max %v needs format version 3, the file is version %d", l.Kind, l.Groups, l.Inputs, l.Max, m.Version)
		}
		ins, err := m.checkInputs(i, shapes)
		if err != nil {
			return bad(i, "%v", err)
		}
		in := shapes[ins[0]+1]
		c, h, w := in.c, in.h, in.w
		inQ := qs[ins[0]+1]
		outQ := inQ
		if l.Groups != 0 && l.Kind != KindConv2D {
			return bad(i, "%s with groups %d", l.Kind, l.Groups)
		}
		if l.Max != 0 && (m.Mode != W8Only || !l.ReLU || !(l.Max > 0) || l.Max > 1e30) {
			return bad(i, "max %v: only a w8-only ReLU has a positive float max", l.Max)
		}
		switch l.Kind {
		case KindFlatten:
			if l.OutC != c*h*w || l.OutH != 1 || l.OutW != 1 {
				return bad(i, "flatten output %dx%dx%d", l.OutC, l.OutH, l.OutW)
			}
		case KindMaxPool2D:
			if l.K < 1 || l.Stride < 1 || l.K > h || l.K > w || l.OutC != c ||
				l.OutH != (h-l.K)/l.Stride+1 || l.OutW != (w-l.K)/l.Stride+1 {
				return bad(i, "inconsistent maxpool k=%d stride=%d output %dx%dx%d", l.K, l.Stride, l.OutC, l.OutH, l.OutW)
			}
		case KindGlobalAvgPool:
			if l.OutC != c || l.OutH != 1 || l.OutW != 1 {
				return bad(i, "global average pool output %dx%dx%d of a %dx%dx%d input", l.OutC, l.OutH, l.OutW, c, h, w)
			}
			if m.Mode != W8Only && (l.In != inQ || l.Out != inQ) {
				return bad(i, "global average pool parameters in %+v, out %+v, want both %+v", l.In, l.Out, inQ)
			}
		case KindAdd:
			if s2 := shapes[ins[1]+1]; s2 != in {
				return bad(i, "add of %dx%dx%d and %dx%dx%d", c, h, w, s2.c, s2.h, s2.w)
			}
			if l.OutC != c || l.OutH != h || l.OutW != w {
				return bad(i, "add output %dx%dx%d of %dx%dx%d inputs", l.OutC, l.OutH, l.OutW, c, h, w)
			}
			if err := m.checkAdd(l, inQ, qs[ins[1]+1]); err != nil {
				return bad(i, "add: %v", err)
			}
			outQ = l.Out
		case KindLinear, KindConv2D:
			if err := m.checkWeighted(l, inQ); err != nil {
				return bad(i, "%s: %v", l.Kind, err)
			}
			outQ = l.Out
		default:
			return bad(i, "unknown kind %q", l.Kind)
		}
		shapes = append(shapes, shape{l.OutC, l.OutH, l.OutW})
		qs = append(qs, outQ)
	}
	last := m.Layers[len(m.Layers)-1]
	if last.OutSize() != m.Classes || last.OutH != 1 || last.OutW != 1 {
		return fmt.Errorf("the last layer gives %dx%dx%d values, want %d classes", last.OutC, last.OutH, last.OutW, m.Classes)
	}
	return nil
}

// checkInputMeta checks the class names and the input normalization:
// version 4 or later, one name per class, one mean and std per input
// channel, all finite, every std positive with a finite reciprocal.
func (m *Model) checkInputMeta() error {
	if m.Mode != F32 && m.Version < 4 && (m.ClassNames != nil || m.Norm != nil) {
		return fmt.Errorf("class names and input normalization need format version 4, the model is version %d", m.Version)
	}
	if m.ClassNames != nil {
		if len(m.ClassNames) != m.Classes {
			return fmt.Errorf("%d class names for %d classes", len(m.ClassNames), m.Classes)
		}
		seen := make(map[string]int, len(m.ClassNames))
		for i, name := range m.ClassNames {
			if err := checkClassName(name); err != nil {
				return fmt.Errorf("class name %d %q: %v", i, name, err)
			}
			if j, ok := seen[name]; ok {
				return fmt.Errorf("class names %d and %d are both %q", j, i, name)
			}
			seen[name] = i
		}
	}
	if n := m.Norm; n != nil {
		if len(n.Mean) != m.InC || len(n.Std) != m.InC {
			return fmt.Errorf("input normalization with %d means and %d stds for %d channels", len(n.Mean), len(n.Std), m.InC)
		}
		for c := range n.Mean {
			mean, std := n.Mean[c], n.Std[c]
			if !finite32(mean) || !finite32(std) || !(std > 0) || !finite32(1/std) {
				return fmt.Errorf("input normalization of channel %d: mean %v, std %v: both must be finite and the std positive with a finite reciprocal", c, mean, std)
			}
			// The bytes 0 and 255 (x = 0 and 1) bound every normalized
			// pixel: it must stay finite (the byte tables hold them all).
			inv := 1 / std
			if lo, hi := float32(0-mean)*inv, float32(1-mean)*inv; !finite32(lo) || !finite32(hi) {
				return fmt.Errorf("input normalization of channel %d: mean %v, std %v take pixels in [0, 1] to [%v, %v]", c, mean, std, lo, hi)
			}
		}
	}
	return nil
}

// finite32 reports whether v is neither NaN nor ±Inf.
func finite32(v float32) bool { return v == v && v-v == 0 }

// checkClassName refuses an empty name, one longer than maxClassName
// bytes, invalid UTF-8 and control characters (names are printed).
func checkClassName(s string) error {
	if s == "" || len(s) > maxClassName {
		return fmt.Errorf("%d bytes, want 1 to %d", len(s), maxClassName)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// checkAdd checks an add's parameters: In and In2 are its inputs'
// parameters, two multipliers and shifts in range, the clamp inside Out's
// range. The runtime computes with them only through quant.RequantizeAdd,
// exact for every valid multiplier pair.
func (m *Model) checkAdd(l *Layer, a, b QParams) error {
	if len(l.W) != 0 || len(l.Bias) != 0 || len(l.WScale) != 0 || len(l.FBias) != 0 || l.CBits != 0 || l.K != 0 {
		return fmt.Errorf("an add has no weights")
	}
	if m.Mode == W8Only {
		if len(l.M0) != 0 || len(l.Shift) != 0 {
			return fmt.Errorf("a w8-only add has no multipliers")
		}
		return nil
	}
	if l.In != a || l.In2 != b {
		return fmt.Errorf("input parameters %+v and %+v differ from the outputs they read, %+v and %+v", l.In, l.In2, a, b)
	}
	if err := checkQ(l.Out, m.Mode); err != nil {
		return fmt.Errorf("output: %v", err)
	}
	if len(l.M0) != 2 || len(l.Shift) != 2 {
		return fmt.Errorf("%d multipliers and %d shifts, want 2 (one per input)", len(l.M0), len(l.Shift))
	}
	return checkRequant(l)
}

// checkMultipliers checks that every (M0, shift) pair is a SplitMultiplier
// form: M0 ∈ [2^23, 2^24), shift ∈ [1, 63].
func checkMultipliers(m0, shift []int32) error {
	for c := range m0 {
		if m0[c] < quant.MinM0 || m0[c] > quant.MaxM0 {
			return fmt.Errorf("multiplier %d is %d, outside [2^23, 2^24)", c, m0[c])
		}
		if shift[c] < quant.MinShift || shift[c] > quant.MaxShift {
			return fmt.Errorf("shift %d is %d, outside [%d, %d]", c, shift[c], quant.MinShift, quant.MaxShift)
		}
	}
	return nil
}

func checkQ(q QParams, mode Mode) error {
	if mode == W8Only {
		return nil
	}
	if q.Bits < 2 || q.Bits > 8 {
		return fmt.Errorf("activation bits %d outside [2, 8]", q.Bits)
	}
	if q.Signed != (mode == W8A8) {
		return fmt.Errorf("signed=%v does not fit mode %s", q.Signed, mode)
	}
	lo, hi := q.QRange()
	if q.Zero < lo || q.Zero > hi || (q.Signed && q.Zero != 0) {
		return fmt.Errorf("zero point %d outside [%d, %d]", q.Zero, lo, hi)
	}
	if !(q.Scale > 0) || q.Scale > 1e30 {
		return fmt.Errorf("scale %v not positive and finite", q.Scale)
	}
	return nil
}

func (m *Model) checkWeighted(l *Layer, prevOut QParams) error {
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
	if len(l.W) != l.OutC*l.fanIn() && !(m.Mode == W8Only && l.CBits > 0) {
		return fmt.Errorf("%d weights, want %d·%d", len(l.W), l.OutC, l.fanIn())
	}
	if l.WBits < 2 || l.WBits > 8 {
		return fmt.Errorf("weight bits %d outside [2, 8]", l.WBits)
	}
	wmax := int8(int32(1)<<(l.WBits-1) - 1)
	for j, v := range l.W {
		if v < -wmax || v > wmax {
			return fmt.Errorf("weight %d is %d, outside ±%d", j, v, wmax)
		}
	}
	if err := l.checkPacked(m.Mode); err != nil {
		return err
	}
	if len(l.WScale) != l.OutC {
		return fmt.Errorf("%d weight scales for %d channels", len(l.WScale), l.OutC)
	}
	for c, s := range l.WScale {
		if !(s > 0) || s > 1e30 {
			return fmt.Errorf("weight scale %d is %v", c, s)
		}
	}
	if m.Mode == W8Only {
		if len(l.FBias) != l.OutC {
			return fmt.Errorf("%d float biases for %d channels", len(l.FBias), l.OutC)
		}
		for c, b := range l.FBias {
			if b != b || b > 1e30 || b < -1e30 {
				return fmt.Errorf("bias %d is %v", c, b)
			}
		}
		return nil
	}
	if l.In != prevOut {
		return fmt.Errorf("input parameters %+v differ from the previous output %+v", l.In, prevOut)
	}
	if err := checkQ(l.Out, m.Mode); err != nil {
		return fmt.Errorf("output: %v", err)
	}
	if len(l.Bias) != l.OutC || len(l.M0) != l.OutC || len(l.Shift) != l.OutC {
		return fmt.Errorf("%d biases, %d multipliers, %d shifts for %d channels", len(l.Bias), len(l.M0), len(l.Shift), l.OutC)
	}
	// The int32 accumulator must not overflow (maxFanIn).
	if l.fanIn() > maxFanIn {
		return fmt.Errorf("fan-in %d too large for an int32 accumulator", l.fanIn())
	}
	for c, b := range l.Bias {
		if b <= -1<<30 || b >= 1<<30 {
			return fmt.Errorf("bias %d is %d, outside ±2^30", c, b)
		}
	}
	return checkRequant(l)
}

// checkRequant checks a layer's requantization: multipliers, shifts and the
// output clamp inside the output's range.
func checkRequant(l *Layer) error {
	if err := checkMultipliers(l.M0, l.Shift); err != nil {
		return err
	}
	lo, hi := l.Out.QRange()
	if l.Lo < lo || l.Hi > hi || l.Lo > l.Hi {
		return fmt.Errorf("clamp [%d, %d] outside [%d, %d]", l.Lo, l.Hi, lo, hi)
	}
	return nil
}

// shape is a layer output's C×H×W; shapes[0] is the model input's.
type shape struct{ c, h, w int }

// checkInputs checks the wiring of layer i, shared by the integer and the
// float validation: an add reads two earlier outputs, every other layer
// one (by default the previous layer's), each the model input (−1) or an
// earlier layer; a flatten's output keeps its input's channels-last bytes,
// so only a linear layer (whose weights are permuted to match) or another
// flatten may read it; the layer's input shape is its first input's
// output shape (shapes[j+1] is layer j's). It returns the inputs.
func (m *Model) checkInputs(i int, shapes []shape) ([]int, error) {
	l := m.Layers[i]
	want := 1
	if l.Kind == KindAdd {
		want = 2
	}
	ins := l.Inputs
	if len(ins) == 0 && want == 1 {
		ins = []int{i - 1}
	}
	if len(ins) != want {
		return nil, fmt.Errorf("%s reads %d inputs %v, want %d", l.Kind, len(ins), ins, want)
	}
	for _, v := range ins {
		if v < -1 || v >= i {
			return nil, fmt.Errorf("input %d is not the model input (−1) or an earlier layer", v)
		}
		if v >= 0 && m.Layers[v] != nil && m.Layers[v].Kind == KindFlatten && l.Kind != KindLinear && l.Kind != KindFlatten {
			return nil, fmt.Errorf("%s reads the output of flatten layer %d", l.Kind, v)
		}
	}
	if in := shapes[ins[0]+1]; l.InC != in.c || l.InH != in.h || l.InW != in.w {
		return nil, fmt.Errorf("input %dx%dx%d, the output it reads is %dx%dx%d", l.InC, l.InH, l.InW, in.c, in.h, in.w)
	}
	return ins, nil
}
