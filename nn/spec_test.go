package nn

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSpecRoundTrip: FromSpec(Spec()) is the same network (same slots,
// parameters, buffers and, from the same seed, the same initial values)
// and its Spec is byte-identical.
func TestSpecRoundTrip(t *testing.T) {
	models := map[string]func() (*Model, error){}
	for _, a := range Architectures {
		models[a] = func() (*Model, error) { return New(a, Shape{1, 28, 28}, 10, 7) }
	}
	models["small-bn"] = func() (*Model, error) { return NewSequential("small-bn", Shape{2, 6, 6}, 3, smallBN(true), 7) }
	for name, build := range models {
		t.Run(name, func(t *testing.T) {
			m, err := build()
			if err != nil {
				t.Fatal(err)
			}
			spec, err := m.Spec()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := FromSpec(spec, 7)
			if err != nil {
				t.Fatalf("%v\n%s", err, spec)
			}
			spec2, err := m2.Spec()
			if err != nil || !bytes.Equal(spec, spec2) {
				t.Fatalf("spec changed on a round trip: %v\n%s\n%s", err, spec, spec2)
			}
			if m2.Arch != m.Arch || m2.In != m.In || m2.Classes != m.Classes || m2.MACs() != m.MACs() {
				t.Errorf("rebuilt %s %v %d %d, want %s %v %d %d", m2.Arch, m2.In, m2.Classes, m2.MACs(), m.Arch, m.In, m.Classes, m.MACs())
			}
			if len(m2.Slots) != len(m.Slots) {
				t.Fatalf("%d slots, want %d", len(m2.Slots), len(m.Slots))
			}
			for i, s := range m.Slots {
				if *m2.Slots[i] != *s {
					t.Errorf("slot %d: %+v, want %+v", i, *m2.Slots[i], *s)
				}
			}
			for _, ps := range [][2][]*Param{{m.Params, m2.Params}, {m.Buffers, m2.Buffers}} {
				if len(ps[0]) != len(ps[1]) {
					t.Fatalf("%d tensors, want %d", len(ps[1]), len(ps[0]))
				}
				for i, p := range ps[0] {
					q := ps[1][i]
					if q.Name != p.Name || q.Axis != p.Axis || !q.Value.Shape().Eq(p.Value.Shape()) || !slices.Equal(q.Data(), p.Data()) {
						t.Errorf("tensor %d: %s %v, want %s %v", i, q.Name, q.Value.Shape(), p.Name, p.Value.Shape())
					}
				}
			}
		})
	}
}

// TestSpecWithoutArch: a spec without "arch" (checkpoints of earlier
// versions hold such specs) builds a model named "custom".
func TestSpecWithoutArch(t *testing.T) {
	m, err := FromSpec([]byte(`{"format":"tinyqat-nn-spec","version":1,"input":[1,8,8],"classes":2,"layers":[{"kind":"flatten"},{"kind":"linear","name":"f","out":2}]}`), 1)
	if err != nil || m.Arch != "custom" {
		t.Fatalf("model %v, error %v; want one named custom", m, err)
	}
}

// TestSpecRejects: every malformed spec is a *SpecError (or a
// NewSequential error for a well-formed but inconsistent network), with
// the place named.
func TestSpecRejects(t *testing.T) {
	head := `{"format":"tinyqat-nn-spec","version":1,"arch":"x","input":[1,8,8],"classes":2,"layers":`
	tail := `}`
	gapfc := `{"kind":"globalavgpool","name":"g"},{"kind":"linear","name":"f","out":2}`
	for _, tc := range []struct{ name, json, want string }{
		{"empty", ``, "EOF"},
		{"not json", `{`, "unexpected EOF"},
		{"array", `[]`, "cannot unmarshal"},
		{"format", `{"format":"x","version":1}`, "format"},
		{"version", `{"format":"tinyqat-nn-spec","version":2}`, "version"},
		{"unknown top field", head + `[]` + `,"extra":1` + tail, "unknown field"},
		{"trailing", head + `[` + gapfc + `]` + tail + `{}`, "trailing"},
		{"no layers", head + `[]` + tail, "no layers"},
		{"input", `{"format":"tinyqat-nn-spec","version":1,"arch":"x","input":[1,8],"classes":2,"layers":[{"kind":"relu"}]}`, "input"},
		{"input range", `{"format":"tinyqat-nn-spec","version":1,"arch":"x","input":[1,8,-8],"classes":2,"layers":[{"kind":"relu"}]}`, "input[2]"},
		{"huge input", `{"format":"tinyqat-nn-spec","version":1,"arch":"x","input":[16384,16384,16384],"classes":2,"layers":[{"kind":"relu"}]}`, "more than"},
		{"classes", `{"format":"tinyqat-nn-spec","version":1,"arch":"x","input":[1,8,8],"classes":1,"layers":[{"kind":"relu"}]}`, "classes"},
		{"unknown kind", head + `[{"kind":"conv3d"}]` + tail, `layers[0].kind: unknown layer kind "conv3d"`},
		{"no kind", head + `[{"name":"a"}]` + tail, "layers[0].kind"},
		{"kind type", head + `[{"kind":3}]` + tail, "layers[0].kind"},
		{"layer not object", head + `[3]` + tail, "layers[0]: a layer must be"},
		{"null layer", head + `[null]` + tail, "layers[0]: a layer must be"},
		{"field of another kind", head + `[{"kind":"conv2d","name":"c","out":2,"k":1,"eps":0.1},` + gapfc + `]` + tail, `layers[0].eps: a conv2d layer has no field "eps"`},
		{"unknown field", head + `[{"kind":"relu","size":3}]` + tail, `layers[0].size`},
		{"missing out", head + `[{"kind":"conv2d","name":"c","k":1},` + gapfc + `]` + tail, "layers[0].out: required"},
		{"wrong type", head + `[{"kind":"conv2d","name":"c","out":"2","k":1},` + gapfc + `]` + tail, "layers[0]"},
		{"negative", head + `[{"kind":"conv2d","name":"c","out":2,"k":1,"pad":-1},` + gapfc + `]` + tail, "layers[0].pad"},
		{"huge out", head + `[{"kind":"conv2d","name":"c","out":99999999,"k":1},` + gapfc + `]` + tail, "layers[0].out"},
		{"huge weights", head + `[{"kind":"flatten"},{"kind":"linear","name":"a","out":16384},{"kind":"linear","name":"b","out":16384},{"kind":"linear","name":"f","out":2}]` + tail, "more than 16777216 parameters"},
		{"huge activation", head + `[{"kind":"conv2d","name":"c","out":16384,"k":1,"pad":64},` + gapfc + `]` + tail, "values per sample"},
		{"nested error", head + `[{"kind":"residual","name":"r","body":[{"kind":"relu","x":1}]},` + gapfc + `]` + tail, "layers[0].body[0].x"},
		{"inconsistent", head + `[{"kind":"batchnorm2d","name":"b"},` + gapfc + `]` + tail, "must directly follow a conv2d"},
		{"wrong classes", head + `[` + `{"kind":"globalavgpool","name":"g"},{"kind":"linear","name":"f","out":3}` + `]` + tail, "class count"},
		{"deep", head + strings.Repeat(`[{"kind":"residual","name":"r","body":`, 20) + `[]` + strings.Repeat(`}]`, 20) + tail, "nested deeper"},
	} {
		_, err := FromSpec([]byte(tc.json), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
			continue
		}
		var se *SpecError
		if tc.name != "inconsistent" && tc.name != "wrong classes" && tc.name != "huge weights" && tc.name != "huge activation" && !errors.As(err, &se) {
			t.Errorf("%s: %T, want *SpecError", tc.name, err)
		}
	}
}

// TestSpecMutations: random byte edits of valid specs never panic (each is
// rejected or builds a model whose Spec reads back).
func TestSpecMutations(t *testing.T) {
	m, err := New("resnet8", Shape{1, 28, 28}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := m.Spec()
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b := append([]byte(nil), spec...)
		for range 1 + r.IntN(3) {
			i := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b[i] = byte(r.IntN(128))
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = slices.Insert(b, i, "0123456789{}[]\",:-"[r.IntN(18)])
			}
		}
		checkSpec(t, b)
	}
}

func checkSpec(t *testing.T, b []byte) {
	m, err := FromSpec(b, 1)
	if err != nil {
		return
	}
	s, err := m.Spec()
	if err != nil {
		t.Fatalf("accepted spec has no Spec: %v\n%s", err, b)
	}
	if _, err := FromSpec(s, 1); err != nil {
		t.Fatalf("Spec of an accepted spec is rejected: %v\n%s", err, s)
	}
}

func FuzzFromSpec(f *testing.F) {
	for _, a := range []string{"lenet5", "resnet8", "mobilenet-tiny"} {
		m, err := New(a, Shape{1, 28, 28}, 10, 1)
		if err != nil {
			f.Fatal(err)
		}
		s, _ := m.Spec()
		f.Add(s)
	}
	f.Add([]byte(`{"format":"tinyqat-nn-spec","version":1,"arch":"x","input":[1,4,4],"classes":2,"layers":[{"kind":"flatten"},{"kind":"linear","name":"f","out":2}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkSpec(t, b) })
}
