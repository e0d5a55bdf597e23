package infer

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/tinyqat/tinyqat/quant"
)

// InputError reports a batch that cannot be run.
type InputError struct{ Problem string }

func (e *InputError) Error() string { return "infer: " + e.Problem }

// checkInput validates the float input of n samples. The length is
// compared by division, so a huge n cannot overflow n·size into a match.
func (m *Model) checkInput(x []float32, n int) error {
	size := m.InC * m.InH * m.InW
	if n < 0 || len(x)%size != 0 || len(x)/size != n {
		return &InputError{fmt.Sprintf("%d floats for %d samples of %dx%dx%d", len(x), n, m.InC, m.InH, m.InW)}
	}
	if i := quant.FirstNonFinite(x); i >= 0 {
		return &InputError{fmt.Sprintf("sample %d, element %d is %v", i/size, i%size, x[i])}
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

// LogitsTrace is Logits, calling tr (when not nil) with each layer's
// integer output as it is computed.
func (m *Model) LogitsTrace(x []float32, n int, tr Trace) ([]int32, error) {
	return m.trace(x, n, tr)
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
	if m.Mode == W8Only {
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
	for i := range pred {
		pred[i] = argmax(v[i*k : (i+1)*k])
	}
	return pred
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
	qmin, qmax := m.Input.QRange()
	s, z := m.Input.Scale, m.Input.Zero
	// quant.QuantizeValue, unrolled for ≤ 8-bit grids: x/S in float32,
	// rounded half to even, as ONNX Runtime's QuantizeLinear.
	for i, v := range x {
		q[i] = T(quant.RoundClamp(v/s, qmin-z, qmax-z) + z)
	}
	return q
}

// runInt runs the integer layers. toOp turns stored activations into
// accumulation operands (identity for int8, zero-point subtraction for
// uint8). Samples are split across GOMAXPROCS goroutines; each works on its
// own rows and scratch, so results do not depend on the split.
func runInt[T act, O operand](m *Model, cur []T, n int, toOp func(src []T, zero int32, scratch []O) []O, tr Trace) []int32 {
	for li, l := range m.Layers {
		inSize, outSize := l.InSize(), l.OutSize()
		switch l.Kind {
		case "flatten":
			// NCHW is already the flat order.
		case "maxpool2d":
			out := make([]T, n*outSize)
			parallelFor(n, inSize, func(lo, hi int) {
				for s := lo; s < hi; s++ {
					maxPool(out[s*outSize:(s+1)*outSize], cur[s*inSize:(s+1)*inSize], l.InC, l.InH, l.InW, l.K, l.Stride, l.OutH, l.OutW)
				}
			})
			cur = out
		case "linear":
			pw := m.padded(li)
			out := make([]T, n*l.OutC)
			src := cur
			parallelFor(n, inSize*l.OutC, func(lo, hi int) {
				rows := hi - lo
				xop := toOp(src[lo*inSize:hi*inSize], l.In.Zero, make([]O, rows*inSize))
				if pw.kp != inSize {
					xp := make([]O, rows*pw.kp)
					padRows(xp, xop, rows, inSize, pw.kp)
					xop = xp
				}
				acc := make([]int32, rows*pw.mp)
				gemm(acc, xop, pw.w, pw.bias, rows, pw.mp, pw.kp)
				requantRows(out[lo*l.OutC:hi*l.OutC], acc, rows, l.OutC, pw.mp, l.M0, l.Shift, l.Out.Zero, l.Lo, l.Hi, l.OutC, 1)
			})
			cur = out
		case "conv2d":
			pw := m.padded(li)
			P := l.OutH * l.OutW
			out := make([]T, n*outSize)
			src := cur
			parallelFor(n, P*pw.kp*l.OutC, func(lo, hi int) {
				scratch := make([]O, inSize)
				col := make([]O, P*pw.kp) // the padding columns stay zero
				acc := make([]int32, P*pw.mp)
				for s := lo; s < hi; s++ {
					xop := toOp(src[s*inSize:(s+1)*inSize], l.In.Zero, scratch)
					// Padding is a real zero, which after the zero-point
					// subtraction (or with Z = 0) is the operand 0.
					im2col(col, xop, l.InC, l.InH, l.InW, l.K, l.Stride, l.Pad, l.OutH, l.OutW, pw.kp, 0)
					gemm(acc, col, pw.w, pw.bias, P, pw.mp, pw.kp)
					requantRows(out[s*outSize:(s+1)*outSize], acc, P, l.OutC, pw.mp, l.M0, l.Shift, l.Out.Zero, l.Lo, l.Hi, 1, P)
				}
			})
			cur = out
		}
		if tr != nil {
			tr(li, widenAll(cur))
		}
	}
	return widenAll(cur)
}

// parallelFor splits [0, n) into contiguous chunks over GOMAXPROCS
// goroutines when the work (n · perItem operations) is worth it.
func parallelFor(n, perItem int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers < 2 || n*perItem < 1<<18 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

func widenAll[T act](v []T) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// paddedWeights is a layer's weight matrix laid out for the kernels: rows
// padded with zeros to a multiple of 16 (kp) and zero rows added up to a
// multiple of 4 (mp), so the SIMD kernels never fall back to scalar tails.
// Zero weights add nothing, so the accumulators of the real rows are
// unchanged.
type paddedWeights struct {
	kp, mp int
	w      []int8
	bias   []int32
}

// padded returns layer li's padded weights, computing them once; a loaded
// model is immutable, so this is safe for concurrent use.
func (m *Model) padded(li int) *paddedWeights {
	m.padOnce.Do(func() {
		m.pads = make([]*paddedWeights, len(m.Layers))
		for i, l := range m.Layers {
			if l.Kind != "linear" && l.Kind != "conv2d" {
				continue
			}
			k := l.fanIn()
			p := &paddedWeights{kp: (k + 15) &^ 15, mp: (l.OutC + 3) &^ 3}
			p.w = make([]int8, p.mp*p.kp)
			for c := 0; c < l.OutC; c++ {
				copy(p.w[c*p.kp:c*p.kp+k], l.W[c*k:(c+1)*k])
			}
			p.bias = make([]int32, p.mp)
			copy(p.bias, l.Bias)
			m.pads[i] = p
		}
	})
	return m.pads[li]
}
