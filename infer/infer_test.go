package infer

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
)

// quantized trains arch briefly on data, quantizes it (PTQ, or QAT for one
// epoch) with the given activation scheme and returns the checkpoint.
func quantized(t testing.TB, arch string, data *datasets.Pair, scheme string, qat bool) *train.Checkpoint {
	t.Helper()
	m, err := nn.New(arch, nn.Shape{C: data.Train.C, H: data.Train.H, W: data.Train.W}, data.Train.Classes, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(m, data, train.Config{Epochs: 1, Batch: 64, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = train.Quiet()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	epochs := 0
	if qat {
		epochs = 1
	}
	dir := t.TempDir()
	quantize := train.PTQ // Config.Epochs 0 is the default (10) in train.Quantize
	if qat {
		quantize = train.Quantize
	}
	_, err = quantize(context.Background(), tr.Checkpoint(), data, train.QATConfig{ActScheme: train.ActScheme(scheme)},
		train.Config{Epochs: epochs, Batch: 64, LR: 1e-4}, dir, train.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	ck, err := train.LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func synth(h int) *datasets.Pair { return datasets.Synthetic(512, 200, h, h, 5, 60, 2) }

func TestRuntimeAgreesWithSimulation(t *testing.T) {
	cases := []struct {
		arch   string
		h      int
		scheme string
		mode   Mode
		qat    bool
	}{
		{"lenet300", 8, "symmetric", W8A8, false},
		{"lenet300", 8, "affine", W8A8Asym, true},
		{"lenet5", 16, "symmetric", W8A8, true},
		{"lenet5", 16, "affine", W8A8Asym, false},
	}
	for _, tc := range cases {
		data := synth(tc.h)
		ck := quantized(t, tc.arch, data, tc.scheme, tc.qat)
		m, err := Export(ck, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare(m, ck, data.Test, 64)
		if err != nil {
			t.Fatal(err)
		}
		// The simulation requantizes like the runtime; only a float32
		// accumulation error could make them differ, by one LSB.
		if cmp.Agreement < 0.995 || cmp.MaxLSBDiff > 1 || cmp.ExactSamples < 0.99 {
			t.Errorf("%s %s: agreement %v, max LSB diff %d, layers %+v", tc.arch, tc.mode, cmp.Agreement, cmp.MaxLSBDiff, cmp.Layers)
		}
		if math.Abs(cmp.IntAcc-cmp.SimAcc) > 0.01 {
			t.Errorf("%s %s: runtime %v vs simulation %v", tc.arch, tc.mode, cmp.IntAcc, cmp.SimAcc)
		}
		// A mode that does not match the checkpoint's activations is refused.
		other := map[Mode]Mode{W8A8: W8A8Asym, W8A8Asym: W8A8}[tc.mode]
		if _, err := Export(ck, other); err == nil {
			t.Errorf("%s: exported %s activations as %s", tc.arch, tc.scheme, other)
		}
		// Weight-only keeps float activations: close to the float model.
		wo, err := Export(ck, W8Only)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := Accuracy(wo, data.Test, 64)
		if err != nil {
			t.Fatal(err)
		}
		if acc < cmp.FloatAcc-0.02 {
			t.Errorf("%s: weight-only %v vs float %v", tc.arch, acc, cmp.FloatAcc)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	data := synth(16)
	ck := quantized(t, "lenet5", data, "symmetric", false)
	for _, mode := range []Mode{W8A8, W8Only} {
		m, err := Export(ck, mode)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 10*data.Test.Size())
		datasets.ToFloat(x, data.Test.Pix[:len(x)])
		a, err1 := m.Predict(x, 10)
		b, err2 := back.Predict(x, 10)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("%s: predictions differ after a round trip: %v %v", mode, err1, err2)
		}
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	data := synth(8)
	ck := quantized(t, "lenet300", data, "symmetric", false)
	m, _ := Export(ck, W8A8)
	path := filepath.Join(t.TempDir(), "m")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	// Truncations at many points, flips across the file.
	for n := 0; n < len(good); n += 1 + len(good)/300 {
		if _, err := Parse(good[:n], "m"); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := 0; i < len(good); i += 1 + len(good)/500 {
		b := slices.Clone(good)
		b[i] ^= 0x21
		if _, err := Parse(b, "m"); err == nil && good[i] != ' ' {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// Inconsistent but well-formed and checksummed files: Save refuses an
	// invalid model, so build them by hand through the writer.
	mutations := map[string]func(*Model){
		"version":    func(m *Model) { m.Version = 99 },
		"shape":      func(m *Model) { m.Layers[1].OutC++ },
		"multiplier": func(m *Model) { m.Layers[1].M0[0] = 5 },
		"weights":    func(m *Model) { m.Layers[1].W = m.Layers[1].W[:10] },
		"zero point": func(m *Model) { m.Layers[1].Out.Zero = 3 },
		"clamp":      func(m *Model) { m.Layers[1].Lo = 100; m.Layers[1].Hi = 0 },
		"classes":    func(m *Model) { m.Classes = 7 },
	}
	for name, mutate := range mutations {
		mm, _ := Export(ck, W8A8)
		mutate(mm)
		if err := mm.Validate(); err == nil {
			t.Errorf("%s: Validate accepted", name)
		}
		p := filepath.Join(t.TempDir(), "bad")
		if err := mm.Save(p); err == nil {
			t.Errorf("%s: Save accepted an invalid model", name)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no model file") {
		t.Errorf("missing file: %v", err)
	}
	// A float checkpoint is not a model file.
	dir := t.TempDir()
	train.SaveCheckpoint(filepath.Join(dir, "ck"), ck)
	if _, err := Load(filepath.Join(dir, "ck")); err == nil || !strings.Contains(err.Error(), "not a tinyqat integer model") {
		t.Errorf("checkpoint as model: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	data := synth(8)
	ck := quantized(t, "lenet300", data, "symmetric", false)
	m, _ := Export(ck, W8A8)
	var ie *InputError
	if _, err := m.Logits(make([]float32, 63), 1); !errors.As(err, &ie) {
		t.Errorf("short input: %v", err)
	}
	x := make([]float32, 64)
	x[5] = float32(math.NaN())
	if _, err := m.Logits(x, 1); !errors.As(err, &ie) || !strings.Contains(err.Error(), "element 5") {
		t.Errorf("NaN input: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	data := synth(16)
	ck := quantized(t, "lenet5", data, "symmetric", false)
	m, _ := Export(ck, W8A8)
	n := 16
	x := make([]float32, n*data.Test.Size())
	datasets.ToFloat(x, data.Test.Pix[:len(x)])
	want, err := m.Logits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				got, err := m.Logits(x, n)
				if err != nil || !slices.Equal(got, want) {
					errs <- errors.New("concurrent result differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	data := synth(8)
	ck := quantized(f, "lenet300", data, "symmetric", false)
	m, _ := Export(ck, W8A8)
	path := filepath.Join(f.TempDir(), "m")
	m.Save(path)
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		// Anything that loads must run.
		x := make([]float32, m.InC*m.InH*m.InW)
		if _, err := m.Predict(x, 1); err != nil {
			t.Fatalf("loaded model fails to run: %v", err)
		}
	})
}

// FuzzDecode mutates the JSON header of a valid model while keeping its
// tensors, past the checksum (which would stop almost every mutation of a
// file): whatever Validate accepts must run without panicking.
func FuzzDecode(f *testing.F) {
	data := synth(16)
	ck := quantized(f, "lenet5", data, "symmetric", false)
	m, _ := Export(ck, W8A8)
	path := filepath.Join(f.TempDir(), "m")
	if err := m.Save(path); err != nil {
		f.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(meta["model"])
	f.Add(strings.Replace(meta["model"], `"k":5`, `"k":4`, 1))
	f.Add(strings.Replace(meta["model"], `"stride":2`, `"stride":1`, 1))
	f.Fuzz(func(t *testing.T, header string) {
		mm := map[string]string{"format": meta["format"], "version": meta["version"], "model": header}
		got, err := decode(ts, mm)
		if err != nil {
			return
		}
		x := make([]float32, got.InC*got.InH*got.InW*2)
		if _, err := got.Predict(x, 2); err != nil {
			t.Fatalf("a validated model fails to run: %v", err)
		}
	})
}
