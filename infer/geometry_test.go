package infer

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// writeHeader saves m's tensors with a header describing hdr instead of m
// (checksummed, as a hand-made file would be) and returns the path.
func writeHeader(t *testing.T, m, hdr *Model) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.tqm")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	meta["model"] = string(b)
	delete(meta, "precision")
	if err := stfile.Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	return path
}

// convModel is a 1×8×8 model with one conv2d of 5 channels, k 2, stride
// 8: a 5×1×1 output, the logits of 5 classes. Its weight rows have 4
// entries, the fan-in that k = 2^62+2 wraps to (k² mod 2^64 = 4).
func convModel(t *testing.T) *Model {
	g := newGraph(t, rand.New(rand.NewPCG(51, 51)), W8A8, "conv", 1, 8, 8, 5)
	g.weighted(-2, 5, 2, 8, 0, 0, false, false)
	return g.done()
}

// TestLoadRefusesOverflowingGeometry (issue 17, item 7 of the probe):
// hand-made, checksummed model files whose geometry overflows int
// arithmetic (the probe's conv with k = 2^62+2, pad = 2^61, stride =
// 2^62 passed Load with a fan-in wrapped to 4, then panicked at run
// time) are refused by Load with a *FormatError naming the layer and the
// field; Validate refuses the same models in memory.
func TestLoadRefusesOverflowingGeometry(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(m *Model)
		want   string
	}{
		{"k, pad, stride near 2^62", func(m *Model) {
			l := m.Layers[0]
			l.K, l.Pad, l.Stride = 1<<62+2, 1<<61, 1<<62
		}, "layer 0 (conv2d \"l0\"): k 4611686018427387906 outside"},
		{"huge stride", func(m *Model) { m.Layers[0].Stride = 1 << 62 }, "layer 0 (conv2d \"l0\"): stride 4611686018427387904 outside"},
		{"huge pad", func(m *Model) { m.Layers[0].Pad = 1<<63 - 1 }, "pad 9223372036854775807 outside"},
		{"negative groups", func(m *Model) { m.Layers[0].Groups = -1 << 62 }, "groups -4611686018427387904 outside"},
		{"input product wraps to 0", func(m *Model) {
			m.InC, m.InH, m.InW = 1<<21, 1<<21, 1<<22
			m.Layers[0].InC, m.Layers[0].InH, m.Layers[0].InW = 1<<21, 1<<21, 1<<22
		}, "2097152x2097152x4194304 has more than"},
		{"output product wraps", func(m *Model) { m.Layers[0].OutC, m.Layers[0].OutH, m.Layers[0].OutW = 1<<22, 1<<21, 1<<21 }, "output 4194304x2097152x2097152 has more than"},
		{"fan-in beyond the weights' bound", func(m *Model) {
			l := m.Layers[0]
			l.K, l.Pad, l.Stride = 1<<24, 1<<23, 16
		}, "fan-in in_c/groups·k·k = 1/1·16777216·16777216 is more than"},
	} {
		m := convModel(t)
		hdr := convModel(t)
		c.mutate(hdr)
		path := writeHeader(t, m, hdr)
		_, err := Load(path)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Load gave %v, want a FormatError containing %q", c.name, err, c.want)
		}
		if err := hdr.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", c.name)
		}
	}
}

// TestLoadBoundsActivations (issue 17, item 8 of the probe): a 3.8 KB
// model (4096×4096 input, a 1×1 conv of 64 channels, then a mean) wants
// a gigabyte per image; Load refuses it by default, naming the layer and
// the size, and LoadWith takes a user's larger limits. A lower MaxScratch
// refuses a model the defaults allow.
func TestLoadBoundsActivations(t *testing.T) {
	g := newGraph(t, rand.New(rand.NewPCG(52, 52)), W8A8, "big", 1, 4096, 4096, 64)
	g.weighted(-2, 64, 1, 1, 0, 0, false, false)
	g.gap()
	big := g.done()
	path := filepath.Join(t.TempDir(), "big.tqm")
	if err := big.Save(path); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "layer 0 (conv2d \"l0\"): output 64x4096x4096: 1073741824 values per image, more than the limit of 16777216 (Limits.MaxActivation)") {
		t.Errorf("Load of the 1 GB-per-image model: %v", err)
	}
	if err := big.CheckLimits(Limits{}); err == nil {
		t.Error("CheckLimits accepted it")
	}
	if m, err := LoadWith(path, Limits{MaxActivation: 1 << 30, MaxScratch: 1 << 40}); err != nil || m == nil {
		t.Errorf("LoadWith raised limits: %v", err) // loaded, not run
	}

	// 64 channels of 128×128: 1 Mi values, inside the defaults.
	g = newGraph(t, rand.New(rand.NewPCG(53, 53)), W8A8Asym, "mid", 1, 128, 128, 64)
	g.weighted(-2, 64, 3, 1, 1, 0, true, false)
	g.gap()
	mid := g.done()
	path = filepath.Join(t.TempDir(), "mid.tqm")
	if err := mid.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(path, Limits{MaxScratch: 1 << 20}); !errors.As(err, &fe) || !strings.Contains(err.Error(), "layer 0 (conv2d") ||
		!strings.Contains(err.Error(), "more than the limit of 1048576 (Limits.MaxScratch)") {
		t.Errorf("LoadWith MaxScratch 1 MiB: %v", err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	// ScratchBytes bounds what one image allocates (buffers, the plan's
	// packed weights, the logits), and a batch runs in chunks that keep
	// near chunkBudget.
	x := randInput(rand.New(rand.NewPCG(54, 54)), m, 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := m.Logits(x, 1); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	sb := m.ScratchBytes()
	if got := int64(after.TotalAlloc - before.TotalAlloc); got > sb {
		t.Errorf("one image allocated %d bytes, ScratchBytes estimates %d", got, sb)
	}
	if c := m.plan().chunk; c >= chunkSamples || int64(c)*sb > chunkBudget {
		t.Errorf("chunk of %d samples of %d bytes (budget %d)", c, sb, chunkBudget)
	}
}

// TestLoadErrors (issue 17, item 15 of the probe): Load keeps
// fs.ErrNotExist, says "infer:" and the path once, and a bad file is a
// *FormatError.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.tqm")
	_, err := Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no model file") || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing file: %v (errors.Is ErrNotExist: %v)", err, errors.Is(err, fs.ErrNotExist))
	}
	m := convModel(t)
	good := filepath.Join(dir, "m.tqm")
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "short.tqm")
	if err := os.WriteFile(truncated, b[:len(b)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	hdr := convModel(t)
	hdr.Layers[0].Lo, hdr.Layers[0].Hi = 5, 4
	for _, path := range []string{truncated, writeHeader(t, m, hdr)} {
		_, err := Load(path)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Name != path {
			t.Errorf("%s: %v, want a *FormatError naming the file", path, err)
			continue
		}
		if msg := err.Error(); strings.Count(msg, "infer:") != 1 || strings.Count(msg, path) != 1 {
			t.Errorf("%s: %q repeats its prefix or path", path, msg)
		}
		if _, err := Parse(b[:len(b)-5], "bytes"); !errors.As(err, &fe) || fe.Name != "bytes" {
			t.Errorf("Parse of a truncated file: %v", err)
		}
	}
}
