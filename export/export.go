package export

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tinyqat/tinyqat/fakequant"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
	"github.com/tinyqat/tinyqat/train"
)

// Export converts a PTQ or QAT checkpoint to an integer model of the given
// mode. The weights and biases are quantized with the checkpoint's own
// quantizer parameters, so the runtime computes what the fake-quant
// simulation computed.
//
// ctx is checked between layers: a cancelled export returns ctx.Err().
func Export(ctx context.Context, c *train.Checkpoint, mode infer.Mode) (*infer.Model, error) {
	if _, err := infer.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	nm, q, err := train.LoadQAT(c)
	if err != nil {
		return nil, err
	}
	qc := q.Cfg
	if qc.BitsW > 8 {
		return nil, fmt.Errorf("export: %d-bit weights do not fit int8", qc.BitsW)
	}
	if mode != infer.W8Only {
		if qc.BitsA > 8 {
			return nil, fmt.Errorf("export: %d-bit activations do not fit an 8-bit runtime; quantize with --bits-a 8 or fewer", qc.BitsA)
		}
		if want := map[infer.Mode]string{infer.W8A8: "symmetric", infer.W8A8Asym: "affine"}[mode]; string(qc.ActScheme) != want {
			return nil, fmt.Errorf("export: mode %s needs %s activations, the checkpoint was quantized with %s (run ptq/qat with --act-scheme %s)", mode, want, qc.ActScheme, want)
		}
	}
	out := &infer.Model{Version: infer.FormatVersion, Arch: nm.Arch, Mode: mode, InC: nm.In.C, InH: nm.In.H, InW: nm.In.W, Classes: nm.Classes,
		Source: map[string]string{"phase": string(c.Phase), "bits_w": strconv.Itoa(qc.BitsW), "bits_a": strconv.Itoa(qc.BitsA),
			"estimator": qc.Estimator, "observer": qc.Observer, "test_acc_sim": strconv.FormatFloat(c.TestAcc, 'g', -1, 64)}}
	actParams := func(slot string) (infer.QParams, error) {
		p := q.Slot(slot).Params()
		if p == nil {
			return infer.QParams{}, fmt.Errorf("export: slot %s has no quantization parameters", slot)
		}
		return infer.QParams{Scale: p.Scale[0], Zero: p.Zero[0], Bits: p.Bits, Signed: p.Scheme == fakequant.Symmetric}, nil
	}
	if mode != infer.W8Only {
		if out.Input, err = actParams("input"); err != nil {
			return nil, err
		}
	}
	prev := out.Input
	c3, h, w := nm.In.C, nm.In.H, nm.In.W
	layers := nm.Layers
	for i := 0; i < len(layers); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var l *infer.Layer
		switch nl := layers[i].(type) {
		case *nn.Flatten:
			l = &infer.Layer{Kind: infer.KindFlatten, OutC: c3 * h * w, OutH: 1, OutW: 1}
		case *nn.MaxPool2D:
			l = &infer.Layer{Kind: infer.KindMaxPool2D, K: nl.K, Stride: nl.Stride, OutC: c3, OutH: (h-nl.K)/nl.Stride + 1, OutW: (w-nl.K)/nl.Stride + 1}
		case *nn.ReLU:
			return nil, fmt.Errorf("export: %s layer %d: a ReLU that does not follow a Linear or Conv2D layer cannot be fused", nm.Arch, i)
		case *nn.Linear, *nn.Conv2D:
			relu := i+1 < len(layers) && layers[i+1].Kind() == "relu"
			if relu {
				i++
			}
			if l, err = exportWeighted(nl, q, mode, prev, relu, actParams); err != nil {
				return nil, err
			}
			prev = l.Out
		default:
			return nil, fmt.Errorf("export: layer kind %s is not supported by the integer runtime", nl.Kind())
		}
		l.InC, l.InH, l.InW = c3, h, w
		if l.Kind == infer.KindLinear {
			l.OutH, l.OutW = 1, 1
		}
		c3, h, w = l.OutC, l.OutH, l.OutW
		out.Layers = append(out.Layers, l)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("export: export produced an invalid model (a bug): %w", err)
	}
	return out, nil
}

func exportWeighted(nl nn.Layer, q *train.QAT, mode infer.Mode, in infer.QParams, relu bool, actParams func(string) (infer.QParams, error)) (*infer.Layer, error) {
	var (
		name   string
		wp, bp *nn.Param
		l      = &infer.Layer{ReLU: relu, In: in}
	)
	switch nl := nl.(type) {
	case *nn.Linear:
		name, wp, bp = nl.Name, nl.W, nl.B
		l.Kind, l.Name, l.OutC = infer.KindLinear, nl.Name, nl.Out
	case *nn.Conv2D:
		name, wp, bp = nl.Name, nl.W, nl.B
		l.Kind, l.Name, l.OutC, l.K, l.Stride, l.Pad = infer.KindConv2D, nl.Name, nl.Out, nl.K, nl.Stride, nl.Pad
		l.OutH, l.OutW = nl.OutHW()
	}
	wq := q.Slot(wp.Name).Params()
	if wq == nil {
		return nil, fmt.Errorf("export: %s has no weight quantization parameters", name)
	}
	shape := wp.Value.Shape()
	ints := make([]int32, wp.Value.Size())
	fakequant.Quantize(ints, wp.Data(), shape, wq)
	outC := l.OutC
	fan := len(ints) / outC
	l.W = make([]int8, len(ints))
	l.WBits = wq.Bits
	if l.Kind == infer.KindLinear { // nn stores (in, out); rows of the runtime are output channels
		for k := 0; k < fan; k++ {
			for c := 0; c < outC; c++ {
				l.W[c*fan+k] = int8(ints[k*outC+c])
			}
		}
	} else {
		for i, v := range ints {
			l.W[i] = int8(v)
		}
	}
	l.WScale = make([]float32, outC)
	for c := range l.WScale {
		l.WScale[c] = wq.Scale[min(c, len(wq.Scale)-1)]
	}
	if mode == infer.W8Only {
		l.FBias = append([]float32(nil), bp.Data()...)
		return l, nil
	}
	var err error
	if l.Out, err = actParams(name + ".out"); err != nil {
		return nil, err
	}
	bq := q.Slot(bp.Name).Params()
	l.Bias = make([]int32, outC)
	fakequant.Quantize(l.Bias, bp.Data(), []int{outC}, bq)
	l.M0, l.Shift = make([]int32, outC), make([]int32, outC)
	for c := 0; c < outC; c++ {
		// The accumulator's real scale is the bias scale S_x·S_w[c] exactly
		// as the simulation used it (a float32 product); M is its float32
		// quotient by S_y, as ONNX Runtime computes it.
		if l.M0[c], l.Shift[c], err = quant.QuantizeMultiplier(bq.Scale[min(c, len(bq.Scale)-1)], l.Out.Scale); err != nil {
			return nil, fmt.Errorf("export: %s channel %d: %v", name, c, err)
		}
	}
	l.Lo, l.Hi = l.Out.QRange()
	if relu {
		l.Lo = max(l.Lo, l.Out.Zero)
	}
	return l, nil
}
