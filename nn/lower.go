package nn

import (
	"fmt"
	"reflect"
)

// The lowering to the integer runtime: a network's nested layers become a
// flat list of integer layers (export.Export). Its rules are checked here,
// by NewSequential (so by FromSpec, train --spec and --print-spec) when a
// network is built and by Export before it lowers one, so a network that
// the runtime cannot run is refused before it is trained.
const (
	// maxLoweredLayers is the integer model's layer limit (infer.Validate).
	maxLoweredLayers = 256
	// maxFanIn bounds the inputs of one output of a weighted layer: the
	// runtime's int32 accumulator holds fan-in·255·127 < 2^30 (uint8
	// inputs minus a zero point reach ±255, weights ±127; infer.Validate).
	maxFanIn = (1 << 30) / (255 * 127)
)

// CheckLowering returns the first rule of the lowering to the integer
// runtime that the model's layers break, or nil:
//
//   - a ReLU or ReLU6 follows a Linear or Conv2D layer (or the
//     BatchNorm2D folded into a Conv2D): it is fused into that layer's
//     requantization clamp and has no integer layer of its own;
//   - a BatchNorm2D directly follows a Conv2D (it is folded into it);
//   - a convolution pads less than its kernel size (pad < k);
//   - a weighted layer has a fan-in of at most 33,155 (maxFanIn: its
//     int32 accumulator must not overflow);
//   - neither summand of a residual addition is a Flatten's output (the
//     runtime keeps a Flatten's bytes channels-last, readable only by a
//     Linear layer);
//   - the network lowers to at most 256 integer layers.
//
// NewSequential refuses a network that breaks one, so CheckLowering
// fails only for a model whose layers were changed after it was built.
// The message names the layer as NewSequential does
// ("nn: ARCH layer PATH (KIND): ...").
func (m *Model) CheckLowering() error {
	c := &lowering{arch: m.Arch}
	if _, err := c.layers(m.Layers, "", false, 0); err != nil {
		return err
	}
	if c.count > maxLoweredLayers {
		return fmt.Errorf("nn: %s lowers to %d integer layers, more than the integer runtime's %d", m.Arch, c.count, maxLoweredLayers)
	}
	return nil
}

type lowering struct {
	arch  string
	count int // integer layers so far
}

// isNil reports whether l is nil or a typed nil pointer.
func isNil(l Layer) bool {
	v := reflect.ValueOf(l)
	return l == nil || v.Kind() == reflect.Pointer && v.IsNil()
}

// layers checks a layer list whose input is a Flatten's output when
// flat; it returns whether the list's output is one.
func (c *lowering) layers(ls []Layer, path string, flat bool, depth int) (bool, error) {
	if depth > specMaxDepth {
		return false, fmt.Errorf("nn: %s: layers %s: residual blocks nested deeper than %d", c.arch, path, specMaxDepth)
	}
	for i := 0; i < len(ls); i++ {
		if isNil(ls[i]) {
			return false, fmt.Errorf("nn: %s layer %s%d is nil", c.arch, path, i)
		}
		where := fmt.Sprintf("nn: %s layer %s%d (%s)", c.arch, path, i, ls[i].Kind())
		switch l := ls[i].(type) {
		case *Flatten:
			c.count++
			flat = true
		case *MaxPool2D, *GlobalAvgPool:
			c.count++
			flat = false
		case *Residual:
			sub := path + l.Name
			a, err := c.layers(l.Body, sub+".body.", flat, depth+1)
			if err != nil {
				return false, err
			}
			b := flat
			if len(l.Shortcut) > 0 {
				if b, err = c.layers(l.Shortcut, sub+".shortcut.", flat, depth+1); err != nil {
					return false, err
				}
			}
			for k, f := range []bool{a, b} {
				if f {
					return false, fmt.Errorf("%s: residual block %s: its %s reads a Flatten's output directly, which the integer runtime cannot add; put the Flatten before a Linear layer inside the block, or the block after one",
						where, l.Name, [2]string{"body", "shortcut"}[k])
				}
			}
			c.count++
			flat = false
		case *BatchNorm2D:
			return false, fmt.Errorf("%s: a BatchNorm2D must directly follow a Conv2D to be folded into it", where)
		case *ReLU, *ReLU6:
			return false, fmt.Errorf("%s: a %s that does not follow a Linear or Conv2D layer (or its BatchNorm2D) cannot be fused", where, l.Kind())
		case *Linear, *Conv2D:
			j := i + 1
			if j < len(ls) && !isNil(ls[j]) {
				if _, ok := ls[j].(*BatchNorm2D); ok {
					if _, conv := l.(*Conv2D); !conv {
						return false, fmt.Errorf("%s: a BatchNorm2D after a Linear layer cannot be folded (only Conv2D + BatchNorm2D)", where)
					}
					j++
				}
			}
			if j < len(ls) && !isNil(ls[j]) {
				if k := ls[j].Kind(); k == "relu" || k == "relu6" {
					j++
				}
			}
			if err := checkWeighted(l.(weighted)); err != nil {
				return false, fmt.Errorf("%s: %v", where, err)
			}
			c.count++
			flat = false
			i = j - 1
		default:
			return false, fmt.Errorf("%s: layer kind %s is not supported by the integer runtime", where, l.Kind())
		}
	}
	return flat, nil
}

// checkWeighted checks a wired Linear or Conv2D against the runtime's
// limits.
func checkWeighted(l weighted) error {
	kind, fan := "linear", 0
	switch l := l.(type) {
	case *Linear:
		fan = l.In
	case *Conv2D:
		kind = "conv2d"
		if l.Pad >= l.K {
			return fmt.Errorf("conv2d %s: padding %d is not smaller than the kernel size %d (the integer runtime pads less than a kernel: an output that sees only padding is a constant)", l.Name, l.Pad, l.K)
		}
		fan, _ = l.fans()
	}
	if fan > maxFanIn {
		return fmt.Errorf("%s %s: fan-in %d is more than %d, the most an int32 accumulator of the integer runtime holds (fan-in·255·127 < 2^30)", kind, l.layerName(), fan, maxFanIn)
	}
	return nil
}
