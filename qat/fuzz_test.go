package qat

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// The fuzz target of the quantizer state a QAT or PTQ checkpoint restores
// (SetState, which Load and a resume call): scales, zero points, observer
// statistics, the learned scales' Adam moments and the metadata JSON.
// Bad state never panics and is an error that says what is wrong; an
// accepted state is consistent (valid parameters with one scale per
// channel of the slot), runs a forward pass, and reads back as given.

// fuzzModel is a small network with every kind of slot QAT restores: a
// per-channel convolution weight, its bias, a batch norm, activations.
func fuzzModel(t testing.TB) *nn.Model {
	m, err := nn.NewSequential("fuzznet", nn.Shape{C: 1, H: 4, W: 4}, 2,
		[]nn.Layer{&nn.Conv2D{Name: "c", Out: 3, K: 3, Pad: 1}, &nn.BatchNorm2D{Name: "bn"}, &nn.ReLU{}, &nn.Flatten{}, &nn.Linear{Name: "f", Out: 2}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fuzzConfigs are the quantizer settings of the base states: min/max
// (MinMax observers), percentile (histograms) with affine activations,
// and LSQ (Adam moments of the scales).
var fuzzConfigs = []Config{
	{Observer: "minmax", FreezeAfter: 5, FreezeBNAfter: FreezeNever},
	{Observer: "percentile", ActScheme: ActAffine, BitsA: 4, FreezeAfter: FreezeNever, FreezeBNAfter: FreezeNever},
	{Estimator: "lsq", BitsW: 4, FreezeAfter: 5, FreezeBNAfter: FreezeNever},
}

// fuzzQuantizer is a calibrated quantizer of fuzzModel with config i.
func fuzzQuantizer(t testing.TB, i int) (*nn.Model, *Quantizer) {
	m := fuzzModel(t)
	q, err := New(m, fuzzConfigs[i])
	if err != nil {
		t.Fatal(err)
	}
	set := datasets.Synthetic(16, 8, 4, 4, 2, 60, 1).Train
	if err := q.Calibrate(context.Background(), m, set, 8, 1); err != nil {
		t.Fatal(err)
	}
	if q.learnedScales {
		for _, name := range q.order {
			if !derived(q.states[name]) {
				n := len(q.states[name].Params().Scale)
				a := train.NewAdam([]int{n}, lsqEps)
				a.Tick()
				a.Direction(0, slices.Repeat([]float32{0.5}, n), make([]float32, n))
				q.scales[name] = a
			}
		}
	}
	q.steps = 3
	return m, q
}

// fuzzStates are the states of the calibrated quantizers.
func fuzzStates(t testing.TB) []rundir.QuantState {
	var out []rundir.QuantState
	for i := range fuzzConfigs {
		_, q := fuzzQuantizer(t, i)
		qs, err := q.State()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, qs)
	}
	return out
}

// changeState changes one tensor or blob of qs (at, in sorted order of
// the tensors' then the blobs' keys) as op%5 says: 0 XORs data into its
// bytes, 1 drops it, 2 cuts it to len(data) bytes (whole float32s for a
// tensor), 3 appends data, 4 replaces it by data. It returns the slot
// the changed key belongs to.
func changeState(qs rundir.QuantState, op, at uint8, data []byte) string {
	tn, bn := slices.Sorted(maps.Keys(qs.Tensors)), slices.Sorted(maps.Keys(qs.Blobs))
	i := int(at) % (len(tn) + len(bn))
	var key string
	var b []byte
	if i < len(tn) {
		key = tn[i]
		for _, v := range qs.Tensors[key] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	} else {
		key = bn[i-len(tn)]
		b = bytes.Clone(qs.Blobs[key])
	}
	switch op % 5 {
	case 0:
		for j := range min(len(b), len(data)) {
			b[j] ^= data[j]
		}
	case 1:
		delete(qs.Tensors, key)
		delete(qs.Blobs, key)
		return slotOf(key)
	case 2:
		b = b[:min(len(b), len(data))]
	case 3:
		b = append(b, data...)
	case 4:
		b = bytes.Clone(data)
	}
	if i < len(tn) {
		v := make([]float32, len(b)/4)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
		qs.Tensors[key] = v
	} else {
		qs.Blobs[key] = b
	}
	return slotOf(key)
}

// slotOf is the slot a state key belongs to: "c.weight.scale",
// "lsq.c.weight.adam.m.0", or a blob's "c.weight".
func slotOf(key string) string {
	key = strings.TrimPrefix(key, "lsq.")
	if i := strings.Index(key, ".adam."); i >= 0 {
		return key[:i]
	}
	for _, s := range []string{".scale", ".zero"} {
		if k, ok := strings.CutSuffix(key, s); ok {
			return k
		}
	}
	return key
}

// checkAccepted checks a quantizer that accepted qs: every slot has valid
// parameters with one scale per channel, a forward pass runs and gives
// finite logits, and the state reads back as it was given.
func checkAccepted(t *testing.T, m *nn.Model, q *Quantizer, qs rundir.QuantState) {
	t.Helper()
	for _, name := range q.order {
		st := q.states[name]
		p := st.Params()
		if p == nil {
			t.Fatalf("%s: no parameters accepted", name)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: invalid parameters accepted: %v", name, err)
		}
		if want := q.slots[name].Channels; !derived(st) && st.Axis >= 0 && len(p.Scale) != want || st.Axis < 0 && len(p.Scale) != 1 {
			t.Fatalf("%s: %d scales accepted (axis %d, %d channels)", name, len(p.Scale), st.Axis, want)
		}
	}
	x := make([]float32, 4*16)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	for _, training := range []bool{false, true} {
		q.SetTraining(training)
		pr := nn.NewPredictor(m, q)
		logits := make([]float32, 4*m.Classes)
		err := pr.Logits(logits, x, 4)
		pr.Close()
		if err != nil {
			t.Fatalf("accepted, but the forward pass (training %v) fails: %v", training, err)
		}
	}
	q.SetTraining(false)
	// The forward passes moved the observers (training): compare the
	// state as set, from a fresh quantizer.
	q2, err := New(fuzzModel(t), q.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q2.SetState(qs.Clone()); err != nil {
		t.Fatalf("accepted once, refused again: %v", err)
	}
	back, err := q2.State()
	if err != nil {
		t.Fatalf("accepted, but State fails: %v", err)
	}
	var in, out qatMeta
	if json.Unmarshal([]byte(qs.Meta), &in) != nil || json.Unmarshal([]byte(back.Meta), &out) != nil || in.Steps != out.Steps || in.Frozen != out.Frozen {
		t.Fatalf("metadata %s read back as %s", qs.Meta, back.Meta)
	}
	for k, v := range qs.Tensors {
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || strings.Contains(k, ".adam.v.") && x < 0 {
				t.Fatalf("%s[%d] = %v accepted", k, j, x)
			}
		}
	}
	want := maps.Clone(qs.Tensors)
	for k, v := range want {
		if strings.HasSuffix(k, ".adam.t") && len(v) == 1 {
			// A step count of the files before the pair: written as one.
			want[k] = []float32{float32(math.Mod(float64(v[0]), 1<<24)), float32(math.Floor(float64(v[0]) / (1 << 24)))}
		}
	}
	if !reflect.DeepEqual(back.Tensors, want) {
		t.Fatalf("tensors changed in a set and get:\n%v\n%v", want, back.Tensors)
	}
	if !reflect.DeepEqual(back.Blobs, qs.Blobs) {
		t.Fatalf("observer statistics changed in a set and get:\n%v\n%v", qs.Blobs, back.Blobs)
	}
}

// FuzzQATState: one tensor or blob of a valid state changed (changeState),
// and the metadata replaced when meta is not empty.
func FuzzQATState(f *testing.F) {
	bases := fuzzStates(f)
	for i, qs := range bases {
		keys := len(qs.Tensors) + len(qs.Blobs)
		for at := range keys {
			for op := range uint8(5) {
				if at%3 == int(op)%3 {
					f.Add(uint8(i), op, uint8(at), []byte{0, 0, 0x80, 0x7f}, "")
				}
			}
		}
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, qs.Meta)
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, `{"steps":-1}`)
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, `null`)
		f.Add(uint8(i), uint8(0), uint8(0), []byte{}, `{"steps":1,"frozen":true}`)
	}
	f.Fuzz(func(t *testing.T, base, op, at uint8, data []byte, meta string) {
		i := int(base) % len(bases)
		qs := bases[i].Clone()
		slot := changeState(qs, op, at, data)
		if meta != "" {
			qs.Meta = meta
		}
		m := fuzzModel(t)
		q, err := New(m, fuzzConfigs[i])
		if err != nil {
			t.Fatal(err)
		}
		err = q.SetState(qs.Clone())
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "qat: ") {
				t.Fatalf("error %q does not say it is the quantizer state", msg)
			}
			if meta == "" && !strings.Contains(msg, slot) {
				t.Fatalf("error %q does not name slot %s", msg, slot)
			}
			return
		}
		checkAccepted(t, m, q, qs)
	})
}
