package export

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// evalBatch is the evaluation batch of the tests' trainings: Gorgonia holds
// every intermediate tensor of a batch, so the default 1000 costs a lenet5
// several hundred megabytes at once (the test suite must stay under 1 GB).
const evalBatch = 100

// quantized trains arch briefly on data, quantizes it (PTQ, or QAT for one
// epoch) with the given activation scheme and returns the checkpoint.
func quantized(t testing.TB, arch string, data *datasets.Pair, scheme string, fineTune bool) *rundir.Checkpoint {
	t.Helper()
	m, err := nn.New(arch, nn.Shape{C: data.Train.C, H: data.Train.H, W: data.Train.W}, data.Train.Classes, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 64, Seed: 1, EvalBatch: evalBatch})
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = nil
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	epochs := 0
	if fineTune {
		epochs = 1
	}
	dir := t.TempDir()
	quantize := qat.PTQ // Config.Epochs 0 is the default (10) in qat.Quantize
	if fineTune {
		quantize = qat.Quantize
	}
	fck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	_, err = quantize(context.Background(), fck, data, qat.Options{Quant: qat.Config{ActScheme: qat.ActScheme(scheme)}, Train: rundir.Config{Epochs: epochs, Batch: 64, LR: 1e-4, EvalBatch: evalBatch}, RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
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
		mode   infer.Mode
		qat    bool
	}{
		{"lenet300", 8, "symmetric", infer.W8A8, false},
		{"lenet300", 8, "affine", infer.W8A8Asym, true},
		{"lenet5", 16, "symmetric", infer.W8A8, true},
		{"lenet5", 16, "affine", infer.W8A8Asym, false},
	}
	for _, tc := range cases {
		data := synth(tc.h)
		ck := quantized(t, tc.arch, data, tc.scheme, tc.qat)
		m, err := Export(context.Background(), ck, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare(context.Background(), m, ck, data.Test, 64)
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
		other := map[infer.Mode]infer.Mode{infer.W8A8: infer.W8A8Asym, infer.W8A8Asym: infer.W8A8}[tc.mode]
		if _, err := Export(context.Background(), ck, other); err == nil {
			t.Errorf("%s: exported %s activations as %s", tc.arch, tc.scheme, other)
		}
		// Weight-only keeps float activations: close to the float model.
		wo, err := Export(context.Background(), ck, infer.W8Only)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := Accuracy(context.Background(), wo, data.Test, 64)
		if err != nil {
			t.Fatal(err)
		}
		if acc < cmp.FloatAcc-0.02 {
			t.Errorf("%s: weight-only %v vs float %v", tc.arch, acc, cmp.FloatAcc)
		}
	}
}

func TestCheckSourceAndCancel(t *testing.T) {
	data := synth(8)
	ck := quantized(t, "lenet300", data, "symmetric", false)
	m, err := Export(context.Background(), ck, infer.W8A8)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSource(m, ck); err != nil {
		t.Errorf("the model's own checkpoint: %v", err)
	}
	// bench --from with another run used to time the wrong network.
	for name, other := range map[string]rundir.Checkpoint{
		"arch":    {Arch: "lenet5", In: ck.In, Classes: ck.Classes},
		"shape":   {Arch: ck.Arch, In: nn.Shape{C: 1, H: 28, W: 28}, Classes: ck.Classes},
		"classes": {Arch: ck.Arch, In: ck.In, Classes: 10},
	} {
		if err := CheckSource(m, &other); err == nil || !strings.Contains(err.Error(), "not its source") {
			t.Errorf("%s differs: %v", name, err)
		}
	}
	if got := [2]int{m.Source.BitsW, m.Source.BitsA}; got != [2]int{8, 8} {
		t.Errorf("recorded bit-widths %v", got)
	}
	// The keys Export wrote when Source was a map (phase, bit-widths,
	// estimator, observer, the simulation's accuracy), in the same form,
	// and the data's fingerprint (predict's PrepAuto tells MNIST by it).
	keys := slices.Sorted(maps.Keys(m.Source.Map()))
	if want := []string{"bits_a", "bits_w", "data_sha256", "estimator", "observer", "phase", "test_acc_sim"}; !slices.Equal(keys, want) {
		t.Errorf("Source keys %v, want %v", keys, want)
	}
	if m.Source.DataSHA != ck.DataSHA || ck.DataSHA == "" {
		t.Errorf("data_sha256 %q, the checkpoint's %q", m.Source.DataSHA, ck.DataSHA)
	}
	if got, want := m.Source.Map()["test_acc_sim"], strconv.FormatFloat(ck.TestAcc, 'g', -1, 64); got != want {
		t.Errorf("test_acc_sim %q, want %q", got, want)
	}
	// Long calls stop on a cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Export(ctx, ck, infer.W8A8); !errors.Is(err, context.Canceled) {
		t.Errorf("Export with a cancelled context: %v", err)
	}
	if _, err := Compare(ctx, m, ck, data.Test, 64); !errors.Is(err, context.Canceled) {
		t.Errorf("Compare with a cancelled context: %v", err)
	}
	if _, err := Accuracy(ctx, m, data.Test, 64); !errors.Is(err, context.Canceled) {
		t.Errorf("Accuracy with a cancelled context: %v", err)
	}
	// Export picks the export from the checkpoint and the mode: the float
	// model for F32 (the cluster tests see the codebook export picked).
	if fm, err := Export(context.Background(), ck, infer.F32); err != nil || fm.Mode != infer.F32 || fm.Source.Precision != "f32" {
		t.Errorf("Export f32: %v", err)
	}
	if _, err := Export(context.Background(), nil, infer.W8A8); err == nil {
		t.Error("Export of no checkpoint")
	}
	// A batch of 0 is an error (it panicked in datasets.NewBatcher).
	if _, err := Accuracy(context.Background(), m, data.Test, 0); err == nil || !strings.Contains(err.Error(), "batch 0") {
		t.Errorf("Accuracy with batch 0: %v", err)
	}
}

// TestExportedMultipliersFollowFromScales checks the integers that the
// runtime and the oracle both take from the model file against the
// scales they must come from, so that an export bug in them cannot hide
// behind three witnesses that agree because they read the same numbers:
// M0·2^−Shift is the float32 multiplier float32(S_in·S_w[c]) / S_out
// (ONNX Runtime's), and the clamp is the output grid, raised to the zero
// point by a fused ReLU.
func TestExportedMultipliersFollowFromScales(t *testing.T) {
	data := synth(8)
	for _, scheme := range []string{"symmetric", "affine"} {
		ck := quantized(t, "lenet300", data, scheme, false)
		mode := map[string]infer.Mode{"symmetric": infer.W8A8, "affine": infer.W8A8Asym}[scheme]
		m, err := Export(context.Background(), ck, mode)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, l := range m.Layers {
			if !l.Kind.Weighted() {
				continue
			}
			for c := range l.OutC {
				acc := l.In.Scale * l.WScale[c] // float32 product, as the bias scale
				want := acc / l.Out.Scale
				got := float64(l.M0[c]) / math.Pow(2, float64(l.Shift[c]))
				if float32(got) != want || float64(float32(got)) != got {
					t.Fatalf("%s %s channel %d: M0·2^−shift = %v, want float32(%v / %v) = %v", scheme, l.Name, c, got, acc, l.Out.Scale, want)
				}
				checked++
			}
			lo, hi := l.Out.QRange()
			if l.ReLU {
				lo = max(lo, l.Out.Zero)
			}
			if l.Lo != lo || l.Hi != hi {
				t.Errorf("%s %s: clamp [%d, %d], want [%d, %d]", scheme, l.Name, l.Lo, l.Hi, lo, hi)
			}
		}
		if checked != 300+100+5 { // lenet300's channels on 5 synthetic classes
			t.Errorf("%s: checked %d channels, want 405", scheme, checked)
		}
	}
}
