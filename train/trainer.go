package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/internal/stfile"
	"github.com/tinyqat/tinyqat/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Config holds the training settings. The zero value of each field means
// the documented default (filled in by Defaults).
type Config struct {
	Epochs      int     `json:"epochs"`       // total epochs of the run; default 10
	Batch       int     `json:"batch"`        // default 64
	Optimizer   string  `json:"optimizer"`    // "adam" (default) or "sgd"
	LR          float64 `json:"lr"`           // base learning rate; default 3e-3 (adam), 0.05 (sgd)
	Schedule    string  `json:"schedule"`     // "cosine" (default) or "constant"
	Momentum    float64 `json:"momentum"`     // sgd momentum; default 0.9
	WeightDecay float64 `json:"weight_decay"` // default 0
	Seed        uint64  `json:"seed"`         // initialisation and shuffling
	EvalBatch   int     `json:"eval_batch"`   // default 1000
	TrainLimit  int     `json:"train_limit"`  // use only the first N training samples (0: all)
	TestLimit   int     `json:"test_limit"`   // use only the first N test samples (0: all)
}

// Defaults returns c with zero fields set to their defaults.
func (c Config) Defaults() Config {
	if c.Epochs == 0 {
		c.Epochs = 10
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.Optimizer == "" {
		c.Optimizer = "adam"
	}
	if c.LR == 0 {
		c.LR = 3e-3
		if c.Optimizer == "sgd" {
			c.LR = 0.05
		}
	}
	if c.Schedule == "" {
		c.Schedule = "cosine"
	}
	if c.Momentum == 0 {
		c.Momentum = 0.9
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = 1000
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("train: epochs must be at least 1, got %d", c.Epochs)
	case c.Batch < 1 || c.Batch > 1<<16:
		return fmt.Errorf("train: batch must be in [1, 65536], got %d", c.Batch)
	case c.EvalBatch < 1 || c.EvalBatch > 1<<16:
		return fmt.Errorf("train: eval batch must be in [1, 65536], got %d", c.EvalBatch)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: learning rate must be positive and finite, got %v", c.LR)
	case c.Optimizer != "adam" && c.Optimizer != "sgd":
		return fmt.Errorf("train: unknown optimizer %q (adam or sgd)", c.Optimizer)
	case c.Schedule != "cosine" && c.Schedule != "constant":
		return fmt.Errorf("train: unknown schedule %q (cosine or constant)", c.Schedule)
	case c.WeightDecay < 0 || c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("train: weight decay %v must be ≥ 0 and momentum %v in [0, 1)", c.WeightDecay, c.Momentum)
	case c.TrainLimit < 0 || c.TestLimit < 0:
		return fmt.Errorf("train: sample limits must be ≥ 0")
	}
	return nil
}

// Modal is implemented by quantizers whose behaviour differs between
// training steps (observers update) and evaluation (they do not).
type Modal interface {
	SetTraining(bool)
}

// StepHook is implemented by quantizers with trainable state of their own
// (learned step sizes); AfterStep runs after every optimizer step.
type StepHook interface {
	AfterStep(lr float64)
}

// StatefulQuantizer is a quantizer whose state (scales, observer ranges,
// switches) belongs in checkpoints.
type StatefulQuantizer interface {
	nn.Quantizer
	State() (tensors map[string][]float32, meta string)
	SetState(tensors map[string][]float32, meta string) error
}

// Trainer trains a model on a dataset, one epoch at a time, logging metrics
// and checkpointing into a run directory.
type Trainer struct {
	Model *nn.Model
	Data  *datasets.Pair
	Cfg   Config
	// Quant, if not nil, is consulted for every slot (QAT).
	Quant nn.Quantizer
	// Phase is written in the metrics log: "float" or "qat".
	Phase string
	// BeforeStep, if not nil, runs before every optimizer step with the
	// global step count (the QAT schedule freezes observers from here).
	BeforeStep func(step int) error
	// RunDir receives metrics.jsonl and the checkpoint; "" writes nothing.
	RunDir   string
	Progress *Progress

	Epoch   int // epochs completed
	Step    int // optimizer steps taken
	TestAcc float64

	opt    Optimizer
	graphs map[int]*stepGraph
	eval   *nn.Predictor
	train  *datasets.Set
	test   *datasets.Set
}

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"`
	Phase     string  `json:"phase"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	TestAcc   float64 `json:"test_acc"`
	LR        float64 `json:"lr"`
	Seconds   float64 `json:"seconds"` // training time of the epoch (without evaluation)
	EvalSecs  float64 `json:"eval_seconds"`
	HeapMB    float64 `json:"heap_mb"` // live heap after a GC at the end of the epoch
	Steps     int     `json:"steps"`
}

// NewTrainer prepares training of m on data with cfg (defaults filled in).
func NewTrainer(m *nn.Model, data *datasets.Pair, cfg Config) (*Trainer, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if data.Train.C != m.In.C || data.Train.H != m.In.H || data.Train.W != m.In.W || data.Train.Classes != m.Classes {
		return nil, fmt.Errorf("train: data is %dx%dx%d with %d classes, model wants %v with %d", data.Train.C, data.Train.H, data.Train.W, data.Train.Classes, m.In, m.Classes)
	}
	sizes := make([]int, len(m.Params))
	for i, p := range m.Params {
		sizes[i] = p.Value.Size()
	}
	opt, err := NewOptimizer(cfg.Optimizer, sizes, cfg.Momentum, cfg.WeightDecay)
	if err != nil {
		return nil, err
	}
	return &Trainer{Model: m, Data: data, Cfg: cfg, Phase: "float", opt: opt, graphs: map[int]*stepGraph{},
		train: data.Train.Subset(cfg.TrainLimit), test: data.Test.Subset(cfg.TestLimit)}, nil
}

// Resume loads a checkpoint's optimizer state, progress and quantizer state.
func (t *Trainer) Resume(c *Checkpoint) error {
	if c.Arch != t.Model.Arch {
		return fmt.Errorf("train: checkpoint is a %s, model is a %s", c.Arch, t.Model.Arch)
	}
	if len(c.Opt) > 0 {
		if err := t.opt.SetState(c.Opt); err != nil {
			return err
		}
	}
	t.Epoch, t.Step, t.TestAcc = c.Epoch, c.Step, c.TestAcc
	if sq, ok := t.Quant.(StatefulQuantizer); ok && c.Quant != nil {
		if err := sq.SetState(c.Quant, c.QuantMeta); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoint captures the trainer's current state.
func (t *Trainer) Checkpoint() *Checkpoint {
	c := &Checkpoint{Arch: t.Model.Arch, In: t.Model.In, Classes: t.Model.Classes, Epoch: t.Epoch, Step: t.Step,
		Config: t.Cfg, Phase: t.Phase, Params: ParamsOf(t.Model), Opt: map[string][]float32{}, TestAcc: t.TestAcc}
	for k, v := range t.opt.State() {
		c.Opt[k] = append([]float32(nil), v...)
	}
	if sq, ok := t.Quant.(StatefulQuantizer); ok {
		c.Quant, c.QuantMeta = sq.State()
	}
	return c
}

// stepGraph is a training graph for one batch size.
type stepGraph struct {
	net   *nn.Net
	y     *G.Node
	loss  *G.Node
	vm    G.VM
	x, yT *tensor.Dense
}

func (t *Trainer) graph(n int) (*stepGraph, error) {
	if sg, ok := t.graphs[n]; ok {
		return sg, nil
	}
	net, err := t.Model.Build(n, t.Quant)
	if err != nil {
		return nil, err
	}
	y := G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, t.Model.Classes), G.WithName("y"))
	loss, err := SoftmaxCrossEntropy(net.Out, y)
	if err != nil {
		return nil, err
	}
	if _, err := G.Grad(loss, net.Params...); err != nil {
		return nil, fmt.Errorf("train: differentiating the graph: %w", err)
	}
	sg := &stepGraph{net: net, y: y, loss: loss, vm: G.NewTapeMachine(net.G, G.BindDualValues(net.Params...)),
		x:  tensor.New(tensor.WithShape(n, t.Model.In.C, t.Model.In.H, t.Model.In.W), tensor.Of(tensor.Float32)),
		yT: tensor.New(tensor.WithShape(n, t.Model.Classes), tensor.Of(tensor.Float32))}
	t.graphs[n] = sg
	return sg, nil
}

// step runs forward and backward on the batch already in sg's tensors and
// updates the parameters. It returns the loss and the number correct.
func (t *Trainer) step(sg *stepGraph, labels []int, lr float64) (float64, int, error) {
	if err := G.Let(sg.net.X, sg.x); err != nil {
		return 0, 0, err
	}
	if err := G.Let(sg.y, sg.yT); err != nil {
		return 0, 0, err
	}
	defer sg.vm.Reset()
	if err := sg.vm.RunAll(); err != nil {
		return 0, 0, fmt.Errorf("train: step %d: %w", t.Step, err)
	}
	loss := float64(sg.loss.Value().Data().(float32))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, 0, fmt.Errorf("train: loss is %v at epoch %d, step %d: training diverged (try a lower learning rate); the last checkpoint is untouched", loss, t.Epoch+1, t.Step)
	}
	k := t.Model.Classes
	logits := sg.net.Out.Value().Data().([]float32)
	pred := make([]int, len(labels))
	nn.Argmax(pred, logits, k)
	correct := 0
	for i, l := range labels {
		if pred[i] == l {
			correct++
		}
	}
	params := make([][]float32, len(t.Model.Params))
	grads := make([][]float32, len(t.Model.Params))
	for i, p := range t.Model.Params {
		params[i] = p.Data()
		g, err := sg.net.Params[i].Grad()
		if err != nil {
			return 0, 0, fmt.Errorf("train: gradient of %s: %w", p.Name, err)
		}
		grads[i] = g.Data().([]float32)
	}
	t.opt.Step(params, grads, lr)
	if h, ok := t.Quant.(StepHook); ok {
		h.AfterStep(lr)
	}
	// Gorgonia accumulates into bound gradients: clear them for the next step.
	for _, g := range grads {
		clear(g)
	}
	t.Step++
	return loss, correct, nil
}

// epochSeed derives the shuffling seed of an epoch, so that a resumed run
// sees the same order as an uninterrupted one.
func (t *Trainer) epochSeed(epoch int) uint64 {
	return t.Cfg.Seed*0x9e3779b97f4a7c15 + uint64(epoch) + 1
}

func (t *Trainer) setTraining(on bool) {
	if m, ok := t.Quant.(Modal); ok {
		m.SetTraining(on)
	}
}

// Run trains from the current epoch to Cfg.Epochs, evaluating, logging and
// checkpointing after each epoch. It stops early, returning ctx.Err(), when
// ctx is cancelled between steps.
func (t *Trainer) Run(ctx context.Context) error {
	if t.RunDir != "" {
		if err := os.MkdirAll(t.RunDir, 0o755); err != nil {
			return fmt.Errorf("train: cannot create run directory: %w", err)
		}
	}
	B := t.Cfg.Batch
	k := t.Model.Classes
	labels := make([]int, B)
	for t.Epoch < t.Cfg.Epochs {
		bt := datasets.NewBatcher(t.train, B, true, t.epochSeed(t.Epoch))
		t.setTraining(true)
		t.Progress.Start(fmt.Sprintf("epoch %d/%d", t.Epoch+1, t.Cfg.Epochs), bt.Batches())
		start := time.Now()
		var sumLoss float64
		var correct, seen, steps int
		lr := 0.0
		for b := 0; ; b++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if seen >= t.train.N {
				break
			}
			sg, err := t.graph(min(B, t.train.N-seen))
			if err != nil {
				return err
			}
			n := bt.Next(sg.x.Data().([]float32), labels)
			if n == 0 {
				break
			}
			yd := sg.yT.Data().([]float32)
			clear(yd)
			for i := 0; i < n; i++ {
				yd[i*k+labels[i]] = 1
			}
			if t.BeforeStep != nil {
				if err := t.BeforeStep(t.Step); err != nil {
					return err
				}
			}
			lr = LearningRate(t.Cfg.Schedule, t.Cfg.LR, float64(t.Epoch)+float64(b)/float64(bt.Batches()), t.Cfg.Epochs)
			loss, c, err := t.step(sg, labels[:n], lr)
			if err != nil {
				return err
			}
			sumLoss += loss * float64(n)
			correct += c
			seen += n
			steps++
			t.Progress.Step(fmt.Sprintf("epoch %d/%d loss %.4f", t.Epoch+1, t.Cfg.Epochs, sumLoss/float64(seen)))
		}
		secs := time.Since(start).Seconds()
		t.setTraining(false)
		evalStart := time.Now()
		acc, err := t.Evaluate(t.test)
		if err != nil {
			return err
		}
		t.TestAcc = acc
		t.Epoch++
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m := EpochMetrics{Epoch: t.Epoch, Phase: t.Phase, TrainLoss: sumLoss / float64(seen), TrainAcc: float64(correct) / float64(seen),
			TestAcc: acc, LR: lr, Seconds: secs, EvalSecs: time.Since(evalStart).Seconds(), HeapMB: float64(ms.HeapAlloc) / (1 << 20), Steps: steps}
		t.Progress.Done("%s epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  %.1fs  heap %.0f MB",
			t.Phase, m.Epoch, t.Cfg.Epochs, m.TrainLoss, 100*m.TrainAcc, 100*m.TestAcc, m.Seconds, m.HeapMB)
		if t.RunDir != "" {
			if err := SaveCheckpoint(filepath.Join(t.RunDir, CheckpointFile), t.Checkpoint()); err != nil {
				return err
			}
			if err := AppendMetrics(filepath.Join(t.RunDir, MetricsFile), m); err != nil {
				return err
			}
		}
	}
	return nil
}

// Evaluate returns the accuracy of the model (through the trainer's
// quantizer) on a set.
func (t *Trainer) Evaluate(s *datasets.Set) (float64, error) {
	if t.eval == nil {
		t.eval = nn.NewPredictor(t.Model, t.Quant)
	}
	return Accuracy(t.eval, s, t.Cfg.EvalBatch)
}

// Accuracy is the top-1 accuracy of a predictor on a set, in batches.
func Accuracy(p *nn.Predictor, s *datasets.Set, batch int) (float64, error) {
	correct := 0
	err := ForEachBatch(p, s, batch, func(logits []float32, labels []int, pred []int) {
		for i, l := range labels {
			if pred[i] == l {
				correct++
			}
		}
	})
	return float64(correct) / float64(s.N), err
}

// ForEachBatch runs a predictor over a set in file order and hands each
// batch's logits, labels and predictions to f.
func ForEachBatch(p *nn.Predictor, s *datasets.Set, batch int, f func(logits []float32, labels, pred []int)) error {
	k := s.Classes
	bt := datasets.NewBatcher(s, batch, false, 0)
	x := make([]float32, batch*s.Size())
	labels := make([]int, batch)
	logits := make([]float32, batch*k)
	pred := make([]int, batch)
	for n := bt.Next(x, labels); n > 0; n = bt.Next(x, labels) {
		if err := p.Logits(logits, x, n); err != nil {
			return err
		}
		nn.Argmax(pred[:n], logits[:n*k], k)
		f(logits[:n*k], labels[:n], pred[:n])
	}
	return nil
}

// MetricsFile is the metrics log's name inside a run directory.
const MetricsFile = "metrics.jsonl"

// AppendMetrics appends one JSON line to path.
func AppendMetrics(path string, m any) error {
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("train: metrics log: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("train: metrics log: %w", err)
	}
	return f.Close()
}

// ReadMetrics reads a metrics.jsonl log (a run directory or the file).
func ReadMetrics(path string) ([]EpochMetrics, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, MetricsFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var out []EpochMetrics
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m EpochMetrics
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("train: %s line %d: %v", path, i+1, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("train: %s holds no metrics", path)
	}
	return out, nil
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return stfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
