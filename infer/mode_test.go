package infer

import (
	"slices"
	"strings"
	"testing"
)

// TestParseMode: every mode a model file holds parses to itself, "f32"
// (the float model's, which export --mode takes and Precision prints)
// too; anything else is refused with every known name.
func TestParseMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mode // "": refused
	}{
		{"w8a8", W8A8},
		{"w8a8-asym", W8A8Asym},
		{"w8-only", W8Only},
		{"f32", F32},
		{"F32", ""},
		{"float32", ""},
		{"w8a8 ", ""},
		{"", ""},
	} {
		got, err := ParseMode(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), "(known: w8a8, w8a8-asym, w8-only, f32)") {
			t.Errorf("ParseMode(%q): %v does not list the modes", c.in, err)
		}
	}
	for _, m := range append(slices.Clone(Modes), F32) {
		if got, err := ParseMode(string(m)); got != m || err != nil {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
}
