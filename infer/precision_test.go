package infer

import "testing"

// TestPrecision names models by their layers' bit-widths; the expected
// strings are the format's definition (Precision's comment). A W4A4
// model with 8-bit ends (qat --ends-bits 8) was named "w8a8" before: the
// widest layer alone.
func TestPrecision(t *testing.T) {
	type lay struct {
		kind      Kind
		w, c, out int
	}
	for _, tc := range []struct {
		name   string
		mode   Mode
		in     int
		layers []lay
		want   string
		legacy string // what files written before 2026-12-07 recorded (the widest layer alone)
	}{
		{"uniform w8a8", W8A8, 8, []lay{{"conv2d", 8, 0, 8}, {"linear", 8, 0, 8}}, "w8a8", "w8a8"},
		{"uniform w4a4, pools and adds ignored", W8A8Asym, 4, []lay{{"conv2d", 4, 0, 4}, {"add", 0, 0, 8}, {"linear", 4, 0, 4}}, "w4a4", "w4a4"},
		{"w4a4 with 8-bit ends", W8A8Asym, 8, []lay{{"conv2d", 8, 0, 4}, {"conv2d", 4, 0, 4}, {"linear", 8, 0, 8}}, "w4-8a4-8", "w8a8"},
		{"mixed weights, a8", W8A8, 8, []lay{{"conv2d", 8, 0, 8}, {"conv2d", 3, 0, 8}, {"linear", 2, 0, 8}}, "w2-8a8", "w8a8"},
		{"codebooks", W8A8, 8, []lay{{"conv2d", 0, 4, 8}, {"linear", 0, 4, 8}}, "c4a8", "c4a8"},
		{"codebooks beside plain weights", W8A8, 8, []lay{{"conv2d", 8, 0, 8}, {"linear", 0, 2, 8}}, "c2w8a8", "c2a8"},
		{"w8 only", W8Only, 8, []lay{{"linear", 8, 0, 8}}, "w8", "w8"},
		{"float", F32, 0, []lay{{"linear", 0, 0, 0}}, "f32", "f32"},
	} {
		m := &Model{Mode: tc.mode, Input: QParams{Bits: tc.in}}
		for _, l := range tc.layers {
			m.Layers = append(m.Layers, &Layer{Kind: l.kind, WBits: l.w, CBits: l.c, Out: QParams{Bits: l.out}})
		}
		if got := m.Precision(); got != tc.want {
			t.Errorf("%s: Precision() = %q, want %q", tc.name, got, tc.want)
		}
		// A file's recorded precision is checked on loading: both forms
		// load, another model's does not.
		for _, p := range []string{tc.want, tc.legacy} {
			if !m.precisionIs(p) {
				t.Errorf("%s: precisionIs(%q) = false", tc.name, p)
			}
		}
		for _, p := range []string{"w3a3", "w4a8", "c8a8", "w4-8a4", ""} {
			if p != tc.want && p != tc.legacy && m.precisionIs(p) {
				t.Errorf("%s: precisionIs(%q) = true", tc.name, p)
			}
		}
	}
}
