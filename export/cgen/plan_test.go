package cgen

import (
	"testing"

	"github.com/tinyqat/tinyqat/infer"
)

// TestPlanPlacement checks every plan: buffers whose lifetimes overlap
// never share a byte, the arena holds every buffer and is at least the
// peak of live bytes; MLPerf Tiny's ResNet-8 needs at most 1.2 times its
// largest pair of activations (two 16×32×32 maps), as the issue asks.
func TestPlanPlacement(t *testing.T) {
	models := testModels(t)
	for _, name := range []string{"lenet5", "resnet8-mlperf", "mobilenet-tiny"} {
		models[name] = zooModel(t, name, infer.W8A8)
	}
	for name, m := range models {
		p, err := makePlan(m)
		if err != nil {
			t.Fatal(err)
		}
		if p.arena < p.peak {
			t.Errorf("%s: arena %d below the peak %d", name, p.arena, p.peak)
		}
		for i, a := range p.bufs {
			if a.off < 0 || a.off+a.size > p.arena || a.off%align != 0 {
				t.Errorf("%s: buffer %d at [%d, %d) outside the arena of %d or unaligned", name, i, a.off, a.off+a.size, p.arena)
			}
			for j, b := range p.bufs[i+1:] {
				inPlace := (a.over == i+1+j || b.over == i) && a.off == b.off
				if a.def <= b.last && b.def <= a.last && a.off < b.off+b.size && b.off < a.off+a.size && !inPlace {
					t.Errorf("%s: buffers %d [%d, %d) and %d [%d, %d) are live together and overlap", name, i, a.off, a.off+a.size, i+1+j, b.off, b.off+b.size)
				}
			}
		}
		t.Logf("%s: arena %d bytes, peak live %d, %d in place", name, p.arena, p.peak, p.inPlace)
	}
	if p, _ := makePlan(models["resnet8-mlperf"]); float64(p.arena) > 1.2*2*16*32*32 {
		t.Errorf("resnet8-mlperf: arena %d bytes, more than 1.2 × 2 × 16384", p.arena)
	}
}

func TestGenerateRefuses(t *testing.T) {
	m := testModels(t)["cnn-w8a8"]
	for _, name := range []string{"9lives", "_Reserved", "a-b", "naïve", "x234567890123456789012345678901234"} {
		if _, err := Generate(m, Options{Name: name}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	w8 := testModels(t)["cnn-w8a8"]
	w8.Mode = infer.W8Only
	if _, err := Generate(w8, Options{}); err == nil {
		t.Error("a w8-only model accepted")
	}
	bad := testModels(t)["cnn-w8a8"]
	bad.Layers = nil
	if _, err := Generate(bad, Options{}); err == nil {
		t.Error("a model without layers accepted")
	}
	if _, err := Generate(nil, Options{}); err == nil {
		t.Error("nil model accepted")
	}
}
