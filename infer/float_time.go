package infer

import (
	"fmt"
	"runtime"
	"time"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// MeasureFloatPeak is MeasurePeak for the float runtime: the float32
// fused multiply-add peak of one core at the vector width the float
// kernels run (internal/f32's micro-kernel, the widest this CPU has): 16
// chains of VFMADD231PS zmm with AVX-512, 12 chains on ymm with
// AVX2+FMA; the portable build (purego, or no FMA) times 8 scalar chains
// of a Go multiply and add, and its Level says "go (scalar)". GMACs is
// then giga float32 multiply-adds (FMAs) per second on one thread.
func MeasureFloatPeak(d time.Duration) Peak {
	return measureFloatPeak(f32.PeakLoops()[0], d)
}

func measureFloatPeak(l f32.PeakLoop, d time.Duration) Peak {
	return Peak{Level: l.Level, GMACs: fastestRate(d, func(iters int) int64 {
		l.Run(1, 1, iters)
		return int64(iters) * int64(l.FMAs)
	})}
}

// timeFloatLayers is TimeLayers for a float model (Mode F32): the layers
// run as FloatLogits runs them on one goroutine, chunk by chunk. Row −1
// ("input") is the byte-free input step: the normalization when the
// model has one, else nothing (the layers read the floats in place). A
// layer's MACs are float32 multiply-adds, OutC·(InC/groups)·K·K·OutH·OutW
// (linear: OutC·InSize). A conv2d fused into its residual add (the
// runtime's projection fusion) is not run on its own: its row has no
// time and no MACs, and the add's row has the time and the MACs of both
// convolutions (its Shape says which).
func (m *Model) timeFloatLayers(x []float32, n, rounds int) ([]LayerTime, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("infer: TimeLayers: %d rounds, want at least 1", rounds)
	}
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return nil, err
	}
	fp, err := m.prepareFloat()
	if err != nil {
		return nil, err
	}
	if i := f32.FirstNonFinite(x); i >= 0 {
		return nil, m.nonFinite(x, i)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out := make([]LayerTime, len(m.Layers)+1)
	out[0] = LayerTime{Layer: -1, Kind: "input", Shape: fmt.Sprintf("%d×%d×%d", m.InC, m.InH, m.InW)}
	readers := m.valueReaders()
	for i, l := range m.Layers {
		out[i+1] = LayerTime{Layer: i, Kind: l.Kind, Shape: layerShape(l), MACs: l.floatMACs()}
	}
	for i := range m.Layers {
		if bi, pi, ok := m.projFusion(i, readers); ok && fp.layers[i].fused != nil {
			out[i+1].MACs = out[bi+1].MACs + out[pi+1].MACs
			out[i+1].Shape += fmt.Sprintf(" (+ conv %d, %d)", bi, pi)
			out[bi+1].MACs, out[pi+1].MACs = 0, 0
			out[bi+1].Shape += fmt.Sprintf(" (in add %d)", i)
			out[pi+1].Shape += fmt.Sprintf(" (in add %d)", i)
		}
	}
	sc := new(floatScratch)
	dst := make([]float32, n*m.Classes)
	chunk := min(fp.chunk, n)
	bad := timeRounds(out, n, chunk, rounds, func(lap func(int)) { sc.lap = lap }, func(s0, s1 int) int {
		return m.floatRange(fp, sc, dst, input{x: x}, s0, s1, chunk, nil)
	})
	if bad >= 0 {
		return nil, m.nonFinite(x, bad)
	}
	return out, nil
}

// floatMACs is a float layer's multiply-adds per sample (0 for a layer
// without weights).
func (l *Layer) floatMACs() int64 {
	if !l.Kind.Weighted() {
		return 0
	}
	return int64(l.OutC) * int64(l.fanIn()) * int64(l.OutH) * int64(l.OutW)
}

// valueReaders counts each value's readers (index v+1; the input is −1),
// the logits counting as one reader of the last layer.
func (m *Model) valueReaders() []int {
	readers := make([]int, len(m.Layers)+1)
	for i := range m.Layers {
		for _, v := range m.inputs(i) {
			readers[v+1]++
		}
	}
	readers[len(m.Layers)]++
	return readers
}

// LayerTraffic is Traffic for layer i of m: for an integer model
// m.Layers[i].Traffic(n); for a float model (F32) the same byte model
// with 4 bytes for every weight, bias and activation element. A float
// add that runs its residual block's convolutions fused (TimeLayers'
// rows) reads both convolutions' weights, biases and inputs; the fused
// convolutions move nothing of their own.
func (m *Model) LayerTraffic(i, n int) int64 {
	l := m.Layers[i]
	if m.Mode != F32 {
		return l.Traffic(n)
	}
	readers := m.valueReaders()
	for j := range m.Layers {
		bi, pi, ok := m.projFusion(j, readers)
		switch {
		case !ok:
		case j == i:
			b, p := m.Layers[bi], m.Layers[pi]
			params := int64(len(b.FW) + len(b.FBias) + len(p.FW) + len(p.FBias))
			return 4 * (params + int64(n)*int64(b.InSize()+p.InSize()+l.OutSize()))
		case bi == i || pi == i:
			return 0
		}
	}
	in := int64(l.InSize())
	if l.Kind == KindAdd {
		in = 2 * int64(l.OutSize())
	}
	return 4 * (int64(len(l.FW)+len(l.FBias)) + int64(n)*(in+int64(l.OutSize())))
}
