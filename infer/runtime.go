package infer

import (
	"fmt"

	"github.com/tinyqat/tinyqat/quant"
)

// InputError reports a batch that cannot be run.
type InputError struct{ Problem string }

func (e *InputError) Error() string { return "infer: " + e.Problem }

// checkInput validates the float input of n samples: its length
// (checkShape) and its values (no NaN or ±Inf). The integer modes check
// only the length up front and find non-finite values while quantizing
// the input (quantizeU8, one pass instead of two).
func (m *Model) checkInput(x []float32, n int) error {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return err
	}
	if i := quant.FirstNonFinite(x); i >= 0 {
		return m.nonFinite(x, i)
	}
	return nil
}

// checkShape checks that an input of length values (floats or bytes, as
// unit says) holds n samples. The length is compared by division, so a
// huge n cannot overflow n·size into a match.
func (m *Model) checkShape(length int, unit string, n int) error {
	size := m.InC * m.InH * m.InW
	if size <= 0 || len(m.Layers) == 0 || m.Classes <= 0 {
		return &InputError{fmt.Sprintf("the model is empty (input %dx%dx%d, %d layers, %d classes): load it with Load, or build it completely and call Validate",
			m.InC, m.InH, m.InW, len(m.Layers), m.Classes)}
	}
	if n < 0 || length%size != 0 || length/size != n {
		return &InputError{fmt.Sprintf("%d %s for %d samples of %dx%dx%d", length, unit, n, m.InC, m.InH, m.InW)}
	}
	return nil
}

// nonFinite is the error for the NaN or ±Inf at x[i], or for the finite
// x[i] that the input normalization took beyond the float32 range.
func (m *Model) nonFinite(x []float32, i int) error {
	size := m.InC * m.InH * m.InW
	if finite32(x[i]) {
		return &InputError{fmt.Sprintf("sample %d, element %d is %v, not finite after the input normalization", i/size, i%size, x[i])}
	}
	return &InputError{fmt.Sprintf("sample %d, element %d is %v", i/size, i%size, x[i])}
}

// input is a batch of images: float pixels x, or bytes pix when bytes is
// set (LogitsBytes).
type input struct {
	x     []float32
	pix   []uint8
	bytes bool
}

// Logits runs n samples (NCHW float32 pixels, as the float model takes
// them: in [0, 1], normalized here by Norm when the model has one) and
// returns n·Classes output integers: int8 (w8a8) or uint8
// (w8a8-asym) logits widened to int32. For w8-only it returns an error; use
// FloatLogits. The model is safe for concurrent use. The result is a new
// slice; LogitsInto writes into the caller's and allocates nothing once
// warm (its buffers and the parallel workers' jobs are pooled).
func (m *Model) Logits(x []float32, n int) ([]int32, error) {
	return m.trace(x, n, nil)
}

// LogitsInto is Logits writing into dst, which must hold n·Classes values.
// On an error dst's contents are unspecified (a non-finite input is found
// while the batch runs).
func (m *Model) LogitsInto(dst []int32, x []float32, n int) error {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return err
	}
	if len(dst) != n*m.Classes {
		return &InputError{fmt.Sprintf("%d output values for %d samples of %d classes", len(dst), n, m.Classes)}
	}
	return m.run(dst, input{x: x}, n, nil)
}

// LogitsBytes is Logits for n images of bytes (NCHW, pixel p standing
// for p/255; one plane per channel, so a decoded colour image's
// interleaved RGBA must be split into planes first, as
// imageinput.Image.Bytes is): each byte
// becomes its quantized input through a 256-entry table per channel,
// built once per model from the float path (normalization, then input
// quantization, of float32(p)/255), so LogitsBytes(pix) equals Logits(x)
// bit for bit for x[i] = float32(pix[i])/255, and nothing on the way in
// computes in float.
func (m *Model) LogitsBytes(pix []uint8, n int) ([]int32, error) {
	if err := m.checkShape(len(pix), "bytes", n); err != nil {
		return nil, err
	}
	out := make([]int32, n*m.Classes)
	if err := m.run(out, input{pix: pix, bytes: true}, n, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// PredictBytes is Predict for n images of bytes (see LogitsBytes). A
// w8-only model computes in float: its bytes become float32(p)/255.
func (m *Model) PredictBytes(pix []uint8, n int) ([]int, error) {
	if m.Mode == F32 {
		out, err := m.FloatLogitsBytes(pix, n)
		return argmaxRows(out, n, m.Classes), err
	}
	if m.Mode == W8Only {
		if err := m.checkShape(len(pix), "bytes", n); err != nil {
			return nil, err
		}
		out, err := m.FloatLogits(BytesToFloat(pix), n)
		return argmaxRows(out, n, m.Classes), err
	}
	out, err := m.LogitsBytes(pix, n)
	return argmaxRows(out, n, m.Classes), err
}

// BytesToFloat returns the float pixels of bytes, float32(p)/255 (the
// division in float32, as the training batches compute them).
func BytesToFloat(pix []uint8) []float32 {
	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = float32(p) / 255
	}
	return x
}

// LogitsTrace is Logits, calling tr (when not nil) with each layer's
// integer output as it is computed.
func (m *Model) LogitsTrace(x []float32, n int, tr Trace) ([]int32, error) {
	return m.trace(x, n, tr)
}

// Trace is called with each layer's integer output (n samples, the layer's
// storage values widened to int32).
type Trace func(layer int, out []int32)

func (m *Model) trace(x []float32, n int, tr Trace) ([]int32, error) {
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return nil, err
	}
	out := make([]int32, n*m.Classes)
	if err := m.run(out, input{x: x}, n, tr); err != nil {
		return nil, err
	}
	return out, nil
}

// run runs the integer layers; it returns the error for the first
// non-finite input value, if any.
func (m *Model) run(dst []int32, x input, n int, tr Trace) error {
	if m.Mode == W8A8 || m.Mode == W8A8Asym {
		if _, err := m.prepare(); err != nil {
			return err
		}
	}
	var bad int
	switch m.Mode {
	case W8A8, W8A8Asym:
		bad = runInt(m, dst, x, n, tr)
	default:
		return fmt.Errorf("infer: a %s model computes in float: use FloatLogits", m.Mode)
	}
	if bad >= 0 {
		return m.nonFinite(x.x, bad)
	}
	return nil
}

// Predict returns the top-1 class of each of n samples.
func (m *Model) Predict(x []float32, n int) ([]int, error) {
	if m.Mode == W8Only || m.Mode == F32 {
		out, err := m.FloatLogits(x, n)
		return argmaxRows(out, n, m.Classes), err
	}
	out, err := m.Logits(x, n)
	return argmaxRows(out, n, m.Classes), err
}

// argmaxRows is the top-1 index of each of n rows of k values (nil for nil).
func argmaxRows[T int32 | float32](v []T, n, k int) []int {
	if v == nil {
		return nil
	}
	pred := make([]int, n)
	Argmax(pred, v, k)
	return pred
}

// Argmax writes to dst[i] the index of the largest of the k values of
// row i of v (rows of k values, one per element of dst): the first of
// equal values; a NaN never beats an earlier value, and one that comes
// first wins. nn.Argmax is this function, for float logits.
func Argmax[T int32 | float32](dst []int, v []T, k int) {
	for i := range dst {
		dst[i] = argmax(v[i*k : (i+1)*k])
	}
}

// argmax is the index of v's largest value, by Argmax's rule.
func argmax[T int32 | float32](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
