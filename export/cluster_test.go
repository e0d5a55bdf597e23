package export

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/cluster"
	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/qat"
	"github.com/tinyqat/tinyqat/rundir"
	"github.com/tinyqat/tinyqat/train"
)

// floatRun trains arch one epoch on data and returns its checkpoint.
func floatRun(t *testing.T, arch string, data *datasets.Pair) *rundir.Checkpoint {
	t.Helper()
	m, err := nn.New(arch, nn.Shape{C: data.Train.C, H: data.Train.H, W: data.Train.W}, data.Train.Classes, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(m, data, rundir.Config{Epochs: 1, Batch: 64, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr.Progress = nil
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// TestClusterExport clusters, fine-tunes, exports, saves and loads; the
// runtime must agree with the cluster simulation bit for bit, and the file
// must round-trip bit for bit.
func TestClusterExport(t *testing.T) {
	for _, tc := range []struct {
		arch       string
		h, bits    int
		perChannel bool
		epochs     int
	}{
		{"lenet300", 8, 3, false, 1},
		{"lenet5", 16, 2, true, 0},
	} {
		data := synth(tc.h)
		dir := t.TempDir()
		res, err := cluster.FineTune(context.Background(), floatRun(t, tc.arch, data), data, cluster.Options{Cluster: cluster.Config{Bits: tc.bits, PerChannel: tc.perChannel}, Train: rundir.Config{Epochs: tc.epochs, Batch: 64, LR: 1e-3}, RunDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ck, err := rundir.LoadCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Export(context.Background(), ck, infer.W8A8)
		if err != nil {
			t.Fatal(err)
		}
		if want := "c" + string(rune('0'+tc.bits)) + "a8"; m.Precision() != want {
			t.Errorf("%s: precision %s, want %s", tc.arch, m.Precision(), want)
		}
		// The simulation through the cluster quantizer (codebook nodes) and
		// through the plain QAT graph of the decoded weights agree exactly,
		// and Compare checks the latter against the runtime.
		nm, cl, err := cluster.Load(ck)
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare(context.Background(), m, ck, data.Test, 64)
		if err != nil {
			t.Fatal(err)
		}
		if cmp.ExactSamples != 1 || cmp.MaxLSBDiff != 0 {
			t.Errorf("%s: runtime vs simulation: exact %v, max %d LSB", tc.arch, cmp.ExactSamples, cmp.MaxLSBDiff)
		}
		simAcc, err := train.Accuracy(context.Background(), nn.NewPredictor(nm, cl), data.Test, 64)
		if err != nil {
			t.Fatal(err)
		}
		if simAcc != cmp.SimAcc || simAcc != res.TestAcc {
			t.Errorf("%s: cluster simulation %v, QAT graph %v, training reported %v", tc.arch, simAcc, cmp.SimAcc, res.TestAcc)
		}
		// File round trip: same model, same bytes.
		path := filepath.Join(dir, "m.safetensors")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range m.Layers {
			b := back.Layers[i]
			if !slices.Equal(l.W, b.W) || !slices.Equal(l.Index, b.Index) || !slices.Equal(l.LUT, b.LUT) || l.CBits != b.CBits {
				t.Fatalf("%s layer %d differs after loading", tc.arch, i)
			}
		}
		path2 := filepath.Join(dir, "m2.safetensors")
		if err := back.Save(path2); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(path)
		b, _ := os.ReadFile(path2)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: re-saved file differs", tc.arch)
		}
		// Corrupt or mismatched codebooks are refused with a clear error.
		checkCorrupt(t, path)
		checkFloatCodebook(t, ck, nm, data.Test, filepath.Join(dir, "f.safetensors"))
	}
}

// checkFloatCodebook exports the w8-only float codebook form, round-trips
// it, and compares FloatLogits with the float graph of the decoded weights.
func checkFloatCodebook(t *testing.T, ck *rundir.Checkpoint, nm *nn.Model, set *datasets.Set, path string) {
	t.Helper()
	m, err := Export(context.Background(), ck, infer.W8Only)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := infer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Save(path + "2"); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path + "2")
	if !bytes.Equal(a, b) {
		t.Errorf("%s float codebook: re-saved file differs", m.Arch)
	}
	n := 50
	x := make([]float32, n*set.Size())
	datasets.ToFloat(x, set.Pix[:len(x)])
	got, err := back.FloatLogits(x, n)
	if err != nil {
		t.Fatal(err)
	}
	p := nn.NewPredictor(nm, nil)
	defer p.Close()
	want := make([]float32, n*nm.Classes)
	if err := p.Logits(want, x, n); err != nil {
		t.Fatal(err)
	}
	// Same float32 weights and inputs, different summation order (gonum's
	// SGEMM vs Gorgonia): a few float32 ulps of the sums' magnitudes.
	for i := range got {
		if d := got[i] - want[i]; d > 1e-4*(1+absF(want[i])) || -d > 1e-4*(1+absF(want[i])) {
			t.Fatalf("%s float codebook logit %d: %v, float graph %v", m.Arch, i, got[i], want[i])
		}
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ts {
		if strings.HasSuffix(k, "cb_centroids") {
			ts[k] = stfile.F32(make([]float32, 1), 1)
			if _, err := decode(ts, meta); err == nil || !strings.Contains(err.Error(), "cb_centroids") {
				t.Errorf("short centroid table: %v", err)
			}
			ts[k] = v
		}
	}
}

func absF(v float32) float32 { return max(v, -v) }

func checkCorrupt(t *testing.T, path string) {
	t.Helper()
	for name, tc := range map[string]struct {
		mutate func(ts map[string]stfile.Tensor, meta map[string]string)
		want   string
	}{
		"short indices": {func(ts map[string]stfile.Tensor, _ map[string]string) {
			x := ts["layers.1.cb_index"]
			ts["layers.1.cb_index"] = stfile.U8(x.Data[:len(x.Data)-1], len(x.Data)-1)
		}, "cb_index"},
		"small table": {func(ts map[string]stfile.Tensor, _ map[string]string) {
			x := ts["layers.1.cb_lut"]
			ts["layers.1.cb_lut"] = stfile.I8(make([]int8, len(x.Data)/2), len(x.Data)/2)
		}, "cb_lut"},
		"table out of range": {func(ts map[string]stfile.Tensor, _ map[string]string) {
			x := ts["layers.1.cb_lut"]
			v := make([]int8, len(x.Data))
			v[0] = -128
			ts["layers.1.cb_lut"] = stfile.I8(v, len(v))
		}, "outside ±127"},
		"padding": {func(ts map[string]stfile.Tensor, _ map[string]string) {
			// fc3: 100·5 weights of 3 bits = 1500 bits, 4 of padding.
			x := ts["layers.3.cb_index"]
			d := slices.Clone(x.Data)
			d[len(d)-1] |= 0x80
			ts["layers.3.cb_index"] = stfile.U8(d, len(d))
		}, "padding"},
		"precision": {func(_ map[string]stfile.Tensor, meta map[string]string) { meta["precision"] = "w8a8" }, "precision"},
	} {
		ts, meta, err := stfile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ts["layers.1.cb_index"]; !ok {
			continue // lenet5: layer 1 is a pool
		}
		tc.mutate(ts, meta)
		if _, err := decode(ts, meta); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

// TestUniformLowBitPacked: a W4A8 model is stored in 4 bits a weight,
// loads back to the same int8 weights and names its precision.
func TestUniformLowBitPacked(t *testing.T) {
	data := synth(8)
	fl := floatRun(t, "lenet300", data)
	sizes := map[int]int64{}
	for _, bits := range []int{8, 4, 2} {
		dir := t.TempDir()
		if _, err := qat.PTQ(context.Background(), fl, data, qat.Options{Quant: qat.Config{BitsW: bits}, Train: rundir.Config{Epochs: 0, Batch: 64}, RunDir: dir}); err != nil {
			t.Fatal(err)
		}
		ck, err := rundir.LoadCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Export(context.Background(), ck, infer.W8A8)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "m")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := infer.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range m.Layers {
			if !slices.Equal(l.W, back.Layers[i].W) {
				t.Fatalf("W%d layer %d: weights differ after loading", bits, i)
			}
		}
		if bits < 8 { // a file written before packing (int8 "weight") still loads
			ts, meta, err := stfile.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			delete(ts, "layers.1.wpacked")
			l1 := m.Layers[1] // as files before packing wrote it: OutC × fan-in
			ts["layers.1.weight"] = stfile.I8(l1.W, l1.OutC, len(l1.W)/l1.OutC)
			old, err := decode(ts, meta)
			if err != nil || !slices.Equal(old.Layers[1].W, m.Layers[1].W) {
				t.Fatalf("W%d unpacked legacy file: %v", bits, err)
			}
		}
		if want := "w" + string(rune('0'+bits)) + "a8"; back.Precision() != want {
			t.Errorf("precision %s, want %s", back.Precision(), want)
		}
		sizes[bits], _ = infer.FileSize(path)
	}
	// lenet300 on 8×8 inputs, 5 classes: 64·300 + 300·100 + 100·5 = 49,700
	// weights, so 4 bits save 24,850 bytes and 2 bits another 12,425; the
	// JSON header may differ by a few bytes (scales print differently).
	if d := sizes[8] - sizes[4]; d < 24850-64 || d > 24850+64 {
		t.Errorf("W8 %d bytes, W4 %d: saved %d, want about 24,850", sizes[8], sizes[4], d)
	}
	if d := sizes[4] - sizes[2]; d < 12425-64 || d > 12425+64 {
		t.Errorf("W4 %d bytes, W2 %d: saved %d, want about 12,425", sizes[4], sizes[2], d)
	}
}

// FuzzDecodeCodebook mutates the JSON header of codebook models (integer
// and float form) while keeping their tensors: whatever loads must run.
func FuzzDecodeCodebook(f *testing.F) {
	data := synth(8)
	dir := f.TempDir()
	m0, err := nn.New("lenet300", nn.Shape{C: 1, H: 8, W: 8}, data.Train.Classes, 1)
	if err != nil {
		f.Fatal(err)
	}
	fl := &rundir.Checkpoint{Arch: m0.Arch, In: m0.In, Classes: m0.Classes, Phase: rundir.PhaseFloat, Params: rundir.ParamsOf(m0), Config: rundir.Config{Seed: 1}}
	if _, err := cluster.FineTune(context.Background(), fl, data, cluster.Options{Cluster: cluster.Config{Bits: 3}, Train: rundir.Config{Epochs: 0, Batch: 64}, RunDir: dir}); err != nil {
		f.Fatal(err)
	}
	ck, err := rundir.LoadCheckpoint(dir)
	if err != nil {
		f.Fatal(err)
	}
	type file struct {
		ts   map[string]stfile.Tensor
		meta map[string]string
	}
	var files []file
	for i, mode := range []infer.Mode{infer.W8A8, infer.W8Only} {
		m, err := Export(context.Background(), ck, mode)
		if err != nil {
			f.Fatal(err)
		}
		p := filepath.Join(dir, string(mode))
		if err := m.Save(p); err != nil {
			f.Fatal(err)
		}
		ts, meta, err := stfile.Read(p)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, file{ts, meta})
		f.Add(i, meta["model"])
		f.Add(i, strings.Replace(meta["model"], `"cb_bits":3`, `"cb_bits":2`, 1))
		f.Add(i, strings.Replace(meta["model"], `"cb_groups":1`, `"cb_groups":300`, 1))
	}
	f.Fuzz(func(t *testing.T, which int, header string) {
		fi := files[(which%2+2)%2]
		mm := map[string]string{"format": fi.meta["format"], "version": fi.meta["version"], "model": header}
		got, err := decode(fi.ts, mm)
		if err != nil {
			return
		}
		x := make([]float32, got.InC*got.InH*got.InW*2)
		if _, err := got.Predict(x, 2); err != nil {
			t.Fatalf("a validated model fails to run: %v", err)
		}
	})
}

// decode runs infer's loader on tensors and metadata that a test edited:
// they are written to a file with a valid checksum, so the loader's
// structural checks (not the checksum) must catch the damage.
func decode(ts map[string]stfile.Tensor, meta map[string]string) (*infer.Model, error) {
	dir, err := os.MkdirTemp("", "tinyqat-decode")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "m.safetensors")
	if err := stfile.Write(path, ts, meta); err != nil {
		return nil, err
	}
	return infer.Load(path)
}
