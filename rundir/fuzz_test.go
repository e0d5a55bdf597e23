package rundir

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
)

// The fuzz targets of what is read back from a run directory: the
// checkpoint (as raw bytes, and as a valid safetensors container with
// fuzzed metadata and tensors, which gets past the checksum) and the
// metrics log (ReadMetrics, RepairMetrics). Bad input never panics and
// is an error naming the file; what is accepted is consistent and reads
// back as it was written.

// fuzzCheckpoints are small valid checkpoints: a float run of a
// convolution, batch norm and linear layer on 1×2×2 inputs, and a QAT run
// of it with quantizer state, class names, a parent and a normalization.
func fuzzCheckpoints(t testing.TB) []*Checkpoint {
	m, err := nn.NewSequential("fuzznet", nn.Shape{C: 1, H: 2, W: 2}, 2,
		[]nn.Layer{&nn.Conv2D{Name: "c", Out: 2, K: 1}, &nn.BatchNorm2D{Name: "bn"}, &nn.ReLU{}, &nn.Flatten{}, &nn.Linear{Name: "f", Out: 2}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	fl := &Checkpoint{Version: CheckpointVersion, Phase: PhaseFloat, Epoch: 2, Step: 10, TestAcc: 0.5,
		Config: Config{Epochs: 3, LR: 0.01}, Opt: map[string][]float32{"f.w.m": {0.25, -1}}, DataDir: "/data", DataSHA: "abc", DataLayout: "folder"}
	if err := fl.SetModel(m); err != nil {
		t.Fatal(err)
	}
	q := *fl
	q.Phase, q.Parent, q.ClassNames = PhaseQAT, fl.WeightsSHA(), []string{"ant", "cat"}
	q.Config.Normalize, q.Config.Mean, q.Config.Std = true, []float32{0.5}, []float32{0.25}
	q.Quant = map[string][]float32{"input.scale": {0.02}, "input.zero": {0}}
	q.QuantBlobs = map[string][]byte{"input": {1, 2, 3}}
	q.QuantMeta = `{"bits":8}`
	return []*Checkpoint{fl, &q}
}

// checkLoaded checks a checkpoint that LoadCheckpoint accepted from path:
// its fields agree, its model rebuilds, nothing is non-finite, and saved
// again it loads back equal.
func checkLoaded(t *testing.T, path string, c *Checkpoint) {
	t.Helper()
	switch {
	case c.Version < 1 || c.Version > CheckpointVersion:
		t.Fatalf("version %d accepted", c.Version)
	case c.Phase != PhaseFloat && c.Phase != PhasePTQ && c.Phase != PhaseQAT && c.Phase != PhaseCluster:
		t.Fatalf("phase %q accepted", c.Phase)
	case c.ClassNames != nil && len(c.ClassNames) != c.Classes:
		t.Fatalf("%d class names for %d classes", len(c.ClassNames), c.Classes)
	case !(c.TestAcc >= 0 && c.TestAcc <= 1):
		t.Fatalf("test accuracy %v accepted", c.TestAcc)
	case c.Epoch < 0 || c.Step < 0:
		t.Fatalf("epoch %d, step %d accepted", c.Epoch, c.Step)
	case c.NonFinite() != "":
		t.Fatalf("non-finite tensor %s accepted", c.NonFinite())
	case checkNorm(c.Config.Mean, c.Config.Std, c.In.C) != nil:
		t.Fatalf("normalization %v, %v accepted", c.Config.Mean, c.Config.Std)
	}
	m, err := c.Model()
	if err != nil {
		t.Fatalf("accepted, but its model does not rebuild: %v", err)
	}
	// A spec without a name (older checkpoints) builds a "custom" model.
	if m.Arch != c.Arch && m.Arch != "custom" || m.In != c.In || m.Classes != c.Classes {
		t.Fatalf("model %s %v, %d classes; checkpoint %s %v, %d", m.Arch, m.In, m.Classes, c.Arch, c.In, c.Classes)
	}
	again := filepath.Join(filepath.Dir(path), "again.safetensors")
	if err := SaveCheckpoint(again, c); err != nil {
		t.Fatalf("accepted, but does not save: %v", err)
	}
	d, err := LoadCheckpoint(again)
	if err != nil {
		t.Fatalf("saved again, it does not load: %v", err)
	}
	// The configuration as SaveCheckpoint writes it (an empty list and
	// none are the same to it), the rest exactly.
	cc, _ := json.Marshal(c.Config)
	dc, _ := json.Marshal(d.Config)
	c2, d2 := *c, *d
	c2.Config, d2.Config, d2.Version = Config{}, Config{}, c.Version
	if !bytes.Equal(cc, dc) || !reflect.DeepEqual(&c2, &d2) {
		t.Fatalf("changed in a save and load:\n%+v\n%+v", c, d)
	}
}

// checkLoadErr checks LoadCheckpoint's error for path.
func checkLoadErr(t *testing.T, path string, c *Checkpoint, err error) {
	t.Helper()
	if c != nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s, or comes with a result", err, path)
	}
}

// FuzzLoadCheckpoint: any bytes in checkpoint.safetensors.
func FuzzLoadCheckpoint(f *testing.F) {
	for _, c := range fuzzCheckpoints(f) {
		path := filepath.Join(f.TempDir(), CheckpointFile)
		if err := SaveCheckpoint(path, c); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, n := range []int{0, 7, 8, 9, 100, len(b) / 2, len(b) - 1} {
			f.Add(b[:n])
		}
		flipped := bytes.Clone(b)
		flipped[len(b)-3] ^= 0x40
		f.Add(flipped)
	}
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, CheckpointFile)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadCheckpoint(dir)
		if err != nil {
			checkLoadErr(t, path, c, err)
			return
		}
		checkLoaded(t, path, c)
	})
}

// checkpointMeta is the metadata SaveCheckpoint writes for c.
func checkpointMeta(t testing.TB, c *Checkpoint) (map[string]stfile.Tensor, map[string]string) {
	path := filepath.Join(t.TempDir(), CheckpointFile)
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, "sha256")
	return ts, meta
}

// The metadata keys that FuzzCheckpointFields sets, in the order of
// its fields argument (values separated by fieldSep; a missing one keeps
// the valid checkpoint's value). The optional keys (written only when
// set) are absent when their fuzzed value is "".
var (
	fuzzMetaKeys = []string{"format", "version", "arch", "input", "classes", "epoch", "step", "phase", "config", "test_acc", "quant",
		"bn_frozen", "spec", "parent_sha256", "data_layout", "class_names"}
	fuzzOptional = map[string]bool{"bn_frozen": true, "spec": true, "parent_sha256": true, "data_layout": true, "class_names": true}
)

const fieldSep = "\x1e"

// FuzzCheckpointFields: a valid safetensors container (the checksum
// right) holding fuzzed metadata and tensors changed by op (see
// changeTensor): what LoadCheckpoint parses after the container is
// sound.
func FuzzCheckpointFields(f *testing.F) {
	type file struct {
		ts   map[string]stfile.Tensor
		meta map[string]string
	}
	var bases []file
	for i, c := range fuzzCheckpoints(f) {
		ts, meta := checkpointMeta(f, c)
		bases = append(bases, file{ts, meta})
		var vals []string
		for _, k := range fuzzMetaKeys {
			vals = append(vals, meta[k])
		}
		fields := strings.Join(vals, fieldSep)
		for _, op := range []uint8{0, 1, 2, 3, 4, 5} {
			f.Add(uint8(i), fields, op, uint8(1), []byte{})
		}
		f.Add(uint8(i), fields, uint8(0), uint8(0), []byte{0, 0, 0xc0, 0x7f}) // a NaN
	}
	f.Fuzz(func(t *testing.T, base uint8, fields string, op, at uint8, flip []byte) {
		b := bases[int(base)%len(bases)]
		ts, meta := maps.Clone(b.ts), maps.Clone(b.meta) // changeTensor copies what it changes
		for i, v := range strings.SplitN(fields, fieldSep, len(fuzzMetaKeys)) {
			k := fuzzMetaKeys[i]
			if v == "" && fuzzOptional[k] {
				delete(meta, k)
			} else {
				meta[k] = v
			}
		}
		changeTensor(ts, op, at, flip)
		dir := t.TempDir()
		path := filepath.Join(dir, CheckpointFile)
		if err := stfile.Write(path, ts, meta); err != nil {
			t.Skip(err) // a tensor whose shape does not match its bytes
		}
		c, err := LoadCheckpoint(path)
		if err != nil {
			checkLoadErr(t, path, c, err)
			return
		}
		checkLoaded(t, path, c)
	})
}

// changeTensor changes the tensor at (in sorted order) as op%6 says:
// 0 keeps it, 1 drops it, 2 gives it two dimensions, 3 another dtype
// (the same bytes), 4 one element fewer, 5 a name of no known kind. Then
// flip is XORed into its bytes.
func changeTensor(ts map[string]stfile.Tensor, op, at uint8, flip []byte) {
	names := slices.Sorted(maps.Keys(ts))
	if len(names) == 0 {
		return
	}
	name := names[int(at)%len(names)]
	tn := ts[name]
	tn.Data = bytes.Clone(tn.Data)
	switch op % 6 {
	case 1:
		delete(ts, name)
		return
	case 2:
		tn.Shape = []int{1, tn.Shape[0]}
	case 3:
		if tn.DType == stfile.F32(nil).DType {
			tn.DType = stfile.I32(nil).DType
		} else {
			tn.DType = stfile.I8(nil).DType
		}
	case 4:
		if n := tn.Shape[0]; n > 0 {
			tn.Shape = []int{n - 1}
			tn.Data = tn.Data[:len(tn.Data)*(n-1)/n]
		}
	case 5:
		delete(ts, name)
		name = "bogus." + name
	}
	for i := range min(len(flip), len(tn.Data)) {
		tn.Data[i] ^= flip[i]
	}
	ts[name] = tn
}

// TestLoadCheckpointFields: cases of FuzzCheckpointFields. A NaN is a
// NonFiniteError naming the file. Metadata naming another architecture
// than the spec's was accepted (the model built from the spec, the
// checkpoint reporting and resuming as the other, found by reading what
// the fuzz target asserts); it is refused, while a spec without a name
// (older checkpoints) still loads.
func TestLoadCheckpointFields(t *testing.T) {
	write := func(ts map[string]stfile.Tensor, meta map[string]string) string {
		path := filepath.Join(t.TempDir(), CheckpointFile)
		if err := stfile.Write(path, ts, meta); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ts, meta := checkpointMeta(t, fuzzCheckpoints(t)[0])
	nan := maps.Clone(ts)
	changeTensor(nan, 0, 0, []byte{0, 0, 0xc0, 0x7f})
	path := write(nan, meta)
	_, err := LoadCheckpoint(path)
	if ne, ok := err.(*NonFiniteError); !ok || ne.Path != path || ne.Index != 0 || quant.FirstNonFinite([]float32{ne.Value}) != 0 {
		t.Errorf("NaN parameter: %v", err)
	}

	other := maps.Clone(meta)
	other["arch"] = "lenet5"
	path = write(ts, other)
	if _, err := LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), path+`: arch "lenet5", but the spec's architecture is "fuzznet"`) {
		t.Errorf("arch other than the spec's: %v", err)
	}

	// A setting no run can train with is refused here, naming the file,
	// not by the trainer of a resume (which would not say where it came from).
	badCfg := maps.Clone(meta)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["lr"] = -0.1
	b, _ := json.Marshal(cfg)
	badCfg["config"] = string(b)
	path = write(ts, badCfg)
	if _, err := LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), path+": bad config: ") || !strings.Contains(err.Error(), "lr") {
		t.Errorf("negative learning rate: %v", err)
	}

	unnamed := maps.Clone(meta)
	unnamed["arch"] = "custom"
	var spec map[string]any
	if err := json.Unmarshal([]byte(meta["spec"]), &spec); err != nil || spec["arch"] != "fuzznet" {
		t.Fatalf("spec %s: %v", meta["spec"], err)
	}
	delete(spec, "arch")
	b, _ = json.Marshal(spec)
	unnamed["spec"] = string(b)
	if c, err := LoadCheckpoint(write(ts, unnamed)); err != nil || c.Arch != "custom" {
		t.Errorf("spec without a name: %v", err)
	}
}

// metricsSeeds are metrics logs: valid ones, torn, damaged.
func metricsSeeds() []string {
	var good []string
	for e := 1; e <= 3; e++ {
		b, _ := json.Marshal(EpochMetrics{Epoch: e, Phase: PhaseFloat, TrainLoss: 1 / float64(e), TestAcc: 0.1 * float64(e), LR: 3e-3, Steps: 7})
		good = append(good, string(b)+"\n")
	}
	all := strings.Join(good, "")
	return []string{all, all[:len(all)-1], all[:len(all)-20], good[0] + "garbage\n" + good[1], "\n\n" + good[0] + "\n",
		good[0] + "  \n" + good[1], good[0] + `{"epoch":1.5}` + "\n", strings.ReplaceAll(all, "\n", "\r\n"), "null\n", ""}
}

// FuzzReadMetrics: an accepted log holds records that write and read
// back the same; an error names the file.
func FuzzReadMetrics(f *testing.F) {
	for _, s := range metricsSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, MetricsFile)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ms, err := ReadMetrics(dir)
		if err != nil {
			if ms != nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name %s, or comes with a result", err, path)
			}
			return
		}
		if len(ms) == 0 {
			t.Fatal("no records and no error")
		}
		again := filepath.Join(dir, "again.jsonl")
		for _, m := range ms {
			if err := AppendMetrics(again, m); err != nil {
				t.Fatal(err)
			}
		}
		back, err := ReadMetrics(again)
		if err != nil || !reflect.DeepEqual(back, ms) {
			t.Fatalf("records changed in a write and read (%v):\n%+v\n%+v", err, ms, back)
		}
	})
}

// FuzzRepairMetrics: a repair keeps the records of epochs below a bound
// and drops a torn last line. Refused, it leaves the log as it was, and
// names it; done, the log holds exactly the kept records, and reads.
func FuzzRepairMetrics(f *testing.F) {
	for _, s := range metricsSeeds() {
		f.Add([]byte(s), uint8(2))
		f.Add([]byte(s), uint8(255))
	}
	f.Fuzz(func(t *testing.T, b []byte, below uint8) {
		path := filepath.Join(t.TempDir(), MetricsFile)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var kept []EpochMetrics
		keep := func(m EpochMetrics) bool {
			if m.Epoch < int(below) {
				kept = append(kept, m)
				return true
			}
			return false
		}
		err := RepairMetrics(path, keep)
		after, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if !bytes.Equal(after, b) || !strings.Contains(err.Error(), path) {
				t.Fatalf("refused repair: error %q, log changed %v", err, !bytes.Equal(after, b))
			}
			return
		}
		if len(kept) == 0 {
			if len(bytes.TrimSpace(after)) != 0 {
				t.Fatalf("nothing kept, the log holds %q", after)
			}
			return
		}
		ms, err := ReadMetrics(path)
		if err != nil || !reflect.DeepEqual(ms, kept) {
			t.Fatalf("repaired log %q reads as %+v (%v), kept %+v", after, ms, err, kept)
		}
	})
}
