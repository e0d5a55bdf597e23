package infer

import (
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/fakequant"
)

// InputError reports a batch that cannot be run.
type InputError struct{ Problem string }

func (e *InputError) Error() string { return "infer: " + e.Problem }

// checkInput validates the float input of n samples.
func (m *Model) checkInput(x []float32, n int) error {
	size := m.InC * m.InH * m.InW
	if n < 0 || len(x) != n*size {
		return &InputError{fmt.Sprintf("%d floats for %d samples of %dx%dx%d", len(x), n, m.InC, m.InH, m.InW)}
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return &InputError{fmt.Sprintf("sample %d, element %d is %v", i/size, i%size, v)}
		}
	}
	return nil
}

// Logits runs n samples (NCHW float32 pixels, as the float model takes
// them) and returns n·Classes output integers: int8 (w8a8) or uint8
// (w8a8-asym) logits widened to int32. For w8-only it returns an error; use
// FloatLogits. The model is safe for concurrent use.
func (m *Model) Logits(x []float32, n int) ([]int32, error) {
	return m.trace(x, n, nil)
}

// Trace is called with each layer's integer output (n samples, the layer's
// storage values widened to int32).
type Trace func(layer int, out []int32)

func (m *Model) trace(x []float32, n int, tr Trace) ([]int32, error) {
	if err := m.checkInput(x, n); err != nil {
		return nil, err
	}
	switch m.Mode {
	case W8A8:
		return runInt(m, quantizeInput[int8](m, x), n, func(src []int8, _ int32, _ []int8) []int8 { return src }, tr), nil
	case W8A8Asym:
		return runInt(m, quantizeInput[uint8](m, x), n, func(src []uint8, z int32, scratch []int16) []int16 {
			widen(scratch[:len(src)], src, z)
			return scratch[:len(src)]
		}, tr), nil
	}
	return nil, fmt.Errorf("infer: a %s model computes in float: use FloatLogits", m.Mode)
}

// Predict returns the top-1 class of each of n samples.
func (m *Model) Predict(x []float32, n int) ([]int, error) {
	var k = m.Classes
	pred := make([]int, n)
	if m.Mode == W8Only {
		out, err := m.FloatLogits(x, n)
		if err != nil {
			return nil, err
		}
		for i := range pred {
			pred[i] = argmax(out[i*k : (i+1)*k])
		}
		return pred, nil
	}
	out, err := m.Logits(x, n)
	if err != nil {
		return nil, err
	}
	for i := range pred {
		pred[i] = argmax(out[i*k : (i+1)*k])
	}
	return pred, nil
}

func argmax[T int32 | float32](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// quantizeInput is the one float step of the integer modes: the input
// quantization, with the same function as the simulation's input slot.
func quantizeInput[T act](m *Model, x []float32) []T {
	q := make([]T, len(x))
	lo, hi := m.Input.QRange()
	for i, v := range x {
		q[i] = T(fakequant.QuantizeValue(v, m.Input.Scale, m.Input.Zero, lo, hi))
	}
	return q
}

// runInt runs the integer layers. toOp turns stored activations into
// accumulation operands (identity for int8, zero-point subtraction for uint8).
func runInt[T act, O operand](m *Model, cur []T, n int, toOp func(src []T, zero int32, scratch []O) []O, tr Trace) []int32 {
	var scratch []O
	for li, l := range m.Layers {
		switch l.Kind {
		case "flatten":
			// NCHW is already the flat order.
		case "maxpool2d":
			out := make([]T, n*l.OutSize())
			for s := 0; s < n; s++ {
				maxPool(out[s*l.OutSize():(s+1)*l.OutSize()], cur[s*l.InSize():(s+1)*l.InSize()], l.InC, l.InH, l.InW, l.K, l.Stride, l.OutH, l.OutW)
			}
			cur = out
		case "linear":
			if len(scratch) < len(cur) {
				scratch = make([]O, len(cur))
			}
			xop := toOp(cur, l.In.Zero, scratch)
			acc := make([]int32, n*l.OutC)
			gemm(acc, xop, l.W, l.Bias, n, l.OutC, l.InSize())
			out := make([]T, n*l.OutC)
			requantRows(out, acc, n, l.OutC, l.M0, l.Shift, l.Out.Zero, l.Lo, l.Hi, l.OutC, 1)
			cur = out
		case "conv2d":
			P, row := l.OutH*l.OutW, l.fanIn()
			if len(scratch) < l.InSize() {
				scratch = make([]O, l.InSize())
			}
			col := make([]O, P*row)
			acc := make([]int32, P*l.OutC)
			out := make([]T, n*l.OutSize())
			for s := 0; s < n; s++ {
				xop := toOp(cur[s*l.InSize():(s+1)*l.InSize()], l.In.Zero, scratch)
				// Padding is a real zero, which after the zero-point
				// subtraction (or with Z = 0) is the operand 0.
				im2col(col, xop, l.InC, l.InH, l.InW, l.K, l.Stride, l.Pad, l.OutH, l.OutW, 0)
				gemm(acc, col, l.W, l.Bias, P, l.OutC, row)
				requantRows(out[s*l.OutSize():(s+1)*l.OutSize()], acc, P, l.OutC, l.M0, l.Shift, l.Out.Zero, l.Lo, l.Hi, 1, P)
			}
			cur = out
		}
		if tr != nil {
			tr(li, widenAll(cur))
		}
	}
	return widenAll(cur)
}

func widenAll[T act](v []T) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// gemm dispatches to the fastest kernel for the operand type.
func gemm[T operand](acc []int32, x []T, w []int8, bias []int32, n, m, k int) {
	gemmGo(acc, x, w, bias, n, m, k)
}
