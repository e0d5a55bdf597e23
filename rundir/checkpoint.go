package rundir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/quant"
)

// CheckpointFile is the checkpoint's name inside a run directory.
const CheckpointFile = "checkpoint.safetensors"

// Checkpoint format versions: 2 added the quantizer's observer
// statistics, the LSQ scales' Adam moments and the data's identity;
// version 1 files still load (for export and evaluation) but a QAT run
// saved by them cannot resume exactly and is refused. 3 added the
// architecture (nn.Model.Spec, metadata "spec"), the model's buffers
// (batch normalization's running statistics, tensors "buffer.<name>") and
// the batch-norm frozen flag (metadata "bn_frozen"); version 1 and 2
// files, without them, rebuild their model with nn.New(arch). 4 added
// the data's class names (metadata "class_names", a JSON list) and, in
// the configuration, the input recipe (flip, normalization mean and std,
// resize); files without them read as a run without normalization,
// flips or resize, and with numbered classes.
const (
	checkpointFormat  = "tinyqat-checkpoint"
	CheckpointVersion = 4
)

// Checkpoint is everything needed to rebuild a model and resume training:
// parameters, optimizer state, quantizer state and progress. It is stored
// as a safetensors file (see internal/stfile) with string metadata.
type Checkpoint struct {
	Version int // format version of the file it was read from
	Arch    string
	In      nn.Shape
	Classes int
	Epoch   int // epochs completed
	Step    int // optimizer steps taken
	Config  Config
	Phase   Phase
	// Spec is the architecture (nn.Model.Spec's JSON), or "" for a model
	// that nn.New(Arch) rebuilds (version 1 and 2 files).
	Spec string
	// Params by name, in the model's layout.
	Params map[string][]float32
	// Buffers are the model's saved non-trained state by name (batch
	// normalization's running statistics); BNFrozen is nn.Model.BNFrozen.
	Buffers  map[string][]float32
	BNFrozen bool
	// Opt is the optimizer state (see Optimizer.State).
	Opt map[string][]float32
	// Quant, QuantBlobs and QuantMeta are the quantizer state (nil for a
	// float model): see QuantState.
	Quant      map[string][]float32
	QuantBlobs map[string][]byte
	QuantMeta  string
	// TestAcc is the last measured test accuracy.
	TestAcc float64
	// DataDir and DataSHA say which data the run was trained on: the
	// directory it was read from and datasets.Pair.Fingerprint.
	DataDir, DataSHA string
	// DataLayout is the data's layout (datasets.Pair.Layout: "idx",
	// "folder", "cifar10"; metadata "data_layout"); "" when not recorded
	// (files written before it was, synthetic data). An exported model
	// carries it (infer.Source.Data), so that predict reads a photo as
	// an image folder's training images were read.
	DataLayout string
	// ClassNames name the classes when the data did (image folders,
	// CIFAR-10: datasets.Set.ClassNames); nil otherwise.
	ClassNames []string
	// Parent is the WeightsSHA of the float checkpoint a PTQ, QAT,
	// mixed or cluster run started from; "" for a float run and for
	// files written before tinyqat recorded it.
	Parent string
}

// WeightsSHA fingerprints the model c holds: the SHA-256, in hex, of its
// parameter and buffer names (sorted, each kind apart) with the
// little-endian bytes of their values. Two checkpoints of the same
// network with the same weights and batch-norm statistics have the same
// fingerprint, whatever else (optimizer state, progress) they hold.
func (c *Checkpoint) WeightsSHA() string {
	h := sha256.New()
	var buf []byte
	for _, kind := range []struct {
		prefix string
		m      map[string][]float32
	}{{"param.", c.Params}, {"buffer.", c.Buffers}} {
		for _, name := range slices.Sorted(maps.Keys(kind.m)) {
			v := kind.m[name]
			buf = binary.LittleEndian.AppendUint64(buf[:0], uint64(len(v)))
			h.Write([]byte(kind.prefix + name + "\x00"))
			h.Write(buf)
			buf = buf[:0]
			for _, x := range v {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			}
			h.Write(buf)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Norm is the input normalization the run's model was trained with
// (Config.Mean and Std): x = (p/255 − Mean[c]) / Std[c]; nil when the run
// did not normalize. Export folds it into the input quantization.
func (c *Checkpoint) Norm() *datasets.Norm { return c.Config.Norm() }

// ClassName is the name of class k: from ClassNames, else the number.
func (c *Checkpoint) ClassName(k int) string {
	if k >= 0 && k < len(c.ClassNames) {
		return c.ClassNames[k]
	}
	return strconv.Itoa(k)
}

// QuantState is a quantizer's checkpoint state.
type QuantState struct {
	Tensors map[string][]float32 // scales, zero points, LSQ moments
	Blobs   map[string][]byte    // observer statistics, by slot
	Meta    string               // configuration and schedule (JSON)
}

// Clone is a deep copy of s.
func (s QuantState) Clone() QuantState {
	c := QuantState{Tensors: make(map[string][]float32, len(s.Tensors)), Blobs: make(map[string][]byte, len(s.Blobs)), Meta: s.Meta}
	for k, v := range s.Tensors {
		c.Tensors[k] = slices.Clone(v)
	}
	for k, v := range s.Blobs {
		c.Blobs[k] = slices.Clone(v)
	}
	return c
}

// DataMismatchError reports data other than the run was trained on.
type DataMismatchError struct {
	RunDir string // the run's data directory, as recorded
	Data   string // the data given now
}

func (e *DataMismatchError) Error() string {
	return fmt.Sprintf("rundir: the data in %s is not the data the run was trained on (%s): its fingerprint differs", e.Data, e.RunDir)
}

func (c *Checkpoint) SetModel(m *nn.Model) error {
	c.Arch, c.In, c.Classes = m.Arch, m.In, m.Classes
	c.Params, c.Buffers, c.BNFrozen = ParamsOf(m), BuffersOf(m), m.BNFrozen()
	spec, err := m.Spec()
	if err != nil {
		if _, nerr := nn.New(m.Arch, m.In, m.Classes, 0); nerr != nil {
			return fmt.Errorf("rundir: checkpoint: the architecture of %s cannot be saved: %w", m.Arch, err)
		}
		spec = nil // nn.New(arch) rebuilds it
	}
	c.Spec = string(spec)
	return nil
}

// Model rebuilds the network (from Spec when the checkpoint has one, else
// nn.New(Arch)) and loads the checkpoint's parameters and buffers into it.
func (c *Checkpoint) Model() (*nn.Model, error) {
	var m *nn.Model
	var err error
	if c.Spec != "" {
		if m, err = nn.FromSpec([]byte(c.Spec), 0); err != nil {
			return nil, fmt.Errorf("rundir: checkpoint architecture: %w", err)
		}
		if m.In != c.In || m.Classes != c.Classes {
			return nil, fmt.Errorf("rundir: checkpoint architecture takes %v inputs and %d classes, the checkpoint says %v and %d", m.In, m.Classes, c.In, c.Classes)
		}
	} else if m, err = nn.New(c.Arch, c.In, c.Classes, 0); err != nil {
		return nil, fmt.Errorf("rundir: checkpoint: %w", err)
	}
	load := func(what string, ps []*nn.Param, vals map[string][]float32) error {
		for _, p := range ps {
			v, ok := vals[p.Name]
			if !ok {
				return fmt.Errorf("rundir: checkpoint has no %s %s", what, p.Name)
			}
			if len(v) != p.Value.Size() {
				return fmt.Errorf("rundir: checkpoint %s %s has %d values, model needs %d", what, p.Name, len(v), p.Value.Size())
			}
			copy(p.Data(), v)
		}
		if len(vals) != len(ps) {
			for name := range vals {
				if !slices.ContainsFunc(ps, func(p *nn.Param) bool { return p.Name == name }) {
					return fmt.Errorf("rundir: checkpoint has a %s %s that the %s architecture does not have", what, name, m.Arch)
				}
			}
		}
		return nil
	}
	if err := load("parameter", m.Params, c.Params); err != nil {
		return nil, err
	}
	if err := load("buffer", m.Buffers, c.Buffers); err != nil {
		return nil, err
	}
	m.SetBNFrozen(c.BNFrozen)
	return m, nil
}

// SaveCheckpoint writes c to path atomically.
func SaveCheckpoint(path string, c *Checkpoint) error {
	ts := map[string]stfile.Tensor{}
	add := func(prefix string, m map[string][]float32) {
		for k, v := range m {
			ts[prefix+k] = stfile.F32(v, len(v))
		}
	}
	add("param.", c.Params)
	add("buffer.", c.Buffers)
	add("opt.", c.Opt)
	add("quant.", c.Quant)
	for k, v := range c.QuantBlobs {
		ts["qstate."+k] = stfile.U8(v, len(v))
	}
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	meta := map[string]string{
		"format":      checkpointFormat,
		"version":     strconv.Itoa(CheckpointVersion),
		"arch":        c.Arch,
		"input":       fmt.Sprintf("%d,%d,%d", c.In.C, c.In.H, c.In.W),
		"classes":     strconv.Itoa(c.Classes),
		"epoch":       strconv.Itoa(c.Epoch),
		"step":        strconv.Itoa(c.Step),
		"phase":       string(c.Phase),
		"config":      string(cfg),
		"quant":       c.QuantMeta,
		"test_acc":    strconv.FormatFloat(c.TestAcc, 'g', -1, 64),
		"data_dir":    c.DataDir,
		"data_sha256": c.DataSHA,
		"bn_frozen":   strconv.FormatBool(c.BNFrozen),
	}
	if c.Spec != "" {
		meta["spec"] = c.Spec
	}
	if c.Parent != "" {
		meta["parent_sha256"] = c.Parent
	}
	if c.DataLayout != "" {
		meta["data_layout"] = c.DataLayout
	}
	if len(c.ClassNames) > 0 {
		names, err := json.Marshal(c.ClassNames)
		if err != nil {
			return err
		}
		meta["class_names"] = string(names)
	}
	if err := stfile.Write(path, ts, meta); err != nil {
		return fmt.Errorf("rundir: saving checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint reads a checkpoint file, or the checkpoint inside a run
// directory. Anything wrong with the file is an error naming it.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, CheckpointFile)
	}
	ts, meta, err := stfile.Read(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("rundir: no checkpoint at %s", path)
		}
		if strings.EqualFold(filepath.Ext(path), ".onnx") {
			// As infer.Load says it of a model file: "header declares
			// 8750047073083197192 bytes" alone did not tell.
			return nil, fmt.Errorf("rundir: %w (an ONNX file is export's output; a checkpoint is the checkpoint.safetensors of a run directory)", err)
		}
		return nil, fmt.Errorf("rundir: %w", err)
	}
	bad := func(format string, args ...any) (*Checkpoint, error) {
		return nil, fmt.Errorf("rundir: %s: %s", path, fmt.Sprintf(format, args...))
	}
	if meta["format"] != checkpointFormat {
		return bad("not a tinyqat checkpoint (format %q)", meta["format"])
	}
	v, _ := strconv.Atoi(meta["version"])
	if v < 1 || v > CheckpointVersion {
		return bad("checkpoint version %q, this build reads 1 to %d", meta["version"], CheckpointVersion)
	}
	c := &Checkpoint{Version: v, Arch: meta["arch"], Phase: Phase(meta["phase"]), QuantMeta: meta["quant"],
		Params: map[string][]float32{}, Opt: map[string][]float32{}, DataDir: meta["data_dir"], DataSHA: meta["data_sha256"],
		DataLayout: meta["data_layout"], Spec: meta["spec"], Parent: meta["parent_sha256"]}
	switch c.Phase {
	case PhaseFloat, PhasePTQ, PhaseQAT, PhaseCluster:
	default:
		return bad("unknown phase %q", meta["phase"])
	}
	var errs []string
	atoi := func(key string) int {
		v, err := strconv.Atoi(meta[key])
		if err != nil || v < 0 {
			errs = append(errs, fmt.Sprintf("bad %s %q", key, meta[key]))
		}
		return v
	}
	c.Classes, c.Epoch, c.Step = atoi("classes"), atoi("epoch"), atoi("step")
	if _, err := fmt.Sscanf(meta["input"], "%d,%d,%d", &c.In.C, &c.In.H, &c.In.W); err != nil {
		errs = append(errs, fmt.Sprintf("bad input shape %q", meta["input"]))
	}
	if err := json.Unmarshal([]byte(meta["config"]), &c.Config); err != nil {
		errs = append(errs, fmt.Sprintf("bad config: %v", err))
	}
	// A missing or unparsable accuracy (early files) reads as 0; a NaN
	// would break every JSON report that prints it.
	if acc, err := strconv.ParseFloat(meta["test_acc"], 64); err == nil {
		if !(acc >= 0 && acc <= 1) {
			errs = append(errs, fmt.Sprintf("bad test_acc %q (want a fraction in [0, 1])", meta["test_acc"]))
		}
		c.TestAcc = acc
	}
	if b, ok := meta["bn_frozen"]; ok {
		var err error
		if c.BNFrozen, err = strconv.ParseBool(b); err != nil {
			errs = append(errs, fmt.Sprintf("bad bn_frozen %q", b))
		}
	}
	if p, ok := meta["parent_sha256"]; ok {
		if b, err := hex.DecodeString(p); err != nil || len(b) != sha256.Size || c.Phase == PhaseFloat {
			errs = append(errs, fmt.Sprintf("bad parent_sha256 %q (want 64 hex digits, in a quantized run)", p))
		}
	}
	if names, ok := meta["class_names"]; ok {
		if err := json.Unmarshal([]byte(names), &c.ClassNames); err != nil || len(c.ClassNames) != c.Classes {
			errs = append(errs, fmt.Sprintf("bad class_names (want %d names as a JSON list)", c.Classes))
		}
	}
	if err := checkNorm(c.Config.Mean, c.Config.Std, c.In.C); err != nil {
		errs = append(errs, fmt.Sprintf("bad config: %v", err))
	} else if err := c.Config.Defaults().Validate(); err != nil {
		// Refused here, naming the file, rather than by the trainer of a
		// resume, whose error would not say where the setting came from.
		errs = append(errs, fmt.Sprintf("bad config: %v", err))
	}
	// The model is built from the spec, and named by arch (reports,
	// train --resume's --model check): they must agree. A spec without
	// a name (older checkpoints) builds a model named "custom".
	var spec struct {
		Arch string `json:"arch"`
	}
	if c.Spec != "" && json.Unmarshal([]byte(c.Spec), &spec) == nil && spec.Arch != "" && spec.Arch != c.Arch {
		errs = append(errs, fmt.Sprintf("arch %q, but the spec's architecture is %q", c.Arch, spec.Arch))
	}
	if len(errs) > 0 {
		return bad("%s", strings.Join(errs, "; "))
	}
	// In sorted order, so that a file with several bad tensors always
	// names the same one.
	for _, name := range slices.Sorted(maps.Keys(ts)) {
		t := ts[name]
		if len(t.Shape) != 1 { // SaveCheckpoint writes every tensor flat
			return bad("tensor %s has shape %v, want one dimension", name, t.Shape)
		}
		if strings.HasPrefix(name, "qstate.") {
			b, err := t.Uint8s()
			if err != nil {
				return bad("tensor %s: %v", name, err)
			}
			if c.QuantBlobs == nil {
				c.QuantBlobs = map[string][]byte{}
			}
			c.QuantBlobs[strings.TrimPrefix(name, "qstate.")] = b
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return bad("tensor %s: %v", name, err)
		}
		// Parameters, buffers, optimizer and quantizer state (scales,
		// zero points, LSQ moments, centroids) are all finite in a run
		// that did not diverge; a NaN here would fail much later, in a
		// Gorgonia VM dump or an export, far from the cause.
		if i := quant.FirstNonFinite(v); i >= 0 {
			return nil, &NonFiniteError{Path: path, Tensor: name, Index: i, Value: v[i]}
		}
		switch {
		case strings.HasPrefix(name, "param."):
			c.Params[strings.TrimPrefix(name, "param.")] = v
		case strings.HasPrefix(name, "buffer."):
			if c.Buffers == nil {
				c.Buffers = map[string][]float32{}
			}
			c.Buffers[strings.TrimPrefix(name, "buffer.")] = v
		case strings.HasPrefix(name, "opt."):
			c.Opt[strings.TrimPrefix(name, "opt.")] = v
		case strings.HasPrefix(name, "quant."):
			if c.Quant == nil {
				c.Quant = map[string][]float32{}
			}
			c.Quant[strings.TrimPrefix(name, "quant.")] = v
		default:
			return bad("unexpected tensor %s", name)
		}
	}
	// Rebuilding the model validates every parameter's presence and size.
	if _, err := c.Model(); err != nil {
		return bad("%v", err)
	}
	return c, nil
}

// BuffersOf copies a model's buffers (batch normalization's running
// statistics) into a map for a checkpoint; nil when it has none.
func BuffersOf(m *nn.Model) map[string][]float32 {
	if len(m.Buffers) == 0 {
		return nil
	}
	out := map[string][]float32{}
	for _, p := range m.Buffers {
		out[p.Name] = append([]float32(nil), p.Data()...)
	}
	return out
}

// ParamsOf copies a model's parameters into a map for a checkpoint.
func ParamsOf(m *nn.Model) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range m.Params {
		out[p.Name] = append([]float32(nil), p.Data()...)
	}
	return out
}
