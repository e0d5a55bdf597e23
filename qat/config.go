package qat

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tinyqat/tinyqat/calibrate"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/ste"
)

// ActScheme is how activations are quantized.
type ActScheme string

const (
	// ActSymmetric is signed storage with Z = 0.
	ActSymmetric ActScheme = "symmetric"
	// ActAffine is uint8 storage with a zero point.
	ActAffine ActScheme = "affine"
)

// Scheme is the fakequant scheme of s.
func (s ActScheme) Scheme() quant.Scheme {
	if s == ActAffine {
		return quant.Affine
	}
	return quant.Symmetric
}

// FreezeNever as Config.FreezeAfter keeps the observers updating for
// the whole fine-tuning.
const FreezeNever = -1

// Config says how a model is quantized. Each field's zero value means
// the default written beside it (Defaults fills them in); values outside
// the ranges are errors (Validate), never defaults.
type Config struct {
	BitsW int `json:"bits_w"` // weight bits, [2, 8]; 0: 8
	BitsA int `json:"bits_a"` // activation bits, [2, 16]; 0: 8
	// ActScheme is ActSymmetric or ActAffine; "": ActSymmetric.
	ActScheme ActScheme `json:"act_scheme"`
	// PerTensorWeights uses one weight scale per layer instead of one per output channel.
	PerTensorWeights bool `json:"per_tensor_weights"`
	// Observer is the activation observer: minmax, ema, percentile or mse; "": ema.
	// Weights are always observed by their current per-channel min/max.
	Observer calibrate.Kind `json:"observer"`
	// Estimator is the backward pass: ste, clipped or lsq; "": clipped.
	Estimator ste.Kind `json:"estimator"`
	// CalibBatches is the number of training minibatches run for
	// calibration, ≥ 1; 0: 32.
	CalibBatches int `json:"calib_batches"`
	// FreezeAfter is the number of QAT steps after which observers are
	// frozen, ≥ 1, or FreezeNever; 0: one epoch, that is the number of
	// batches of the set and batch size that Calibrate is given (Calibrate
	// writes the resolved count here).
	FreezeAfter int `json:"freeze_after"`
	// FreezeBNAfter is the number of QAT steps after which batch
	// normalization switches from the batch's statistics to the running
	// ones, frozen (nn.Model.SetBNFrozen; Jacob et al. 2018 §3.2,
	// Krishnamoorthi 2018 §3.2): ≥ 1, or FreezeNever; 0: one epoch, like
	// FreezeAfter's default (Calibrate resolves it). From then on the
	// training graph runs the folded convolution the integer runtime runs.
	// Models without batch normalization ignore it. Float training never
	// freezes.
	FreezeBNAfter int `json:"freeze_bn_after,omitempty"`
	// FloatRequant makes layer outputs round y/S directly instead of
	// requantizing like the integer runtime (fakequant.RequantFakeQuantize);
	// the simulation then differs from the runtime by up to one LSB.
	FloatRequant bool `json:"float_requant,omitempty"`
	// SlotBits overrides the bit-width of single slots, by slot name
	// (nn.Slot.Name: "conv1.weight", "fc1.out", "input"): mixed
	// precision. A weight slot takes [2, 8] bits, an activation slot
	// [2, 16]. A bias (int32, derived) and a global average pool's output
	// (it keeps its input's parameters) cannot be set, and a name the
	// model does not have is an error (New). nil: every weight slot has
	// BitsW, every activation slot BitsA. A checkpoint written without it
	// reads, and saves again, unchanged.
	SlotBits map[string]int `json:"slot_bits,omitempty"`
}

// Bits is the bit-width of slot s under c (with its defaults applied):
// its SlotBits entry, else BitsW for a weight and BitsA for an
// activation; 32 for a bias.
func (c Config) Bits(s *nn.Slot) int {
	if s.Kind == nn.Bias {
		return 32
	}
	if b, ok := c.SlotBits[s.Name]; ok {
		return b
	}
	if s.Kind == nn.Weight {
		return c.BitsW
	}
	return c.BitsA
}

// Mixed reports whether c sets any slot's bit-width of its own.
func (c Config) Mixed() bool { return len(c.SlotBits) > 0 }

// MaxBits are the widest weight and activation bit-widths of c on model
// m's slots.
func (c Config) MaxBits(m *nn.Model) (w, a int) {
	for _, s := range m.Slots {
		switch s.Kind {
		case nn.Weight:
			w = max(w, c.Bits(s))
		case nn.Activation:
			if s.MeanOf == "" {
				a = max(a, c.Bits(s))
			}
		}
	}
	return w, a
}

// checkSlotBits reports a SlotBits entry that model m cannot take.
func (c Config) checkSlotBits(m *nn.Model) error {
	for _, name := range slices.Sorted(maps.Keys(c.SlotBits)) {
		b := c.SlotBits[name]
		s := m.Slot(name)
		switch {
		case s == nil:
			return fmt.Errorf("qat: slot bits for %s: %s has no such slot (slots: %s)", name, m.Arch, slotNames(m))
		case s.Kind == nn.Bias:
			return fmt.Errorf("qat: slot bits for %s: a bias is int32 with the scale of its input and weight; it has no bit-width of its own", name)
		case s.MeanOf != "":
			return fmt.Errorf("qat: slot bits for %s: a global average pool keeps its input's (%s) parameters; set that slot instead", name, s.MeanOf)
		case s.Kind == nn.Weight && (b < 2 || b > 8):
			return fmt.Errorf("qat: slot bits for %s: weight bits must be in [2, 8], got %d", name, b)
		case s.Kind == nn.Activation && (b < 2 || b > 16):
			return fmt.Errorf("qat: slot bits for %s: activation bits must be in [2, 16], got %d", name, b)
		}
	}
	return nil
}

// EndSlots are the slots at the two ends of model m: the network's input
// ("input") and the first weighted layer's weight, the last weighted
// layer's weight and the logits (the model's last activation slot, or the
// slot whose parameters it keeps when it is a global average pool's
// output). Low-bit papers keep these wide: LSQ (Esser et al. 2020, §3)
// quantizes the first and last layers to 8 bits, PACT (Choi et al. 2018,
// §4) and DoReFa leave them in float.
func EndSlots(m *nn.Model) []string {
	var first, last, out *nn.Slot
	for _, s := range m.Slots {
		switch s.Kind {
		case nn.Weight:
			if first == nil {
				first = s
			}
			last = s
		case nn.Activation:
			out = s
		}
	}
	names := []string{"input"}
	if first != nil {
		names = append(names, first.Name)
		if last != first {
			names = append(names, last.Name)
		}
	}
	if out != nil && out.MeanOf != "" {
		out = m.Slot(out.MeanOf)
	}
	if out != nil && out.Name != "input" {
		names = append(names, out.Name)
	}
	return names
}

// WithSlotBits returns c with bits set for the named slots of m, on top of
// c's own SlotBits (a copy: c's map is not changed). The names are checked
// against m as New checks them.
func (c Config) WithSlotBits(m *nn.Model, bits int, names ...string) (Config, error) {
	sb := maps.Clone(c.SlotBits)
	if sb == nil {
		sb = map[string]int{}
	}
	for _, n := range names {
		sb[n] = bits
	}
	c.SlotBits = sb
	return c, c.checkSlotBits(m)
}

// slotNames lists the slots of m that SlotBits can set.
func slotNames(m *nn.Model) string {
	var names []string
	for _, s := range m.Slots {
		if s.Kind != nn.Bias && s.MeanOf == "" {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, ", ")
}

// Defaults returns c with zero fields set to their defaults (FreezeAfter
// is resolved by Calibrate, which knows the epoch length).
func (c Config) Defaults() Config {
	if c.BitsW == 0 {
		c.BitsW = 8
	}
	if c.BitsA == 0 {
		c.BitsA = 8
	}
	if c.ActScheme == "" {
		c.ActScheme = ActSymmetric
	}
	if c.Observer == "" {
		c.Observer = calibrate.KindEMA
	}
	if c.Estimator == "" {
		c.Estimator = ste.KindClipped
	}
	if c.CalibBatches == 0 {
		c.CalibBatches = 32
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.BitsW < 2 || c.BitsW > 8 {
		return fmt.Errorf("qat: weight bits must be in [2, 8], got %d", c.BitsW)
	}
	if c.BitsA < 2 || c.BitsA > 16 {
		return fmt.Errorf("qat: activation bits must be in [2, 16], got %d", c.BitsA)
	}
	if c.ActScheme != ActSymmetric && c.ActScheme != ActAffine {
		return fmt.Errorf("qat: activation scheme must be symmetric or affine, got %q", c.ActScheme)
	}
	if !slices.Contains(calibrate.Kinds, c.Observer) {
		return fmt.Errorf("qat: unknown observer %q (known: %v)", c.Observer, calibrate.Kinds)
	}
	if !slices.Contains(ste.Kinds, c.Estimator) {
		return fmt.Errorf("qat: unknown estimator %q (known: %v)", c.Estimator, ste.Kinds)
	}
	if c.CalibBatches < 1 {
		return fmt.Errorf("qat: calibration needs at least 1 batch, got %d", c.CalibBatches)
	}
	if c.FreezeAfter < FreezeNever {
		return fmt.Errorf("qat: freeze-after must be ≥ 1, 0 (one epoch) or %d (never), got %d", FreezeNever, c.FreezeAfter)
	}
	for name, b := range c.SlotBits {
		if b < 2 || b > 16 {
			return fmt.Errorf("qat: slot bits for %s must be in [2, 16], got %d", name, b)
		}
	}
	if c.FreezeBNAfter < FreezeNever {
		return fmt.Errorf("qat: freeze-bn-after must be ≥ 1, 0 (one epoch) or %d (never), got %d", FreezeNever, c.FreezeBNAfter)
	}
	return nil
}
