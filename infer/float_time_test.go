package infer

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tinyqat/tinyqat/internal/f32"
)

// TestMeasureFloatPeakEveryLoop measures the float peak with every loop
// this build has (the portable one included) and checks that it names
// the loop's level and found a positive rate (no timing threshold: the
// machine is shared); MeasureFloatPeak uses the first, the runtime's
// vector width.
func TestMeasureFloatPeakEveryLoop(t *testing.T) {
	ls := f32.PeakLoops()
	for _, l := range ls {
		if p := measureFloatPeak(l, time.Millisecond); p.Level != l.Level || !(p.GMACs > 0) {
			t.Errorf("loop %s: peak %+v", l.Level, p)
		}
	}
	if p := MeasureFloatPeak(time.Millisecond); p.Level != ls[0].Level || !(p.GMACs > 0) {
		t.Errorf("MeasureFloatPeak = %+v, want level %s", p, ls[0].Level)
	}
}

// TestTimeLayersFloat times float models (resnet8's shape, whose three
// residual adds run fused with their convolutions; mobilenet-tiny's;
// lenet5's) at batches 1 and 5 and checks the table: the input row and
// one row per layer, in order; each layer's MACs from its definition
// (OutC·(InC/groups)·K·K·OutH·OutW, linear OutC·InSize), except that a
// fused add carries its two convolutions' MACs and they carry none; the
// MACs add up to the model's; every layer that runs has a positive time
// and a fused convolution none. The logits are unchanged by the timing.
func TestTimeLayersFloat(t *testing.T) {
	ms := floatModels(t)
	for _, name := range []string{"resnet8", "mobilenet", "lenet5"} {
		m := ms[name]
		fp, err := m.prepareFloat()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 5} {
			x := randInput(rand.New(rand.NewPCG(3, 3)), m, n)
			want, err := m.FloatLogits(x, n)
			if err != nil {
				t.Fatal(err)
			}
			times, err := m.TimeLayers(x, n, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(times) != len(m.Layers)+1 || times[0].Layer != -1 || times[0].Kind != "input" {
				t.Fatalf("%s: %d rows (first %+v), want the input and %d layers", name, len(times), times[0], len(m.Layers))
			}
			var total int64
			fused := 0
			for i, l := range m.Layers {
				r := times[i+1]
				total += r.MACs
				def := int64(0)
				switch l.Kind {
				case KindConv2D:
					def = int64(l.OutC * l.InC / l.groups() * l.K * l.K * l.OutH * l.OutW)
				case KindLinear:
					def = int64(l.OutC * l.InSize())
				}
				p := &fp.layers[i]
				switch {
				case p.skip:
					fused++
					def = 0
				case p.fused != nil:
					def = 0
					for _, j := range m.inputs(i) {
						def += int64(m.Layers[j].OutC * m.Layers[j].fanIn() * m.Layers[j].OutH * m.Layers[j].OutW)
					}
					if !strings.Contains(r.Shape, "+ conv") {
						t.Errorf("%s layer %d: fused add's shape %q", name, i, r.Shape)
					}
				}
				if r.Layer != i || r.Kind != l.Kind || r.MACs != def {
					t.Errorf("%s layer %d (%s): %+v, want %d MACs", name, i, l.Kind, r, def)
				}
				if p.skip && r.Time != 0 || !p.skip && (l.Kind.Weighted() || p.fused != nil) && (r.Time <= 0 || !(r.GMACs(n) > 0)) {
					t.Errorf("%s layer %d (%s, fused into an add %v): time %v, %v G MAC/s", name, i, l.Kind, p.skip, r.Time, r.GMACs(n))
				}
			}
			if total != int64(fp.macs) {
				t.Errorf("%s: rows' MACs add up to %d, the model has %d", name, total, fp.macs)
			}
			if name == "resnet8" && fused != 6 {
				t.Errorf("resnet8: %d convolutions fused into adds, want 6", fused)
			}
			got, _ := m.FloatLogits(x, n)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s: logit %d changed after TimeLayers", name, i)
				}
			}
		}
	}
}

// TestTimeLayersFloatErrors checks the float refusals: no rounds, an
// input of the wrong length, a non-finite input.
func TestTimeLayersFloatErrors(t *testing.T) {
	m := floatModels(t)["lenet5"]
	x := randInput(rand.New(rand.NewPCG(3, 3)), m, 2)
	if _, err := m.TimeLayers(x, 2, 0); err == nil {
		t.Error("0 rounds: no error")
	}
	var ie *InputError
	if _, err := m.TimeLayers(x[:len(x)-1], 2, 1); !errors.As(err, &ie) {
		t.Errorf("short input: %v, want an InputError", err)
	}
	x[7] = float32(math.NaN())
	if _, err := m.TimeLayers(x, 2, 1); err == nil || !strings.Contains(err.Error(), "7") {
		t.Errorf("NaN input: %v", err)
	}
}

// TestLayerTrafficFloat checks the float byte model: a linear layer of
// In inputs and OutC outputs at batch n moves 4·(OutC·In + OutC) weight
// and bias bytes and 4·n·(In + OutC) activation bytes; an integer model's
// layers keep Traffic; a fused add moves its convolutions' weights and
// inputs, and they nothing.
func TestLayerTrafficFloat(t *testing.T) {
	ms := floatModels(t)
	m := ms["lenet300"]
	last := len(m.Layers) - 1
	l := m.Layers[last]
	if got, want := m.LayerTraffic(last, 3), int64(4*(l.OutC*l.InSize()+l.OutC+3*(l.InSize()+l.OutC))); got != want {
		t.Errorf("float linear %d→%d at batch 3: %d bytes, want %d", l.InSize(), l.OutC, got, want)
	}
	im := resnet8Shape(t, W8A8)
	if got, want := im.LayerTraffic(1, 3), im.Layers[1].Traffic(3); got != want {
		t.Errorf("integer layer: %d bytes, want Traffic's %d", got, want)
	}
	r := ms["resnet8"]
	fp, _ := r.prepareFloat()
	for i := range r.Layers {
		p := &fp.layers[i]
		switch got := r.LayerTraffic(i, 2); {
		case p.skip && got != 0:
			t.Errorf("resnet8 layer %d (fused into an add): %d bytes", i, got)
		case p.fused != nil:
			b, pj := r.Layers[r.inputs(i)[0]], r.Layers[r.inputs(i)[1]]
			want := int64(4 * (len(b.FW) + len(b.FBias) + len(pj.FW) + len(pj.FBias) + 2*(b.InSize()+pj.InSize()+b.OutSize())))
			if got != want {
				t.Errorf("resnet8 fused add %d: %d bytes, want %d", i, got, want)
			}
		}
	}
}
