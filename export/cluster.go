package export

// Export of clustered (codebook) checkpoints.

import (
	"context"
	"fmt"

	"github.com/tinyqat/tinyqat/cluster"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/rundir"
)

// exportCluster (Export of a cluster checkpoint) converts a cluster checkpoint (cluster.FineTune) to
// an integer model whose weights are stored as bit-packed codebook
// indices plus, per output channel, the centroids quantized to int8 with
// the checkpoint's own 8-bit weight scales: the integer runtime then
// computes exactly what the cluster simulation computed (its weights are
// codebook → 8-bit fake-quant). With mode w8-only the file instead holds
// the float32 centroids and the packed indices, and FloatLogits computes
// in float32 with the centroids looked up row by row (the memory gain
// without integer arithmetic).
func exportCluster(ctx context.Context, c *rundir.Checkpoint, mode infer.Mode) (*infer.Model, error) {
	nm, cl, err := cluster.Load(c)
	if err != nil {
		return nil, err
	}
	if err := CheckCluster(nm); err != nil {
		return nil, err
	}
	// Export quantizes the checkpoint's parameters: give it the decoded
	// centroids (a checkpoint written mid-run with re-clustering holds
	// shadow weights).
	dc := *c
	dc.Params = rundir.ParamsOf(nm)
	m, err := exportUniform(ctx, &dc, mode)
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Kind != infer.KindLinear && l.Kind != infer.KindConv2D {
			continue
		}
		slot := l.Name + ".weight"
		cb := cl.Codebook(slot)
		wq := cl.Slot(slot).Params()
		if cb == nil || wq == nil {
			return nil, fmt.Errorf("export: %s has no codebook or weight scales", slot)
		}
		attach := func() error { return attachCodebook(l, cb, wq) }
		if mode == infer.W8Only {
			attach = func() error { return attachFloatCodebook(l, cb) }
		}
		if err := attach(); err != nil {
			return nil, fmt.Errorf("export: %s: %w", slot, err)
		}
	}
	perChannel := cl.Cfg.PerChannel
	m.Source.Phase = string(c.Phase)
	m.Source.Weights = "codebook"
	m.Source.CodebookBits = cl.Cfg.Bits
	m.Source.CodebookInit = cl.Cfg.Init
	m.Source.CodebookPerChannel = &perChannel
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("export: cluster export produced an invalid model (a bug): %w", err)
	}
	return m, nil
}

// CheckCluster reports a network whose cluster run Export would
// refuse, so that a command can refuse it before training: a network with
// batch normalization (the runtime would run the folded weights γ/σ·W,
// which are not the codebook's centroids).
func CheckCluster(m *nn.Model) error {
	if len(m.Buffers) > 0 {
		return fmt.Errorf("export: %s has batch normalization; codebook export of folded weights is not supported (export a PTQ or QAT run instead)", m.Arch)
	}
	return nil
}

// attachCodebook sets l's indices (in the kernel layout) and its int8
// tables: entry k of channel c is the centroid k of c's group quantized
// like the weights were (the same function on the same float32 values),
// so W = LUT[index] holds exactly; CheckCodebook verifies it. A per-tensor
// codebook with a per-tensor weight scale needs one table, anything else
// one per output channel.
func attachCodebook(l *infer.Layer, cb *cluster.Codebook, wq *quant.Params) error {
	outC, k := l.OutC, cb.K()
	fan := len(l.W) / outC
	if len(cb.Index) != outC*fan {
		return fmt.Errorf("codebook of %d indices for %d weights", len(cb.Index), outC*fan)
	}
	linear := l.Kind == infer.KindLinear
	if wq.PerChannel() && wq.Axis != map[bool]int{true: 1, false: 0}[linear] {
		return fmt.Errorf("weight scales on axis %d", wq.Axis)
	}
	if cb.Groups() > 1 && (cb.Groups() != outC || cb.Axis != map[bool]int{true: 1, false: 0}[linear]) {
		return fmt.Errorf("%d codebook groups on axis %d for %d output channels", cb.Groups(), cb.Axis, outC)
	}
	groups := outC
	if cb.Groups() == 1 && !wq.PerChannel() {
		groups = 1
	}
	// The centroid tables laid out like a weight tensor with K entries
	// per channel on the weight's channel axis, so that Quantize applies
	// each channel's scale.
	vals := make([]float32, k*groups)
	at := func(c, j int) int {
		if linear { // nn's Linear weight is (in, out): channel on axis 1
			return j*groups + c
		}
		return c*k + j // Conv2D weight is (out, ...): channel on axis 0
	}
	for c := 0; c < groups; c++ {
		g := min(c, cb.Groups()-1)
		for j := 0; j < k; j++ {
			vals[at(c, j)] = cb.Centroids[g*k+j]
		}
	}
	shape := []int{groups, k}
	if linear {
		shape = []int{k, groups}
	}
	ints := make([]int32, len(vals))
	quant.Quantize(ints, vals, shape, wq)
	l.CBits, l.CGroups = cb.Bits, groups
	l.LUT = make([]int8, groups*k)
	for c := 0; c < groups; c++ {
		for j := 0; j < k; j++ {
			l.LUT[c*k+j] = int8(ints[at(c, j)])
		}
	}
	l.Index = make([]uint8, outC*fan)
	for c := 0; c < outC; c++ {
		for i := 0; i < fan; i++ {
			if linear {
				l.Index[c*fan+i] = cb.Index[i*outC+c]
			} else {
				l.Index[c*fan+i] = cb.Index[c*fan+i]
			}
		}
	}
	return l.CheckCodebook(infer.W8A8)
}

// attachFloatCodebook turns a w8-only layer into a float codebook layer:
// packed indices in the kernel layout and the float32 centroids, no int8
// weights.
func attachFloatCodebook(l *infer.Layer, cb *cluster.Codebook) error {
	outC := l.OutC
	fan := len(l.W) / outC
	if len(cb.Index) != outC*fan {
		return fmt.Errorf("codebook of %d indices for %d weights", len(cb.Index), outC*fan)
	}
	if cb.Groups() != 1 && cb.Groups() != outC {
		return fmt.Errorf("%d codebook groups for %d output channels", cb.Groups(), outC)
	}
	idx := make([]uint8, outC*fan)
	for c := 0; c < outC; c++ {
		for i := 0; i < fan; i++ {
			if l.Kind == infer.KindLinear { // nn's Linear weight is (in, out)
				idx[c*fan+i] = cb.Index[i*outC+c]
			} else {
				idx[c*fan+i] = cb.Index[c*fan+i]
			}
		}
	}
	l.CBits, l.CGroups = cb.Bits, cb.Groups()
	l.Packed = make([]byte, infer.PackedLen(len(idx), cb.Bits))
	infer.PackBits(l.Packed, idx, cb.Bits)
	l.Centroids = append([]float32(nil), cb.Centroids...)
	l.W = nil
	return l.CheckCodebook(infer.W8Only)
}
