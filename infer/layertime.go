package infer

import (
	"fmt"
	"runtime"
	"time"
)

// LayerTime is one layer's share of a timed batch (Model.TimeLayers).
type LayerTime struct {
	// Layer is the index in Model.Layers; −1 is the input quantization.
	Layer int `json:"layer"`
	// Kind is the layer's kind ("input" for the input quantization).
	Kind Kind `json:"kind"`
	// Shape describes the layer: kernel, stride, groups and output shape.
	Shape string `json:"shape"`
	// MACs is the multiply-accumulates per sample (0 for a layer that
	// does none).
	MACs int64 `json:"macs"`
	// Time is the layer's time for the whole batch: the fastest of the
	// rounds, layer by layer.
	Time time.Duration `json:"ns"`
}

// GMACs is the layer's throughput in giga multiply-accumulates per second
// for a batch of n samples (0 for a layer without MACs).
func (t LayerTime) GMACs(n int) float64 {
	if t.MACs == 0 || t.Time <= 0 {
		return 0
	}
	return float64(t.MACs) * float64(n) / float64(t.Time.Nanoseconds())
}

// TimeLayers runs n samples (as Logits takes them) rounds times on the
// calling goroutine alone (one core: no parallel split), and returns the
// time of the input quantization and of each layer, the fastest round
// of each. The layers run as Logits runs them, chunk by chunk, so the
// times add up to a one-core Logits call (less the logits' copy out).
// Integer modes and float models (F32, timeFloatLayers); not w8-only.
func (m *Model) TimeLayers(x []float32, n, rounds int) ([]LayerTime, error) {
	if m.Mode == F32 {
		return m.timeFloatLayers(x, n, rounds)
	}
	if m.Mode != W8A8 && m.Mode != W8A8Asym {
		return nil, fmt.Errorf("infer: TimeLayers: a %s model computes in float", m.Mode)
	}
	if rounds < 1 {
		return nil, fmt.Errorf("infer: TimeLayers: %d rounds, want at least 1", rounds)
	}
	if err := m.checkShape(len(x), "floats", n); err != nil {
		return nil, err
	}
	plans, err := m.prepare()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out := make([]LayerTime, len(m.Layers)+1)
	out[0] = LayerTime{Layer: -1, Kind: "input", Shape: fmt.Sprintf("%d×%d×%d", m.InC, m.InH, m.InW)}
	for i, l := range m.Layers {
		out[i+1] = LayerTime{Layer: i, Kind: l.Kind, Shape: layerShape(l), MACs: int64(plans.layers[i].macs)}
	}
	sc := new(scratch)
	dst := make([]int32, n*m.Classes)
	chunk := min(plans.chunk, n)
	bad := timeRounds(out, n, chunk, rounds, func(lap func(int)) { sc.lap = lap }, func(s0, s1 int) int {
		return runRange(m, plans, sc, dst, input{x: x}, s0, s1, chunk, nil)
	})
	if bad >= 0 {
		return nil, m.nonFinite(x, bad)
	}
	return out, nil
}

// timeRounds times rounds passes of run over the samples [0, n), chunk
// samples a call, and keeps in out[v+1].Time the fastest round's total
// for value v (−1: the input): setLap installs the runtime's hook, which
// each layer calls when it is done. It returns the first non-finite
// input's index that run reports, or −1.
func timeRounds(out []LayerTime, n, chunk, rounds int, setLap func(func(int)), run func(s0, s1 int) int) int {
	sums := make([]time.Duration, len(out))
	var t0 time.Time
	setLap(func(layer int) {
		t := time.Now()
		sums[layer+1] += t.Sub(t0)
		t0 = t
	})
	for r := 0; r < rounds; r++ {
		clear(sums)
		for s := 0; s < n; s += chunk {
			t0 = time.Now()
			if bad := run(s, min(s+chunk, n)); bad >= 0 {
				return bad
			}
		}
		for i, d := range sums {
			if r == 0 || d < out[i].Time {
				out[i].Time = d
			}
		}
	}
	return -1
}

// layerShape is a short description of l for a timing table.
func layerShape(l *Layer) string {
	out := fmt.Sprintf("%d×%d×%d", l.OutC, l.OutH, l.OutW)
	switch {
	case l.Kind == KindConv2D && l.depthwise():
		return fmt.Sprintf("dw %d×%d s%d → %s", l.K, l.K, l.Stride, out)
	case l.Kind == KindConv2D && l.groups() > 1:
		return fmt.Sprintf("%d×%d s%d g%d %d→%s", l.K, l.K, l.Stride, l.groups(), l.InC, out)
	case l.Kind == KindConv2D:
		return fmt.Sprintf("%d×%d s%d %d→%s", l.K, l.K, l.Stride, l.InC, out)
	case l.Kind == KindLinear:
		return fmt.Sprintf("%d→%d", l.InSize(), l.OutC)
	}
	return out
}
