package export

import (
	"context"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

// TestCheckSourceQuantization: a checkpoint of the same architecture but
// other bit-widths, phase or training state (eval --compare of a W4A8
// model against a W8A8 PTQ run reported bogus divergences) is refused,
// naming each field that differs; the float run and a model without a
// recorded source pass on the architecture alone.
func TestCheckSourceQuantization(t *testing.T) {
	ck := quantized(t, "lenet300", synth(8), "symmetric", false)
	m, err := Export(context.Background(), ck, infer.W8A8)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSource(m, ck); err != nil {
		t.Fatalf("the model's own checkpoint: %v", err)
	}
	w4 := *ck
	w4.QuantMeta = strings.Replace(ck.QuantMeta, `"bits_w":8`, `"bits_w":4`, 1)
	if w4.QuantMeta == ck.QuantMeta {
		t.Fatalf("no bits_w in the quantizer metadata %s", ck.QuantMeta)
	}
	w4.Phase = rundir.PhaseQAT
	w4.TestAcc = ck.TestAcc + 0.01
	err = CheckSource(m, &w4)
	for _, want := range []string{"not the model's source", "phase ptq (model) vs qat (checkpoint)", "weight bits 8 (model) vs 4 (checkpoint)", "recorded test accuracy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("W4A8 QAT checkpoint: got %v, want %q", err, want)
		}
	}
	affine := *ck
	affine.QuantMeta = strings.Replace(ck.QuantMeta, `"act_scheme":"symmetric"`, `"act_scheme":"affine"`, 1)
	if err := CheckSource(m, &affine); err == nil || !strings.Contains(err.Error(), "activation scheme symmetric (model) vs affine (checkpoint)") {
		t.Errorf("affine checkpoint: %v", err)
	}
	float := *ck
	float.Phase, float.QuantMeta = rundir.PhaseFloat, ""
	if err := CheckSource(m, &float); err != nil {
		t.Errorf("the float run: %v", err)
	}
	m.Source = infer.Source{} // as in files written before Source was recorded
	if HasSource(m) {
		t.Error("a model without Source has one")
	}
	if err := CheckSource(m, &w4); err != nil {
		t.Errorf("model without Source: %v", err)
	}
}
