package qat

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/rundir"
)

func TestSlotBitsRefused(t *testing.T) {
	m, err := nn.New("resnet8", nn.Shape{C: 1, H: 8, W: 8}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bits map[string]int
		want string
	}{
		{map[string]int{"conv9.weight": 4}, "no such slot"},
		{map[string]int{"conv1.bias": 4}, "int32"},
		{map[string]int{"pool.out": 4}, "keeps its input's (layer3.out)"},
		{map[string]int{"conv1.weight": 9}, "weight bits must be in [2, 8]"},
		{map[string]int{"conv1.weight": 1}, "must be in [2, 16]"},
		{map[string]int{"conv1.out": 17}, "must be in [2, 16]"},
	} {
		_, err := New(m, Config{SlotBits: tc.bits})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.bits, err, tc.want)
		}
	}
	q, err := New(m, Config{BitsW: 6, SlotBits: map[string]int{"conv1.weight": 2, "layer3.out": 4, "input": 5}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"conv1.weight": 2, "fc.weight": 6, "layer3.out": 4, "pool.out": 4, "input": 5, "conv1.out": 8} {
		if got := q.Slot(name).Bits; got != want {
			t.Errorf("%s: %d bits, want %d", name, got, want)
		}
	}
	if w, a := q.Cfg.MaxBits(m); w != 6 || a != 8 {
		t.Errorf("MaxBits %d, %d; want 6, 8", w, a)
	}
}

// TestSlotBitsCheckpoint: a mixed run's bit-widths survive its checkpoint;
// a checkpoint written without them loads unchanged and saves again byte
// for byte.
func TestSlotBitsCheckpoint(t *testing.T) {
	ck := floatTiny(t)
	ctx := context.Background()
	plain := t.TempDir()
	if _, err := PTQ(ctx, ck, tiny(), Options{Train: rundir.Config{Batch: 64}, RunDir: plain}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(plain, rundir.CheckpointFile)
	pc, err := rundir.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pc.QuantMeta, "slot_bits") {
		t.Fatalf("a uniform run writes slot_bits: %s", pc.QuantMeta)
	}
	_, q, err := Load(pc)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := q.State()
	if err != nil {
		t.Fatal(err)
	}
	again := *pc
	again.Quant, again.QuantBlobs, again.QuantMeta = qs.Tensors, qs.Blobs, qs.Meta
	resaved := filepath.Join(t.TempDir(), "again.safetensors")
	if err := rundir.SaveCheckpoint(resaved, &again); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(resaved)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("a uniform checkpoint saved again differs (%d vs %d bytes)", len(a), len(b))
	}

	mixed := t.TempDir()
	bits := map[string]int{"fc1.weight": 2, "fc2.weight": 5, "fc1.out": 4}
	res, err := PTQ(ctx, ck, tiny(), Options{Quant: Config{SlotBits: bits}, Train: rundir.Config{Batch: 64}, RunDir: mixed})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := rundir.LoadCheckpoint(mixed)
	if err != nil {
		t.Fatal(err)
	}
	_, mq, err := Load(mc)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"fc1.weight": 2, "fc2.weight": 5, "fc3.weight": 8, "fc1.out": 4, "fc2.out": 8} {
		if got := mq.Slot(name).Params().Bits; got != want {
			t.Errorf("reloaded %s: %d bits, want %d", name, got, want)
		}
	}
	if acc := reloadAcc(t, mc); acc != res.PTQAcc {
		t.Errorf("reloaded mixed accuracy %v, at the end of PTQ %v", acc, res.PTQAcc)
	}
}

// TestEndSlots: the two ends of each architecture are its input, its
// first and last weights and its logits (read off the slot lists of
// nn.New); WithSlotBits sets them without touching the caller's map.
func TestEndSlots(t *testing.T) {
	for _, tc := range []struct {
		arch string
		in   nn.Shape
		want string
	}{
		{"lenet300", nn.Shape{C: 1, H: 28, W: 28}, "input fc1.weight fc3.weight fc3.out"},
		{"resnet8", nn.Shape{C: 1, H: 8, W: 8}, "input conv1.weight fc.weight fc.out"},
		{"resnet8-mlperf", nn.Shape{C: 3, H: 8, W: 8}, "input conv1.weight fc.weight fc.out"},
	} {
		m, err := nn.New(tc.arch, tc.in, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkEnds(t, m, tc.want)
		if got := strings.Join(EndSlots(m), " "); got != tc.want {
			t.Errorf("%s: EndSlots %q, want %q", tc.arch, got, tc.want)
		}
		base := Config{BitsW: 4, BitsA: 4, SlotBits: map[string]int{"input": 6}}
		c, err := base.WithSlotBits(m, 8, EndSlots(m)...)
		if err != nil {
			t.Fatal(err)
		}
		if base.SlotBits["input"] != 6 || len(base.SlotBits) != 1 {
			t.Errorf("%s: WithSlotBits changed the caller's map: %v", tc.arch, base.SlotBits)
		}
		q, err := New(m, c)
		if err != nil {
			t.Fatal(err)
		}
		ends := map[string]bool{}
		for _, n := range EndSlots(m) {
			ends[n] = true
		}
		for _, name := range q.Slots() {
			s := q.Slot(name)
			want := 4
			if ends[name] {
				want = 8
			}
			if s.Bits != want && !strings.HasSuffix(name, ".bias") && !strings.HasPrefix(name, "pool") {
				t.Errorf("%s: %s has %d bits, want %d", tc.arch, name, s.Bits, want)
			}
		}
		if _, err := c.WithSlotBits(m, 8, "nope.weight"); err == nil || !strings.Contains(err.Error(), "no such slot") {
			t.Errorf("%s: WithSlotBits of an unknown slot: %v", tc.arch, err)
		}
	}
}

func checkEnds(t *testing.T, m *nn.Model, want string) {
	t.Helper()
	if got := strings.Join(EndSlots(m), " "); got != want {
		t.Errorf("%s: EndSlots %q, want %q", m.Arch, got, want)
	}
}

// TestEndSlotsResidualEnd: a network whose logits are a global average
// pool of a residual addition ends at the addition's slot (the pool keeps
// its parameters), not at the last weighted layer's own output.
func TestEndSlotsResidualEnd(t *testing.T) {
	spec := `{"format":"tinyqat-nn-spec","version":1,"arch":"resend","input":[1,8,8],"classes":4,"layers":[
		{"kind":"conv2d","name":"c1","out":4,"k":3,"stride":1,"pad":1},
		{"kind":"residual","name":"r1","body":[{"kind":"conv2d","name":"c2","out":4,"k":3,"stride":1,"pad":1}]},
		{"kind":"globalavgpool","name":"pool"}]}`
	m, err := nn.FromSpec([]byte(spec), 1)
	if err != nil {
		t.Fatal(err)
	}
	checkEnds(t, m, "input c1.weight c2.weight r1.out")
}
