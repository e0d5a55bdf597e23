package infer

import "fmt"

// Limits bound the memory one image may take in a model: a model file of
// a few kilobytes can declare a 4096×4096 input and a convolution of 64
// channels, a gigabyte per image. Load and Parse refuse a model beyond
// the defaults; LoadWith and ParseWith take other limits, and CheckLimits
// checks a model built in memory. A zero field means its default.
// Validate's hard bounds (every dimension at most 2^24, an activation at
// most 2^30 values) apply whatever the limits.
type Limits struct {
	// MaxActivation is the most values of one activation per image: the
	// input or any layer's output (channels·height·width). Default
	// DefaultMaxActivation.
	MaxActivation int
	// MaxScratch is the most bytes of buffers one image may need while it
	// runs, as ScratchBytes estimates them. Default DefaultMaxScratch.
	MaxScratch int64
}

const (
	// DefaultMaxActivation is 2^24 values (16 MiB of int8): 64 channels
	// of 512×512, 256 of 256×256.
	DefaultMaxActivation = 1 << 24
	// DefaultMaxScratch is 256 MiB per image.
	DefaultMaxScratch = 1 << 28
)

// withDefaults is lim with its zero (or negative) fields set to the
// defaults.
func (lim Limits) withDefaults() Limits {
	if lim.MaxActivation <= 0 {
		lim.MaxActivation = DefaultMaxActivation
	}
	if lim.MaxScratch <= 0 {
		lim.MaxScratch = DefaultMaxScratch
	}
	return lim
}

// CheckLimits returns an error, naming the layer and the size, if one
// image of the (valid) model m needs more than lim allows: an activation
// of more than lim.MaxActivation values, or more than lim.MaxScratch
// bytes of buffers (ScratchBytes).
func (m *Model) CheckLimits(lim Limits) error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	if err := m.checkLimits(lim); err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	return nil
}

// checkLimits is CheckLimits for a validated model, without the prefix.
func (m *Model) checkLimits(lim Limits) error {
	lim = lim.withDefaults()
	if in := m.InC * m.InH * m.InW; in > lim.MaxActivation {
		return fmt.Errorf("input %dx%dx%d: %d values per image, more than the limit of %d (Limits.MaxActivation)", m.InC, m.InH, m.InW, in, lim.MaxActivation)
	}
	for i, l := range m.Layers {
		if l.OutSize() > lim.MaxActivation {
			return m.layerError(i, "output %dx%dx%d: %d values per image, more than the limit of %d (Limits.MaxActivation)",
				l.OutC, l.OutH, l.OutW, l.OutSize(), lim.MaxActivation)
		}
	}
	if total, worst := m.scratch(); total > lim.MaxScratch {
		return m.layerError(worst, "the model needs about %d bytes of buffers per image (this layer the most), more than the limit of %d (Limits.MaxScratch)", total, lim.MaxScratch)
	}
	return nil
}

// ScratchBytes estimates, from above, the bytes of buffers one image of
// the valid model m needs while it runs: every activation (bytes, or
// float32 in w8-only mode), plus the largest working set of one layer
// (im2col rows and int32 accumulators of a GEMM call, a padded image, a
// group's channels; in w8-only mode its dequantized weights). A batch
// runs in chunks of samples whose buffers stay near chunkBudget bytes.
func (m *Model) ScratchBytes() int64 {
	total, _ := m.scratch()
	return total
}

// scratch is ScratchBytes and the index of the layer with the largest
// working set (0 if none has one). Validate's bounds keep every term
// below 2^62.
func (m *Model) scratch() (int64, int) {
	per := int64(1) // bytes per activation value
	floatMode := m.Mode == W8Only || m.Mode == F32
	if floatMode {
		per = 4
	}
	in := int64(m.InC) * int64(m.InH) * int64(m.InW)
	values := 2 * in * per // the input, and its channels-last copy
	work, worst := int64(0), 0
	for i, l := range m.Layers {
		if l.Kind != KindFlatten {
			values += int64(l.OutSize()) * per
		}
		var w int64
		P := int64(l.OutH) * int64(l.OutW)
		fan, oc := int64(l.fanIn()), int64(l.OutC)
		switch l.Kind {
		case KindLinear:
			w = 4 * (oc + 15)
			if floatMode {
				w = 4 * min(wBlock, oc) * fan
			}
		case KindConv2D:
			g := int64(l.groups())
			padded := (int64(l.InH) + 2*int64(l.Pad)) * (int64(l.InW) + 2*int64(l.Pad)) * int64(l.InC) / g
			switch {
			case floatMode:
				w = 4 * (P*fan + oc*fan)
			case l.depthwise():
				w = 4*P*oc + padded
			default:
				rows := max(P, gemmRows) // per·P rows of a GEMM call
				kp := fan + 3*int64(l.K) + 3
				w = rows*(kp+4*(oc/g+15)) + padded + 3 + int64(l.InSize())/g
			}
		}
		if w > work {
			work, worst = w, i
		}
	}
	return values + work, worst
}

// chunkBudget is about how many bytes of buffers one goroutine's chunk of
// samples holds: a model needing more per image runs fewer samples per
// chunk (at least one).
const chunkBudget = 64 << 20

// chunkFor is the chunk size (samples per run through all layers) for a
// model needing scratch bytes per image: chunkSamples, fewer when that
// many would hold more than chunkBudget.
func chunkFor(scratch int64) int {
	return int(max(1, min(chunkSamples, chunkBudget/max(1, scratch))))
}
