package rundir

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
)

// WeightsSHA depends on the parameters and buffers only, and on every
// bit of them; Parent survives a save and load, and a malformed
// parent_sha256 is refused by name.
func TestWeightsSHAAndParent(t *testing.T) {
	mk := func() *Checkpoint {
		return &Checkpoint{Version: CheckpointVersion, Arch: "lenet300", Classes: 2, In: nn.Shape{C: 1, H: 4, W: 4}, Phase: PhaseFloat,
			Params:  map[string][]float32{"fc1.w": {1, 2, 3}, "fc1.b": {0.5}},
			Buffers: map[string][]float32{"bn.mean": {0, 1}},
			Opt:     map[string][]float32{"m": {7}}}
	}
	a, b := mk(), mk()
	b.Opt["m"][0], b.Epoch, b.TestAcc = 8, 3, 0.5 // not weights
	if a.WeightsSHA() != b.WeightsSHA() {
		t.Fatal("optimizer state or progress changed the weights' fingerprint")
	}
	for name, change := range map[string]func(c *Checkpoint){
		"param bit":     func(c *Checkpoint) { c.Params["fc1.w"][2] = 3.0000002 },
		"buffer":        func(c *Checkpoint) { c.Buffers["bn.mean"][0] = float32(math.Copysign(0, -1)) },
		"renamed":       func(c *Checkpoint) { c.Params["fc2.b"] = c.Params["fc1.b"]; delete(c.Params, "fc1.b") },
		"param->buffer": func(c *Checkpoint) { c.Buffers["fc1.b"] = c.Params["fc1.b"]; delete(c.Params, "fc1.b") },
		"split tensors": func(c *Checkpoint) { c.Params["fc1.w"] = []float32{1, 2}; c.Params["fc1.b"] = []float32{3, 0.5} },
	} {
		c := mk()
		change(c)
		if c.WeightsSHA() == a.WeightsSHA() {
			t.Errorf("%s: same fingerprint", name)
		}
	}

	dir := t.TempDir()
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 4, W: 4}, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	q := &Checkpoint{Version: CheckpointVersion, Phase: PhasePTQ, Parent: a.WeightsSHA(), Opt: map[string][]float32{}}
	if err := q.SetModel(m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, CheckpointFile)
	if err := SaveCheckpoint(path, q); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Parent != a.WeightsSHA() || got.WeightsSHA() != q.WeightsSHA() {
		t.Fatalf("parent %q after a round trip, want %q (weights %v)", got.Parent, a.WeightsSHA(), got.WeightsSHA() == q.WeightsSHA())
	}

	// A parent that is not a SHA-256, or one in a float run, is refused.
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ phase, parent string }{{"ptq", "abc"}, {"qat", strings.Repeat("g", 64)}, {"float", a.WeightsSHA()}} {
		meta["phase"], meta["parent_sha256"] = bad.phase, bad.parent
		p := filepath.Join(t.TempDir(), CheckpointFile)
		if err := stfile.Write(p, ts, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCheckpoint(p); err == nil || !strings.Contains(err.Error(), "bad parent_sha256") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s run with parent %q: %v", bad.phase, bad.parent, err)
		}
	}
	_ = os.Remove(path)
}
