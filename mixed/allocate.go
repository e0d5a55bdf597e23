package mixed

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/qat"
)

// Choice is one option of one item of a multiple-choice knapsack.
type Choice struct {
	Cost  int64
	Value float64
}

// ErrInfeasible is returned when even the cheapest choices exceed the
// budget.
var ErrInfeasible = errors.New("mixed: the budget is below the cheapest choice of every slot")

// Solve picks one choice per item minimizing the summed Value with the
// summed Cost at most budget, exactly: a dynamic program over the items
// that keeps the Pareto front of (cost, value) of the partial choices (a
// partial choice that costs at least as much as another and is no better
// cannot start a better completion). It returns the index of the chosen
// option of each item and the total value. Ties go to the lower cost, then
// to the earlier options.
func Solve(items [][]Choice, budget int64) ([]int, float64, error) {
	type node struct {
		cost   int64
		value  float64
		parent int // index in the previous front
		choice int
	}
	front := []node{{}}
	fronts := make([][]node, 0, len(items))
	for it, opts := range items {
		if len(opts) == 0 {
			return nil, 0, fmt.Errorf("mixed: item %d has no options", it)
		}
		var next []node
		for pi, p := range front {
			for ci, c := range opts {
				if c.Cost < 0 || math.IsNaN(c.Value) {
					return nil, 0, fmt.Errorf("mixed: item %d option %d has cost %d, value %v", it, ci, c.Cost, c.Value)
				}
				if cost := p.cost + c.Cost; cost <= budget {
					next = append(next, node{cost: cost, value: p.value + c.Value, parent: pi, choice: ci})
				}
			}
		}
		if len(next) == 0 {
			return nil, 0, ErrInfeasible
		}
		sort.SliceStable(next, func(a, b int) bool {
			if next[a].cost != next[b].cost {
				return next[a].cost < next[b].cost
			}
			return next[a].value < next[b].value
		})
		pruned := next[:0:0]
		for _, n := range next {
			if len(pruned) == 0 || n.value < pruned[len(pruned)-1].value {
				pruned = append(pruned, n)
			}
		}
		fronts = append(fronts, pruned)
		front = pruned
	}
	// The best is the last of the front (the front's values decrease).
	best := len(front) - 1
	pick := make([]int, len(items))
	for it := len(items) - 1; it >= 0; it-- {
		n := fronts[it][best]
		pick[it] = n.choice
		best = n.parent
	}
	return pick, front[len(front)-1].value, nil
}

// Metric names the sensitivity the allocation minimizes.
type Metric string

const (
	// MetricLoss is the measured loss increase (Candidate.LossDelta).
	MetricLoss Metric = "loss"
	// MetricHAWQ is HAWQ-V2's Ω (Candidate.HAWQ).
	MetricHAWQ Metric = "hawq"
)

func (m Metric) of(c Candidate) (float64, error) {
	switch m {
	case MetricLoss:
		return c.LossDelta, nil
	case MetricHAWQ:
		return c.HAWQ, nil
	}
	return 0, fmt.Errorf("mixed: unknown sensitivity %q (known: loss, hawq)", m)
}

// Budget bounds the weights (exactly one of SizeBytes and AvgBits) and,
// optionally, the activations.
type Budget struct {
	// SizeBytes bounds the packed weights, Σ ⌈n·b/8⌉ bytes over the
	// weight slots (infer.PackedLen; scales and biases not counted).
	SizeBytes int64 `json:"size_bytes,omitempty"`
	// AvgBits bounds the average weight bit-width, Σ n·b / Σ n.
	AvgBits float64 `json:"avg_bits,omitempty"`
	// ActAvgBits bounds the average activation bit-width (weighted by
	// each slot's elements per sample); 0: activations keep the run's
	// bits and are not allocated.
	ActAvgBits float64 `json:"act_avg_bits,omitempty"`
}

// String says the budget as the flags give it: "at most N weight bytes",
// "at most B average weight bits", and the activation bound if any.
func (b Budget) String() string {
	var parts []string
	if b.SizeBytes > 0 {
		parts = append(parts, fmt.Sprintf("at most %d weight bytes", b.SizeBytes))
	}
	if b.AvgBits > 0 {
		parts = append(parts, fmt.Sprintf("at most %g average weight bits", b.AvgBits))
	}
	if b.ActAvgBits > 0 {
		parts = append(parts, fmt.Sprintf("at most %g average activation bits", b.ActAvgBits))
	}
	if len(parts) == 0 {
		return "no budget"
	}
	return strings.Join(parts, ", ")
}

// Allocation is the chosen bit-width of every measured slot.
type Allocation struct {
	Metric Metric         `json:"metric"`
	Budget Budget         `json:"budget"`
	Bits   map[string]int `json:"bits"`
	// WeightBytes is the packed size of the weights at Bits; AvgBits
	// their average bit-width.
	WeightBytes int64   `json:"weight_bytes"`
	AvgBits     float64 `json:"avg_bits"`
	// Sensitivity is the minimized sum (weights and allocated
	// activations).
	Sensitivity float64 `json:"sensitivity"`
}

// WeightBytes is the packed size of s's weights with bits per slot (a
// slot missing from bits has def bits).
func WeightBytes(s *Sensitivity, bits map[string]int, def int) int64 {
	var n int64
	for _, sl := range s.Slots {
		if sl.Weight {
			b, ok := bits[sl.Name]
			if !ok {
				b = def
			}
			n += int64(infer.PackedLen(sl.Elems, b))
		}
	}
	return n
}

// Allocate chooses the bit-width of every weight slot of s (and of every
// activation slot when b.ActAvgBits is set; otherwise they get actBits)
// minimizing the summed sensitivity metric under the budget (Solve).
func Allocate(s *Sensitivity, metric Metric, b Budget, actBits int) (*Allocation, error) {
	if (b.SizeBytes > 0) == (b.AvgBits > 0) {
		return nil, errors.New("mixed: give exactly one weight budget: a size in bytes or an average bit-width")
	}
	if b.SizeBytes < 0 || b.AvgBits < 0 || b.ActAvgBits < 0 {
		return nil, fmt.Errorf("mixed: negative budget %+v", b)
	}
	a := &Allocation{Metric: metric, Budget: b, Bits: map[string]int{}}
	solve := func(weights bool, cost func(sl *Slot, bits int) int64, budget int64) error {
		var items [][]Choice
		var slots []*Slot
		for i := range s.Slots {
			sl := &s.Slots[i]
			if sl.Weight != weights {
				continue
			}
			var opts []Choice
			for _, c := range sl.Candidates {
				v, err := metric.of(c)
				if err != nil {
					return err
				}
				opts = append(opts, Choice{Cost: cost(sl, c.Bits), Value: v})
			}
			items, slots = append(items, opts), append(slots, sl)
		}
		pick, total, err := Solve(items, budget)
		if err != nil {
			return err
		}
		for i, sl := range slots {
			a.Bits[sl.Name] = sl.Candidates[pick[i]].Bits
		}
		a.Sensitivity += total
		return nil
	}
	var err error
	if b.SizeBytes > 0 {
		err = solve(true, func(sl *Slot, bits int) int64 { return int64(infer.PackedLen(sl.Elems, bits)) }, b.SizeBytes)
	} else {
		var n int64
		for _, sl := range s.Slots {
			if sl.Weight {
				n += int64(sl.Elems)
			}
		}
		err = solve(true, func(sl *Slot, bits int) int64 { return int64(sl.Elems * bits) }, int64(math.Floor(b.AvgBits*float64(n)+1e-9)))
	}
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if b.ActAvgBits > 0 {
		var n int64
		for _, sl := range s.Slots {
			if !sl.Weight {
				n += int64(sl.Elems)
			}
		}
		if err := solve(false, func(sl *Slot, bits int) int64 { return int64(sl.Elems * bits) }, int64(math.Floor(b.ActAvgBits*float64(n)+1e-9))); err != nil {
			return nil, fmt.Errorf("activations: %w", err)
		}
	} else {
		for _, sl := range s.Slots {
			if !sl.Weight {
				a.Bits[sl.Name] = actBits
				if c := sl.Candidate(actBits); c != nil {
					v, _ := metric.of(*c)
					a.Sensitivity += v
				}
			}
		}
	}
	a.WeightBytes = WeightBytes(s, a.Bits, 8)
	var nb, n float64
	for _, sl := range s.Slots {
		if sl.Weight {
			nb += float64(sl.Elems * a.Bits[sl.Name])
			n += float64(sl.Elems)
		}
	}
	a.AvgBits = nb / n
	return a, nil
}

// Config returns base with the allocation's bit-widths as SlotBits (only
// those that differ from base's BitsW or BitsA, with its defaults).
func (a *Allocation) Config(base qat.Config, s *Sensitivity) qat.Config {
	d := base.Defaults()
	base.SlotBits = map[string]int{}
	for _, name := range slices.Sorted(maps.Keys(a.Bits)) {
		def := d.BitsA
		if sl := s.Slot(name); sl != nil && sl.Weight {
			def = d.BitsW
		}
		if b := a.Bits[name]; b != def {
			base.SlotBits[name] = b
		}
	}
	if len(base.SlotBits) == 0 {
		base.SlotBits = nil
	}
	return base
}
