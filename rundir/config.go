package rundir

import (
	"errors"
	"fmt"
	"math"

	"github.com/tinyqat/tinyqat/datasets"
)

// Phase names what a run or checkpoint holds.
type Phase string

const (
	PhaseFloat   Phase = "float"   // float32 training
	PhasePTQ     Phase = "ptq"     // calibrated, not fine-tuned
	PhaseQAT     Phase = "qat"     // quantization-aware fine-tuning
	PhaseCluster Phase = "cluster" // codebook (k-means) weights, centroids fine-tuned
)

// Optimizer names the optimizer of a run.
type Optimizer string

const (
	Adam Optimizer = "adam" // Adam, AdamW with a weight decay
	SGD  Optimizer = "sgd"  // SGD with heavy-ball momentum
)

// Schedule names the learning-rate schedule of a run.
type Schedule string

const (
	Cosine   Schedule = "cosine"   // cosine annealing to LR/100 over the run
	Constant Schedule = "constant" // LR throughout
)

// DefaultEpochs is the epoch count of a Config whose Epochs is zero.
const DefaultEpochs = 10

// Config holds the training settings. The zero value of each field means
// the documented default (filled in by Defaults); negative values and
// unknown names are errors (Validate).
type Config struct {
	Epochs      int       `json:"epochs"`       // total epochs of the run; 0: DefaultEpochs
	Batch       int       `json:"batch"`        // 0: 64
	Optimizer   Optimizer `json:"optimizer"`    // Adam or SGD; "": Adam
	LR          float64   `json:"lr"`           // base learning rate; 0: 3e-3 (adam), 0.05 (sgd)
	Schedule    Schedule  `json:"schedule"`     // Cosine or Constant; "": Cosine
	Momentum    float64   `json:"momentum"`     // sgd momentum; 0: 0.9
	WeightDecay float64   `json:"weight_decay"` // 0: none
	Seed        uint64    `json:"seed"`         // initialisation and shuffling
	EvalBatch   int       `json:"eval_batch"`   // 0: DefaultEvalBatch
	TrainLimit  int       `json:"train_limit"`  // use only the first N training samples; 0: all
	TestLimit   int       `json:"test_limit"`   // use only the first N test samples; 0: all
	// Shift augments the training images by a random crop with Shift
	// pixels of zero padding on each side (datasets.Batcher.SetShift:
	// torchvision's RandomCrop(size, padding=Shift)); 0: none.
	Shift int `json:"shift,omitempty"`
	// Flip mirrors each training image left to right with probability ½
	// (datasets.Batcher.SetFlip).
	Flip bool `json:"flip,omitempty"`
	// Normalize standardizes the input per channel, in training,
	// evaluation and calibration: x = (p/255 − Mean[c]) / Std[c]. With
	// Mean and Std empty, NewTrainer computes them from the training
	// samples it uses (datasets.Set.Norm of the first TrainLimit) and
	// stores them here, so a checkpoint carries the values its model was
	// trained with. Mean and Std given without Normalize normalize too.
	Normalize bool      `json:"normalize,omitempty"`
	Mean      []float32 `json:"mean,omitempty"`
	Std       []float32 `json:"std,omitempty"`
	// ResizeH and ResizeW record the size the data was scaled to when
	// loaded (datasets.Options); 0: the data's own size. The trainer only
	// checks that the data has this size; a command that continues a run
	// loads its data with it.
	ResizeH int `json:"resize_h,omitempty"`
	ResizeW int `json:"resize_w,omitempty"`
	// Distill, when not nil, trains with knowledge distillation from a
	// float teacher (train.DistillLoss); nil: plain cross-entropy.
	Distill *Distill `json:"distill,omitempty"`
}

// Distill is the knowledge distillation of a run: the float run that
// teaches it and the loss's weight and temperature. It has no defaults:
// every field is given (the command line fills them in).
type Distill struct {
	// Teacher is the float run directory or checkpoint file, as an
	// absolute path.
	Teacher string `json:"teacher"`
	// TeacherSHA is the teacher checkpoint's WeightsSHA when the run
	// started ("" until the trainer has loaded it): a resumed run
	// refuses a teacher whose weights changed since.
	TeacherSHA string `json:"teacher_sha256,omitempty"`
	// Weight is α, the soft (teacher) term's share of the loss, in [0, 1].
	Weight float64 `json:"weight"`
	// Temp is the softmax temperature T of the soft term, in
	// [DistillTempMin, DistillTempMax].
	Temp float64 `json:"temp"`
}

// DefaultEvalBatch is the evaluation batch of a Config whose EvalBatch is
// zero. Evaluation graphs hold every activation of the batch: at 1000
// images ResNet-8 on 32×32×3 held about 650 MB, at 256 about 200 MB,
// evaluating at the same speed.
const DefaultEvalBatch = 256

// Norm is the input normalization of the configuration, or nil for none.
func (c Config) Norm() *datasets.Norm {
	if len(c.Mean) == 0 && len(c.Std) == 0 {
		return nil
	}
	return &datasets.Norm{Mean: append([]float32(nil), c.Mean...), Std: append([]float32(nil), c.Std...)}
}

// Defaults returns c with zero fields set to their defaults.
func (c Config) Defaults() Config {
	if c.Epochs == 0 {
		c.Epochs = DefaultEpochs
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.Optimizer == "" {
		c.Optimizer = Adam
	}
	if c.LR == 0 {
		c.LR = 3e-3
		if c.Optimizer == SGD {
			c.LR = 0.05
		}
	}
	if c.Schedule == "" {
		c.Schedule = Cosine
	}
	if c.Momentum == 0 {
		c.Momentum = 0.9
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = DefaultEvalBatch
	}
	return c
}

// ConfigError reports a setting of a Config outside its range (NaN and
// ±Inf included).
type ConfigError struct {
	Field string  // the setting's JSON name: "lr", "momentum", "weight_decay"
	Value float64 // as given
	Want  string  // the range, in words
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("rundir: %s (%s) must be %s, got %v", configNames[e.Field], e.Field, e.Want, e.Value)
}

var configNames = map[string]string{"lr": "learning rate", "momentum": "momentum", "weight_decay": "weight decay"}

// Validate reports settings that cannot work.
//
// Every float setting is checked with a comparison that NaN fails (!(x ≥
// lo)), never with one it passes (x < lo): a NaN weight decay used to get
// through and surface an epoch later as a NaN loss, blamed on the learning
// rate. The float settings reach the optimizers as float32, so each must
// survive that conversion (f32Exact): --lr 1e-320 became 0 in float32
// and the run learned nothing; above math.MaxFloat32 a value is +Inf
// there; a subnormal float32 has lost precision; a momentum just below 1
// rounds to 1.
func (c Config) Validate() error {
	for _, f := range []struct {
		field string
		v     float64
		ok    bool
		want  string
	}{
		{"lr", c.LR, c.LR > 0 && f32Exact(c.LR), "positive and a normal float32 (in [1.2e-38, 3.4e38])"},
		{"momentum", c.Momentum, c.Momentum >= 0 && c.Momentum < 1 && f32Exact(c.Momentum) && float32(c.Momentum) < 1,
			"in [0, 1), 0 or a normal float32 below 1 in float32"},
		{"weight_decay", c.WeightDecay, c.WeightDecay >= 0 && f32Exact(c.WeightDecay), "≥ 0: 0 or a normal float32 (in [1.2e-38, 3.4e38])"},
	} {
		if !f.ok {
			return &ConfigError{Field: f.field, Value: f.v, Want: f.want}
		}
	}
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("rundir: epochs must be at least 1, got %d", c.Epochs)
	case c.Batch < 1 || c.Batch > 1<<16:
		return fmt.Errorf("rundir: batch must be in [1, 65536], got %d", c.Batch)
	case c.EvalBatch < 1 || c.EvalBatch > 1<<16:
		return fmt.Errorf("rundir: eval batch must be in [1, 65536], got %d", c.EvalBatch)
	case c.Optimizer != Adam && c.Optimizer != SGD:
		return fmt.Errorf("rundir: unknown optimizer %q (adam or sgd)", c.Optimizer)
	case c.Schedule != Cosine && c.Schedule != Constant:
		return fmt.Errorf("rundir: unknown schedule %q (cosine or constant)", c.Schedule)
	case c.Shift < 0 || c.Shift > 8:
		return fmt.Errorf("rundir: shift must be in [0, 8] pixels, got %d", c.Shift)
	case c.TrainLimit < 0 || c.TestLimit < 0:
		return fmt.Errorf("rundir: sample limits must be ≥ 0")
	case (c.ResizeH > 0) != (c.ResizeW > 0) || c.ResizeH < 0 || c.ResizeW < 0:
		return fmt.Errorf("rundir: resize %dx%d: give both sides, each at least 1", c.ResizeH, c.ResizeW)
	}
	if err := c.Distill.validate(); err != nil {
		return err
	}
	return checkNorm(c.Mean, c.Std, -1)
}

// validate reports distillation settings that cannot work (nil: none).
func (d *Distill) validate() error {
	switch {
	case d == nil:
		return nil
	case d.Teacher == "":
		return fmt.Errorf("rundir: distillation needs a teacher (a float run directory or checkpoint)")
	}
	if err := CheckDistill(d.Weight, d.Temp); err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	return nil
}

// The range of the distillation temperature T. The loss divides float32
// logits (|z| < 3.5e38) by T and multiplies the soft term by T², in
// float64: with T ≥ 0.01, z/T stays below 3.5e40 and with T ≤ 100, T²
// is 1e4, so every quantity is finite for finite logits (far from
// float64's 1.8e308). Outside the range the loss can be NaN for ordinary
// logits: a subnormal T (1e-310) turns z/T into ±Inf, and T = 1e160
// turns T² into +Inf, times a KL of 0. The range is also wide for
// practice: distillation uses T from 1 to 20.
const (
	DistillTempMin = 0.01
	DistillTempMax = 100
)

// ErrDistillWeight and ErrDistillTemp are wrapped by CheckDistill's
// errors, so a caller can tell which setting it refused.
var (
	ErrDistillWeight = errors.New("the distillation weight α")
	ErrDistillTemp   = errors.New("the distillation temperature T")
)

// CheckDistill reports a distillation weight α outside [0, 1] or a
// temperature T outside [DistillTempMin, DistillTempMax]: the one check
// of the two values (the command line, Config.Validate and
// train.DistillLoss call it).
func CheckDistill(weight, temp float64) error {
	switch {
	case !(weight >= 0 && weight <= 1):
		return fmt.Errorf("%w must be in [0, 1], got %v", ErrDistillWeight, weight)
	case !(temp >= DistillTempMin && temp <= DistillTempMax):
		return fmt.Errorf("%w must be in [%v, %v], got %v", ErrDistillTemp, DistillTempMin, DistillTempMax, temp)
	}
	return nil
}

// checkNorm checks a normalization: as many means as standard deviations
// (channels of them, unless channels < 0), every std positive, all finite.
func checkNorm(mean, std []float32, channels int) error {
	if len(mean) != len(std) || (channels >= 0 && len(mean) > 0 && len(mean) != channels) {
		return fmt.Errorf("rundir: normalization has %d means and %d standard deviations, want one of each per channel", len(mean), len(std))
	}
	for i := range mean {
		m, s := float64(mean[i]), float64(std[i])
		if math.IsNaN(m) || math.IsInf(m, 0) || !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("rundir: normalization channel %d: mean %v, std %v: the std must be positive and both finite", i, m, s)
		}
	}
	return nil
}

// f32Exact reports whether v survives the conversion to float32 as a
// usable number: 0 stays 0; anything else must be finite and normal in
// float32 (not rounded to 0, not ±Inf, not subnormal).
func f32Exact(v float64) bool {
	if v == 0 {
		return true
	}
	f := math.Abs(float64(float32(v)))
	return f >= 0x1p-126 && f <= math.MaxFloat32
}
