package infer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

func TestFloatSaveLoad(t *testing.T) {
	for name, m := range floatModels(t) {
		dir := t.TempDir()
		p1, p2 := filepath.Join(dir, "a.tqm"), filepath.Join(dir, "b.tqm")
		if err := m.Save(p1); err != nil {
			t.Fatal(err)
		}
		back, err := Load(p1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := back.Save(p2); err != nil {
			t.Fatal(err)
		}
		b1, _ := os.ReadFile(p1)
		b2, _ := os.ReadFile(p2)
		if !slices.Equal(b1, b2) || !strings.Contains(string(b1[:min(len(b1), 1<<16)]), `"tinyqat-f32"`) {
			t.Fatalf("%s: a reloaded model saves different bytes, or the format is not named", name)
		}
		x := testInput(m, 4, 12)
		if a, b := must(m.FloatLogits(x, 4)), must(back.FloatLogits(x, 4)); !slices.Equal(a, b) {
			t.Fatalf("%s: logits differ after a round trip", name)
		}
	}
}

// TestFloatLoadRejects: every damaged or inconsistent float file is a
// *FormatError naming the problem, never a panic.
func TestFloatLoadRejects(t *testing.T) {
	m := floatModels(t)["cnn"]
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tqm")
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	ts, meta, err := stfile.Parse(data, "good")
	if err != nil {
		t.Fatal(err)
	}
	// write saves tensors and metadata with a valid checksum (damage
	// inside a consistent file).
	write := func(name string, ts map[string]stfile.Tensor, meta map[string]string) string {
		p := filepath.Join(dir, name)
		if err := stfile.Write(p, ts, meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withMeta := func(k, v string) map[string]string {
		mm := maps(meta)
		mm[k] = v
		return mm
	}
	withTensor := func(k string, v *stfile.Tensor) map[string]stfile.Tensor {
		tt := map[string]stfile.Tensor{}
		for kk, vv := range ts {
			tt[kk] = vv
		}
		if v == nil {
			delete(tt, k)
		} else {
			tt[k] = *v
		}
		return tt
	}
	nanW := slices.Clone(m.Layers[0].FW)
	nanW[4] = float32(math.Inf(1))
	nan := stfile.F32(nanW, m.Layers[0].OutC, m.Layers[0].fanIn())
	flat := stfile.F32(m.Layers[0].FW, len(m.Layers[0].FW))
	extra := stfile.F32([]float32{1}, 1)
	header := strings.Replace(meta["model"], `"relu":true`, `"relu":true,"lo":3`, 1)
	cases := []struct {
		name, path, want string
	}{
		{"truncated", writeBytes(t, dir, "trunc", data[:len(data)-9]), ""},
		{"flipped", writeBytes(t, dir, "flip", flip(data, len(data)-5)), ""},
		{"version", write("v", ts, withMeta("version", strconv.Itoa(FloatFormatVersion+1))), "version"},
		{"mode", write("mode", ts, withMeta("model", strings.Replace(meta["model"], `"mode":"f32"`, `"mode":"w8a8"`, 1))), "mode"},
		{"integer field", write("int", ts, withMeta("model", header)), "integer fields"},
		{"missing", write("miss", withTensor("layers.0.bias", nil), meta), "missing tensor"},
		{"reshaped", write("shape", withTensor("layers.0.weight", &flat), meta), "want F32"},
		{"extra", write("extra", withTensor("layers.99.bias", &extra), meta), "do not belong"},
		{"inf weight", write("inf", withTensor("layers.0.weight", &nan), meta), "weight 4 is +Inf"},
		{"precision", write("prec", ts, withMeta("precision", "w8a8")), "precision"},
	}
	for _, c := range cases {
		_, err := Load(c.path)
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a *FormatError mentioning %q", c.name, err, c.want)
		}
	}
}

func maps(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func writeBytes(t *testing.T, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x40
	return c
}

// TestFloatValidate: NewFloatModel refuses inconsistent layers with the
// layer named.
func TestFloatValidate(t *testing.T) {
	base := func() []*Layer {
		return []*Layer{
			{Kind: KindFlatten, InC: 1, InH: 2, InW: 2, OutC: 4, OutH: 1, OutW: 1},
			{Kind: KindLinear, Name: "fc", InC: 4, InH: 1, InW: 1, OutC: 3, OutH: 1, OutW: 1, ReLU: true, FW: make([]float32, 12), FBias: make([]float32, 3)},
		}
	}
	if _, err := NewFloatModel("t", 1, 2, 2, 3, base(), nil, nil, Source{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(ls []*Layer)
		want string
	}{
		{"short weights", func(ls []*Layer) { ls[1].FW = ls[1].FW[:11] }, "11 weights"},
		{"no bias", func(ls []*Layer) { ls[1].FBias = nil }, "0 biases"},
		{"nan bias", func(ls []*Layer) { ls[1].FBias[2] = float32(math.NaN()) }, "bias 2 is NaN"},
		{"int weights", func(ls []*Layer) { ls[1].W = make([]int8, 12) }, "integer fields"},
		{"max without relu", func(ls []*Layer) { ls[1].ReLU, ls[1].Max = false, 6 }, "max"},
		{"relu on flatten", func(ls []*Layer) { ls[0].ReLU = true }, "relu"},
		{"shape", func(ls []*Layer) { ls[1].InC = 5 }, "input 5x1x1"},
		{"input", func(ls []*Layer) { ls[1].Inputs = []int{1} }, "earlier layer"},
		{"weights on flatten", func(ls []*Layer) { ls[0].FW = []float32{1} }, "no weights"},
	} {
		ls := base()
		c.edit(ls)
		_, err := NewFloatModel("t", 1, 2, 2, 3, ls, nil, nil, Source{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
	m := must(NewFloatModel("t", 1, 2, 2, 3, base(), nil, nil, Source{}))
	m.Input = QParams{Scale: 1, Bits: 8}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "input quantization") {
		t.Errorf("input quantization on a float model: %v", err)
	}
}

// integerFileSHA256 are the SHA-256 of the files Save wrote for
// testModel("cnn", mode, 9) before the float format existed (commit
// 40d162d): integer files are written byte for byte as before, and
// TestSaveLoadRoundTrip and TestVersion2FileStillRuns load them as before.
var integerFileSHA256 = map[Mode]string{
	W8A8:   "8293432734b96a6a752f5b2d48da1012516a47464e7dc945910d02b92da78e21",
	W8Only: "4cbbcbf806aea4dfa19fd24d230a6e673d5826e95d816b24e106783c6fa4f5a6",
}

func TestIntegerFileUnchanged(t *testing.T) {
	for mode, want := range integerFileSHA256 {
		p := filepath.Join(t.TempDir(), "m.tqm")
		if err := testModel("cnn", mode, 9).Save(p); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != want {
			t.Fatalf("%s: an integer model's file has SHA-256 %s, before the float format %s", mode, got, want)
		}
		back, err := Load(p)
		if err != nil || back.Mode != mode {
			t.Fatalf("%s: reload: %v", mode, err)
		}
	}
}

// TestFloatFilesOutsideIntegerKernels: the float runtime lives in
// float*.go (its kernels in internal/f32), none of which the integer
// kernels' float scan (TestKernelsUseNoFloat: kernels*.go, gemm*.go)
// could match, and no integer kernel file imports internal/f32: the rule
// "float code is in float*.go, weightonly.go and quantize_input*.go"
// keeps the scan meaningful.
func TestFloatFilesOutsideIntegerKernels(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	floatFiles := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		integer := strings.HasPrefix(f, "kernels") || strings.HasPrefix(f, "gemm")
		if strings.HasPrefix(f, "float") {
			floatFiles++
			if integer {
				t.Errorf("%s is a float file inside the integer kernels' scan", f)
			}
		}
		tree, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range tree.Imports {
			if strings.Contains(imp.Path.Value, "internal/f32") && (integer || !(strings.HasPrefix(f, "float") || f == "weightonly.go")) {
				t.Errorf("%s imports the float kernels", f)
			}
		}
	}
	if floatFiles < 2 {
		t.Fatalf("%d float*.go files: the float runtime moved, update this rule", floatFiles)
	}
}

// FuzzDecodeFloat mutates the JSON header of a valid float model (a
// residual graph: depthwise, grouped, strided convolutions, adds) while
// keeping its tensors, past the checksum: whatever decodes must run, on
// floats and on bytes, without panicking.
func FuzzDecodeFloat(f *testing.F) {
	m := floatTwin(f, resModel(f, rand.New(rand.NewPCG(41, 41)), W8A8, false), 1, 6)
	path := filepath.Join(f.TempDir(), "m")
	if err := m.Save(path); err != nil {
		f.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(meta["model"])
	f.Add(strings.Replace(meta["model"], `"stride":2`, `"stride":1`, 1))
	f.Add(strings.Replace(meta["model"], `"pad":1`, `"pad":0`, 1))
	f.Add(strings.Replace(meta["model"], `"groups":4`, `"groups":2`, 1))
	f.Add(strings.Replace(meta["model"], `"inputs":[`, `"inputs":[-1,`, 1))
	f.Add(strings.Replace(meta["model"], `"layers":`, `"input_norm":{"mean":[0.5,0.1],"std":[0.25,2]},"layers":`, 1))
	f.Fuzz(func(t *testing.T, header string) {
		mm := map[string]string{"format": meta["format"], "version": meta["version"], "model": header}
		got, err := decode(ts, mm)
		if err != nil {
			return
		}
		if err := got.checkLimits(Limits{}); err != nil {
			return
		}
		x := make([]float32, got.InC*got.InH*got.InW*2)
		if _, err := got.Predict(x, 2); err != nil {
			t.Fatalf("a validated float model fails to run: %v", err)
		}
		pix := make([]uint8, len(x))
		if _, err := got.PredictBytes(pix, 2); err != nil {
			t.Fatalf("a validated float model fails to run bytes: %v", err)
		}
	})
}

// TestFloatConcurrentUse: goroutines sharing one float model (its plan
// built once, its buffers pooled) get the same logits.
