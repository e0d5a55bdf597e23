package attack

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/nn"
	"github.com/tinyqat/tinyqat/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Method is an attack algorithm.
type Method string

const (
	// FGSM is the fast gradient sign method: one step of size ε.
	FGSM Method = "fgsm"
	// PGD is projected gradient descent with a random start.
	PGD Method = "pgd"
)

// Methods lists the methods.
var Methods = []Method{FGSM, PGD}

// ParseMethod validates a method name.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", &ConfigError{Field: "method", Problem: fmt.Sprintf("unknown method %q (known: fgsm, pgd)", s)}
}

// ConfigError reports an attack setting that cannot work.
type ConfigError struct {
	Field, Problem string
}

func (e *ConfigError) Error() string { return "attack: " + e.Field + ": " + e.Problem }

// Config says how to attack. The zero value of each field means its
// documented default.
type Config struct {
	Method Method `json:"method"` // default FGSM
	// Steps is the number of PGD iterations; default 10. FGSM ignores it.
	Steps int `json:"steps"`
	// StepRatio sets the PGD step α = StepRatio·ε/Steps; default 2.5
	// (Madry et al. 2018 use 2.5·ε/steps so that the walk can cross the ball).
	StepRatio float64 `json:"step_ratio"`
	// Batch is the number of images attacked at once; default 100.
	Batch int `json:"batch"`
	// Seed seeds PGD's random start.
	Seed uint64 `json:"seed"`
	// Lo and Hi are the valid pixel range; both zero means [0, 1], the
	// scaling of datasets (p/255).
	Lo float32 `json:"lo"`
	Hi float32 `json:"hi"`
}

// Defaults returns c with zero fields set to their defaults.
func (c Config) Defaults() Config {
	if c.Method == "" {
		c.Method = FGSM
	}
	if c.Steps == 0 {
		c.Steps = 10
	}
	if c.StepRatio == 0 {
		c.StepRatio = 2.5
	}
	if c.Batch == 0 {
		c.Batch = 100
	}
	if c.Lo == 0 && c.Hi == 0 {
		c.Hi = 1
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if _, err := ParseMethod(string(c.Method)); err != nil {
		return err
	}
	if c.Steps < 1 {
		return &ConfigError{"steps", fmt.Sprintf("must be at least 1, got %d", c.Steps)}
	}
	if !(c.StepRatio > 0) || math.IsInf(c.StepRatio, 0) {
		return &ConfigError{"step ratio", fmt.Sprintf("must be positive and finite, got %v", c.StepRatio)}
	}
	if c.Batch < 1 {
		return &ConfigError{"batch", fmt.Sprintf("must be at least 1, got %d", c.Batch)}
	}
	if !(c.Lo < c.Hi) || math.IsInf(float64(c.Lo), 0) || math.IsInf(float64(c.Hi), 0) {
		return &ConfigError{"pixel range", fmt.Sprintf("need finite lo < hi, got [%v, %v]", c.Lo, c.Hi)}
	}
	return nil
}

// CheckEps validates a list of perturbation budgets: finite, ≥ 0 and at
// most the width of the pixel range.
func (c Config) CheckEps(eps []float64) error {
	c = c.Defaults()
	if len(eps) == 0 {
		return &ConfigError{"eps", "no values"}
	}
	for i, e := range eps {
		if !(e >= 0) || e > float64(c.Hi-c.Lo) {
			return &ConfigError{"eps", fmt.Sprintf("value %d is %v; each must be in [0, %v] (the pixel range)", i+1, e, c.Hi-c.Lo)}
		}
	}
	return nil
}

// Model is a differentiable model under attack.
type Model struct {
	// Name labels the model in results ("float", "qat-w4a8", ...).
	Name string
	Net  *nn.Model
	// Quant is the model's quantizer (nil: float). Its fake-quant nodes
	// must be calibrated and enabled, with observers off (qat.Load
	// leaves a checkpoint's quantizer so).
	Quant nn.Quantizer
	// Squeeze reduces the input to this many bits per pixel before the
	// model (feature squeezing); 0 means no squeezing.
	Squeeze int
	// Norm is the network's input normalization (nil: none): the attack
	// perturbs pixels in [Lo, Hi], and the network reads
	// (x − Mean[c]) / Std[c]. The gradient is taken through it
	// (∂L/∂x = ∂L/∂x̂ / Std[c]), so ε stays in pixel units.
	Norm *datasets.Norm
}

// Classifier is a model without gradients; *infer.Model satisfies it.
type Classifier interface {
	Predict(x []float32, n int) ([]int, error)
}

// Attacker perturbs images against one model. It is not safe for
// concurrent use.
type Attacker struct {
	m      *Model
	cfg    Config
	graphs map[int]*gradGraph
	pred   *nn.Predictor
	sq     []float32
}

type gradGraph struct {
	net   *nn.Net
	y, dx *G.Node
	vm    G.VM
	x, yT *tensor.Dense
}

// NewAttacker validates cfg and returns an attacker of m.
func NewAttacker(m *Model, cfg Config) (*Attacker, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil || m.Net == nil {
		return nil, &ConfigError{"model", "no network"}
	}
	if m.Squeeze < 0 || m.Squeeze > 16 {
		return nil, &ConfigError{"squeeze", fmt.Sprintf("%s: bits must be in [1, 16] (0: off), got %d", m.Name, m.Squeeze)}
	}
	if m.Norm != nil && (len(m.Norm.Mean) != m.Net.In.C || len(m.Norm.Std) != m.Net.In.C) {
		return nil, &ConfigError{"norm", fmt.Sprintf("%s: %d means and %d standard deviations for %d input channels", m.Name, len(m.Norm.Mean), len(m.Norm.Std), m.Net.In.C)}
	}
	return &Attacker{m: m, cfg: cfg, graphs: map[int]*gradGraph{}, pred: nn.NewPredictor(m.Net, m.Quant)}, nil
}

// Close releases the attacker's graphs.
func (a *Attacker) Close() {
	for k, g := range a.graphs {
		g.vm.Close()
		delete(a.graphs, k)
	}
	a.pred.Close()
}

// Name is the attacked model's name.
func (a *Attacker) Name() string { return a.m.Name }

// Predict returns the model's top-1 class for n images (after squeezing,
// when the model squeezes). It satisfies Classifier.
func (a *Attacker) Predict(x []float32, n int) ([]int, error) {
	x = a.input(x[:n*a.m.Net.In.Size()])
	k := a.m.Net.Classes
	logits := make([]float32, n*k)
	if err := a.pred.Logits(logits, x, n); err != nil {
		return nil, fmt.Errorf("attack: %s: %w", a.m.Name, err)
	}
	pred := make([]int, n)
	nn.Argmax(pred, logits, k)
	return pred, nil
}

// input is what the network reads for pixels x: squeezed (when the model
// squeezes), then normalized (when it has a Norm). x itself is not changed.
func (a *Attacker) input(x []float32) []float32 {
	if a.m.Squeeze == 0 && a.m.Norm == nil {
		return x
	}
	if cap(a.sq) < len(x) {
		a.sq = make([]float32, len(x))
	}
	a.sq = a.sq[:len(x)]
	if a.m.Squeeze != 0 {
		Squeeze(a.sq, x, a.m.Squeeze, a.cfg.Lo, a.cfg.Hi)
	} else {
		copy(a.sq, x)
	}
	if nm := a.m.Norm; nm != nil {
		size, plane := a.m.Net.In.Size(), a.m.Net.In.H*a.m.Net.In.W
		for i, v := range a.sq {
			c := (i % size) / plane // as datasets.Batcher normalizes: (p − m)·(1/s)
			a.sq[i] = (v - nm.Mean[c]) * (1 / nm.Std[c])
		}
	}
	return a.sq
}

// Gradient writes ∂L/∂x of the mean cross-entropy of n = len(labels)
// images into dst. For a squeezing model the gradient is taken at the
// squeezed input and passed straight through the squeezer (BPDA).
func (a *Attacker) Gradient(dst, x []float32, labels []int) error {
	n := len(labels)
	size := a.m.Net.In.Size()
	if len(x) < n*size || len(dst) < n*size {
		panic(fmt.Sprintf("attack: Gradient buffers too small for %d images", n))
	}
	g, err := a.graph(n)
	if err != nil {
		return err
	}
	copy(g.x.Data().([]float32), a.input(x[:n*size]))
	yd := g.yT.Data().([]float32)
	clear(yd)
	k := a.m.Net.Classes
	for i, l := range labels {
		if l < 0 || l >= k {
			return fmt.Errorf("attack: label %d of image %d is outside [0, %d)", l, i, k)
		}
		yd[i*k+l] = 1
	}
	if err := G.Let(g.net.X, g.x); err != nil {
		return err
	}
	if err := G.Let(g.y, g.yT); err != nil {
		return err
	}
	defer g.vm.Reset()
	if err := g.vm.RunAll(); err != nil {
		return fmt.Errorf("attack: %s: forward and backward: %w", a.m.Name, err)
	}
	v := g.dx.Value()
	if v == nil {
		return fmt.Errorf("attack: %s: the input gradient was not computed", a.m.Name)
	}
	copy(dst, v.Data().([]float32)[:n*size])
	if nm := a.m.Norm; nm != nil {
		plane := a.m.Net.In.H * a.m.Net.In.W
		for i := 0; i < n*size; i++ {
			dst[i] /= nm.Std[(i%size)/plane]
		}
	}
	return nil
}

func (a *Attacker) graph(n int) (*gradGraph, error) {
	if g, ok := a.graphs[n]; ok {
		return g, nil
	}
	ig := a.m.Net.InputGrad
	a.m.Net.InputGrad = true // the first layer must pass gradients to x
	net, err := a.m.Net.Build(n, a.m.Quant)
	a.m.Net.InputGrad = ig
	if err != nil {
		return nil, fmt.Errorf("attack: %s: %w", a.m.Name, err)
	}
	y := G.NewMatrix(net.G, tensor.Float32, G.WithShape(n, a.m.Net.Classes), G.WithName("attack.y"))
	loss, err := train.SoftmaxCrossEntropy(net.Out, y)
	if err != nil {
		return nil, err
	}
	dx, err := G.Grad(loss, net.X)
	if err != nil {
		// A layer whose op does not differentiate with respect to its
		// input leaves x off the differentiable path.
		return nil, fmt.Errorf("attack: %s: no gradient reaches the input (every op between input and loss must differentiate with respect to its input): %w", a.m.Name, err)
	}
	in := a.m.Net.In
	g := &gradGraph{net: net, y: y, dx: dx[0], vm: G.NewTapeMachine(net.G),
		x:  tensor.New(tensor.WithShape(n, in.C, in.H, in.W), tensor.Of(tensor.Float32)),
		yT: tensor.New(tensor.WithShape(n, a.m.Net.Classes), tensor.Of(tensor.Float32))}
	a.graphs[n] = g
	return g, nil
}

// Perturb writes adversarial versions of the n = len(labels) images x
// (pixels in [Lo, Hi]) into dst, within eps in L∞. rng draws PGD's random
// start (FGSM does not use it).
func (a *Attacker) Perturb(ctx context.Context, dst, x []float32, labels []int, eps float64, rng *rand.Rand) error {
	n := len(labels)
	size := a.m.Net.In.Size()
	x, dst = x[:n*size], dst[:n*size]
	lo, hi := a.cfg.Lo, a.cfg.Hi
	e := float32(eps)
	grad := make([]float32, len(x))
	switch a.cfg.Method {
	case FGSM:
		if err := a.Gradient(grad, x, labels); err != nil {
			return err
		}
		for i, v := range x {
			dst[i] = clamp(v+e*sign(grad[i]), lo, hi)
		}
		return nil
	case PGD:
		copy(dst, x)
		if eps == 0 {
			return nil
		}
		cur := make([]float32, len(x))
		for i, v := range x {
			cur[i] = clamp(v+float32((2*rng.Float64()-1)*eps), lo, hi)
		}
		alpha := float32(a.cfg.StepRatio * eps / float64(a.cfg.Steps))
		done := make([]bool, n)
		for step := 0; step < a.cfg.Steps; step++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := a.Gradient(grad, cur, labels); err != nil {
				return err
			}
			for i, v := range cur {
				p := v + alpha*sign(grad[i])
				p = clamp(p, x[i]-e, x[i]+e)
				cur[i] = clamp(p, lo, hi)
			}
			pred, err := a.Predict(cur, n)
			if err != nil {
				return err
			}
			for s := 0; s < n; s++ {
				if done[s] {
					continue
				}
				copy(dst[s*size:(s+1)*size], cur[s*size:(s+1)*size])
				done[s] = pred[s] != labels[s]
			}
		}
		return nil
	}
	return &ConfigError{"method", string(a.cfg.Method)}
}

func sign(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func clamp(v, lo, hi float32) float32 { return min(max(v, lo), hi) }

// Squeeze reduces src (pixels in [lo, hi]) to the given bit depth into dst
// (feature squeezing, Xu et al. 2017, §4.1):
//
//	t = (x − lo)/(hi − lo),   x' = lo + (hi − lo)·round(t·(2^b − 1))/(2^b − 1)
//
// Rounding is half to even, the project's one rule.
func Squeeze(dst, src []float32, bits int, lo, hi float32) {
	if bits < 1 || bits > 16 {
		panic(fmt.Sprintf("attack: squeeze bits must be in [1, 16], got %d", bits))
	}
	levels := float64(int(1)<<bits - 1)
	w := float64(hi - lo)
	for i, v := range src {
		t := math.RoundToEven(float64(clamp(v, lo, hi)-lo) / w * levels)
		dst[i] = lo + float32(w*t/levels)
	}
}
